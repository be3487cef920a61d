"""Retention (cyclecare.retention): the daily task deletes or purges only what is past its
period, in its own practice, counts what it did in an audited run with no PHI, and never
touches the clinical record; the settings are the practice admin's alone."""

import datetime
import uuid
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clinician.models import AuditEvent, Clinician
from couples import services as couple_services
from couples.models import SessionNote
from cyclecare import records, retention, tasks
from cyclecare.models import (
    CheckIn,
    PartnerLink,
    RecordExport,
    ReminderDelivery,
    RetentionPolicy,
    RetentionRun,
    WebhookDelivery,
    WebhookEndpoint,
    WelcomeMessage,
)
from cyclecare.partner_access import partner_link_issue
from cyclecare.schedule import BEAT_SCHEDULE
from tests.factories import (
    ClinicianFactory,
    OccurrenceFactory,
    ReminderDeliveryFactory,
    couple_with_partners,
    daily_checkin,
    held_session,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def days_ago(days: int) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def _practice_rows(clinician=None):
    """One couple's rows of every kind retention looks at, each just past or well inside its
    default period (see RetentionPolicy.DEFAULTS)."""
    couple, a, b = couple_with_partners(clinician)
    user = couple.primary_clinician.user
    rows = {}

    def note(days_old: int, *, sign: bool = False):
        session = held_session(couple, days_ago=days_old + 1)
        made = couple_services.note_create(
            user=user, session=session, data="note text", assessment="a", plan="p"
        )
        if sign:
            made = couple_services.note_sign(user=user, note=made)
        else:
            SessionNote.objects.filter(pk=made.pk).update(updated_at=days_ago(days_old))
        return made

    rows["old_draft"], rows["new_draft"] = note(366), note(300)
    # A signed note refuses every later write (PostgreSQL's trigger too): written and signed
    # 400 days ago, by the clock of then.
    with mock.patch("django.utils.timezone.now", return_value=days_ago(400)):
        rows["old_signed"] = note(400, sign=True)
    assert SessionNote.objects.get(pk=rows["old_signed"].pk).updated_at == days_ago(400)

    assignment = daily_checkin(couple, [a, b])

    def reminder(status: str, days_old: int):
        occurrence = OccurrenceFactory(assignment=assignment, partner=a, due_at=days_ago(days_old))
        made = ReminderDeliveryFactory(
            occurrence=occurrence,
            partner=a,
            status=status,
            sent_at=days_ago(days_old) if status == "sent" else None,
        )
        ReminderDelivery.objects.filter(pk=made.pk).update(created_at=days_ago(days_old))
        return made

    rows["old_sent"] = reminder("sent", 366)
    rows["old_pending"] = reminder("pending", 400)
    rows["new_sent"] = reminder("sent", 300)

    def welcome(status: str, days_old: int):
        made = WelcomeMessage.objects.create(
            practice=couple.practice,
            couple=couple,
            partner=a,
            channel="email",
            status=status,
            sent_at=days_ago(days_old) if status == "sent" else None,
            next_attempt_at=days_ago(days_old),
        )
        WelcomeMessage.objects.filter(pk=made.pk).update(created_at=days_ago(days_old))
        return made

    rows["old_welcome"], rows["new_welcome"] = welcome("sent", 366), welcome("sent", 10)

    endpoint = WebhookEndpoint.objects.create(
        practice=couple.practice, url="https://hooks.example.invalid/", events=["note.signed"], secret="s"
    )

    def hook(status: str, days_old: int):
        made = WebhookDelivery.objects.create(
            practice=couple.practice,
            endpoint=endpoint,
            event_id=uuid.uuid4(),
            event="note.signed",
            payload={},
            status=status,
            next_attempt_at=days_ago(days_old),
        )
        WebhookDelivery.objects.filter(pk=made.pk).update(created_at=days_ago(days_old))
        return made

    rows["old_hook"], rows["old_pending_hook"], rows["new_hook"] = (
        hook("delivered", 91),
        hook("pending", 200),
        hook("failed", 80),
    )

    def link(*, used_days: int | None = None, expired_days: int | None = None):
        made, _ = partner_link_issue(partner=a, purpose=PartnerLink.Purpose.HOME)
        changes = {}
        if used_days is not None:
            changes["used_at"] = days_ago(used_days)
        if expired_days is not None:
            changes["expires_at"] = days_ago(expired_days)
        PartnerLink.objects.filter(pk=made.pk).update(**changes)
        return made

    rows["old_used_link"] = link(used_days=31)
    rows["old_expired_link"] = link(expired_days=31)
    rows["new_used_link"] = link(used_days=5)
    rows["live_link"] = link()

    old_export, _ = records.records_prepare(user=user, partner_id=a.pk)
    RecordExport.objects.filter(pk=old_export.pk).update(created_at=days_ago(8), expires_at=days_ago(5))
    rows["old_export"] = old_export
    rows["new_export"], _ = records.records_prepare(user=user, partner_id=a.pk)
    rows["checkin"] = CheckIn.objects.create(
        practice=couple.practice,
        couple=couple,
        partner=a,
        instrument=shipped_instrument(),
        submitted_at=days_ago(3000),
        answers={"connection": 3},
    )
    rows["couple"] = couple
    return rows


def _exists(row) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


def test_only_what_is_past_its_period_goes(db):
    rows = _practice_rows()
    other = _practice_rows()
    practice_id = rows["couple"].practice_id

    run = retention.retention_enforce(practice_id=practice_id, now=NOW, batch_size=2)

    for gone in ("old_draft", "old_sent", "old_welcome", "old_hook", "old_used_link", "old_expired_link"):
        assert not _exists(rows[gone]), gone
    for kept in (
        "new_draft",
        "old_signed",
        "old_pending",
        "new_sent",
        "new_welcome",
        "old_pending_hook",
        "new_hook",
        "new_used_link",
        "live_link",
        "checkin",
    ):
        assert _exists(rows[kept]), kept
    rows["old_export"].refresh_from_db()
    rows["new_export"].refresh_from_db()
    assert rows["old_export"].purged_at is not None and rows["old_export"].contents == {}
    assert rows["new_export"].purged_at is None and rows["new_export"].contents["records"]
    # Another practice's rows wait for its own run.
    assert all(_exists(other[name]) for name in ("old_draft", "old_sent", "old_hook", "old_used_link"))

    assert (
        run.draft_notes,
        run.reminder_deliveries,
        run.welcome_messages,
        run.webhook_deliveries,
        run.partner_links,
        run.record_exports,
    ) == (1, 1, 1, 1, 2, 1)
    event = AuditEvent.objects.get(action="retention.purge", target_id=str(run.pk))
    assert event.actor_kind == "system" and event.practice_id == practice_id
    assert set(event.changes) == set(RetentionRun.COUNTS)

    again = retention.retention_enforce(practice_id=practice_id, now=NOW)
    assert sum(getattr(again, name) for name in RetentionRun.COUNTS) == 0


def test_a_practices_own_periods_are_used(db):
    rows = _practice_rows()
    admin = ClinicianFactory(practice=rows["couple"].practice, role=Clinician.Role.PRACTICE_ADMIN)
    retention.retention_policy_update(user=admin.user, delivery_log_days=1000, used_link_days=3)
    retention.retention_enforce(practice_id=rows["couple"].practice_id, now=NOW)
    assert _exists(rows["old_sent"]) and _exists(rows["old_welcome"])
    assert not _exists(rows["new_used_link"])


def test_the_beat_task_runs_every_practice(db):
    rows, other = _practice_rows(), _practice_rows()
    assert tasks.retention_enforce_task() >= 14
    assert not _exists(rows["old_sent"]) and not _exists(other["old_sent"])
    assert RetentionRun.objects.count() >= 2
    entries = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert {
        "cyclecare.tasks.retention_enforce_task",
        "cyclecare.tasks.partner_erasures_purge_task",
    } <= entries


def test_only_the_practice_admin_sets_retention_and_bad_values_are_refused(db):
    clinician = ClinicianFactory()
    admin = ClinicianFactory(practice=clinician.practice, role=Clinician.Role.PRACTICE_ADMIN)
    with pytest.raises(ValidationError):
        retention.retention_policy_update(user=clinician.user, webhook_log_days=5)
    assert not RetentionPolicy.objects.exists()
    for bad in ({"draft_note_days": 5}, {"export_file_days": 0}, {"delivery_log_days": 99999}):
        with pytest.raises(ValidationError):
            retention.retention_policy_update(user=admin.user, **bad)
    with pytest.raises(ValidationError):
        retention.retention_policy_update(user=admin.user, audit_days=1)
    assert not RetentionPolicy.objects.filter(draft_note_days=5).exists()

    policy = retention.retention_policy_update(user=admin.user, webhook_log_days=30)
    assert (
        policy.webhook_log_days == 30
        and policy.draft_note_days == RetentionPolicy.DEFAULTS["draft_note_days"]
    )
    event = AuditEvent.objects.get(action="retention.update")
    assert event.changes == ["webhook_log_days"]
