"""The practice reports the pages, the CSV downloads and the navigation list, in order.

A report is a ``Report``: its key (the URL slug), a title and a one-sentence description a
practice admin understands, the function that computes it (``compute(*, user, filters)`` →
``{"rows", "total", "fresh_at", "notes", ...}``), the columns its table and CSV show, the
filters it honours and what its chart draws. The pages and the CSV know nothing of any one
report: registering a report is adding an entry to ``REPORTS``.

Each report lists only the filters it honours, so the page offers no filter that would be
ignored.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from django.utils.translation import gettext_lazy as _

from .. import charts
from .caseload import CASELOAD_COLUMNS, RATE_COLUMNS, caseload_report
from .cycle_trends import COUNT_COLUMNS as CYCLE_COUNT_COLUMNS
from .cycle_trends import FIGURE_COLUMNS as CYCLE_FIGURE_COLUMNS
from .cycle_trends import cycle_trends_report
from .delivery import FUNNEL, delivery_report
from .engagement import ADHERENCE_COUNTS, engagement_report
from .filters import ReportFilters
from .outcomes import COUPLE_IMPROVEMENT, COUPLE_TRAJECTORIES, TRAJECTORIES, outcomes_report
from .safety import SAFETY_COLUMNS, safety_report

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
    source: str = "rows"  # the figures' list of rows to draw: "rows", or "totals" (per instrument)


@dataclass(frozen=True)
class MoreFigures:
    """A second table a report's page shows under the first: the figures' list ``key`` (e.g.
    cycle trends by EFT stage), with its own columns."""

    key: str
    title: str
    columns: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    description: str
    compute: Callable[..., dict[str, Any]]
    columns: Sequence[tuple[str, str]]
    chart: ChartSpec
    filters: tuple[str, ...] = ALL_FILTERS
    more: tuple[MoreFigures, ...] = ()
    # What identifies a row to a program (the API gives them beside the columns): the clinician's
    # id (null on a total row), and the instrument's code where rows are per instrument.
    ids: tuple[str, ...] = ("clinician",)

    def more_tables(self, figures: dict[str, Any]) -> list[tuple[MoreFigures, list[list[Any]]]]:
        return [
            (
                table,
                [[row.get(field) for field, _label in table.columns] for row in figures.get(table.key) or []],
            )
            for table in self.more
        ]

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
        rows = figures.get(spec.source) or []
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
def _outcomes(*, user, filters: ReportFilters) -> dict[str, Any]:
    """Outcomes with each instrument's practice total under the clinicians' rows (the table and
    the CSV show both; the chart draws the totals)."""
    figures = outcomes_report(user=user, filters=filters)
    return {**figures, "rows": [*figures["rows"], *figures["totals"]], "total": None}


# THE REPORTS
# ------------------------------------------------------------------------------
CASELOAD_LABELS = {
    "active_couples": _("Active couples"),
    "paused_couples": _("Paused couples"),
    "discharged_couples": _("Discharged couples"),
    "separated_couples": _("Separated couples"),
    "open_individual_cases": _("Open individual cases"),
    "closed_individual_cases": _("Closed individual cases"),
    "new_intakes": _("New intakes"),
    "sessions_held": _("Sessions held"),
    "sessions_cancelled": _("Sessions cancelled"),
    "sessions_no_show": _("No-shows"),
    "open_safety_flags": _("Open safety flags"),
    "cancellation_rate_pct": _("Cancellation rate (%)"),
    "no_show_rate_pct": _("No-show rate (%)"),
}
DELIVERY_LABELS = {
    "planned": _("Planned"),
    "sent": _("Sent"),
    "opened": _("Link opened"),
    "completed": _("Check-in completed"),
    "failed": _("Failed"),
    "held": _("Held"),
    "waiting": _("Not yet due"),
}
ADHERENCE_LABELS = {
    "due": _("Due"),
    "completed": _("Completed"),
    "missed": _("Missed"),
    "pending": _("Pending"),
}
TRAJECTORY_LABELS = {
    "recovered": _("Partners recovered"),
    "improved": _("Partners improved"),
    "unchanged": _("Partners unchanged"),
    "deteriorated": _("Partners deteriorated"),
    "couples_recovered": _("Couples recovered"),
    "couples_improved": _("Couples improved"),
    "couples_unchanged": _("Couples unchanged"),
    "couples_deteriorated": _("Couples deteriorated"),
    "couples_both_improved": _("Both partners improved"),
    "couples_one_improved": _("One partner improved"),
    "couples_none_improved": _("Neither improved"),
}
CYCLE_LABELS = {
    "episodes": _("Episodes"),
    "repairs_attempted": _("Repairs tried"),
    "repairs_worked": _("Repairs that worked"),
    "active_stage_1": _("Active in stage 1"),
    "active_stage_2": _("Active in stage 2"),
    "active_stage_3": _("Active in stage 3"),
    "active_stage_unknown": _("Active, stage not recorded"),
    "reached_stage_2": _("Reached stage 2"),
    "couple_weeks": _("Couple-weeks in care"),
    "episodes_per_couple_week": _("Episodes per couple-week"),
    "mean_intensity": _("Mean intensity"),
    "repair_success_pct": _("Repair success (%)"),
    "minutes_to_repair": _("Minutes to repair"),
    "median_weeks_to_stage_2": _("Median weeks to stage 2"),
}
SAFETY_LABELS = {
    "flags_opened": _("Flags raised"),
    "flags_acknowledged": _("Acknowledged"),
    "flags_closed": _("Resolved"),
    "median_minutes_to_acknowledge": _("Median minutes to acknowledge"),
}
CLINICIAN = ("display_name", _("Clinician"))

REPORTS: tuple[Report, ...] = (
    Report(
        key="caseload",
        title=_("Caseload"),
        description=_(
            "How many couples each clinician has by status, new intakes, sessions held, cancelled "
            "and missed in the period, and open safety flags."
        ),
        compute=caseload_report,
        columns=[CLINICIAN, *((name, CASELOAD_LABELS[name]) for name in (*CASELOAD_COLUMNS, *RATE_COLUMNS))],
        chart=ChartSpec("active_couples", _("Active couples")),
        filters=("from", "to", "clinician", "status"),
    ),
    Report(
        key="engagement",
        title=_("Engagement"),
        description=_(
            "How much of the homework and check-ins due in the period each clinician's couples completed."
        ),
        compute=engagement_report,
        columns=[
            CLINICIAN,
            *((name, ADHERENCE_LABELS[name]) for name in ADHERENCE_COUNTS),
            ("adherence_pct", _("Adherence (%)")),
            ("median_minutes_to_complete", _("Median minutes from reminder to completion")),
        ],
        chart=ChartSpec("adherence_pct", _("Adherence (%)"), weekly=(("adherence_pct", _("Adherence (%)")),)),
        filters=("from", "to", "clinician", "status"),
        more=(
            MoreFigures(
                "uneven",
                _("Uneven engagement: one partner completes far less than the other"),
                [
                    ("label", _("Couple")),
                    ("lower_pct", _("Lower partner's completion (%)")),
                    ("higher_pct", _("Higher partner's completion (%)")),
                    ("gap_points", _("Gap (points)")),
                ],
            ),
        ),
    ),
    Report(
        key="delivery",
        title=_("Reminder delivery"),
        description=_(
            "What happened to the reminders of the period, by channel and clinician: planned, sent, "
            "link opened, check-in completed, failed (and why) and held (and why)."
        ),
        compute=delivery_report,
        columns=[CLINICIAN, *((name, DELIVERY_LABELS[name]) for name in FUNNEL)],
        chart=ChartSpec(
            "sent", _("Reminders sent"), category="label", category_label=_("Channel"), source="channels"
        ),
        filters=("from", "to", "clinician", "status"),
        more=(
            MoreFigures(
                "channels",
                _("By channel"),
                [("label", _("Channel")), *((name, DELIVERY_LABELS[name]) for name in FUNNEL)],
            ),
            MoreFigures(
                "failed_by_reason",
                _("Failed, by reason"),
                [("label", _("Reason")), ("count", _("Reminders"))],
            ),
            MoreFigures(
                "held_by_reason", _("Held, by reason"), [("label", _("Reason")), ("count", _("Reminders"))]
            ),
        ),
    ),
    Report(
        key="outcomes",
        title=_("Outcomes"),
        description=_(
            "How partners' and couples' relationship satisfaction (CSI-4, CSI-16) changed since "
            "intake: recovered, improved, unchanged or deteriorated (Jacobson & Truax)."
        ),
        compute=_outcomes,
        ids=("clinician", "instrument_code"),
        columns=[
            CLINICIAN,
            ("instrument_name", _("Instrument")),
            ("partners", _("Partners with two or more scores")),
            ("couples", _("Couples with both scored")),
            *((name, TRAJECTORY_LABELS[name]) for name in (*TRAJECTORIES, *COUPLE_TRAJECTORIES)),
            *((name, TRAJECTORY_LABELS[name]) for name in COUPLE_IMPROVEMENT),
            ("mean_first_total", _("Mean score at intake")),
            ("mean_latest_total", _("Mean latest score")),
            ("mean_change", _("Mean change since intake")),
        ],
        chart=ChartSpec(
            "couples_both_improved",
            _("Couples where both partners improved"),
            category="instrument_name",
            category_label=_("Instrument"),
            source="totals",
        ),
    ),
    Report(
        key="cycle-trends",
        title=_("Cycle trends"),
        description=_(
            "How often couples' pursue–withdraw cycle flared, how intense it was and how often repair "
            "worked, by week and by EFT stage; where the active caseload stands in EFT."
        ),
        compute=cycle_trends_report,
        columns=[
            CLINICIAN,
            *((name, CYCLE_LABELS[name]) for name in (*CYCLE_FIGURE_COLUMNS, *CYCLE_COUNT_COLUMNS)),
        ],
        chart=ChartSpec(
            "episodes_per_couple_week",
            _("Episodes per couple-week"),
            weekly=(
                ("episodes_per_couple_week", _("Episodes per couple-week")),
                ("repair_success_pct", _("Repair success (%)")),
            ),
        ),
        filters=("from", "to", "clinician", "status"),
        more=(
            MoreFigures(
                "stages",
                _("By EFT stage (of the couple's latest signed note)"),
                [
                    ("label", _("Stage")),
                    ("episodes", CYCLE_LABELS["episodes"]),
                    *(
                        (name, CYCLE_LABELS[name])
                        for name in CYCLE_FIGURE_COLUMNS
                        if name != "median_weeks_to_stage_2"
                    ),
                ],
            ),
        ),
    ),
    Report(
        key="safety",
        title=_("Safety"),
        description=_(
            "How many safety flags were raised, acknowledged and resolved, and how quickly they were "
            "acknowledged — counts only."
        ),
        compute=safety_report,
        columns=[
            CLINICIAN,
            *((name, SAFETY_LABELS[name]) for name in (*SAFETY_COLUMNS, "median_minutes_to_acknowledge")),
        ],
        chart=ChartSpec("median_minutes_to_acknowledge", _("Median minutes to acknowledge")),
        filters=("from", "to", "clinician"),
    ),
)
