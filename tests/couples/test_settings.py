"""Couple and partner settings (issue 13, item 3): every partner detail edited and audited, a
second partner for an individual case (never a third), transfer to a colleague of the same
practice, and the bad input each refuses with nothing saved."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clinician.models import AuditEvent, Clinician
from couples import services
from couples.models import Consent, Couple, Partner
from couples.selectors import couples_visible_to
from tests.factories import (
    ClinicianFactory,
    CoupleFactory,
    PartnerFactory,
    TherapySessionFactory,
    couple_with_partners,
    held_session,
)

pytestmark = pytest.mark.django_db


def error_of(excinfo, field: str):
    return excinfo.value.error_dict[field][0]


# EDITING A PARTNER
# ------------------------------------------------------------------------------
def test_every_partner_detail_is_edited_and_audited_by_field_name_only():
    couple, a, _ = couple_with_partners()
    user = couple.primary_clinician.user
    services.partner_update(
        user=user,
        partner=a,
        display_name="Alex R.",
        pronouns="they/them",
        email="alex.new@example.test",
        phone="+15555550123",
        time_zone="Europe/Madrid",
        language="es",
        preferred_channel="sms",
        quiet_hours_start=datetime.time(22),
        quiet_hours_end=datetime.time(7),
    )
    a.refresh_from_db()
    assert (a.display_name, a.pronouns, a.email, a.phone, a.time_zone, a.language, a.preferred_channel) == (
        "Alex R.",
        "they/them",
        "alex.new@example.test",
        "+15555550123",
        "Europe/Madrid",
        "es",
        "sms",
    )
    assert (a.quiet_hours_start, a.quiet_hours_end) == (datetime.time(22), datetime.time(7))
    event = AuditEvent.objects.get(action="partner.update", target_id=str(a.pk))
    assert set(event.changes) == set(services.PARTNER_FIELDS)
    assert "Alex" not in str(event.changes) and "+1555" not in str(event.changes)


def test_an_unchanged_save_writes_no_audit_event():
    couple, a, _ = couple_with_partners()
    services.partner_update(user=couple.primary_clinician.user, partner=a, time_zone=a.time_zone)
    assert not AuditEvent.objects.filter(action="partner.update").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"phone": "555-0123"}, "phone"),
        ({"phone": "+0123456789"}, "phone"),
        ({"language": "fr"}, "language"),
        ({"preferred_channel": "sms", "phone": ""}, "phone"),
        ({"quiet_hours_start": datetime.time(22)}, "quiet_hours_end"),
        ({"email": "not-an-address"}, "email"),
    ],
)
def test_bad_partner_details_are_refused_and_nothing_is_saved(changes, field):
    couple, a, _ = couple_with_partners()
    before = Partner.objects.filter(pk=a.pk).values().get()
    with pytest.raises(ValidationError) as excinfo:
        services.partner_update(user=couple.primary_clinician.user, partner=a, **changes)
    assert field in excinfo.value.error_dict
    assert Partner.objects.filter(pk=a.pk).values().get() == before
    assert not AuditEvent.objects.filter(action="partner.update").exists()


def test_the_same_email_for_both_partners_is_refused_in_any_case():
    couple, a, b = couple_with_partners()
    with pytest.raises(ValidationError) as excinfo:
        services.partner_update(user=couple.primary_clinician.user, partner=b, email=a.email.upper())
    assert error_of(excinfo, "email").code == "same_email"
    assert Partner.objects.get(pk=b.pk).email == b.email
    # a partner of another couple may share an address (a household's); only the pair may not
    other = CoupleFactory(primary_clinician=couple.primary_clinician)
    services.partner_add(
        user=couple.primary_clinician.user, couple=other, display_name="Kim", time_zone="UTC", email=a.email
    )


def test_another_practices_partner_is_out_of_scope():
    couple, a, _ = couple_with_partners()
    stranger = ClinicianFactory()
    with pytest.raises(ValidationError) as excinfo:
        services.partner_update(user=stranger.user, partner=a, time_zone="UTC")
    assert error_of(excinfo, "couple").code == "out_of_scope"


# ADDING A PARTNER
# ------------------------------------------------------------------------------
def test_an_individual_case_takes_a_second_partner_and_becomes_a_couple():
    case = CoupleFactory(kind=Couple.Kind.INDIVIDUAL)
    user = case.primary_clinician.user
    PartnerFactory(couple=case, seat=1)
    second = services.partner_add(
        user=user, couple=case, display_name="Sam", time_zone="UTC", email="sam.second@example.test"
    )
    case.refresh_from_db()
    assert second.seat == Partner.Seat.B and case.kind == Couple.Kind.COUPLE
    assert AuditEvent.objects.filter(
        action="couple.update", target_id=str(case.pk), changes=["kind"]
    ).exists()
    with pytest.raises(ValidationError) as excinfo:
        services.partner_add(user=user, couple=case, display_name="Third", time_zone="UTC")
    assert error_of(excinfo, "couple").code == "third_partner"
    assert case.partners.filter(is_active=True).count() == 2


# CONSENT
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "clear"), [("email", {"email": ""}), ("sms", {"phone": ""})])
def test_a_channel_consent_needs_that_channels_contact(kind, clear):
    couple, a, _ = couple_with_partners()
    Partner.objects.filter(pk=a.pk).update(preferred_channel="none", **clear)
    a.refresh_from_db()
    with pytest.raises(ValidationError) as excinfo:
        services.consent_record(
            actor=couple.primary_clinician.user, partner=a, kind=kind, granted=True, method="written"
        )
    assert error_of(excinfo, "kind").code == "no_contact"
    assert not Consent.objects.exists()
    # withdrawing needs no contact
    services.consent_record(
        actor=couple.primary_clinician.user, partner=a, kind=kind, granted=False, method="verbal"
    )


# TRANSFER
# ------------------------------------------------------------------------------
def test_a_couple_is_transferred_to_a_colleague_and_access_moves():
    couple, _, _ = couple_with_partners()
    first = couple.primary_clinician
    colleague = ClinicianFactory(practice=first.practice)
    services.couple_transfer(user=first.user, couple=couple, to_clinician=colleague)
    couple.refresh_from_db()
    assert couple.primary_clinician == colleague
    assert list(couples_visible_to(user=colleague.user)) == [couple]
    first.user = type(first.user).objects.get(pk=first.user.pk)  # a fresh request
    assert list(couples_visible_to(user=first.user)) == []
    event = AuditEvent.objects.get(action="couple.transfer", target_id=str(couple.pk))
    assert event.actor_id == str(first.user.pk) and event.changes == ["primary_clinician"]


def test_a_transfer_hands_over_the_sessions_still_to_come_and_keeps_the_past_ones():
    couple, _, _ = couple_with_partners()
    first = couple.primary_clinician
    colleague = ClinicianFactory(practice=first.practice)
    past = held_session(couple)
    upcoming = TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=3))
    services.couple_transfer(user=first.user, couple=couple, to_clinician=colleague)
    past.refresh_from_db()
    upcoming.refresh_from_db()
    assert (past.clinician, upcoming.clinician) == (first, colleague)
    assert AuditEvent.objects.filter(action="session.update", target_id=str(upcoming.pk)).exists()


def test_a_practice_admin_may_transfer_a_couple_of_the_practice():
    couple, _, _ = couple_with_partners()
    admin = ClinicianFactory(practice=couple.practice, role=Clinician.Role.PRACTICE_ADMIN)
    colleague = ClinicianFactory(practice=couple.practice)
    services.couple_transfer(user=admin.user, couple=couple, to_clinician=colleague)
    assert Couple.objects.get(pk=couple.pk).primary_clinician == colleague


@pytest.mark.parametrize(
    ("receiver", "code"),
    [
        (lambda c: ClinicianFactory(), "other_practice"),
        (lambda c: ClinicianFactory(practice=c.practice, is_active=False), "inactive"),
        (lambda c: ClinicianFactory(practice=c.practice, role=Clinician.Role.PRACTICE_ADMIN), "not_treating"),
        (lambda c: c.primary_clinician, "unchanged"),
    ],
)
def test_a_transfer_is_refused_to_anyone_but_an_active_colleague(receiver, code):
    couple, _, _ = couple_with_partners()
    first = couple.primary_clinician
    with pytest.raises(ValidationError) as excinfo:
        services.couple_transfer(user=first.user, couple=couple, to_clinician=receiver(couple))
    assert error_of(excinfo, "to_clinician").code == code
    assert Couple.objects.get(pk=couple.pk).primary_clinician == first
    assert not AuditEvent.objects.filter(action="couple.transfer").exists()


def test_a_clinician_cannot_transfer_a_couple_they_do_not_treat():
    couple, _, _ = couple_with_partners()
    outsider = ClinicianFactory(practice=couple.practice)
    with pytest.raises(ValidationError) as excinfo:
        services.couple_transfer(user=outsider.user, couple=couple, to_clinician=outsider)
    assert error_of(excinfo, "couple").code == "out_of_scope"
