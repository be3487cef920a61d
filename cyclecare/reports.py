"""Report aggregates: counts and means over the caller's *administrative* scope — never rows.

A practice admin or an integration client sees the whole practice; a clinician their caseload
(a supervisor adds their supervisees'). Scope comes from clinician.permissions, as in every
selector. Each report is a fixed handful of grouped queries whatever the size of the practice;
per-partner figures are computed in the database and only their aggregates leave this module.

Figures are grouped by the couple's primary clinician, so one row is one caseload.
"""

import datetime
import zoneinfo
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, F, Q, Window
from django.db.models.functions import FirstValue, RowNumber
from django.utils import timezone

from clinician.models import Clinician, Practice
from clinician.permissions import NOTHING, acting_clinician, couple_scope, practice_id_of, row_scope
from couples.models import Couple, TherapySession

from . import scoring
from .disclosure import scored_checkins_for_outsiders
from .models import CheckIn, Instrument, Occurrence, SafetyFlag

ADMINISTRATIVE = "administrative"
DEFAULT_PERIOD_DAYS = 30
TRAJECTORIES = (
    scoring.Trajectory.RECOVERED,
    scoring.Trajectory.IMPROVED,
    scoring.Trajectory.UNCHANGED,
    scoring.Trajectory.DETERIORATED,
)


# PERIODS
# ------------------------------------------------------------------------------
def practice_zone(*, user) -> zoneinfo.ZoneInfo:
    """The time zone of the caller's practice: report dates are the practice's calendar days."""
    clinician = acting_clinician(user)
    if clinician is not None:
        name = clinician.practice.time_zone
    else:
        practice_id = practice_id_of(user)
        name = (
            Practice.objects.filter(pk=practice_id).values_list("time_zone", flat=True).first()
            if practice_id
            else None
        )
    return zoneinfo.ZoneInfo(name or "UTC")


def practice_today(*, user) -> datetime.date:
    return timezone.now().astimezone(practice_zone(user=user)).date()


def _day_start(day: datetime.date, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


# CLINICIAN ROWS
# ------------------------------------------------------------------------------
def _report_clinicians(user, seen_ids: set[int]) -> list[dict[str, Any]]:
    """The clinicians a report lists: the caseloads in the caller's administrative scope (the
    whole practice for an admin or integration; oneself, plus supervisees for a supervisor —
    the same rule as couple_scope), with zero rows for active ones, plus anyone a figure
    mentions."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return []
    clinician = acting_clinician(user)
    if clinician is None or clinician.role == Clinician.Role.PRACTICE_ADMIN:
        caseloads = Q()
    else:
        caseloads = Q(pk=clinician.pk)
        if clinician.role == Clinician.Role.SUPERVISOR:
            caseloads |= Q(supervisor_id=clinician.pk)
    listed = (caseloads & Q(is_active=True)) | Q(pk__in=seen_ids)
    return list(
        Clinician.objects.filter(listed, practice_id=practice_id)
        .order_by("display_name", "id")
        .values("id", "display_name")
    )


def _rows(user, figures: dict[int, dict[str, int]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for clinician in _report_clinicians(user, set(figures)):
        counts = figures.get(clinician["id"], {})
        rows.append(
            {
                "clinician": clinician["id"],
                "display_name": clinician["display_name"],
                **{name: counts.get(name, 0) for name in columns},
            }
        )
    return rows


def _total(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, Any]:
    return {
        "clinician": None,
        "display_name": "Total",
        **{name: sum(row[name] for row in rows) for name in columns},
    }


# CASELOAD
# ------------------------------------------------------------------------------
CASELOAD_COLUMNS = (
    "active_couples",
    "paused_couples",
    "discharged_couples",
    "separated_couples",
    "open_individual_cases",
    "closed_individual_cases",
    "sessions_held",
    "open_safety_flags",
)


def caseload_report(*, user, date_from: datetime.date, date_to: datetime.date) -> dict[str, Any]:
    """Per clinician: couples by status, the individual cases that continue a separated couple
    (open: active or paused; closed: discharged), sessions held between the two dates
    (inclusive, the practice's calendar), and how many safety flags are open (a count, nothing
    of the flags)."""
    zone = practice_zone(user=user)
    figures: dict[int, dict[str, int]] = defaultdict(dict)
    couple, individual = Q(kind=Couple.Kind.COUPLE), Q(kind=Couple.Kind.INDIVIDUAL)
    couples = (
        Couple.objects.filter(couple_scope(user, purpose=ADMINISTRATIVE))
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
        )
    )
    for group in couples:
        figures[group.pop("primary_clinician_id")].update(group)
    sessions = (
        TherapySession.objects.filter(
            row_scope(user, purpose=ADMINISTRATIVE),
            status=TherapySession.Status.HELD,
            starts_at__gte=_day_start(date_from, zone),
            starts_at__lt=_day_start(date_to + datetime.timedelta(days=1), zone),
        )
        .order_by()
        .values("couple__primary_clinician_id")
        .annotate(sessions_held=Count("pk"))
    )
    for group in sessions:
        figures[group["couple__primary_clinician_id"]]["sessions_held"] = group["sessions_held"]
    flags = (
        SafetyFlag.objects.filter(row_scope(user, purpose=ADMINISTRATIVE), status=SafetyFlag.Status.OPEN)
        .order_by()
        .values("couple__primary_clinician_id")
        .annotate(open_safety_flags=Count("pk"))
    )
    for group in flags:
        figures[group["couple__primary_clinician_id"]]["open_safety_flags"] = group["open_safety_flags"]
    rows = _rows(user, figures, CASELOAD_COLUMNS)
    return {"rows": rows, "total": _total(rows, CASELOAD_COLUMNS)}


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
    rows = _rows(user, figures, ADHERENCE_COUNTS)
    total = _total(rows, ADHERENCE_COUNTS)
    for row in [*rows, total]:
        row["adherence_pct"] = _adherence_pct(row["completed"], row["due"])
    return {"rows": rows, "total": total}


# PRACTICE AT A GLANCE
# ------------------------------------------------------------------------------
def practice_overview(*, user) -> dict[str, Any]:
    """The practice admin's first screen, as counts over the caller's administrative scope:
    active clinicians, couples in care (active and paused), this calendar month's homework
    adherence so far (the practice's calendar; ``adherence_report``'s total) and open safety
    flags — a count, never which couple or partner."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return {
            "clinicians": 0,
            "active_couples": 0,
            "paused_couples": 0,
            "open_safety_flags": 0,
            "adherence": _total([], ADHERENCE_COUNTS) | {"adherence_pct": None},
            "month_start": None,
        }
    today = practice_today(user=user)
    month_start = today.replace(day=1)
    couples = Couple.objects.filter(couple_scope(user, purpose=ADMINISTRATIVE)).aggregate(
        active=Count("pk", filter=Q(status=Couple.Status.ACTIVE)),
        paused=Count("pk", filter=Q(status=Couple.Status.PAUSED)),
    )
    return {
        "clinicians": Clinician.objects.filter(practice_id=practice_id, is_active=True).count(),
        "active_couples": couples["active"],
        "paused_couples": couples["paused"],
        "open_safety_flags": SafetyFlag.objects.filter(
            row_scope(user, purpose=ADMINISTRATIVE), status=SafetyFlag.Status.OPEN
        ).count(),
        "adherence": adherence_report(user=user, date_from=month_start, date_to=today)["total"],
        "month_start": month_start,
    }


