"""The one way cyclecare draws a data chart: server-rendered SVG, no JavaScript, no CDN, no
inline styles (colours and strokes come from ``static/charts/charts.css`` classes under the
strict CSP).

Every chart is a ``Chart``: an ``<svg role="img">`` named by its ``<title>`` and described by its
``<desc>``, with a data table (``Chart.table``) of the same numbers — the text alternative.
``templates/charts/chart.html`` renders both; the clinician workspace (the couple page) and the
partner pages include it, so this module sits in the cycle domain floor and imports no page.
The cycle map's loop is a diagram, not a data chart (boxes of words, no axes, no numbers to
tabulate), so it stays with its page (``cyclecare.workspace.cyclemap_diagram``).
"""

import datetime
import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html import escape as _escape  # plain strings only: no lazy-translation wrapper per cell

from django.utils import formats, timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from cyclecare.trends import IMPROVING, Adherence, DyadicOutcome, EpisodeWeek


@dataclass(frozen=True)
class Layout:
    """A chart's view box and the plot area inside it (SVG user units; CSS scales the whole to
    the column). ``css`` is added to the ``<svg>``'s class so a layout can be styled."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    dot_radius: float = 2.5
    css: str = ""


# A workspace column (about 26rem and wider) and a phone column (the partner pages, 360 px):
# the compact box keeps its labels legible when scaled to a phone's width.
WIDE = Layout(600, 230, 44, 590, 14, 196)
COMPACT = Layout(320, 170, 30, 306, 12, 140, dot_radius=4.5, css="chart-svg--compact")


@dataclass(frozen=True)
class Series:
    label: str
    css: str  # "series-a", "series-b" or "series-bar"
    points: Sequence[tuple[float, float | None]]  # (x, y); y None is a gap


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    css: str
    label: str


@dataclass(frozen=True)
class Rule:
    y: float
    css: str
    label: str


@dataclass
class Chart:
    chart_id: str
    title: str
    desc: str
    svg: SafeString
    table_headers: list[str]
    table_rows: list[list[str]]
    note: str = ""
    alert: str = ""
    caption: str = ""  # a short line under the drawing, when the page shows one

    @property
    def table(self) -> SafeString:
        """The data table's header and body rows (built here, not in a template loop: a chart
        over two years has hundreds of rows). Every cell is escaped."""
        head = "".join(f'<th scope="col">{_escape(str(h))}</th>' for h in self.table_headers)
        body = "".join(
            f'<tr><th scope="row">{_escape(row[0])}</th>'
            + "".join(f"<td>{_escape(c)}</td>" for c in row[1:])
            + "</tr>"
            for row in self.table_rows
        )
        return mark_safe(f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>")  # noqa: S308 - escaped above


def date_format(value: datetime.date, fmt: str) -> str:
    """Django's localised date format, remembered per day, format and language (a page formats
    the same weeks for every chart)."""
    return _date_format(value, fmt, get_language())


@functools.lru_cache(maxsize=4096)
def _date_format(value: datetime.date, fmt: str, language: str) -> str:
    return formats.date_format(value, fmt)


# DRAWING
# ------------------------------------------------------------------------------
class _Plot:
    def __init__(self, layout: Layout, x_min: float, x_max: float, y_min: float, y_max: float) -> None:
        self.layout = layout
        self.x_min, self.x_max = x_min, x_max if x_max > x_min else x_min + 1
        self.y_min, self.y_max = y_min, y_max if y_max > y_min else y_min + 1

    def x(self, value: float) -> float:
        box = self.layout
        return box.left + (value - self.x_min) / (self.x_max - self.x_min) * (box.right - box.left)

    def y(self, value: float) -> float:
        box = self.layout
        clamped = min(max(value, self.y_min), self.y_max)
        return box.bottom - (clamped - self.y_min) / (self.y_max - self.y_min) * (box.bottom - box.top)


def _n(value: float) -> str:
    return f"{value:.1f}"


def _frame(layout: Layout, chart_id: str, title: str, desc: str, body: str) -> SafeString:
    return format_html(
        '<svg class="chart-svg{}" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title" '
        'aria-describedby="{}-desc" focusable="false" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}</svg>',
        f" {layout.css}" if layout.css else "",
        layout.width,
        layout.height,
        chart_id,
        chart_id,
        chart_id,
        title,
        chart_id,
        desc,
        mark_safe(body),  # noqa: S308 - built below from format_html only
    )


def _axes(plot: _Plot, y_ticks: Sequence[float], x_ticks: Sequence[tuple[float, str]], y_format) -> str:
    box = plot.layout
    parts = [
        format_html(
            '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
            '<text class="tick tick-y" x="{}" y="{}">{}</text>',
            box.left,
            _n(plot.y(tick)),
            box.right,
            _n(plot.y(tick)),
            box.left - 6,
            _n(plot.y(tick) + 4),
            y_format(tick),
        )
        for tick in y_ticks
    ]
    # The first and last x ticks are marked, so a narrow layout can keep them inside its box.
    edges = {0: " tick-x--first", len(x_ticks) - 1: " tick-x--last"} if len(x_ticks) > 1 else {}
    parts += [
        format_html(
            '<text class="tick tick-x{}" x="{}" y="{}">{}</text>',
            edges.get(n, ""),
            _n(plot.x(x)),
            box.bottom + 18,
            label,
        )
        for n, (x, label) in enumerate(x_ticks)
    ]
    parts.append(
        format_html(
            '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>',
            box.left,
            box.bottom,
            box.right,
            box.bottom,
        )
    )
    return "".join(parts)


def _line(plot: _Plot, series: Series) -> str:
    # Only numbers and this module's own class names go in (no text): f-strings, not
    # format_html, which would escape hundreds of coordinates for nothing.
    css = escape(series.css)
    segments: list[list[str]] = [[]]
    dots = []
    for x, y in series.points:
        if y is None:
            segments.append([])
            continue
        px, py = _n(plot.x(x)), _n(plot.y(y))
        segments[-1].append(f"{px},{py}")
        dots.append(f'<circle class="dot {css}" cx="{px}" cy="{py}" r="{plot.layout.dot_radius}"/>')
    paths = "".join(
        f'<polyline class="line {css}" points="{" ".join(points)}"/>'
        for points in segments
        if len(points) > 1
    )
    return paths + "".join(dots)


def _legend(layout: Layout, series: Sequence[Series], extra: Sequence[tuple[str, str]] = ()) -> str:
    items = [(s.css, s.label) for s in series] + list(extra)
    return "".join(
        format_html(
            '<rect class="swatch {}" x="{}" y="2" width="10" height="10"/>'
            '<text class="legend" x="{}" y="11">{}</text>',
            css,
            layout.left + 8 + n * 150,
            layout.left + 22 + n * 150,
            label,
        )
        for n, (css, label) in enumerate(items)
    )


def bar_svg(
    *,
    chart_id: str,
    title: str,
    desc: str,
    values: Sequence[float],
    x_ticks: Sequence[tuple[float, str]],
    layout: Layout = WIDE,
) -> SafeString:
    """Bars of ``values`` (one per slot, slot i at x = i). The scale runs to at least 4, so
    its five ticks are whole numbers."""
    top = max([*values, 1])
    y_max = max(_nice(top), 4)
    plot = _Plot(layout, -0.5, len(values) - 0.5, 0, y_max)
    width = max((layout.right - layout.left) / max(len(values), 1) * 0.7, 1)
    bars = "".join(
        format_html(
            '<rect class="bar" x="{}" y="{}" width="{}" height="{}"/>',
            _n(plot.x(i) - width / 2),
            _n(plot.y(value)),
            _n(width),
            _n(layout.bottom - plot.y(value)),
        )
        for i, value in enumerate(values)
        if value
    )
    ticks = _ticks(0, y_max)
    return _frame(layout, chart_id, title, desc, _axes(plot, ticks, x_ticks, _int) + bars)


def line_svg(
    *,
    chart_id: str,
    title: str,
    desc: str,
    series: Sequence[Series],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    x_ticks: Sequence[tuple[float, str]],
    y_format=None,
    rules: Sequence[Rule] = (),
    bands: Sequence[Band] = (),
    y_ticks: Sequence[float] | None = None,
    layout: Layout = WIDE,
) -> SafeString:
    """Lines of ``series`` over shaded ``bands`` and horizontal ``rules``; a point whose y is
    None breaks its line. Five y ticks from ``y_range`` unless ``y_ticks`` are given."""
    plot = _Plot(layout, x_range[0], x_range[1], y_range[0], y_range[1])
    body = [
        format_html(
            '<rect class="band {}" x="{}" y="{}" width="{}" height="{}"/>',
            band.css,
            layout.left,
            _n(plot.y(band.high)),
            layout.right - layout.left,
            _n(plot.y(band.low) - plot.y(band.high)),
        )
        for band in bands
    ]
    ticks = _ticks(*y_range) if y_ticks is None else y_ticks
    body.append(_axes(plot, ticks, x_ticks, y_format or _int))
    body += [
        format_html(
            '<line class="rule {}" x1="{}" y1="{}" x2="{}" y2="{}"/>'
            '<text class="rule-label" x="{}" y="{}">{}</text>',
            rule.css,
            layout.left,
            _n(plot.y(rule.y)),
            layout.right,
            _n(plot.y(rule.y)),
            layout.right - 4,
            _n(plot.y(rule.y) - 4),
            rule.label,
        )
        for rule in rules
    ]
    body += [_line(plot, s) for s in series]
    if len(series) > 1 or bands:
        body.append(_legend(layout, series, [(band.css, band.label) for band in bands[:1]]))
    return _frame(layout, chart_id, title, desc, "".join(body))


def _nice(value: float) -> float:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step * 4:
            return step * 4 if value > step * 2 else max(step * 2, value)
    return value


def _ticks(low: float, high: float) -> list[float]:
    step = (high - low) / 4
    return [low + step * n for n in range(5)]


def _int(value: float) -> str:
    return f"{value:.0f}"


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _fmt(value: float | None, pattern: str = "{:.1f}") -> str:
    return "—" if value is None else pattern.format(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


# THE COUPLE PAGE'S CHARTS
# ------------------------------------------------------------------------------
def _week_ticks(weeks: Sequence[datetime.date]) -> list[tuple[float, str]]:
    every = max(len(weeks) // 6, 1)
    return [(i, date_format(week, "j M")) for i, week in enumerate(weeks) if i % every == 0]


def episode_charts(weeks: list[EpisodeWeek]) -> list[Chart]:
    """Episodes per week, mean intensity, repair success rate and minutes to repair."""
    mondays = [w.week for w in weeks]
    ticks = _week_ticks(mondays)
    span = (0, max(len(weeks) - 1, 1))
    headers = [_("Week of")]
    dates = [date_format(w.week, "j M Y") for w in weeks]
    charts = []

    title = _("Episodes per week")
    desc = _("Cycle episodes recorded each week (clinician-observed and partner-reported), %(n)s weeks.") % {
        "n": len(weeks)
    }
    charts.append(
        Chart(
            "chart-episodes",
            title,
            desc,
            bar_svg(
                chart_id="chart-episodes",
                title=title,
                desc=desc,
                values=[w.episodes for w in weeks],
                x_ticks=ticks,
            ),
            [*headers, _("Episodes")],
            [[d, str(w.episodes)] for d, w in zip(dates, weeks, strict=True)],
        )
    )

    def line_chart(chart_id, title, desc, values, y_range, y_format, column, cell):
        series = [Series(title, "series-a", [(i, v) for i, v in enumerate(values)])]
        svg = line_svg(
            chart_id=chart_id,
            title=title,
            desc=desc,
            series=series,
            x_range=span,
            y_range=y_range,
            x_ticks=ticks,
            y_format=y_format,
        )
        rows = [[d, cell(v)] for d, v in zip(dates, values, strict=True)]
        return Chart(chart_id, title, desc, svg, [*headers, column], rows)

    charts.append(
        line_chart(
            "chart-intensity",
            _("Mean intensity"),
            _("Mean episode intensity each week on the 0–10 scale; gaps are weeks without episodes."),
            [w.mean_intensity for w in weeks],
            (0, 10),
            _int,
            _("Mean intensity (0–10)"),
            _fmt,
        )
    )
    charts.append(
        line_chart(
            "chart-repair",
            _("Repair success rate"),
            _("Share of episodes with a repair attempt in which the repair worked, each week."),
            [w.repair_rate for w in weeks],
            (0, 1),
            _percent,
            _("Repairs that worked"),
            _pct,
        )
    )
    minutes = [w.minutes_to_repair for w in weeks]
    charts.append(
        line_chart(
            "chart-minutes",
            _("Minutes to repair"),
            _("Mean length in minutes of the episodes whose repair worked, each week."),
            minutes,
            (0, _nice(max([m for m in minutes if m is not None] or [10]))),
            _int,
            _("Minutes to repair"),
            lambda v: _fmt(v, "{:.0f}"),
        )
    )
    return charts


def adherence_chart(
    weeks: Sequence[datetime.date], adherence: dict[int, list[Adherence]], names: dict[int, str]
) -> Chart:
    """Each partner's completed ÷ due homework per week, on one chart."""
    title = _("Check-in adherence")
    desc = _("Each partner's completed share of due check-ins and homework per week (0–100%).")
    partner_ids = list(adherence)
    series = [
        Series(names[pid], css, [(i, a.rate) for i, a in enumerate(adherence[pid])])
        for pid, css in zip(partner_ids, ("series-a", "series-b"), strict=False)
    ]
    svg = line_svg(
        chart_id="chart-adherence",
        title=title,
        desc=desc,
        series=series,
        x_range=(0, max(len(weeks) - 1, 1)),
        y_range=(0, 1),
        x_ticks=_week_ticks(weeks),
        y_format=_percent,
    )
    rows = [
        [date_format(week, "j M Y")]
        + [f"{adherence[pid][i].completed}/{adherence[pid][i].due}" for pid in partner_ids]
        for i, week in enumerate(weeks)
    ]
    return Chart(
        "chart-adherence", title, desc, svg, [_("Week of"), *(names[pid] for pid in partner_ids)], rows
    )


