"""Engagement: homework check-in adherence (completed ÷ due)."""

import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from clinician.permissions import row_scope

from ..models import Occurrence
from .common import ADMINISTRATIVE, clinician_rows, total_row

# ADHERENCE
# ------------------------------------------------------------------------------
ADHERENCE_COUNTS = ("due", "completed", "missed", "pending")


def _adherence_pct(completed: int, due: int) -> float | None:
    if not due:
        return None
    return float((Decimal(100 * completed) / Decimal(due)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def adherence_report(*, user, date_from: datetime.date, date_to: datetime.date) -> dict[str, Any]:
    """Per clinician and in total: homework occurrences due between the two dates (each
    partner's own local due date) whose due time has passed, how many were completed, missed
    or are still pending, and completed / due as a percentage. Cancelled ones do not count."""
    groups = (
        Occurrence.objects.filter(
            row_scope(user, couple_prefix="assignment__couple__", purpose=ADMINISTRATIVE),
            local_due_date__gte=date_from,
            local_due_date__lte=date_to,
            due_at__lte=timezone.now(),
        )
        .exclude(status=Occurrence.Status.CANCELLED)
        .order_by()
        .values("assignment__couple__primary_clinician_id")
        .annotate(
            due=Count("pk"),
            completed=Count("pk", filter=Q(status=Occurrence.Status.COMPLETED)),
            missed=Count("pk", filter=Q(status=Occurrence.Status.MISSED)),
            pending=Count("pk", filter=Q(status=Occurrence.Status.PENDING)),
        )
    )
    figures = {group.pop("assignment__couple__primary_clinician_id"): group for group in groups}
    rows = clinician_rows(user, figures, ADHERENCE_COUNTS)
    total = total_row(rows, ADHERENCE_COUNTS)
    for row in [*rows, total]:
        row["adherence_pct"] = _adherence_pct(row["completed"], row["due"])
    return {"rows": rows, "total": total}
