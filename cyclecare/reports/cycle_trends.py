"""Cycle trends: how the practice's couples' cycles move — per clinician, week by week, and by
EFT stage — with the active caseload's stage distribution and how long de-escalation takes.

The figures of a group of episodes are the couple page's (cyclecare.trends: ``episode_aggregates``
and ``cycle_metrics``): episodes, mean intensity, repair success (worked ÷ attempted), minutes to
repair (mean duration of the episodes whose repair worked). Added here:

- *couple-weeks*: the days each couple (kind couple, not an individual case) was in care during
  the period — from ``started_on`` to ``discharged_on`` / ``separated_on`` (or the period's end),
  paused weeks included — divided by 7; *episodes per couple-week* = episodes ÷ couple-weeks;
- an episode's *EFT stage* is the stage of the couple's latest signed session note (with a stage)
  at or before the episode; a couple's stage over time changes on each such note's session day;
  time and episodes before a couple's first staged note are "not recorded";
- *stage distribution*: active couples now, by the stage of their current EFT step;
- *weeks to the end of de-escalation*: from intake (``started_on``) to the session day of the
  couple's first signed note in stage 2 or later, for couples reaching it in the period; median.
"""

import datetime
import statistics
from collections import defaultdict
from typing import Any

from django.db.models import F, OuterRef, Q, Subquery, Value, Window
from django.db.models.functions import Lag

from clinician.permissions import couple_scope, row_scope
from couples.models import Couple, SessionNote

from ..models import CycleEpisode
from ..trends import EpisodeWeek, cycle_metrics, episode_aggregates, episode_group, week_of, week_start
from .common import ADMINISTRATIVE, clinician_rows, day_start, practice_zone
from .filters import ReportFilters

STAGES = (1, 2, 3)
STAGE_LABELS = {1: "De-escalation", 2: "Restructuring", 3: "Consolidation", None: "Not recorded"}
COUNT_COLUMNS = (
    "episodes",
    "repairs_attempted",
    "repairs_worked",
    "active_stage_1",
    "active_stage_2",
    "active_stage_3",
    "active_stage_unknown",
    "reached_stage_2",
)
FIGURE_COLUMNS = (
    "couple_weeks",
    "episodes_per_couple_week",
    "mean_intensity",
    "repair_success_pct",
    "minutes_to_repair",
    "median_weeks_to_stage_2",
)


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def _figures(groups: list[EpisodeWeek], couple_days: float) -> dict[str, Any]:
    """The cycle's figures of some episodes (weighted as on the couple page) over the
    couple-days they happened in."""
    metrics = cycle_metrics(groups, partner_ids=())
    couple_weeks = couple_days / 7
    return {
        "couple_weeks": round(couple_weeks, 1),
        "episodes_per_couple_week": round(metrics.episodes / couple_weeks, 2) if couple_weeks else None,
        "mean_intensity": _round(metrics.mean_intensity, 2),
        "repair_success_pct": _round(None if metrics.repair_rate is None else 100 * metrics.repair_rate, 1),
        "minutes_to_repair": _round(metrics.minutes_to_repair, 1),
    }


