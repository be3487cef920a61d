"""What of a check-in each reader may see — the one rule every surface passes through.

A check-in's answers are private to its author and the treating clinician; the author may
share the shareable ones with their partner. Some answers are for the treating clinician alone,
on every surface (API, webhook, FHIR, export, report, admin, the partners' own pages):

- a safety item's answer (``"safety": true``, e.g. the daily check-in's "felt unsafe"): it is
  what raises a safety flag;
- an item the instrument marks ``"privacy": "clinician"``;
- every answer *and the scores* of a screen whose clinical total raises a safety flag
  (``"safety_flag_when_clinical": true``, i.e. HITS): its total is the screen's result.

The readers:

- ``TREATING``: the couple's clinician, or their supervisor, reading through the clinical
  selectors (``checkins_visible_to``), which hold everyone else's rows back. Everything.
- ``AUTHOR``: the partner who answered, on their own pages. Their answers and scores except
  the clinician-only ones: a phone's screen can be seen over a shoulder.
- ``PARTNER``: the author's partner, for a check-in the author shared. Shareable and joint
  items only; no scores (a total sums private items too).
- ``OUTSIDE``: every other reader of a check-in — integration clients whatever their scope,
  exports (FHIR, CSV), webhooks, reports and the Django admin. Everything but the
  clinician-only answers and scores.
"""

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from clinician.permissions import acting_clinician, is_integration

from . import scoring
from .models import Instrument


class Reader(enum.Enum):
    TREATING = "treating"
    AUTHOR = "author"
    PARTNER = "partner"
    OUTSIDE = "outside"


SHAREABLE = ("shareable", "joint")


def clinician_only_items(definition: dict) -> frozenset[str]:
    """Codes of the items whose answers only the treating clinician sees."""
    items = definition.get("items", [])
    return frozenset(item["code"] for item in items if _clinician_only(item, definition))


def _clinician_only(item: dict, definition: dict) -> bool:
    return scores_clinician_only(definition) or bool(item.get("safety")) or item.get("privacy") == "clinician"


def scores_clinician_only(definition: dict) -> bool:
    """A screen whose clinical total raises a safety flag: its scores are its answer."""
    return bool(definition.get("safety_flag_when_clinical"))


def scored_checkins_for_outsiders(checkins: QuerySet) -> QuerySet:
    """``checkins`` less those whose scores only the treating clinician sees: for reports and
    other aggregates, which are read by people who do not treat every couple they count."""
    # A subquery, not exclude() on the JSON key: a key that is absent is NULL in SQL, and
    # NOT (NULL = true) would drop every ordinary instrument's check-ins too.
    screens = Instrument.objects.filter(definition__safety_flag_when_clinical=True).values("pk")
    return checkins.exclude(instrument_id__in=screens)


def item_disclosed(item: dict, definition: dict, *, to: Reader) -> bool:
    """Whether ``to`` may see this item's answer."""
    if to is Reader.TREATING:
        return True
    if _clinician_only(item, definition):
        return False
    if to is Reader.PARTNER:
        return item.get("privacy", "private") in SHAREABLE
    return True


def reader_of(user) -> Reader:
    """The reader a signed-in caller is, for check-ins it got from the clinical selectors: an
    active clinician is TREATING (those selectors hold back every couple they do not treat or
    supervise — a practice admin's too); an integration client or anyone else is OUTSIDE."""
    if is_integration(user) or acting_clinician(user) is None:
        return Reader.OUTSIDE
    return Reader.TREATING


@dataclass(frozen=True)
class Disclosed:
    """A check-in as one reader may see it. Withheld scores are None (and no subscales)."""

    answers: dict[str, Any]
    total_score: Decimal | None
    subscale_scores: dict[str, Any] = field(default_factory=dict)
    clinical: bool | None = None


def checkin_disclosed(checkin, *, to: Reader) -> Disclosed:
    """``checkin`` (a cyclecare CheckIn) as ``to`` may see it."""
    definition = checkin.instrument.definition
    items = {item["code"]: item for item in definition.get("items", [])}
    answers = {
        code: value
        for code, value in (checkin.answers or {}).items()
        if code in items and item_disclosed(items[code], definition, to=to)
    }
    if to is not Reader.TREATING and (to is Reader.PARTNER or scores_clinician_only(definition)):
        return Disclosed(answers=answers, total_score=None)
    return Disclosed(
        answers=answers,
        total_score=checkin.total_score,
        subscale_scores=dict(checkin.subscale_scores or {}),
        clinical=scoring.in_clinical_range(definition, checkin.total_score),
    )
