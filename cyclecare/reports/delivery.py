"""Reminder delivery: the funnel per channel (planned → sent → opened → completed), failures
and holds by reason — counts only, read from the activity rollup (DeliveryDay)."""

from collections import defaultdict
from typing import Any

from django.db.models import Sum

from clinician.permissions import row_scope

from ..models import DeliveryDay, ReminderDelivery, ReportRollup
from .common import ADMINISTRATIVE, clinician_rows, total_row
from .filters import ReportFilters
from .rollups import rollup_fresh_at
from .router import report_reads

FUNNEL = ("planned", "sent", "opened", "completed", "failed", "held", "waiting")
Status = ReminderDelivery.Status


def _stage_counts(status: str, opened: bool, completed: bool, n: int) -> dict[str, int]:
    counts = dict.fromkeys(FUNNEL, 0)
    counts["planned"] = n
    if status == Status.SENT:
        counts["sent"] = n
        counts["opened"] = n if opened else 0
        counts["completed"] = n if completed else 0
    elif status == Status.FAILED:
        counts["failed"] = n
    elif status == Status.CANCELLED:
        counts["held"] = n
    else:
        counts["waiting"] = n  # pending or being sent
    return counts


def delivery_report(*, user, filters: ReportFilters) -> dict[str, Any]:
    """Reminders and nudges for homework due in the period (each partner's calendar), in the
    caller's administrative scope: per clinician with a total (``rows``/``total``), per channel
    (``channels``), how many were planned, sent, had their link opened, were followed by the
    homework being completed, failed, were held (not sent: on hold, no consent …) or are still
    waiting; failures by reason (``failed_by_reason``) and holds by reason (``held_by_reason``).
    A safety hold is counted with every other hold, as in the reminder log. Filters: period,
    clinician, status."""
    with report_reads() as db:
        rows_in = DeliveryDay.objects.using(db).filter(
            row_scope(user, purpose=ADMINISTRATIVE), day__gte=filters.date_from, day__lte=filters.date_to
        )
        if filters.clinician is not None:
            rows_in = rows_in.filter(couple__primary_clinician_id=filters.clinician)
        if filters.status:
            rows_in = rows_in.filter(couple__status=filters.status)
        groups = list(
            rows_in.order_by()
            .values("couple__primary_clinician_id", "channel", "status", "reason", "opened", "completed")
            .annotate(n=Sum("deliveries"))
        )
        fresh_at = rollup_fresh_at(ReportRollup.Name.ACTIVITY)

    by_clinician: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FUNNEL, 0))
    by_channel: dict[str, dict[str, int]] = {
        channel: dict.fromkeys(FUNNEL, 0) for channel in ReminderDelivery.Channel.values
    }
    failed: dict[str, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)
    for group in groups:
        counts = _stage_counts(group["status"], group["opened"], group["completed"], group["n"] or 0)
        for into in (by_clinician[group["couple__primary_clinician_id"]], by_channel[group["channel"]]):
            for stage, n in counts.items():
                into[stage] += n
        if group["status"] == Status.FAILED:
            failed[group["reason"]] += group["n"] or 0
        elif group["status"] == Status.CANCELLED:
            held[group["reason"]] += group["n"] or 0

    rows = clinician_rows(user, by_clinician, FUNNEL)
    labels = dict(DeliveryDay.Reason.choices)
    notes = [
        "Counted by the due date of the homework each reminder was for. Opened: the partner (or "
        "a mail scanner) opened the reminder's link. Held: not sent because of a rule — reminders "
        "on hold, no consent, a changed channel or homework no longer due.",
    ]
    if fresh_at is None:
        notes.insert(0, "These figures have not been computed yet; they appear within a few minutes.")
    return {
        "rows": rows,
        "total": total_row(rows, FUNNEL),
        "channels": [
            {"channel": channel, "label": str(label), **by_channel[channel]}
            for channel, label in ReminderDelivery.Channel.choices
        ],
        "failed_by_reason": [
            {"reason": reason, "label": str(labels[reason]), "count": n}
            for reason, n in sorted(failed.items(), key=lambda item: (-item[1], item[0]))
        ],
        "held_by_reason": [
            {"reason": reason, "label": str(labels[reason]), "count": n}
            for reason, n in sorted(held.items(), key=lambda item: (-item[1], item[0]))
        ],
        "fresh_at": fresh_at,
        "notes": notes,
    }
