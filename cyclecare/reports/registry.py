"""The practice reports the pages, the CSV downloads and the navigation list, in order.

A report is a ``Report``: its key (the URL slug), a title and a one-sentence description a
practice admin understands, the function that computes it (``compute(*, user, filters)`` →
``{"rows", "total", "fresh_at", "notes", ...}``), the columns its table and CSV show, the
filters it honours and what its chart draws. The pages and the CSV know nothing of any one
report: registering a report is adding an entry to ``REPORTS``.

Three reports exist today with their older signatures (dates only, or no arguments); the small
adapters below give them the shared one, narrowing rows to the chosen clinician where the
report is per clinician, and list only the filters they honour so the page offers no filter
that would be ignored.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from django.utils.translation import gettext_lazy as _

from .. import charts
from .caseload import CASELOAD_COLUMNS, caseload_report
from .engagement import ADHERENCE_COUNTS, adherence_report
from .filters import ReportFilters
from .outcomes import TRAJECTORIES, outcomes_report

# The query parameters of ReportFilters, in the order the filter form shows them.
ALL_FILTERS = ("from", "to", "clinician", "status", "instrument")


@dataclass(frozen=True)
class ChartSpec:
    """What a report's page draws. By default ``field`` of each row as a bar, one per row,
    labelled by the row's ``category`` (the clinician's name, an instrument's). When ``weekly``
    names (field, label) pairs and the figures carry a non-empty ``"weeks"`` series (dicts with
    a ``week`` date), those fields are drawn as lines over the weeks instead (at most two)."""

    field: str
    label: str
    category: str = "display_name"
    category_label: str = _("Clinician")
    weekly: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    description: str
    compute: Callable[..., dict[str, Any]]
    columns: Sequence[tuple[str, str]]
    chart: ChartSpec
    filters: tuple[str, ...] = ALL_FILTERS

    @property
    def has_period(self) -> bool:
        return "from" in self.filters

    def draw(self, figures: dict[str, Any]) -> charts.Chart | None:
        """The chart of ``figures`` (None when there is nothing to draw)."""
        spec = self.chart
        weeks = figures.get("weeks") or []
        chart_id = f"chart-{self.key}"
        if spec.weekly and weeks:
            return charts.report_chart(
                chart_id=chart_id,
                title=_("%(what)s by week") % {"what": ", ".join(str(label) for _name, label in spec.weekly)},
                desc=_("%(what)s each week of the period.")
                % {"what": ", ".join(str(lb) for _f, lb in spec.weekly)},
                category_label=str(_("Week of")),
                categories=[charts.date_format(week["week"], "j M Y") for week in weeks],
                series=[(str(label), [week.get(name) for week in weeks]) for name, label in spec.weekly[:2]],
                over_time=True,
            )
        rows = figures.get("rows") or []
        if not rows:
            return None
        return charts.report_chart(
            chart_id=chart_id,
            title=_("%(what)s by %(per)s") % {"what": spec.label, "per": str(spec.category_label).lower()},
            desc=_("%(what)s for each %(per)s; the table below the chart has every figure.")
            % {"what": spec.label, "per": str(spec.category_label).lower()},
            category_label=str(spec.category_label),
            categories=[str(row.get(spec.category, "")) for row in rows],
            series=[(str(spec.label), [row.get(spec.field) for row in rows])],
        )


def report_get(key: str) -> Report:
    """The report with this key, or a 404."""
    for report in REPORTS:
        if report.key == key:
            return report
    raise Http404("No such report.")


# ADAPTERS: today's report functions under the shared signature
# ------------------------------------------------------------------------------
def _narrowed_to_clinician(figures: dict[str, Any], clinician: int | None) -> dict[str, Any]:
    """Rows are one per caseload (the couples' primary clinician), so the caseload of one
    clinician is their row, and the total is that row."""
    if clinician is None:
        return figures
    rows = [row for row in figures["rows"] if row["clinician"] == clinician]
    total = {**rows[0], "clinician": None, "display_name": str(_("Total"))} if rows else None
    return {**figures, "rows": rows, "total": total}


def _caseload(*, user, filters: ReportFilters) -> dict[str, Any]:
    figures = caseload_report(user=user, date_from=filters.date_from, date_to=filters.date_to)
    return {"fresh_at": None, "notes": [], **_narrowed_to_clinician(figures, filters.clinician)}


def _engagement(*, user, filters: ReportFilters) -> dict[str, Any]:
    figures = adherence_report(user=user, date_from=filters.date_from, date_to=filters.date_to)
    return {
        "fresh_at": None,
        "notes": [
            str(
                _(
                    "Adherence is homework completed ÷ due; cancelled homework is not due, and "
                    "homework still pending counts as due once its time has passed."
                )
            )
        ],
        **_narrowed_to_clinician(figures, filters.clinician),
    }


def _outcomes(*, user, filters: ReportFilters) -> dict[str, Any]:
    figures = outcomes_report(user=user)
    rows = [
        row
        for row in figures["rows"]
        if filters.instrument is None or row["instrument_code"] == filters.instrument
    ]
    notes = [
        str(
            _(
                "Change runs from each partner's first score to their latest, over all dates; "
                "partners with fewer than two scores are not counted."
            )
        )
    ]
    if any(not row["reliable_change"] for row in rows):
        notes.append(
            str(
                _(
                    "An instrument without reliable-change parameters has no recovered, improved, "
                    "unchanged or deteriorated counts (shown as —)."
                )
            )
        )
    return {"total": None, "fresh_at": None, **figures, "rows": rows, "notes": notes}


# THE REPORTS
# ------------------------------------------------------------------------------
CASELOAD_LABELS = {
    "active_couples": _("Active couples"),
    "paused_couples": _("Paused couples"),
    "discharged_couples": _("Discharged couples"),
    "separated_couples": _("Separated couples"),
    "open_individual_cases": _("Open individual cases"),
    "closed_individual_cases": _("Closed individual cases"),
    "sessions_held": _("Sessions held"),
    "open_safety_flags": _("Open safety flags"),
}
ADHERENCE_LABELS = {
    "due": _("Due"),
    "completed": _("Completed"),
    "missed": _("Missed"),
    "pending": _("Pending"),
}
TRAJECTORY_LABELS = {
    "recovered": _("Recovered"),
    "improved": _("Improved"),
    "unchanged": _("Unchanged"),
    "deteriorated": _("Deteriorated"),
}
CLINICIAN = ("display_name", _("Clinician"))

REPORTS: tuple[Report, ...] = (
    Report(
        key="caseload",
        title=_("Caseload"),
        description=_(
            "How many couples each clinician has by status, the individual cases after a separation, "
            "sessions held in the period and open safety flags."
        ),
        compute=_caseload,
        columns=[CLINICIAN, *((name, CASELOAD_LABELS[name]) for name in CASELOAD_COLUMNS)],
        chart=ChartSpec("active_couples", _("Active couples")),
        filters=("from", "to", "clinician"),
    ),
    Report(
        key="engagement",
        title=_("Engagement"),
        description=_(
            "How much of the homework and check-ins due in the period each clinician's couples completed."
        ),
        compute=_engagement,
        columns=[
            CLINICIAN,
            *((name, ADHERENCE_LABELS[name]) for name in ADHERENCE_COUNTS),
            ("adherence_pct", _("Adherence (%)")),
        ],
        chart=ChartSpec("adherence_pct", _("Adherence (%)"), weekly=(("adherence_pct", _("Adherence (%)")),)),
        filters=("from", "to", "clinician"),
    ),
    Report(
        key="outcomes",
        title=_("Outcomes"),
        description=_(
            "How partners' scores on each questionnaire changed since their first one, and how many "
            "changed reliably."
        ),
        compute=_outcomes,
        columns=[
            ("instrument_name", _("Instrument")),
            ("partners", _("Partners with two or more scores")),
            ("mean_first_total", _("Mean first score")),
            ("mean_latest_total", _("Mean latest score")),
            ("mean_change", _("Mean change")),
            *((name, TRAJECTORY_LABELS[name]) for name in TRAJECTORIES),
        ],
        chart=ChartSpec(
            "partners",
            _("Partners with two or more scores"),
            category="instrument_name",
            category_label=_("Instrument"),
        ),
        filters=("instrument",),
    ),
)