def outcome_chart(outcome: DyadicOutcome, names: dict[int, str], *, zone: datetime.tzinfo) -> Chart:
    """The dyadic outcome chart: both partners' totals, the distress cutoff, each partner's
    reliable-change band around their first score, and an alert when the latest totals diverge
    by more than the reliable-change threshold."""
    partner_ids = list(outcome.series)
    moments = [score.at for scores in outcome.series.values() for score in scores]
    first, last = min(moments), max(moments)
    origin = first.timestamp()

    def day(moment: datetime.datetime) -> float:
        return (moment.timestamp() - origin) / 86400

    span = max(day(last), 1)
    totals = [score.total for scores in outcome.series.values() for score in scores]
    y_max = _nice(max([*totals, outcome.cutoff or 0]) * 1.1)
    series = [
        Series(names[pid], css, [(day(s.at), s.total) for s in outcome.series[pid]])
        for pid, css in zip(partner_ids, ("series-a", "series-b"), strict=False)
    ]
    rules = []
    if outcome.cutoff is not None:
        rules.append(
            Rule(
                outcome.cutoff,
                "cutoff",
                _("cutoff %(value)s (%(label)s)") % {"value": outcome.cutoff, "label": outcome.cutoff_label},
            )
        )
    bands = []
    if outcome.threshold is not None:
        for pid, css in zip(partner_ids, ("band-a", "band-b"), strict=False):
            baseline = outcome.first(pid)
            if baseline is not None:
                bands.append(
                    Band(
                        baseline.total - outcome.threshold,
                        baseline.total + outcome.threshold,
                        css,
                        _("no reliable change (±%(t)s)") % {"t": f"{outcome.threshold:.1f}"},
                    )
                )
    ticks = []
    for n in range(5):
        moment = first + datetime.timedelta(days=span * n / 4)
        ticks.append((day(moment), date_format(moment.astimezone(zone).date(), "j M y")))
    title = _("Dyadic outcome: %(name)s") % {"name": outcome.name}
    desc_parts = [
        _("Both partners' %(code)s totals over time (higher is more satisfied).")
        % {"code": outcome.code.upper()}
    ]
    if outcome.cutoff is not None:
        desc_parts.append(
            _("The line at %(value)s is the published cutoff: at or below it is %(label)s.")
            % {"value": outcome.cutoff, "label": outcome.cutoff_label}
        )
    if outcome.threshold is not None:
        desc_parts.append(
            _("Shaded: within %(t)s points of each partner's first score, where change is not reliable.")
            % {"t": f"{outcome.threshold:.1f}"}
        )
    desc = " ".join(desc_parts)
    svg = line_svg(
        chart_id="chart-outcome",
        title=title,
        desc=desc,
        series=series,
        x_range=(0, span),
        y_range=(0, y_max),
        x_ticks=ticks,
        rules=rules,
        bands=bands,
    )
    scored = sorted(
        ((score.at, names[pid], score.total) for pid in partner_ids for score in outcome.series[pid]),
        key=lambda row: row[0],
        reverse=True,
    )
    rows = [
        [date_format(at.astimezone(zone).date(), "j M Y"), name, f"{total:g}"] for at, name, total in scored
    ]
    # Where the reliable-change figures come from, on every chart that uses them (the practice's
    # own intake baseline is labelled as such).
    note = outcome.change_note
    alert = ""
    if outcome.diverges:
        a, b = (outcome.latest(pid) for pid in partner_ids)
        alert = _(
            "The partners' latest scores: %(a_name)s %(a)s, %(b_name)s %(b)s — %(gap)s points apart."
        ) % {
            "a_name": names[partner_ids[0]],
            "a": f"{a.total:g}",
            "b_name": names[partner_ids[1]],
            "b": f"{b.total:g}",
            "gap": f"{outcome.divergence:g}",
        }
        if outcome.opposite_change:
            improved = next(pid for pid in partner_ids if outcome.trajectories.get(pid) in IMPROVING)
            worse = next(pid for pid in partner_ids if pid != improved)
            alert += " " + _(
                "%(better)s changed reliably for the better while %(worse)s reliably worsened."
            ) % {
                "better": names[improved],
                "worse": names[worse],
            }
        if outcome.gap_growth is not None and outcome.gap_growth > outcome.threshold:
            alert += " " + _(
                "The gap between them has grown by %(growth)s points since their first scores, more than "
                "the reliable-change threshold of %(t)s."
            ) % {"growth": f"{outcome.gap_growth:g}", "t": f"{outcome.threshold:.1f}"}
    chart = Chart(
        "chart-outcome", title, desc, svg, [_("Date"), _("Partner"), _("Total")], rows, note=note, alert=alert
    )
    return chart


