"""Retention: how long a practice keeps what no law asks it to keep, and the task that
enforces it.

A practice's ``RetentionPolicy`` (defaults when it has none) says, in days:

- ``draft_note_days``: an unsigned draft note not edited for this long is deleted (a signed
  note is the clinical record and is never touched; the model refuses it anyway);
- ``delivery_log_days``: reminder and welcome deliveries that are finished (sent, failed, not
  sent) are deleted — the occurrences and check-ins they were for stay;
- ``webhook_log_days``: webhook deliveries delivered or given up are deleted;
- ``used_link_days``: partner links used, or expired, this long ago are deleted;
- ``export_file_days``: a prepared copy of a partner's records not downloaded is purged this
  long after it was prepared (the row stays, so its link says "expired").

``retention_enforce`` runs for one practice in batches and writes one ``RetentionRun`` with
the counts, audited as ``retention.purge`` by the system: counts, never PHI. The audit trail,
check-ins, signed notes, addenda, consents, episodes and sessions are not subject to it.
"""

import datetime
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from clinician.audit import audit_record
from clinician.models import Clinician, Practice
from clinician.permissions import acting_clinician
from couples.models import SessionNote

from .models import (
    PartnerLink,
    RecordExport,
    ReminderDelivery,
    RetentionPolicy,
    RetentionRun,
    WebhookDelivery,
    WelcomeMessage,
)

BATCH_SIZE = 500
POLICY_FIELDS = tuple(RetentionPolicy.DEFAULTS)
FINISHED_REMINDERS = (
    ReminderDelivery.Status.SENT,
    ReminderDelivery.Status.FAILED,
    ReminderDelivery.Status.CANCELLED,
)
FINISHED_WELCOMES = (
    WelcomeMessage.Status.SENT,
    WelcomeMessage.Status.FAILED,
    WelcomeMessage.Status.CANCELLED,
)
FINISHED_WEBHOOKS = (WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED)
NOT_ADMIN = "Only the practice's admin can change its retention settings."


def retention_policy_for(*, practice_id: int) -> RetentionPolicy:
    """The practice's policy; an unsaved one with the defaults if it has none."""
    policy = RetentionPolicy.objects.filter(practice_id=practice_id).first()
    return policy or RetentionPolicy(practice_id=practice_id)


def _require_admin(user) -> Clinician:
    clinician = acting_clinician(user)
    if clinician is None or clinician.role != Clinician.Role.PRACTICE_ADMIN:
        raise ValidationError(NOT_ADMIN, code="not_admin")
    return clinician


@transaction.atomic
def retention_policy_update(*, user, **days: int) -> RetentionPolicy:
    """Set the admin's practice's retention periods (any of ``POLICY_FIELDS``). Validated
    (draft notes at least 30 days, the rest at least 1, at most ten years); audited as
    ``retention.update`` with the names of the periods changed."""
    clinician = _require_admin(user)
    unknown = set(days) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a retention setting." for name in sorted(unknown)})
    RetentionPolicy.objects.get_or_create(practice_id=clinician.practice_id)
    policy = RetentionPolicy.objects.select_for_update().get(practice_id=clinician.practice_id)
    changed = [name for name, value in days.items() if getattr(policy, name) != value]
    for name, value in days.items():
        setattr(policy, name, value)
    policy.updated_by = clinician
    policy.full_clean()
    policy.save()
    audit_record(actor=user, action="retention.update", target=policy, changes=changed)
    return policy


def _delete_in_batches(queryset: QuerySet, batch_size: int) -> int:
    """Delete ``queryset``'s rows a batch at a time (short transactions, no huge IN lists)."""
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if ids:
                # The conditions again, with the ids: a row that changed since is left alone.
                queryset.filter(pk__in=ids).delete()
        deleted += len(ids)
        if len(ids) < batch_size:
            return deleted


def _purge_exports(queryset: QuerySet, now: datetime.datetime, batch_size: int) -> int:
    purged = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            queryset.filter(pk__in=ids).update(contents=None, purged_at=now)
        purged += len(ids)
        if len(ids) < batch_size:
            return purged


def _due(policy: RetentionPolicy, now: datetime.datetime) -> dict[str, Callable[[int], int]]:
    """Per count of ``RetentionRun``: what is past its period, and how it goes."""
    practice_id = policy.practice_id

    def before(days: int) -> datetime.datetime:
        return now - datetime.timedelta(days=days)

    drafts = SessionNote.objects.filter(
        practice_id=practice_id,
        status=SessionNote.Status.DRAFT,
        updated_at__lt=before(policy.draft_note_days),
    )
    deliveries = before(policy.delivery_log_days)
    reminders = ReminderDelivery.objects.filter(
        practice_id=practice_id, status__in=FINISHED_REMINDERS, created_at__lt=deliveries
    )
    welcomes = WelcomeMessage.objects.filter(
        practice_id=practice_id, status__in=FINISHED_WELCOMES, created_at__lt=deliveries
    )
    webhooks = WebhookDelivery.objects.filter(
        practice_id=practice_id,
        status__in=FINISHED_WEBHOOKS,
        created_at__lt=before(policy.webhook_log_days),
    )
    links_before = before(policy.used_link_days)
    links = PartnerLink.objects.filter(practice_id=practice_id).filter(
        Q(used_at__lt=links_before) | Q(used_at__isnull=True, expires_at__lt=links_before)
    )
    exports = RecordExport.objects.filter(
        practice_id=practice_id, purged_at__isnull=True, created_at__lt=before(policy.export_file_days)
    )
    return {
        "draft_notes": lambda size: _delete_in_batches(drafts, size),
        "reminder_deliveries": lambda size: _delete_in_batches(reminders, size),
        "welcome_messages": lambda size: _delete_in_batches(welcomes, size),
        "webhook_deliveries": lambda size: _delete_in_batches(webhooks, size),
        "partner_links": lambda size: _delete_in_batches(links, size),
        "record_exports": lambda size: _purge_exports(exports, now, size),
    }


def retention_enforce(
    *, practice_id: int, now: datetime.datetime | None = None, batch_size: int = BATCH_SIZE
) -> RetentionRun:
    """Delete (or purge) what is past the practice's retention periods, in batches; record the
    counts in a ``RetentionRun`` audited as ``retention.purge`` by the system. Idempotent: a
    second run finds nothing more."""
    now = now or timezone.now()
    policy = retention_policy_for(practice_id=practice_id)
    counts = {name: purge(batch_size) for name, purge in _due(policy, now).items()}
    with transaction.atomic():
        run = RetentionRun.objects.create(practice_id=practice_id, ran_at=now, **counts)
        audit_record(
            actor=None, action="retention.purge", target=run, changes=[n for n, c in counts.items() if c]
        )
    return run


def retention_enforce_all(*, now: datetime.datetime | None = None) -> int:
    """``retention_enforce`` for every practice; returns how many rows went in all."""
    total = 0
    for practice_id in Practice.objects.order_by("pk").values_list("pk", flat=True):
        run = retention_enforce(practice_id=practice_id, now=now)
        total += sum(getattr(run, name) for name in RetentionRun.COUNTS)
    return total


def retention_runs_for(*, user) -> QuerySet[RetentionRun]:
    """The admin's practice's runs, latest first (counts only); nobody else's."""
    clinician = acting_clinician(user)
    if clinician is None or clinician.role != Clinician.Role.PRACTICE_ADMIN:
        return RetentionRun.objects.none()
    return RetentionRun.objects.filter(practice_id=clinician.practice_id).order_by("-ran_at", "-pk")
