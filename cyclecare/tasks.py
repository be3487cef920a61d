"""Celery entry points: ids in, one service call, idempotent."""

from celery import shared_task

from . import services


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
