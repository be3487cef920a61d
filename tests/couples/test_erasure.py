"""Erasure of a partner's contact details (couples.services.partner_erase): contacts blanked,
every link revoked, nothing left to send; the clinical record kept; undoable for 24 hours and
purged after; only the treating clinician may; every step audited."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from clinician.models import AuditEvent, Clinician
from couples import services
from couples.models import Partner, PartnerErasure, SessionNote
from couples.selectors import partners_reachable
from cyclecare import records
from cyclecare import services as cycle
from cyclecare.models import CheckIn, PartnerLink, ReminderDelivery, WelcomeMessage
from cyclecare.partner_access import LinkState, partner_link_issue, partner_link_resolve
from tests.factories import (
    ClinicianFactory,
    OccurrenceFactory,
    ReminderDeliveryFactory,
    UserFactory,
    couple_with_partners,
    daily_checkin,
    held_session,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    couple, a, b = couple_with_partners(names=("Alex Rivera", "Sam Chen"))
    Partner.objects.filter(pk=a.pk).update(
        phone="+15551234567",
        pronouns="they/them",
        quiet_hours_start=datetime.time(22),
        quiet_hours_end=datetime.time(7),
    )
    a.refresh_from_db()
    user = couple.primary_clinician.user
    session = held_session(couple)
    note = services.note_create(user=user, session=session, data="joint work", assessment="a", plan="p")
    note = services.note_sign(user=user, note=note)
    checkin = cycle.checkin_submit(
        partner=a, instrument=shipped_instrument(), answers={"cycle_showed_up": True, "connection": 5}
    )
    assignment = daily_checkin(couple, [a, b])
    occurrence = OccurrenceFactory(
        assignment=assignment, partner=a, due_at=timezone.now() + datetime.timedelta(hours=2)
    )
    reminder = ReminderDeliveryFactory(occurrence=occurrence, partner=a)
    b_reminder = ReminderDeliveryFactory(
        occurrence=OccurrenceFactory(assignment=assignment, partner=b), partner=b
    )
    _, home_token = partner_link_issue(partner=a, purpose=PartnerLink.Purpose.HOME)
    _, b_token = partner_link_issue(partner=b, purpose=PartnerLink.Purpose.HOME)
    welcome = WelcomeMessage.objects.create(
        practice=couple.practice, couple=couple, partner=a, channel="email", next_attempt_at=timezone.now()
    )
    export, export_token = records.records_prepare(user=user, partner_id=a.pk)
    return locals()


def test_erasure_blanks_contacts_revokes_links_and_stops_sending(case):
    a, user = case["a"], case["user"]
    email = a.email
    erasure = services.partner_erase(user=user, partner=a)
    a.refresh_from_db()
    assert a.display_name == f"Erased partner {a.pk}"
    assert (a.email, a.phone, a.pronouns, a.quiet_hours_start, a.quiet_hours_end) == ("", "", "", None, None)
    assert a.preferred_channel == Partner.Channel.NONE
    assert partner_link_resolve(token=case["home_token"]).state != LinkState.VALID
    assert records.record_export_resolve(token=case["export_token"]).state == records.ExportState.INVALID
    case["export"].refresh_from_db()
    assert case["export"].contents == {}
    case["reminder"].refresh_from_db()
    case["welcome"].refresh_from_db()
    assert case["reminder"].status == ReminderDelivery.Status.CANCELLED
    assert case["welcome"].status == WelcomeMessage.Status.CANCELLED
    assert not partners_reachable().filter(pk=a.pk).exists()
    # The other partner is untouched.
    assert partner_link_resolve(token=case["b_token"]).state == LinkState.VALID
    case["b_reminder"].refresh_from_db()
    assert case["b_reminder"].status == ReminderDelivery.Status.PENDING
    # The erased details are kept encrypted on the erasure row, not in the clear.
    erasure.refresh_from_db()
    assert erasure.erased_details["email"] == email and erasure.erased_details["phone"] == "+15551234567"
    assert erasure.erased_details["display_name"] == "Alex Rivera"
    event = AuditEvent.objects.get(action="partner.erase")
    assert event.target_id == str(a.pk) and "email" in event.changes
    assert "Alex" not in str(event.changes)


def test_the_clinical_record_is_kept(case):
    services.partner_erase(user=case["user"], partner=case["a"])
    assert CheckIn.objects.filter(pk=case["checkin"].pk, partner=case["a"]).exists()
    note = SessionNote.objects.get(pk=case["note"].pk)
    assert note.is_signed and note.data == "joint work"
    assert AuditEvent.objects.filter(target_type="couples.partner", target_id=str(case["a"].pk)).exists()


def test_erasure_asks_the_treating_clinician_only(case):
    a = case["a"]
    admin = ClinicianFactory(practice=a.practice, role=Clinician.Role.PRACTICE_ADMIN)
    for outsider in (ClinicianFactory(practice=a.practice), ClinicianFactory(), admin):
        with pytest.raises(ValidationError):
            services.partner_erase(user=outsider.user, partner=a)
    with pytest.raises(ValidationError):
        services.partner_erase(user=UserFactory(), partner=a)
    a.refresh_from_db()
    assert a.display_name == "Alex Rivera" and not PartnerErasure.objects.exists()


def test_undo_within_the_window_restores_everything_it_blanked(case):
    a, user = case["a"], case["user"]
    before = {name: getattr(a, name) for name in services.ERASED_FIELDS}
    erasure = services.partner_erase(user=user, partner=a)
    with pytest.raises(ValidationError):
        services.partner_update(user=user, partner=a, email="new@example.test")
    services.partner_erasure_undo(user=user, erasure=erasure)
    a.refresh_from_db()
    assert {name: getattr(a, name) for name in services.ERASED_FIELDS} == before
    erasure.refresh_from_db()
    assert erasure.undone_at is not None and erasure.erased_details == {}
    assert partners_reachable().filter(pk=a.pk).exists()
    assert AuditEvent.objects.filter(action="partner.erasure_undo", target_id=str(a.pk)).exists()
    # Erasing again is a new erasure.
    services.partner_erase(user=user, partner=a)
    assert PartnerErasure.objects.filter(partner=a).count() == 2


def test_after_the_window_undo_says_why_not_and_the_purge_deletes_the_copy(case):
    a, user = case["a"], case["user"]
    erasure = services.partner_erase(user=user, partner=a)
    later = timezone.now() + datetime.timedelta(hours=24, seconds=1)
    assert services.partner_erasures_purge(now=timezone.now()) == 0  # still in the window
    erasure.refresh_from_db()
    assert erasure.erased_details["display_name"] == "Alex Rivera"

    assert services.partner_erasures_purge(now=later) == 1
    erasure.refresh_from_db()
    assert erasure.purged_at is not None and erasure.erased_details == {}
    assert AuditEvent.objects.filter(action="partner.erasure_purge", actor_kind="system").count() == 1
    assert services.partner_erasures_purge(now=later) == 0  # idempotent

    with pytest.raises(ValidationError) as refused:
        services.partner_erasure_undo(user=user, erasure=erasure)
    assert "final" in str(refused.value)
    a.refresh_from_db()
    assert a.display_name == f"Erased partner {a.pk}"


def test_undo_is_refused_once_the_window_has_passed_even_before_the_purge(case):
    erasure = services.partner_erase(user=case["user"], partner=case["a"])
    PartnerErasure.objects.filter(pk=erasure.pk).update(
        erased_at=timezone.now() - datetime.timedelta(hours=25),
        undo_until=timezone.now() - datetime.timedelta(hours=1),
    )
    erasure.refresh_from_db()
    assert services.erasure_undo_refusal(erasure)
    with pytest.raises(ValidationError):
        services.partner_erasure_undo(user=case["user"], erasure=erasure)


def test_an_account_the_partner_signs_in_with_is_switched_off_and_back_on(case):
    a = case["a"]
    account = UserFactory()
    Partner.objects.filter(pk=a.pk).update(user=account)
    a.refresh_from_db()
    erasure = services.partner_erase(user=case["user"], partner=a)
    account.refresh_from_db()
    assert not account.is_active
    services.partner_erasure_undo(user=case["user"], erasure=erasure)
    account.refresh_from_db()
    assert account.is_active


def test_a_second_erasure_while_one_is_in_force_is_refused(case):
    services.partner_erase(user=case["user"], partner=case["a"])
    with pytest.raises(ValidationError):
        services.partner_erase(user=case["user"], partner=case["a"])


def test_the_kept_details_are_encrypted_at_rest(case):
    erasure = services.partner_erase(user=case["user"], partner=case["a"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT erased_details FROM couples_partnererasure WHERE id = %s", [erasure.pk])
        (stored,) = cursor.fetchone()
    assert stored and "Alex" not in stored and "+15551234567" not in stored