def _median_weeks(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


# THE COUPLES AND THEIR STAGES
# ------------------------------------------------------------------------------
def _in_care(couple: dict[str, Any], filters: ReportFilters) -> tuple[datetime.date, datetime.date] | None:
    """The days of the period the couple was in care (both inclusive), or None."""
    ended = couple["discharged_on"] or couple["separated_on"]
    first = max(couple["started_on"], filters.date_from)
    last = min(ended or filters.date_to, filters.date_to)
    return (first, last) if first <= last else None


def _stage_changes(
    user, filters: ReportFilters, narrowing: Q, zone
) -> dict[int, list[tuple[datetime.date, int]]]:
    """Per couple, the days its stage changed (the session day of a signed note whose stage
    differs from the couple's previous signed note's), oldest first, up to the period's end."""
    end = day_start(filters.date_to + datetime.timedelta(days=1), zone)
    per_couple = {"partition_by": [F("session__couple_id")]}
    notes = (
        SessionNote.objects.filter(
            row_scope(user, couple_prefix="session__couple__", purpose=ADMINISTRATIVE),
            narrowing,
            status=SessionNote.Status.SIGNED,
            eft_stage__isnull=False,
            session__starts_at__lt=end,
        )
        .annotate(
            previous=Window(
                Lag("eft_stage", default=Value(0)),
                order_by=[F("session__starts_at").asc(), F("id").asc()],
                **per_couple,
            )
        )
        .exclude(previous=F("eft_stage"))
        .order_by()
        .values_list("session__couple_id", "session__starts_at", "eft_stage")
    )
    changes: dict[int, list[tuple[datetime.date, int]]] = defaultdict(list)
    for couple_id, starts_at, stage in notes:
        changes[couple_id].append((starts_at.astimezone(zone).date(), stage))
    for days in changes.values():
        days.sort()
    return changes


def _stage_days(
    span: tuple[datetime.date, datetime.date], changes: list[tuple[datetime.date, int]]
) -> dict[int | None, int]:
    """How many days of ``span`` the couple spent in each stage (None before its first)."""
    first, last = span
    days: dict[int | None, int] = defaultdict(int)
    bounds = [(first, None)] + [(day, stage) for day, stage in changes]
    for index, (since, stage) in enumerate(bounds):
        until = bounds[index + 1][0] - datetime.timedelta(days=1) if index + 1 < len(bounds) else last
        lo, hi = max(since, first), min(until, last)
        if lo <= hi:
            days[stage] += (hi - lo).days + 1
    return days


# CYCLE TRENDS
# ------------------------------------------------------------------------------
def cycle_trends_report(*, user, filters: ReportFilters) -> dict[str, Any]:
    """Per clinician with a total: episodes, couple-weeks in care, episodes per couple-week,
    mean intensity, repair success, minutes to repair, the active couples by EFT stage now,
    couples reaching stage 2 in the period and the median weeks from intake to it. ``weeks``:
    the practice's figures week by week (Mondays, the practice's calendar); ``stages``: by the
    EFT stage the couple was in. Counts and means only."""
    zone = practice_zone(user=user)
    start, end = (
        day_start(filters.date_from, zone),
        day_start(filters.date_to + datetime.timedelta(days=1), zone),
    )

    def narrowing(prefix: str) -> Q:
        q = Q(**{f"{prefix}kind": Couple.Kind.COUPLE})
        if filters.clinician is not None:
            q &= Q(**{f"{prefix}primary_clinician_id": filters.clinician})
        if filters.status is not None:
            q &= Q(**{f"{prefix}status": filters.status})
        return q

    couples = list(
        Couple.objects.filter(couple_scope(user, purpose=ADMINISTRATIVE), narrowing(""))
        .order_by()
        .values(
            "pk", "primary_clinician_id", "status", "eft_step", "started_on", "discharged_on", "separated_on"
        )
    )
    changes = _stage_changes(user, filters, narrowing("session__couple__"), zone)

    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    couple_days: dict[int, int] = defaultdict(int)
    stage_days: dict[int | None, int] = defaultdict(int)
    weeks_to_stage_2: dict[int, list[float]] = defaultdict(list)
    # In care per day of the period, by a difference array: O(couples + days), not their product.
    in_care_delta = [0] * (filters.days + 1)
    for couple in couples:
        clinician = couple["primary_clinician_id"]
        if couple["status"] == Couple.Status.ACTIVE:
            step = couple["eft_step"]
            stage = None if step is None else 1 if step <= 4 else 2 if step <= 7 else 3
            counts[clinician][f"active_stage_{stage or 'unknown'}"] += 1
        reached = next((day for day, stage in changes.get(couple["pk"], []) if stage >= 2), None)
        if reached is not None and filters.date_from <= reached <= filters.date_to:
            counts[clinician]["reached_stage_2"] += 1
            weeks_to_stage_2[clinician].append((reached - couple["started_on"]).days / 7)
        span = _in_care(couple, filters)
        if span is None:
            continue
        couple_days[clinician] += (span[1] - span[0]).days + 1
        for stage, days in _stage_days(span, changes.get(couple["pk"], [])).items():
            stage_days[stage] += days
        in_care_delta[(span[0] - filters.date_from).days] += 1
        in_care_delta[(span[1] - filters.date_from).days + 1] -= 1

    episodes = CycleEpisode.objects.filter(
        row_scope(user, purpose=ADMINISTRATIVE),
        narrowing("couple__"),
        occurred_at__gte=start,
        occurred_at__lt=end,
    ).order_by()
    by_clinician = {
        row["couple__primary_clinician_id"]: episode_group(row)
        for row in episodes.values("couple__primary_clinician_id").annotate(**episode_aggregates())
    }
    by_week = {
        row["week"]: episode_group(row, week=row["week"])
        for row in episodes.annotate(week=week_of("occurred_at", zone))
        .values("week")
        .annotate(**episode_aggregates())
    }
    stage_at = (
        SessionNote.objects.filter(
            session__couple_id=OuterRef("couple_id"),
            status=SessionNote.Status.SIGNED,
            eft_stage__isnull=False,
            session__starts_at__lte=OuterRef("occurred_at"),
        )
        .order_by("-session__starts_at", "-id")
        .values("eft_stage")[:1]
    )
    by_stage = {
        row["stage"]: episode_group(row)
        for row in episodes.annotate(stage=Subquery(stage_at))
        .values("stage")
        .annotate(**episode_aggregates())
    }

    for clinician, group in by_clinician.items():
        counts[clinician]["episodes"] = group.episodes
        counts[clinician]["repairs_attempted"] = group.repairs_attempted
        counts[clinician]["repairs_worked"] = group.repairs_worked
    figures = {clinician: dict(values) for clinician, values in counts.items()}
    for clinician in couple_days:
        figures.setdefault(clinician, {})
    rows = clinician_rows(user, figures, COUNT_COLUMNS)
    if filters.clinician is not None:
        rows = [row for row in rows if row["clinician"] == filters.clinician]
    for row in rows:
        group = by_clinician.get(row["clinician"])
        row.update(_figures([group] if group else [], couple_days.get(row["clinician"], 0)))
        row["median_weeks_to_stage_2"] = _median_weeks(weeks_to_stage_2.get(row["clinician"], []))
    listed = {row["clinician"] for row in rows}
    total: dict[str, Any] = {
        "clinician": None,
        "display_name": "Total",
        **{name: sum(row[name] for row in rows) for name in COUNT_COLUMNS},
        **_figures(
            [group for clinician, group in by_clinician.items() if clinician in listed],
            sum(days for clinician, days in couple_days.items() if clinician in listed),
        ),
        "median_weeks_to_stage_2": _median_weeks(
            [
                weeks
                for clinician, values in weeks_to_stage_2.items()
                if clinician in listed
                for weeks in values
            ]
        ),
    }

    in_care, running = [], 0
    for delta in in_care_delta[:-1]:
        running += delta
        in_care.append(running)
    weeks = []
    monday = week_start(filters.date_from)
    while monday <= filters.date_to:
        first = max(monday, filters.date_from)
        last = min(monday + datetime.timedelta(days=6), filters.date_to)
        days = sum(in_care[(first - filters.date_from).days : (last - filters.date_from).days + 1])
        group = by_week.get(monday)
        weeks.append(
            {
                "week": monday,
                "episodes": group.episodes if group else 0,
                **_figures([group] if group else [], days),
            }
        )
        monday += datetime.timedelta(weeks=1)

    stages = []
    for stage in (*STAGES, None):
        group = by_stage.get(stage)
        stages.append(
            {
                "stage": stage,
                "label": STAGE_LABELS[stage],
                "episodes": group.episodes if group else 0,
                **_figures([group] if group else [], stage_days.get(stage, 0)),
            }
        )
    return {
        "rows": rows,
        "total": total,
        "weeks": weeks,
        "stages": stages,
        "fresh_at": None,
        "notes": [
            "Couple-weeks are the days each couple was in care in the period (from intake to "
            "discharge or separation, paused weeks included) ÷ 7.",
            "An episode's EFT stage is the stage of the couple's latest signed session note at or "
            "before it; before a couple's first staged note it is not recorded.",
            "Stage distribution: active couples now, by their current EFT step. Weeks to the end of "
            "de-escalation: from intake to the first signed note in stage 2 or later, for couples "
            "reaching it in the period.",
        ],
    }
