"""Engagement: homework adherence (completed ÷ due) and how soon after a reminder homework is
done, read from the activity rollup (EngagementDay; cyclecare.reports.rollups keeps it)."""

import datetime
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncWeek

from clinician.conf import cyclecare_settings
from clinician.permissions import row_scope

from ..models import EngagementDay, ReportRollup
from .common import ADMINISTRATIVE, clinician_rows, total_row
from .filters import ReportFilters
from .rollups import rollup_fresh_at
from .router import report_reads

ADHERENCE_COUNTS = ("due", "completed", "missed", "pending")
TIMING = ("reminded_completions", "reminder_minutes", *EngagementDay.BIN_FIELDS)
SUMMED = (*ADHERENCE_COUNTS, *TIMING)


def _adherence_pct(completed: int, due: int) -> float | None:
    if not due:
        return None
    return float((Decimal(100 * completed) / Decimal(due)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def median_minutes(figures: dict[str, int]) -> float | None:
    """The median minutes from the first reminder to completion, from the rollup's histogram:
    interpolated inside the bin that holds it (the open-ended last bin gives its lower bound)."""
    count = sum(figures.get(field, 0) for field in EngagementDay.BIN_FIELDS)
    if not count:
        return None
    half, seen, lower = count / 2, 0, 0
    bounds = (*EngagementDay.MINUTE_BINS, None)
    for field, upper in zip(EngagementDay.BIN_FIELDS, bounds, strict=True):
        in_bin = figures.get(field, 0)
        if in_bin and seen + in_bin >= half:
            if upper is None:
                return float(lower)
            return round(lower + (upper - lower) * (half - seen) / in_bin, 1)
        seen += in_bin
        lower = upper
    return float(lower)


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    """Adherence and timing figures of a row of summed counts (the histogram is dropped)."""
    row["adherence_pct"] = _adherence_pct(row["completed"], row["due"])
    row["median_minutes_to_complete"] = median_minutes(row)
    done = row["reminded_completions"]
    row["mean_minutes_to_complete"] = round(row["reminder_minutes"] / done, 1) if done else None
    for field in ("reminder_minutes", *EngagementDay.BIN_FIELDS):
        row.pop(field, None)
    return row


def _counts(group: dict[str, Any]) -> dict[str, int]:
    return {field: group.get(field) or 0 for field in SUMMED}


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for field in SUMMED:
        into[field] = into.get(field, 0) + counts[field]


def engagement_report(*, user, filters: ReportFilters) -> dict[str, Any]:
    """Homework adherence in the caller's administrative scope, from the activity rollup:
    occurrences due in the period (each partner's own local due date) whose due time had passed
    at the last refresh, how many were completed, missed or are still pending, completed ÷ due,
    and the median (and mean) minutes from the first reminder to completion. Per clinician with
    a total (``rows``/``total``), per week (``weeks``), per couple (``couples``: id and label)
    and per partner (``partners``: ids only), and the couples whose partners' completion rates
    differ by at least UNEVEN_ENGAGEMENT_GAP_POINTS (``uneven``). Cancelled occurrences do not
    count. Filters: period, clinician, status."""
    gap = cyclecare_settings.UNEVEN_ENGAGEMENT_GAP_POINTS
    min_due = cyclecare_settings.UNEVEN_ENGAGEMENT_MIN_DUE
    with report_reads() as db:
        days = EngagementDay.objects.using(db).filter(
            row_scope(user, purpose=ADMINISTRATIVE), day__gte=filters.date_from, day__lte=filters.date_to
        )
        if filters.clinician is not None:
            days = days.filter(couple__primary_clinician_id=filters.clinician)
        if filters.status:
            days = days.filter(couple__status=filters.status)
        sums = {field: Sum(field) for field in SUMMED}
        per_partner = list(
            days.order_by()
            .values("partner_id", "couple_id", "couple__label", "couple__primary_clinician_id")
            .annotate(**sums)
        )
        per_week = list(
            days.order_by().annotate(week=TruncWeek("day")).values("week").annotate(**sums).order_by("week")
        )
        fresh_at = rollup_fresh_at(ReportRollup.Name.ACTIVITY)

    by_clinician: dict[int, dict[str, int]] = defaultdict(dict)
    couples: dict[int, dict[str, Any]] = {}
    partners = []
    for group in per_partner:
        counts = _counts(group)
        _add(by_clinician[group["couple__primary_clinician_id"]], counts)
        couple = couples.setdefault(
            group["couple_id"],
            {
                "couple": group["couple_id"],
                "label": group["couple__label"],
                "clinician": group["couple__primary_clinician_id"],
                "partners": [],
            },
        )
        _add(couple, counts)
        partner = {"partner": group["partner_id"], "couple": group["couple_id"], **counts}
        couple["partners"].append(partner)
        partners.append(partner)

    rows = clinician_rows(user, by_clinician, SUMMED)
    if filters.clinician is not None:
        # One caseload: its row, and the total is that row.
        rows = [row for row in rows if row["clinician"] == filters.clinician]
    total = total_row(rows, SUMMED)
    for row in [*rows, total, *couples.values(), *partners]:
        _finish(row)
    uneven = []
    for couple in couples.values():
        rated = [p for p in couple["partners"] if p["due"] >= min_due]
        if len(rated) == 2:
            rates = sorted(p["adherence_pct"] for p in rated)
            if rates[1] - rates[0] >= gap:
                uneven.append(
                    {
                        "couple": couple["couple"],
                        "label": couple["label"],
                        "clinician": couple["clinician"],
                        "lower_pct": rates[0],
                        "higher_pct": rates[1],
                        "gap_points": round(rates[1] - rates[0], 1),
                    }
                )
    uneven.sort(key=lambda item: (-item["gap_points"], item["label"], item["couple"]))
    weeks = []
    for group in per_week:
        week = group["week"]
        week = week.date() if isinstance(week, datetime.datetime) else week
        weeks.append(_finish({"week": week, **_counts(group)}))
    notes = [
        "Due: homework whose due time (each partner's own calendar) had passed at the last refresh; "
        "cancelled homework is not counted.",
        f"Uneven engagement: partners' completion rates at least {gap} percentage points apart, "
        f"each with at least {min_due} due.",
        "Minutes to complete are counted from the first reminder sent; the median is estimated "
        "from time bands.",
    ]
    if fresh_at is None:
        notes.insert(0, "These figures have not been computed yet; they appear within a few minutes.")
    return {
        "rows": rows,
        "total": total,
        "weeks": weeks,
        "couples": sorted(couples.values(), key=lambda c: (c["label"], c["couple"])),
        "partners": partners,
        "uneven": uneven,
        "fresh_at": fresh_at,
        "notes": notes,
    }
