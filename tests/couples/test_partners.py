"""Partners and consents: two seats per couple, valid contact details, scoped writes, PHI-free audit."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinician.models import AuditEvent, Clinician
from couples import services
from couples.models import Consent, Partner
from couples.selectors import consent_in_force
from tests.factories import ClinicianFactory, CoupleFactory, PartnerFactory, couple_with_partners

pytestmark = pytest.mark.django_db


def add(couple, **overrides):
    """partner_add by the couple's primary clinician with valid defaults."""
    details = {
        "user": couple.primary_clinician.user,
        "couple": couple,
        "display_name": "Sam Rivera",
        "time_zone": "America/Chicago",
        "email": "sam@example.test",
    }
    details.update(overrides)
    return services.partner_add(**details)


def error_keys(excinfo) -> set[str]:
    return set(excinfo.value.error_dict)


# SEATS
# ------------------------------------------------------------------------------
def test_a_couple_may_start_with_one_partner():
    couple = CoupleFactory()
    partner = add(couple)
    assert partner.seat == Partner.Seat.A
    assert list(couple.partners.filter(is_active=True)) == [partner]


def test_second_partner_takes_the_other_seat():
    couple = CoupleFactory()
    first = add(couple)
    second = add(couple, display_name="Alex Chen", email="alex@example.test")
    assert {first.seat, second.seat} == {Partner.Seat.A, Partner.Seat.B}


def test_third_active_partner_refused():
    couple, _, _ = couple_with_partners()
    with pytest.raises(ValidationError) as excinfo:
        add(couple, display_name="Third", email="third@example.test")
    assert "couple" in error_keys(excinfo)
    assert couple.partners.filter(is_active=True).count() == 2


def test_database_rejects_a_third_active_partner():
    couple, a, _ = couple_with_partners()
    with pytest.raises(IntegrityError), transaction.atomic():
        Partner.objects.create(
            practice=couple.practice,
            couple=couple,
            seat=a.seat,
            display_name="Third",
            email="third@example.test",
            time_zone="America/Chicago",
        )
    assert couple.partners.count() == 2


def test_database_rejects_a_seat_other_than_a_or_b():
    couple = CoupleFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerFactory(couple=couple, seat=3)


def test_deactivating_a_partner_frees_the_seat():
    couple, a, _ = couple_with_partners()
    user = couple.primary_clinician.user
    services.partner_deactivate(user=user, partner=a)
    a.refresh_from_db()
    assert a.is_active is False and a.left_on is not None
    newcomer = add(couple, display_name="Newcomer", email="new@example.test")
    assert newcomer.seat == a.seat
    assert couple.partners.filter(is_active=True).count() == 2
    assert couple.partners.count() == 3  # the former partner's record stays


def test_deactivating_twice_is_refused():
    couple, a, _ = couple_with_partners()
    services.partner_deactivate(user=couple.primary_clinician.user, partner=a)
    with pytest.raises(ValidationError) as excinfo:
        services.partner_deactivate(user=couple.primary_clinician.user, partner=a)
    assert "partner" in error_keys(excinfo)


# CONTACT DETAILS
# ------------------------------------------------------------------------------
def test_unknown_time_zone_refused():
    couple = CoupleFactory()
    with pytest.raises(ValidationError) as excinfo:
        add(couple, time_zone="Mars/Olympus")
    assert "time_zone" in error_keys(excinfo)
    assert not couple.partners.exists()


def test_quiet_hours_need_both_ends():
    couple = CoupleFactory()
    with pytest.raises(ValidationError) as excinfo:
        add(couple, quiet_hours_start=datetime.time(22, 0))
    assert "quiet_hours_end" in error_keys(excinfo)
    assert not couple.partners.exists()


def test_quiet_hours_with_both_ends_accepted():
    couple = CoupleFactory()
    partner = add(couple, quiet_hours_start=datetime.time(22, 0), quiet_hours_end=datetime.time(7, 0))
    assert partner.quiet_hours_end == datetime.time(7, 0)