# THE PARTNER PAGES' CHART
# ------------------------------------------------------------------------------
def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def history_chart(
    points: Sequence[tuple[datetime.datetime, float]], scale: tuple[float, float] = (0, 10)
) -> Chart | None:
    """The partner's own answers over their last check-ins (``points`` oldest first, on
    ``scale``), in the partner's time zone (the active one); None without a point, so the page
    says the chart is still to come."""
    if not points:
        return None
    low, high = scale
    local = [timezone.localtime(when) for when, _value in points]
    values = [value for _when, value in points]
    count = len(points)
    # One check-in sits in the middle of the plot, not on its left edge.
    x_range = (0, count - 1) if count > 1 else (-1, 1)
    # Translators: a day and month under the chart (Django date format), e.g. 3/14.
    axis = _("n/j")
    x_ticks = [(0, formats.date_format(local[0], axis))]
    if count > 1:
        x_ticks.append((count - 1, formats.date_format(local[-1], axis)))
    title = _("How connected you felt at your last check-ins")
    desc = _(
        "From %(first)s to %(last)s. Lowest %(low)s, highest %(high)s, most recent %(latest)s, "
        "on a scale from %(min)s to %(max)s."
    ) % {
        "first": formats.date_format(local[0], "MONTH_DAY_FORMAT"),
        "last": formats.date_format(local[-1], "MONTH_DAY_FORMAT"),
        "low": _number(min(values)),
        "high": _number(max(values)),
        "latest": _number(values[-1]),
        "min": _number(low),
        "max": _number(high),
    }
    svg = line_svg(
        chart_id="chart-connection",
        title=title,
        desc=desc,
        series=[Series(title, "series-a", list(enumerate(values)))],
        x_range=x_range,
        y_range=(low, high),
        x_ticks=x_ticks,
        y_format=_number,
        y_ticks=(low, (low + high) / 2, high),
        layout=COMPACT,
    )
    # Translators: a date and time in a short table cell (Django date format).
    cell = _("M j, P")
    rows = [
        [formats.date_format(moment, cell), _number(value)]
        for moment, value in reversed(list(zip(local, values, strict=True)))
    ]
    return Chart(
        "chart-connection",
        title,
        desc,
        svg,
        [_("Check-in"), _("Connection")],
        rows,
        caption=_("How connected you felt (0 not at all, 10 very), oldest to newest."),
    )


