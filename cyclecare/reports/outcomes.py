"""Outcomes: change on scored instruments since each partner's first score (Jacobson & Truax).

Two steps, kept apart so the figures can come from the raw tables or from rollups alike:

1. ``score_pairs`` — for each partner with at least two scores on an instrument: the first score
   ever and the latest on or before the period's last day, when that latest falls in the period.
2. ``tally_outcomes`` — the trajectories (recovered / improved / unchanged / deteriorated) of
   those pairs per clinician and instrument, the couples' (both partners improved, one, none),
   and the mean change, judged by the newest definition of each instrument the practice has.

A couple's figures need both partners measured on the instrument. A partner "improved" for the
couple counts when they recovered or improved. A couple's own trajectory is its less favourable
partner's: deteriorated if either partner deteriorated, recovered if both recovered, improved
if at least one improved (or recovered) and neither deteriorated, else unchanged.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from django.db.models import Count, F, Q, Window
from django.db.models.functions import FirstValue, RowNumber

from clinician.permissions import NOTHING, practice_id_of, row_scope

from .. import scoring
from ..disclosure import scored_checkins_for_outsiders
from ..models import CheckIn, Instrument
from ..reliable_change import intake_baselines
from ..trends import IMPROVING, OUTCOME_CODES
from .common import ADMINISTRATIVE, day_start, practice_zone, report_clinicians
from .filters import ReportFilters

TRAJECTORIES = (
    scoring.Trajectory.RECOVERED,
    scoring.Trajectory.IMPROVED,
    scoring.Trajectory.UNCHANGED,
    scoring.Trajectory.DETERIORATED,
)
COUPLE_TRAJECTORIES = tuple(f"couples_{name}" for name in TRAJECTORIES)
COUPLE_IMPROVEMENT = ("couples_both_improved", "couples_one_improved", "couples_none_improved")
# Partners and couples counted; the trajectory counts are None where change is not judged.
COUNT_COLUMNS = ("partners", "couples")
JUDGED_COLUMNS = (*TRAJECTORIES, *COUPLE_TRAJECTORIES, *COUPLE_IMPROVEMENT)
MEAN_COLUMNS = ("mean_first_total", "mean_latest_total", "mean_change")


class ScorePair(NamedTuple):
    partner_id: int
    couple_id: int
    primary_clinician_id: int
    instrument_code: str
    first_total: Decimal
    latest_total: Decimal


# THE PAIRS (raw tables)
# ------------------------------------------------------------------------------
def score_pairs(*, user, filters: ReportFilters) -> list[ScorePair]:
    """Per partner and instrument code in the caller's administrative scope (and the filters'
    clinician, couple status and instrument): the first score ever and the latest on or before
    ``date_to``, for partners with at least two scores by then whose latest falls in the period.
    Screens whose scores only the treating clinician sees are left out. One query."""
    practice_id = practice_id_of(user)
    scope = row_scope(user, purpose=ADMINISTRATIVE) if practice_id else NOTHING
    zone = practice_zone(user=user)
    narrowing = Q()
    if filters.clinician is not None:
        narrowing &= Q(couple__primary_clinician_id=filters.clinician)
    if filters.status is not None:
        narrowing &= Q(couple__status=filters.status)
    if filters.instrument is not None:
        narrowing &= Q(instrument__code=filters.instrument)
    until = day_start(filters.date_to + datetime.timedelta(days=1), zone)
    series = {"partition_by": [F("partner_id"), F("instrument__code")]}
    oldest_first = [F("submitted_at").asc(), F("id").asc()]
    newest_first = [F("submitted_at").desc(), F("id").desc()]
    rows = (
        scored_checkins_for_outsiders(
            CheckIn.objects.filter(scope, narrowing, total_score__isnull=False, submitted_at__lt=until)
        )
        .annotate(
            scores=Window(Count("pk"), **series),
            first_total=Window(FirstValue("total_score"), order_by=oldest_first, **series),
            latest_total=Window(FirstValue("total_score"), order_by=newest_first, **series),
            latest_at=Window(FirstValue("submitted_at"), order_by=newest_first, **series),
            position=Window(RowNumber(), order_by=oldest_first, **series),
        )
        .filter(position=1, scores__gte=2, latest_at__gte=day_start(filters.date_from, zone))
        .order_by()
        .values_list(
            "partner_id",
            "couple_id",
            "couple__primary_clinician_id",
            "instrument__code",
            "first_total",
            "latest_total",
        )
    )
    return [
        ScorePair(partner, couple, clinician, code, Decimal(str(first)), Decimal(str(latest)))
        for partner, couple, clinician, code, first, latest in rows
    ]


# THE DEFINITIONS AND THEIR RULES
# ------------------------------------------------------------------------------
def definitions_by_code(practice_id: int | None, codes: set[str]) -> dict[str, Instrument]:
    """The newest version of each code available to the practice (its own licensed one first)."""
    latest: dict[str, Instrument] = {}
    if not codes:
        return latest
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


def _code_order(code: str) -> tuple[int, str]:
    """CSI-4 and CSI-16 first (the outcome instruments), then any other by code."""
    return (OUTCOME_CODES.index(code) if code in OUTCOME_CODES else len(OUTCOME_CODES), code)


# THE TALLY
# ------------------------------------------------------------------------------
def _mean(values: list[Decimal]) -> float | None:
    if not values:
        return None
    return float((sum(values) / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def couple_trajectory(trajectories: Iterable[str]) -> str:
    """A couple's trajectory from its partners' (see the module docstring)."""
    found = list(trajectories)
    if scoring.Trajectory.DETERIORATED in found:
        return scoring.Trajectory.DETERIORATED
    if found and all(t == scoring.Trajectory.RECOVERED for t in found):
        return scoring.Trajectory.RECOVERED
    if any(t in IMPROVING for t in found):
        return scoring.Trajectory.IMPROVED
    return scoring.Trajectory.UNCHANGED


def _figures(pairs: list[ScorePair], definition: dict | None, baseline_sd: float | None) -> dict[str, Any]:
    """The figures of one group of pairs (one instrument; one clinician or all)."""
    by_couple: dict[int, list[str | None]] = defaultdict(list)
    rule = scoring.concrete_change((definition or {}).get("reliable_change"), baseline_sd=baseline_sd)
    judged: dict[str, Any] = dict.fromkeys(JUDGED_COLUMNS, 0) if rule else dict.fromkeys(JUDGED_COLUMNS)
    for pair in pairs:
        trajectory = None
        if rule:
            trajectory = scoring.trajectory(
                definition, pair.first_total, pair.latest_total, baseline_sd=baseline_sd
            )
            judged[trajectory] += 1
        by_couple[pair.couple_id].append(trajectory)
    couples = [partners for partners in by_couple.values() if len(partners) >= 2]
    if rule:
        for partners in couples:
            judged[f"couples_{couple_trajectory(partners)}"] += 1
            improved = sum(1 for t in partners if t in IMPROVING)
            judged[COUPLE_IMPROVEMENT[0 if improved == len(partners) else 1 if improved else 2]] += 1
    return {
        "partners": len(pairs),
        "couples": len(couples),
        "reliable_change": rule is not None,
        **judged,
        "mean_first_total": _mean([pair.first_total for pair in pairs]),
        "mean_latest_total": _mean([pair.latest_total for pair in pairs]),
        "mean_change": _mean([pair.latest_total - pair.first_total for pair in pairs]),
    }


def tally_outcomes(*, user, pairs: list[ScorePair], clinician_id: int | None = None) -> dict[str, Any]:
    """Rows per clinician and instrument (every clinician the report lists, or only
    ``clinician_id``, for every instrument with pairs), one total per instrument, and the notes
    saying where each instrument's reliable-change figures come from."""
    practice_id = practice_id_of(user)
    by_code: dict[str, list[ScorePair]] = defaultdict(list)
    for pair in pairs:
        by_code[pair.instrument_code].append(pair)
    codes = sorted(by_code, key=_code_order)
    instruments = definitions_by_code(practice_id, set(codes))
    rules = {
        code: (instruments[code].definition if code in instruments else {}).get("reliable_change")
        for code in codes
    }
    baselines = intake_baselines(
        practice_id=practice_id, codes=[code for code in codes if scoring.uses_practice_intake(rules[code])]
    )
    clinicians = report_clinicians(user, {pair.primary_clinician_id for pair in pairs})
    if clinician_id is not None:
        clinicians = [clinician for clinician in clinicians if clinician["id"] == clinician_id]
    rows, totals, notes = [], [], []
    for code in codes:
        instrument = instruments.get(code)
        definition = instrument.definition if instrument else None
        baseline_sd = scoring.baseline_sd_for(rules[code], baselines.get(code))
        labels = {"instrument_code": code, "instrument_name": instrument.name if instrument else code}
        by_clinician: dict[int, list[ScorePair]] = defaultdict(list)
        for pair in by_code[code]:
            by_clinician[pair.primary_clinician_id].append(pair)
        for clinician in clinicians:
            rows.append(
                {
                    "clinician": clinician["id"],
                    "display_name": clinician["display_name"],
                    **labels,
                    **_figures(by_clinician.get(clinician["id"], []), definition, baseline_sd),
                }
            )
        totals.append(
            {
                "clinician": None,
                "display_name": "Total",
                **labels,
                **_figures(by_code[code], definition, baseline_sd),
            }
        )
        notes.append(scoring.change_basis_note(code, rules[code], baselines.get(code)))
    return {"rows": rows, "totals": totals, "notes": notes}


# OUTCOMES
# ------------------------------------------------------------------------------
def outcomes_report(*, user, filters: ReportFilters) -> dict[str, Any]:
    """Per clinician and instrument, and per instrument for all (``totals``; ``total`` too when
    the filters name one instrument): partners and couples recovered / improved / unchanged /
    deteriorated since each partner's first score, couples where both partners improved, one or
    none, and the mean first, latest and change — for partners whose latest score falls in the
    period. ``notes`` say where each instrument's reliable-change figures come from: published,
    or computed from this practice's intake baseline with a published reliability."""
    pairs = score_pairs(user=user, filters=filters)
    figures = tally_outcomes(user=user, pairs=pairs, clinician_id=filters.clinician)
    total = figures["totals"][0] if filters.instrument is not None and figures["totals"] else None
    if not figures["notes"]:
        figures["notes"] = ["No partner has two scores on an instrument with a latest one in this period."]
    return {**figures, "total": total, "fresh_at": None}
