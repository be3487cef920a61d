"""cyclecare.charts, the one way a page draws a data chart: the SVG's geometry, the data table's
numbers, empty series, escaping, and the template both page families include."""

import datetime
import re
import zoneinfo

from django.template.loader import render_to_string
from django.utils import timezone

from cyclecare import charts
from cyclecare.charts import COMPACT, Chart, Series, bar_svg, history_chart, line_svg

UTC = datetime.UTC


def points_of(svg: str) -> list[str]:
    return re.findall(r'<polyline class="line [^"]*" points="([^"]*)"', svg)


def test_a_line_maps_its_points_into_the_plot_area():
    svg = line_svg(
        chart_id="c",
        title="T",
        desc="D",
        series=[Series("s", "series-a", [(0, 0), (1, 5), (2, 10)])],
        x_range=(0, 2),
        y_range=(0, 10),
        x_ticks=[(0, "a"), (2, "b")],
    )
    # The wide layout's plot area runs x 44→590 and y 196 (the low value) → 14 (the high one).
    assert points_of(svg) == ["44.0,196.0 317.0,105.0 590.0,14.0"]
    assert svg.count('<circle class="dot series-a"') == 3
    assert 'viewBox="0 0 600 230"' in svg
    assert '<title id="c-title">T</title><desc id="c-desc">D</desc>' in svg
    assert 'role="img" aria-labelledby="c-title" aria-describedby="c-desc"' in svg
    # Five y ticks from the range, and the two x ticks, the first and last marked.
    assert svg.count('class="grid"') == 5
    assert '<text class="tick tick-x tick-x--first" x="44.0" y="214">a</text>' in svg
    assert '<text class="tick tick-x tick-x--last" x="590.0" y="214">b</text>' in svg


def test_a_gap_breaks_the_line_and_values_outside_the_range_are_clamped():
    svg = line_svg(
        chart_id="c",
        title="T",
        desc="D",
        series=[Series("s", "series-a", [(0, 2), (1, 20), (2, None), (3, 4), (4, -3)])],
        x_range=(0, 4),
        y_range=(0, 10),
        x_ticks=[],
    )
    first, second = points_of(svg)
    assert first == "44.0,159.6 180.5,14.0"
    assert second == "453.5,123.2 590.0,196.0"


def test_bars_stand_on_the_axis_and_an_empty_week_draws_none():
    svg = bar_svg(chart_id="c", title="T", desc="D", values=[2, 0, 4], x_ticks=[])
    bars = re.findall(r'<rect class="bar" x="([^"]*)" y="([^"]*)" width="([^"]*)" height="([^"]*)"/>', svg)
    # Three slots over 546 units, each bar 70% of its slot; the y scale runs 0→4.
    assert bars == [("71.3", "105.0", "127.4", "91.0"), ("435.3", "14.0", "127.4", "182.0")]


def test_the_compact_layout_for_a_phone_and_one_point_in_the_middle():
    svg = line_svg(
        chart_id="c",
        title="T",
        desc="D",
        series=[Series("s", "series-a", [(0, 5)])],
        x_range=(-1, 1),
        y_range=(0, 10),
        x_ticks=[(0, "3/14")],
        y_ticks=(0, 5, 10),
        layout=COMPACT,
    )
    assert 'class="chart-svg chart-svg--compact" viewBox="0 0 320 170"' in svg
    assert '<circle class="dot series-a" cx="168.0" cy="76.0" r="4.5"/>' in svg
    assert points_of(svg) == []  # one point is a dot, not a line
    assert svg.count('class="grid"') == 3
    assert "tick-x--first" not in svg  # a lone tick stays centred under its point


