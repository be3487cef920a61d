"""Every practice report by its key (the URL slug the pages, the API and CSV share): what it is
called, what it says, how it is computed and which columns its table has.

``compute(*, user, filters)`` returns at least ``{"rows", "total", "fresh_at", "notes"}``.

(Branch ``export``: a minimal registry of the three reports this branch has, in the shape the
pages branch owns; the functions that do not take ``filters`` yet are adapted here — a
clinician filter keeps that clinician's row, an instrument filter that instrument's row.)
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .caseload import CASELOAD_COLUMNS, caseload_report
from .common import total_row
from .engagement import ADHERENCE_COUNTS, adherence_report
from .filters import ReportFilters
from .outcomes import TRAJECTORIES, outcomes_report


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    description: str
    compute: Callable[..., dict[str, Any]]
    columns: tuple[tuple[str, str], ...]
    chart: str | None = None


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _by_clinician(
    figures: dict[str, Any], filters: ReportFilters, columns: tuple[str, ...]
) -> dict[str, Any]:
    rows = figures["rows"]
    total = figures.get("total")
    if filters.clinician is not None:
        rows = [row for row in rows if row["clinician"] == filters.clinician]
        total = total_row(rows, columns)
    return {"rows": rows, "total": total, "fresh_at": None, "notes": []}


def _caseload(*, user, filters: ReportFilters) -> dict[str, Any]:
    figures = caseload_report(user=user, date_from=filters.date_from, date_to=filters.date_to)
    return _by_clinician(figures, filters, CASELOAD_COLUMNS)


def _engagement(*, user, filters: ReportFilters) -> dict[str, Any]:
    figures = adherence_report(user=user, date_from=filters.date_from, date_to=filters.date_to)
    narrowed = _by_clinician(figures, filters, ADHERENCE_COUNTS)
    if filters.clinician is not None:
        total = narrowed["total"]
        total["adherence_pct"] = round(100 * total["completed"] / total["due"], 1) if total["due"] else None
    return narrowed


def _outcomes(*, user, filters: ReportFilters) -> dict[str, Any]:
    rows = outcomes_report(user=user)["rows"]
    if filters.instrument is not None:
        rows = [row for row in rows if row["instrument_code"] == filters.instrument]
    return {"rows": rows, "total": None, "fresh_at": None, "notes": []}


CLINICIAN_COLUMNS = (("clinician", "Clinician id"), ("display_name", "Clinician"))
REPORTS: dict[str, Report] = {
    report.key: report
    for report in (
        Report(
            key="caseload",
            title="Caseload",
            description="Per clinician: couples by status, individual cases, sessions held, open flags.",
            compute=_caseload,
            columns=CLINICIAN_COLUMNS + tuple((name, _label(name)) for name in CASELOAD_COLUMNS),
        ),
        Report(
            key="engagement",
            title="Engagement",
            description="Per clinician: homework check-ins due, completed, missed, pending, and adherence.",
            compute=_engagement,
            columns=CLINICIAN_COLUMNS
            + tuple((name, _label(name)) for name in ADHERENCE_COUNTS)
            + (("adherence_pct", "Adherence %"),),
        ),
        Report(
            key="outcomes",
            title="Outcomes",
            description="Per instrument: partners scored twice or more, mean change, reliable change.",
            compute=_outcomes,
            columns=(
                ("instrument_code", "Instrument"),
                ("instrument_name", "Instrument name"),
                ("partners", "Partners"),
                ("mean_first_total", "Mean first total"),
                ("mean_latest_total", "Mean latest total"),
                ("mean_change", "Mean change"),
                ("reliable_change", "Reliable change defined"),
                *((str(name), _label(str(name))) for name in TRAJECTORIES),
            ),
        ),
    )
}
