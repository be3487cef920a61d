"""Celery entry points: ids in, one service call, idempotent."""

import logging

from celery import shared_task

from couples.services import partner_erasures_purge

from . import retention, services, webhooks, welcome
from .reminders import dispatch, planner
from .reports import export, rollups

log = logging.getLogger(__name__)


@shared_task(
    acks_late=True, autoretry_for=(OSError,), retry_backoff=True, retry_backoff_max=600, max_retries=8
)
def safety_flag_notify(flag_id: int) -> bool:
    return services.safety_flag_notify_clinician(flag_id=flag_id)


@shared_task
def safety_flags_notify_pending() -> int:
    """Periodic reconciler: retry clinician emails for flags that have not gone out."""
    pending = services.safety_flags_pending_notification()
    for flag_id in pending:
        safety_flag_notify.delay(flag_id)
    return len(pending)


@shared_task
def occurrences_mark_missed_task() -> int:
    """Periodic: pending occurrences long past due become missed (and publish assignment.missed)."""
    return services.occurrences_mark_missed()


@shared_task(acks_late=True)
def webhook_deliver(delivery_id: int) -> str:
    """Send one webhook delivery. Idempotent: the service claims the row before sending."""
    return webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(acks_late=True)
def webhook_deliver_batch(delivery_ids: list[int]) -> int:
    """Deliveries committed together (one event, several endpoints: webhooks.send_soon): one
    send task each, so a slow endpoint holds up no other. Idempotent like webhook_deliver."""
    for delivery_id in delivery_ids:
        webhook_deliver.delay(delivery_id)
    return len(delivery_ids)


@shared_task
def webhook_deliveries_dispatch() -> int:
    """Periodic: return stuck deliveries to the queue, then enqueue every due one (retries
    with backoff are rows with a later next_attempt_at, not delayed tasks)."""
    webhooks.webhook_deliveries_reclaim_stuck()
    due = webhooks.webhook_deliveries_due()
    for delivery_id in due:
        webhook_deliver.delay(delivery_id)
    return len(due)


# REMINDERS
# ------------------------------------------------------------------------------
# Time limits are explicit: a send task's hard limit is far below REMINDER_STUCK_AFTER_MINUTES,
# so a row the reconciler finds in SENDING has no live worker behind it.
@shared_task(acks_late=True, time_limit=120, soft_time_limit=100)
def reminders_send(delivery_ids: list[int]) -> dict:
    """Send a batch of reminders by id. Idempotent: each row is claimed before it is sent, so a
    redelivered message (acks_late) or a duplicate task sends nothing twice."""
    return dict(dispatch.reminders_send(delivery_ids=delivery_ids))


@shared_task(time_limit=55, soft_time_limit=45)
def reminders_dispatch() -> int:
    """Periodic, every minute: reconcile rows stuck in SENDING, then enqueue every due reminder
    (retries are rows with a later next_attempt_at, never ETA tasks)."""
    dispatch.reminders_reclaim_stuck()
    return dispatch.reminders_enqueue_due()


@shared_task(time_limit=600, soft_time_limit=570)
def reminders_plan() -> int:
    """Periodic: materialise the next hours' occurrences, reminders and nudges."""
    result = planner.plan_periodic(budget_seconds=480)
    return result.reminders_created + result.nudges_created


# WELCOMES
# ------------------------------------------------------------------------------
@shared_task(acks_late=True, time_limit=120, soft_time_limit=100)
def welcome_send(welcome_ids: list[int]) -> dict:
    """Send welcomes by id. Idempotent: each row is claimed before it is sent."""
    return welcome.welcomes_send(welcome_ids=welcome_ids)


@shared_task(time_limit=55, soft_time_limit=45)
def welcomes_dispatch() -> int:
    """Periodic, every minute: welcomes whose task was lost, whose retry is due, or whose
    worker died mid-send."""
    return welcome.welcomes_enqueue_due()


# REPORT EXPORTS
# ------------------------------------------------------------------------------
# A large export takes minutes (10 million rows: tens of them): its limits are its own, not the
# app's default minute, and stay below export.STALE_AFTER.
@shared_task(acks_late=True, time_limit=3 * 3600, soft_time_limit=3 * 3600 - 60)
def report_export_build(export_id) -> str:
    """Write one de-identified export by id. Idempotent: the service claims the row first. A
    payload that is not an export id is logged (its type only: it may hold anything) and dropped."""
    if isinstance(export_id, bool) or not isinstance(export_id, int) or export_id <= 0:
        log.error("report_export_build: bad payload of type %s", type(export_id).__name__)
        return "invalid"
    return export.report_export_build(export_id=export_id)


@shared_task
def report_exports_purge_expired() -> int:
    """Periodic: delete the files of expired exports."""
    return export.report_exports_purge_expired()


# ERASURE AND RETENTION
# ------------------------------------------------------------------------------
@shared_task(time_limit=600, soft_time_limit=570)
def partner_erasures_purge_task() -> int:
    """Periodic: erasures past their undo window become final (their encrypted copy goes)."""
    return partner_erasures_purge()


@shared_task(time_limit=3600, soft_time_limit=3500)
def retention_enforce_task() -> int:
    """Periodic, daily: delete what is past each practice's retention periods, in batches."""
    return retention.retention_enforce_all()


# REPORTS
# ------------------------------------------------------------------------------
@shared_task(time_limit=3600, soft_time_limit=3500)
def report_rollups_refresh() -> int:
    """Periodic, every minute: fold what changed since the last refresh into the report
    rollups. Idempotent: a refresh recomputes whole buckets, and concurrent ones queue on a lock.
    The very first one builds everything (hence the long limit; later ones take seconds)."""
    result = rollups.refresh_rollups()
    return result.activity_buckets + result.score_buckets


@shared_task(time_limit=3600, soft_time_limit=3500)
def report_rollups_rebuild() -> int:
    """Periodic, nightly: rebuild the rollups from the raw rows (picks up deletions and any row
    a very long transaction hid from the incremental refresh)."""
    result = rollups.refresh_rollups(full=True)
    return result.activity_buckets + result.score_buckets