def test_email_channel_needs_an_email_address():
    couple = CoupleFactory()
    with pytest.raises(ValidationError) as excinfo:
        add(couple, email="", preferred_channel=Partner.Channel.EMAIL)
    assert "email" in error_keys(excinfo)


def test_sms_channel_needs_a_phone_number():
    couple = CoupleFactory()
    with pytest.raises(ValidationError) as excinfo:
        add(couple, preferred_channel=Partner.Channel.SMS, phone="")
    assert "phone" in error_keys(excinfo)


def test_sms_channel_with_phone_accepted():
    couple = CoupleFactory()
    partner = add(couple, email="", preferred_channel=Partner.Channel.SMS, phone="+15551234567")
    assert partner.preferred_channel == Partner.Channel.SMS


@pytest.mark.parametrize("phone", ["555-123-4567", "+0123456789", "+1555", "15551234567"])
def test_phone_must_be_international_form(phone):
    couple = CoupleFactory()
    with pytest.raises(ValidationError) as excinfo:
        add(couple, phone=phone)
    assert "phone" in error_keys(excinfo)


def test_unknown_partner_field_refused():
    couple = CoupleFactory()
    with pytest.raises(ValidationError) as excinfo:
        add(couple, is_active=False)
    assert "is_active" in error_keys(excinfo)


# SCOPE
# ------------------------------------------------------------------------------
def test_clinician_of_another_practice_cannot_add_a_partner():
    couple = CoupleFactory()
    stranger = ClinicianFactory()
    assert stranger.practice_id != couple.practice_id
    with pytest.raises(ValidationError):
        add(couple, user=stranger.user)
    assert not couple.partners.exists()


def test_colleague_who_does_not_treat_the_couple_cannot_add_a_partner():
    couple = CoupleFactory()
    colleague = ClinicianFactory(practice=couple.practice)
    with pytest.raises(ValidationError) as excinfo:
        add(couple, user=colleague.user)
    assert "couple" in error_keys(excinfo)
    assert not couple.partners.exists()


def test_user_without_clinician_record_cannot_add_a_partner():
    from tests.factories import UserFactory

    couple = CoupleFactory()
    with pytest.raises(ValidationError):
        add(couple, user=UserFactory())


def test_supervisor_and_practice_admin_may_add_a_partner():
    supervisor = ClinicianFactory(role=Clinician.Role.SUPERVISOR)
    treating = ClinicianFactory(practice=supervisor.practice, supervisor=supervisor)
    admin = ClinicianFactory(practice=supervisor.practice, role=Clinician.Role.PRACTICE_ADMIN)
    couple = CoupleFactory(primary_clinician=treating)
    add(couple, user=supervisor.user)
    add(couple, user=admin.user, display_name="Other", email="other@example.test")
    assert couple.partners.count() == 2


# AUDIT
# ------------------------------------------------------------------------------
def _assert_no_phi(event: AuditEvent, *phi: str) -> None:
    row = AuditEvent.objects.filter(pk=event.pk).values().get()
    flattened = " ".join(str(value) for value in row.values())
    for value in phi:
        assert value not in flattened, f"{value!r} leaked into the audit trail"


def test_partner_add_is_audited_without_phi():
    couple = CoupleFactory()
    partner = add(couple, display_name="Sam Zephyrine", email="zephyrine@example.test", phone="+15550001111")
    event = AuditEvent.objects.get(action="partner.add", target_id=str(partner.pk))
    assert event.target_type == "couples.partner"
    assert event.actor_kind == AuditEvent.ActorKind.USER
    assert event.actor_id == str(couple.primary_clinician.user.pk)
    assert event.practice_id == couple.practice_id
    _assert_no_phi(event, "Zephyrine", "zephyrine@example.test", "+15550001111")


def test_partner_update_audits_changed_field_names_only():
    couple = CoupleFactory()
    partner = add(couple)
    services.partner_update(
        user=couple.primary_clinician.user,
        partner=partner,
        display_name="Quillon Marsh",
        email="quillon@example.test",
    )
    event = AuditEvent.objects.get(action="partner.update", target_id=str(partner.pk))
    assert event.changes == ["display_name", "email"]
    _assert_no_phi(event, "Quillon", "quillon@example.test", "Sam Rivera")
    partner.refresh_from_db()
    assert partner.display_name == "Quillon Marsh"


