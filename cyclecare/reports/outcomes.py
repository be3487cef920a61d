"""Outcomes: change on scored instruments since each partner's first score (Jacobson & Truax)."""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, F, Q, Window
from django.db.models.functions import FirstValue, RowNumber

from clinician.permissions import NOTHING, practice_id_of, row_scope

from .. import scoring
from ..disclosure import scored_checkins_for_outsiders
from ..models import CheckIn, Instrument
from .common import ADMINISTRATIVE

TRAJECTORIES = (
    scoring.Trajectory.RECOVERED,
    scoring.Trajectory.IMPROVED,
    scoring.Trajectory.UNCHANGED,
    scoring.Trajectory.DETERIORATED,
)


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