# OUTCOMES
# ------------------------------------------------------------------------------
def _mean(values: list[Decimal]) -> float | None:
    if not values:
        return None
    return float((sum(values) / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _definitions_by_code(practice_id: int, codes: set[str]) -> dict[str, Instrument]:
    """The newest version of each code available to the practice (its own licensed one first)."""
    latest: dict[str, Instrument] = {}
    candidates = (
        Instrument.objects.filter(Q(practice=None) | Q(practice_id=practice_id), code__in=codes)
        .only("code", "name", "version", "practice_id", "definition")
        .order_by("code", "-version")
    )
    for instrument in candidates:
        current = latest.get(instrument.code)
        if current is None or (
            current.version == instrument.version and current.practice_id is None and instrument.practice_id
        ):
            latest[instrument.code] = instrument
    return latest


def outcomes_report(*, user) -> dict[str, Any]:
    """Per instrument code with a total: partners with at least two scores, their mean first
    and latest totals and mean change, and — where the definition gives reliable change —
    how many recovered, improved, were unchanged or deteriorated (Jacobson & Truax)."""
    practice_id = practice_id_of(user)
    scope = row_scope(user, purpose=ADMINISTRATIVE) if practice_id else NOTHING

    # One pass over the scored check-ins: per (partner, code), the number of scores and the
    # first and latest totals, kept on the partner's first row only.
    series = {"partition_by": [F("partner_id"), F("instrument__code")]}
    oldest_first = [F("submitted_at").asc(), F("id").asc()]
    newest_first = [F("submitted_at").desc(), F("id").desc()]
    per_partner = (
        scored_checkins_for_outsiders(CheckIn.objects.filter(scope, total_score__isnull=False))
        .annotate(
            scores=Window(Count("pk"), **series),
            first_total=Window(FirstValue("total_score"), order_by=oldest_first, **series),
            latest_total=Window(FirstValue("total_score"), order_by=newest_first, **series),
            position=Window(RowNumber(), order_by=oldest_first, **series),
        )
        .filter(position=1, scores__gte=2)
        .order_by()
        .values_list("instrument__code", "first_total", "latest_total")
    )
    pairs: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for code, first, latest in per_partner:
        pairs[code].append((Decimal(str(first)), Decimal(str(latest))))
    instruments = _definitions_by_code(practice_id, set(pairs)) if pairs else {}
    rows = []
    for code in sorted(pairs):
        instrument = instruments.get(code)
        definition = instrument.definition if instrument else {}
        firsts = [first for first, _ in pairs[code]]
        latests = [latest for _, latest in pairs[code]]
        row: dict[str, Any] = {
            "instrument_code": code,
            "instrument_name": instrument.name if instrument else code,
            "partners": len(pairs[code]),
            "mean_first_total": _mean(firsts),
            "mean_latest_total": _mean(latests),
            "mean_change": _mean([latest - first for first, latest in pairs[code]]),
            "reliable_change": bool(definition.get("reliable_change")),
            **{name: None for name in TRAJECTORIES},
        }
        if row["reliable_change"]:
            counts = dict.fromkeys(TRAJECTORIES, 0)
            for first, latest in pairs[code]:
                counts[scoring.trajectory(definition, first, latest)] += 1
            row.update(counts)
        rows.append(row)
    return {"rows": rows}