# CONSENTS
# ------------------------------------------------------------------------------
def test_clinician_records_consent():
    couple, a, _ = couple_with_partners()
    consent = services.consent_record(
        actor=couple.primary_clinician.user,
        partner=a,
        kind=Consent.Kind.TREATMENT,
        granted=True,
        method=Consent.Method.WRITTEN,
    )
    assert consent.recorded_by == couple.primary_clinician
    assert consent.practice_id == couple.practice_id
    assert consent_in_force(partner=a, kind=Consent.Kind.TREATMENT) is True


def test_out_of_scope_clinician_cannot_record_consent():
    couple, a, _ = couple_with_partners()
    colleague = ClinicianFactory(practice=couple.practice)
    with pytest.raises(ValidationError):
        services.consent_record(
            actor=colleague.user,
            partner=a,
            kind=Consent.Kind.TREATMENT,
            granted=True,
            method=Consent.Method.WRITTEN,
        )
    assert not Consent.objects.exists()


def test_partner_records_own_electronic_consent():
    _, a, _ = couple_with_partners()
    consent = services.consent_record(
        actor=a, partner=a, kind=Consent.Kind.SMS, granted=True, method=Consent.Method.ELECTRONIC
    )
    assert consent.recorded_by is None
    assert consent.method == Consent.Method.ELECTRONIC
    event = AuditEvent.objects.get(action="consent.record", target_id=str(consent.pk))
    assert event.actor_kind == AuditEvent.ActorKind.PARTNER
    assert event.actor_id == str(a.pk)


def test_partner_consent_must_be_electronic():
    _, a, _ = couple_with_partners()
    with pytest.raises(ValidationError) as excinfo:
        services.consent_record(
            actor=a, partner=a, kind=Consent.Kind.SMS, granted=True, method=Consent.Method.WRITTEN
        )
    assert "method" in error_keys(excinfo)


def test_partner_cannot_record_consent_for_the_other_partner():
    _, a, b = couple_with_partners()
    with pytest.raises(ValidationError) as excinfo:
        services.consent_record(
            actor=a, partner=b, kind=Consent.Kind.SHARING, granted=True, method=Consent.Method.ELECTRONIC
        )
    assert "partner" in error_keys(excinfo)
    assert not Consent.objects.exists()


def test_consent_in_force_follows_the_latest_decision():
    _, a, _ = couple_with_partners()
    assert consent_in_force(partner=a, kind=Consent.Kind.EMAIL) is False  # none recorded
    for granted in (True, False):
        services.consent_record(
            actor=a, partner=a, kind=Consent.Kind.EMAIL, granted=granted, method=Consent.Method.ELECTRONIC
        )
    assert consent_in_force(partner=a, kind=Consent.Kind.EMAIL) is False
    services.consent_record(
        actor=a, partner=a, kind=Consent.Kind.EMAIL, granted=True, method=Consent.Method.ELECTRONIC
    )
    assert consent_in_force(partner=a, kind=Consent.Kind.EMAIL) is True
    # Other kinds are independent.
    assert consent_in_force(partner=a, kind=Consent.Kind.SMS) is False


def test_a_new_partner_starts_from_the_practices_quiet_hours_and_their_own_win():
    couple = CoupleFactory()
    practice = couple.practice
    practice.quiet_hours_start, practice.quiet_hours_end = datetime.time(21, 30), datetime.time(8, 0)
    practice.save()
    first = add(couple)
    assert (first.quiet_hours_start, first.quiet_hours_end) == (datetime.time(21, 30), datetime.time(8, 0))
    own = add(
        couple,
        email="kai@example.test",
        quiet_hours_start=datetime.time(23, 0),
        quiet_hours_end=datetime.time(7, 0),
    )
    assert (own.quiet_hours_start, own.quiet_hours_end) == (datetime.time(23, 0), datetime.time(7, 0))
