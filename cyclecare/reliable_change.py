"""The practice's intake baseline: what a reliable-change rule with ``"sd": "practice_intake"``
takes its SD from (see scoring: where no published SD exists, the practice's own baseline with a
published reliability, labelled as such wherever change is judged).

The baseline is the whole practice's, whoever asks: the sample SD of each partner's first total
on the instrument (every version of its code: the items and scoring did not change), so a
clinician, a supervisor and the admin judge a couple's change against the same figure. It is one
number per instrument, never a row. A partner's first score is the scored check-in with no
earlier one of theirs on the code (an anti-join on the partner's index), so the figures can be
read on their own (``intake_baseline``) or as uncorrelated scalar subqueries riding on another
query (``baseline_annotations``: the couple page reads them with its outcome scores, no extra
round trip).
"""

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum

from .disclosure import scored_checkins_for_outsiders
from .models import CheckIn
from .scoring import Baseline


def first_scores(*, practice_id: int, code: str) -> QuerySet:
    """Each partner's first scored check-in on ``code`` in the practice (screens excluded)."""
    earlier = CheckIn.objects.filter(
        Q(submitted_at__lt=OuterRef("submitted_at"))
        | Q(submitted_at=OuterRef("submitted_at"), pk__lt=OuterRef("pk")),
        partner_id=OuterRef("partner_id"),
        instrument__code=code,
        total_score__isnull=False,
    )
    return (
        scored_checkins_for_outsiders(
            CheckIn.objects.filter(practice_id=practice_id, instrument__code=code, total_score__isnull=False)
        )
        .exclude(Exists(earlier))
        .order_by()
    )


# The SD from the count, sum and sum of squares (exact in Decimal for totals with two places):
# the same arithmetic on every database, and no SQLite stdev() that fails on a single row.
FIGURES = {
    "partners": Count("pk"),
    "total": Sum("total_score"),
    "squares": Sum(F("total_score") * F("total_score")),
}


def _baseline(partners: int | None, total: Any, squares: Any) -> Baseline:
    partners = partners or 0
    if partners < 2 or total is None or squares is None:
        return Baseline(partners=partners, sd=None)
    total, squares = Decimal(str(total)), Decimal(str(squares))
    variance = (squares - total * total / partners) / (partners - 1)
    return Baseline(partners=partners, sd=math.sqrt(max(float(variance), 0.0)))


def intake_baseline(*, practice_id: int, code: str) -> Baseline:
    """How many partners of the practice have a first total on ``code``, and the sample SD of
    those first totals (None with fewer than two)."""
    figures = first_scores(practice_id=practice_id, code=code).aggregate(**FIGURES)
    return _baseline(figures["partners"], figures["total"], figures["squares"])


def intake_baselines(*, practice_id: int | None, codes: Iterable[str]) -> dict[str, Baseline]:
    """``intake_baseline`` for each code (an empty baseline without a practice)."""
    if practice_id is None:
        return {code: Baseline(partners=0, sd=None) for code in codes}
    return {code: intake_baseline(practice_id=practice_id, code=code) for code in codes}


def _column(code: str, figure: str) -> str:
    return f"baseline__{code.replace('-', '_')}__{figure}"


def baseline_annotations(*, practice_id: int, codes: Iterable[str]) -> dict[str, Subquery]:
    """Annotations giving each code's baseline figures on every row of another query:
    uncorrelated scalar subqueries, which the database evaluates once per query."""
    columns: dict[str, Subquery] = {}
    for code in codes:
        grouped = first_scores(practice_id=practice_id, code=code).values("practice_id")
        for name, figure in FIGURES.items():
            columns[_column(code, name)] = Subquery(grouped.annotate(figure=figure).values("figure")[:1])
    return columns


def baselines_from_row(row: Mapping[str, Any], codes: Iterable[str]) -> dict[str, Baseline]:
    """The baselines a row annotated with ``baseline_annotations`` carries."""
    return {code: _baseline(*(row.get(_column(code, name)) for name in FIGURES)) for code in codes}