# REPORT CHARTS
# ------------------------------------------------------------------------------
# A report's page is read at a desk and on a phone: its chart is drawn twice, in the wide
# layout and in the compact one, and charts.css shows the one that fits (the hidden one is
# display: none, so assistive technology meets one chart).
REPORT_WIDE = replace(WIDE, css="chart-svg--wide")
REPORT_PHONE = replace(COMPACT, css="chart-svg--compact chart-svg--phone")
CHARACTER_WIDTH = 6.5  # user units per character of an 11-unit tick label, roughly


def _cell(value: float | None) -> str:
    if value is None:
        return "—"
    return _number(value)


def _category_ticks(categories: Sequence[str], layout: Layout, most: int) -> list[tuple[float, str]]:
    """At most ``most`` labelled slots, each label cut to the width of its share of the axis."""
    every = max(-(-len(categories) // most), 1)
    room = (layout.right - layout.left) / max(len(categories), 1) * every
    limit = max(int(room / CHARACTER_WIDTH) - 1, 4)
    return [
        (i, name if len(name) <= limit else name[: limit - 1] + "…")
        for i, name in enumerate(categories)
        if i % every == 0
    ]


def report_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    category_label: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    over_time: bool = False,
    caption: str = "",
) -> Chart:
    """A practice report's chart and its data table. ``categories`` are the x slots (clinicians,
    instruments, or weeks already formatted as dates); ``series`` are (label, one value per
    slot). Without ``over_time`` the first series is drawn as bars, one per category; with it,
    up to two series are drawn as lines over the slots, a missing value breaking its line. The
    table lists every category with every series' value ("—" for a missing one)."""
    known = [v for _label, values in series for v in values if v is not None]

    def draw(layout: Layout, svg_id: str, most_ticks: int) -> SafeString:
        x_ticks = _category_ticks(categories, layout, most_ticks)
        if over_time:
            return line_svg(
                chart_id=svg_id,
                title=title,
                desc=desc,
                series=[
                    Series(label, css, [(i, v) for i, v in enumerate(values)])
                    for (label, values), css in zip(series, ("series-a", "series-b"), strict=False)
                ],
                x_range=(0, max(len(categories) - 1, 1)),
                y_range=(min([0, *known]), _nice(max([*known, 1]))),
                x_ticks=x_ticks,
                y_format=_number,
                layout=layout,
            )
        # Bars rise from zero: a negative figure (a mean change can be one) or a missing one
        # draws no bar; its value is in the table.
        return bar_svg(
            chart_id=svg_id,
            title=title,
            desc=desc,
            values=[max(value or 0, 0) for value in series[0][1]] if series else [],
            x_ticks=x_ticks,
            layout=layout,
        )

    svg = draw(REPORT_WIDE, chart_id, 8) + draw(REPORT_PHONE, f"{chart_id}-phone", 4)
    rows = [[name, *(_cell(values[i]) for _label, values in series)] for i, name in enumerate(categories)]
    headers = [category_label, *(label for label, _values in series)]
    return Chart(chart_id, title, desc, svg, headers, rows, caption=caption)
