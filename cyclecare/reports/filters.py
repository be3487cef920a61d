"""The filters every report takes, read from a query string and written back to one.

A report's URL carries its filters (``?from=2026-01-01&to=2026-03-31&clinician=7&status=active
&instrument=csi-4``), so a report can be bookmarked and shared inside the practice. Pages, the API
and exports parse them here and nowhere else: one set of rules for what a bad filter is.
"""

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import Q

from clinician.permissions import practice_id_of
from couples.models import Couple

from ..models import Instrument
from .common import DEFAULT_PERIOD_DAYS, practice_today, report_clinicians

# A longer period is a mistake or a job for the de-identified export, not a report.
MAX_PERIOD_YEARS = 10
MAX_PERIOD_DAYS = 366 * MAX_PERIOD_YEARS
STATUSES = tuple(Couple.Status.values)


class FilterError(ValueError):
    """Filters that cannot run: ``errors`` maps each query parameter to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ReportFilters:
    """The period (the practice's calendar days, both inclusive) and the optional narrowing."""

    date_from: datetime.date
    date_to: datetime.date
    clinician: int | None = None  # a clinician id inside the caller's administrative scope
    status: str | None = None  # a Couple.Status value
    instrument: str | None = None  # an instrument code available to the practice

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def params(self) -> dict[str, str]:
        """The query parameters that give these filters back (empty ones left out)."""
        values = {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "clinician": "" if self.clinician is None else str(self.clinician),
            "status": self.status or "",
            "instrument": self.instrument or "",
        }
        return {name: value for name, value in values.items() if value}

    def query_string(self) -> str:
        return urlencode(self.params())


def default_filters(*, user) -> ReportFilters:
    today = practice_today(user=user)
    return ReportFilters(date_from=today - datetime.timedelta(days=DEFAULT_PERIOD_DAYS - 1), date_to=today)


def date_param(params: Mapping[str, str], name: str, errors: dict[str, str]) -> datetime.date | None:
    """The date in query parameter ``name`` (YYYY-MM-DD), None when empty; a bad one is noted
    in ``errors`` under its name. The reports and the audit trail read dates with it."""
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        errors[name] = "Enter a date as YYYY-MM-DD."
        return None


def parse_filters(params: Mapping[str, str], *, user) -> ReportFilters:
    """Filters from a query string (a QueryDict or a plain mapping), defaults filled in: the
    last ``DEFAULT_PERIOD_DAYS`` days up to today in the practice's calendar. Raises FilterError
    naming every bad parameter: a date that is not a date, ``from`` after ``to``, a period over
    ten years, a clinician outside the caller's scope (unknown and out of scope read the same),
    an unknown status or instrument."""
    errors: dict[str, str] = {}
    asked_from, asked_to = date_param(params, "from", errors), date_param(params, "to", errors)
    date_to = asked_to or practice_today(user=user)
    date_from = asked_from or date_to - datetime.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if not errors:
        if date_from > date_to:
            errors["from"] = "The first day comes after the last day."
        elif (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
            errors["from"] = f"Choose a period of at most {MAX_PERIOD_YEARS} years."

    clinician = None
    raw = (params.get("clinician") or "").strip()
    if raw:
        if not raw.isdigit():
            errors["clinician"] = "Choose a clinician from the list."
        else:
            clinician = int(raw)
            if clinician not in {row["id"] for row in report_clinicians(user, set())}:
                errors["clinician"] = "No such clinician in the caseloads you can report on."

    status = (params.get("status") or "").strip() or None
    if status is not None and status not in STATUSES:
        errors["status"] = f"Choose one of: {', '.join(STATUSES)}."

    instrument = (params.get("instrument") or "").strip() or None
    if instrument is not None:
        practice_id = practice_id_of(user)
        known = Instrument.objects.filter(
            Q(practice=None) | Q(practice_id=practice_id), code=instrument
        ).exists()
        if not known:
            errors["instrument"] = "No such instrument in this practice."

    if errors:
        raise FilterError(errors)
    return ReportFilters(
        date_from=date_from, date_to=date_to, clinician=clinician, status=status, instrument=instrument
    )
