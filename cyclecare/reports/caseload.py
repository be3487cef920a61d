"""Caseload: per clinician, couples by status, individual cases, new intakes, sessions held,
cancellation and no-show rates, and open safety flags (a count)."""

import datetime
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q

from clinician.permissions import couple_scope, row_scope
from couples.models import Couple, TherapySession

from ..models import SafetyFlag
from .common import ADMINISTRATIVE, clinician_rows, day_start, practice_zone, total_row
from .filters import ReportFilters

# CASELOAD
# ------------------------------------------------------------------------------
CASELOAD_COLUMNS = (
    "active_couples",
    "paused_couples",
    "discharged_couples",
    "separated_couples",
    "open_individual_cases",
    "closed_individual_cases",
    "new_intakes",
    "sessions_held",
    "sessions_cancelled",
    "sessions_no_show",
    "open_safety_flags",
)
RATE_COLUMNS = ("cancellation_rate_pct", "no_show_rate_pct")
# A session that was due in the period: held, cancelled or a no-show (still-scheduled ones are not).
SESSION_OUTCOMES = (
    TherapySession.Status.HELD,
    TherapySession.Status.CANCELLED,
    TherapySession.Status.NO_SHOW,
)


def _pct(part: int, whole: int) -> float | None:
    if not whole:
        return None
    return float((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _rates(row: dict[str, Any]) -> None:
    """Cancelled and no-show sessions as a share of the period's sessions that were due
    (held + cancelled + no-show), in per cent; None when none were due."""
    due = row["sessions_held"] + row["sessions_cancelled"] + row["sessions_no_show"]
    row["cancellation_rate_pct"] = _pct(row["sessions_cancelled"], due)
    row["no_show_rate_pct"] = _pct(row["sessions_no_show"], due)


def _narrowing(filters: ReportFilters, prefix: str = "") -> Q:
    narrowing = Q()
    if filters.clinician is not None:
        narrowing &= Q(**{f"{prefix}primary_clinician_id": filters.clinician})
    if filters.status is not None:
        narrowing &= Q(**{f"{prefix}status": filters.status})
    return narrowing


def caseload_report(*, user, filters: ReportFilters) -> dict[str, Any]:
    """Per clinician with a total: couples by status now, the individual cases that continue a
    separated couple (open: active or paused; closed: discharged), new intakes (couples created
    in the period), the period's sessions held, cancelled and no-show with the cancellation and
    no-show rates (of held + cancelled + no-show), and how many safety flags are open now (a
    count, nothing of the flags). The period is the practice's calendar days, inclusive;
    ``clinician`` and ``status`` narrow every figure to that caseload and couple status."""
    zone = practice_zone(user=user)
    start, end = (
        day_start(filters.date_from, zone),
        day_start(filters.date_to + datetime.timedelta(days=1), zone),
    )
    figures: dict[int, dict[str, int]] = defaultdict(dict)
    couple, individual = Q(kind=Couple.Kind.COUPLE), Q(kind=Couple.Kind.INDIVIDUAL)
    couples = (
        Couple.objects.filter(couple_scope(user, purpose=ADMINISTRATIVE), _narrowing(filters))
        .order_by()
        .values("primary_clinician_id")
        .annotate(
            active_couples=Count("pk", filter=couple & Q(status=Couple.Status.ACTIVE)),
            paused_couples=Count("pk", filter=couple & Q(status=Couple.Status.PAUSED)),
            discharged_couples=Count("pk", filter=couple & Q(status=Couple.Status.DISCHARGED)),
            separated_couples=Count("pk", filter=couple & Q(status=Couple.Status.SEPARATED)),
            open_individual_cases=Count(
                "pk", filter=individual & Q(status__in=[Couple.Status.ACTIVE, Couple.Status.PAUSED])
            ),
            closed_individual_cases=Count("pk", filter=individual & Q(status=Couple.Status.DISCHARGED)),
            new_intakes=Count("pk", filter=couple & Q(created_at__gte=start, created_at__lt=end)),
        )
    )
    for group in couples:
        figures[group.pop("primary_clinician_id")].update(group)
    sessions = (
        TherapySession.objects.filter(
            row_scope(user, purpose=ADMINISTRATIVE),
            _narrowing(filters, "couple__"),
            status__in=SESSION_OUTCOMES,
            starts_at__gte=start,
            starts_at__lt=end,
        )
        .order_by()
        .values("couple__primary_clinician_id")
        .annotate(
            sessions_held=Count("pk", filter=Q(status=TherapySession.Status.HELD)),
            sessions_cancelled=Count("pk", filter=Q(status=TherapySession.Status.CANCELLED)),
            sessions_no_show=Count("pk", filter=Q(status=TherapySession.Status.NO_SHOW)),
        )
    )
    for group in sessions:
        figures[group.pop("couple__primary_clinician_id")].update(group)
    flags = (
        SafetyFlag.objects.filter(
            row_scope(user, purpose=ADMINISTRATIVE),
            _narrowing(filters, "couple__"),
            status=SafetyFlag.Status.OPEN,
        )
        .order_by()
        .values("couple__primary_clinician_id")
        .annotate(open_safety_flags=Count("pk"))
    )
    for group in flags:
        figures[group["couple__primary_clinician_id"]]["open_safety_flags"] = group["open_safety_flags"]
    rows = clinician_rows(user, figures, CASELOAD_COLUMNS)
    if filters.clinician is not None:
        rows = [row for row in rows if row["clinician"] == filters.clinician]
    total = total_row(rows, CASELOAD_COLUMNS)
    for row in [*rows, total]:
        _rates(row)
    return {
        "rows": rows,
        "total": total,
        "fresh_at": None,
        "notes": [
            "Couples by status and open safety flags are as of now; new intakes (couples created) "
            "and sessions are those in the period. Cancellation and no-show rates are shares of the "
            "period's held, cancelled and no-show sessions."
        ],
    }