def test_empty_series_draw_the_frame_and_nothing_else():
    line = line_svg(
        chart_id="c",
        title="T",
        desc="D",
        series=[Series("s", "series-a", [])],
        x_range=(0, 0),
        y_range=(0, 0),
        x_ticks=[],
    )
    bars = bar_svg(chart_id="c", title="T", desc="D", values=[], x_ticks=[])
    for svg in (line, bars):
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert "<title" in svg and 'class="axis"' in svg
        assert "<polyline" not in svg and "<circle" not in svg and 'class="bar"' not in svg
    assert Chart("c", "T", "D", line, ["Week of", "Episodes"], []).table == (
        '<thead><tr><th scope="col">Week of</th><th scope="col">Episodes</th></tr></thead><tbody></tbody>'
    )
    assert history_chart([]) is None


def test_labels_titles_and_table_cells_are_escaped():
    hostile = '<script>alert("x")</script>&'
    svg = line_svg(
        chart_id="c",
        title=hostile,
        desc=hostile,
        series=[Series(hostile, "series-a", [(0, 1)]), Series("b", "series-b", [(0, 2)])],
        x_range=(0, 1),
        y_range=(0, 10),
        x_ticks=[(0, hostile)],
        rules=[charts.Rule(5, "cutoff", hostile)],
    )
    assert "<script>" not in svg
    assert (
        svg.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;") == 5
    )  # title, desc, tick, rule, legend
    table = Chart("c", "T", "D", svg, [hostile, "n"], [[hostile, hostile]]).table
    assert "<script>" not in table
    assert table.count("&lt;script&gt;") == 3


def test_the_partner_history_chart_and_its_table_carry_the_same_numbers():
    zone = zoneinfo.ZoneInfo("America/New_York")
    points = [
        (datetime.datetime(2026, 3, 1, 23, 30, tzinfo=UTC), 4),  # 1 March, 18:30 in New York
        (datetime.datetime(2026, 3, 2, 23, 30, tzinfo=UTC), 7.5),
        (datetime.datetime(2026, 3, 3, 23, 30, tzinfo=UTC), 6),
    ]
    with timezone.override(zone):
        chart = history_chart(points, (0, 10))
    assert chart.chart_id == "chart-connection"
    assert chart.title == "How connected you felt at your last check-ins"
    assert chart.desc == (
        "From March 1 to March 3. Lowest 4, highest 7.5, most recent 6, on a scale from 0 to 10."
    )
    # Oldest to newest across the compact plot (x 30→306; y 140 at 0 → 12 at 10).
    assert points_of(chart.svg) == ["30.0,88.8 168.0,44.0 306.0,63.2"]
    assert ">3/1</text>" in chart.svg and ">3/3</text>" in chart.svg
    # The table lists the same answers, newest first, in the partner's time zone.
    assert chart.table_headers == ["Check-in", "Connection"]
    assert chart.table_rows == [
        ["Mar 3, 6:30 p.m.", "6"],
        ["Mar 2, 6:30 p.m.", "7.5"],
        ["Mar 1, 6:30 p.m.", "4"],
    ]
    assert '<tr><th scope="row">Mar 3, 6:30 p.m.</th><td>6</td></tr>' in chart.table


def test_the_template_renders_the_svg_with_its_table_folded_or_shown():
    svg = bar_svg(chart_id="chart-x", title="Episodes", desc="Per week", values=[3], x_ticks=[])
    chart = Chart("chart-x", "Episodes", "Per week", svg, ["Week of", "Episodes"], [["1 Jun 2026", "3"]])
    folded = render_to_string("charts/chart.html", {"chart": chart})
    assert '<figure class="chart" id="chart-x">' in folded
    assert '<h3 class="chart-title">Episodes</h3>' in folded and svg in folded
    assert "<details" in folded and "Data table: Episodes" in folded
    assert '<th scope="row">1 Jun 2026</th><td>3</td>' in folded

    captioned = Chart(**{**chart.__dict__, "caption": "Oldest to newest."})
    shown = render_to_string("charts/chart.html", {"chart": captioned, "table_shown": True, "wide": True})
    assert '<figure class="chart chart--wide" id="chart-x">' in shown
    assert "<details" not in shown and "<h3" not in shown
    assert "<figcaption>Oldest to newest.</figcaption>" in shown
    assert '<caption class="visually-hidden">Episodes</caption>' in shown
    assert "<td>3</td>" in shown
