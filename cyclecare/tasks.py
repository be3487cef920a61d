"""Celery entry points: ids in, one service call, idempotent."""

from celery import shared_task

from . import services, webhooks


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


@shared_task
def webhook_deliveries_dispatch() -> int:
    """Periodic: return stuck deliveries to the queue, then enqueue every due one (retries
    with backoff are rows with a later next_attempt_at, not delayed tasks)."""
    webhooks.webhook_deliveries_reclaim_stuck()
    due = webhooks.webhook_deliveries_due()
    for delivery_id in due:
        webhook_deliver.delay(delivery_id)
    return len(due)
