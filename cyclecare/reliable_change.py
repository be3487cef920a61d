"""The practice's intake baseline: what a reliable-change rule with ``"sd": "practice_intake"``
takes its SD from (see scoring: where no published SD exists, the practice's own baseline with a
published reliability, labelled as such wherever change is judged).

The baseline is the whole practice's, whoever asks: the SD of each partner's first total on the
instrument (every version of its code: the items and scoring did not change), so a clinician, a
supervisor and the admin judge a couple's change against the same figure. It is one number per
instrument, never a row.
"""

import statistics
from collections.abc import Iterable

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from .disclosure import scored_checkins_for_outsiders
from .models import CheckIn
from .scoring import Baseline


def intake_baseline(*, practice_id: int, code: str) -> Baseline:
    """How many partners of the practice have a first total on ``code``, and the sample SD of
    those first totals (None with fewer than two)."""
    firsts = (
        scored_checkins_for_outsiders(
            CheckIn.objects.filter(practice_id=practice_id, instrument__code=code, total_score__isnull=False)
        )
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("partner_id")],
                order_by=[F("submitted_at").asc(), F("id").asc()],
            )
        )
        .filter(position=1)
        .order_by()
        .values_list("total_score", flat=True)
    )
    totals = [float(total) for total in firsts]
    return Baseline(partners=len(totals), sd=statistics.stdev(totals) if len(totals) >= 2 else None)


def intake_baselines(*, practice_id: int | None, codes: Iterable[str]) -> dict[str, Baseline]:
    """``intake_baseline`` for each code (an empty baseline without a practice)."""
    if practice_id is None:
        return {code: Baseline(partners=0, sd=None) for code in codes}
    return {code: intake_baseline(practice_id=practice_id, code=code) for code in codes}
