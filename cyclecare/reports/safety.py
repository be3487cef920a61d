"""Safety: how the practice answers safety flags — counts and a median, never a flag.

Per clinician (the couple's primary clinician) with a total: flags opened (raised), acknowledged
and closed (resolved) in the period, and the median minutes from raising to acknowledging of
the flags acknowledged in the period. Nothing of a flag — which couple or partner, its source,
its answer — leaves this module.
"""

import datetime
import statistics
from collections import defaultdict
from typing import Any

from django.db.models import Count, Q

from clinician.permissions import row_scope

from ..models import SafetyFlag
from .common import ADMINISTRATIVE, clinician_rows, day_start, practice_zone, total_row
from .filters import ReportFilters

SAFETY_COLUMNS = ("flags_opened", "flags_acknowledged", "flags_closed")


def _median_minutes(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def safety_report(*, user, filters: ReportFilters) -> dict[str, Any]:
    """Per clinician with a total: safety flags opened, acknowledged and closed in the period
    (the practice's calendar days) and the median minutes to acknowledge those acknowledged in
    it — counts only. ``clinician`` and ``status`` narrow to that caseload and couple status."""
    zone = practice_zone(user=user)
    start, end = (
        day_start(filters.date_from, zone),
        day_start(filters.date_to + datetime.timedelta(days=1), zone),
    )
    narrowing = Q()
    if filters.clinician is not None:
        narrowing &= Q(couple__primary_clinician_id=filters.clinician)
    if filters.status is not None:
        narrowing &= Q(couple__status=filters.status)
    flags = SafetyFlag.objects.filter(row_scope(user, purpose=ADMINISTRATIVE), narrowing).order_by()
    opened = Q(raised_at__gte=start, raised_at__lt=end)
    acknowledged = Q(acknowledged_at__gte=start, acknowledged_at__lt=end)
    closed = Q(resolved_at__gte=start, resolved_at__lt=end)
    groups = (
        flags.filter(opened | acknowledged | closed)
        .values("couple__primary_clinician_id")
        .annotate(
            flags_opened=Count("pk", filter=opened),
            flags_acknowledged=Count("pk", filter=acknowledged),
            flags_closed=Count("pk", filter=closed),
        )
    )
    figures = {group.pop("couple__primary_clinician_id"): group for group in groups}
    minutes: dict[int, list[float]] = defaultdict(list)
    for clinician, raised_at, acknowledged_at in flags.filter(acknowledged).values_list(
        "couple__primary_clinician_id", "raised_at", "acknowledged_at"
    ):
        minutes[clinician].append((acknowledged_at - raised_at).total_seconds() / 60)
    rows = clinician_rows(user, figures, SAFETY_COLUMNS)
    if filters.clinician is not None:
        rows = [row for row in rows if row["clinician"] == filters.clinician]
    for row in rows:
        row["median_minutes_to_acknowledge"] = _median_minutes(minutes.get(row["clinician"], []))
    listed = {row["clinician"] for row in rows}
    total = total_row(rows, SAFETY_COLUMNS)
    total["median_minutes_to_acknowledge"] = _median_minutes(
        [value for clinician, values in minutes.items() if clinician in listed for value in values]
    )
    return {
        "rows": rows,
        "total": total,
        "fresh_at": None,
        "notes": [
            "Counts only: flags raised, acknowledged and resolved in the period, and the median "
            "minutes from raising to acknowledging for those acknowledged in it."
        ],
    }
