"""The registry of practice reports (cyclecare.reports.registry) and the one rule for a CSV
cell (cyclecare.reports.csv): every report is complete, the adapters narrow to a clinician or
an instrument, and a text cell that a spreadsheet would run is written as text."""

import datetime

import pytest
from django.http import Http404

from cyclecare.reports.csv import FORMULA_PREFIXES, csv_cell, csv_lines
from cyclecare.reports.filters import parse_filters
from cyclecare.reports.registry import ALL_FILTERS, REPORTS, ChartSpec, Report, report_get
from tests.factories import build_practice_world, held_session

pytestmark = pytest.mark.django_db


def test_every_report_is_complete_and_its_key_is_a_slug():
    assert [report.key for report in REPORTS] == [
        "caseload",
        "engagement",
        "delivery",
        "outcomes",
        "cycle-trends",
        "safety",
    ]
    for report in REPORTS:
        assert report.key.replace("-", "").isalnum() and report.key.islower()
        assert str(report.title) and str(report.description).endswith(".")
        fields = [field for field, _label in report.columns]
        assert len(fields) == len(set(fields)) and report.chart.field in fields
        assert set(report.filters) <= set(ALL_FILTERS)
        assert report_get(report.key) is report
    with pytest.raises(Http404):
        report_get("notes")


@pytest.mark.parametrize("report", REPORTS, ids=lambda report: report.key)
def test_every_report_returns_the_shared_shape(tenants, report):
    world = tenants["a"]
    figures = report.compute(user=world.admin.user, filters=parse_filters({}, user=world.admin.user))
    assert {"rows", "total", "fresh_at", "notes"} <= set(figures)
    assert isinstance(figures["notes"], list)
    for row in figures["rows"]:
        assert {field for field, _label in report.columns} <= set(row)


def test_a_clinician_filter_narrows_a_per_clinician_report_to_that_caseload(tenants):
    world = tenants["a"]
    user = world.admin.user
    held_session(world.couples[0].couple)
    caseload = report_get("caseload")
    everyone = caseload.compute(user=user, filters=parse_filters({}, user=user))
    assert len(everyone["rows"]) > 1
    treating = world.couples[0].couple.primary_clinician
    one = caseload.compute(user=user, filters=parse_filters({"clinician": str(treating.pk)}, user=user))
    assert [row["clinician"] for row in one["rows"]] == [treating.pk]
    assert one["total"]["display_name"] == "Total" and one["total"]["clinician"] is None
    assert one["total"]["active_couples"] == one["rows"][0]["active_couples"]
    assert one["total"]["sessions_held"] == one["rows"][0]["sessions_held"] >= 1


def test_an_instrument_filter_narrows_the_outcomes_to_that_instrument(db):
    world = build_practice_world("gamma", practice_rows=True)
    user = world.admin.user
    outcomes = report_get("outcomes")
    codes = {
        row["instrument_code"]
        for row in outcomes.compute(user=user, filters=parse_filters({}, user=user))["rows"]
    }
    assert codes
    code = sorted(codes)[0]
    narrowed = outcomes.compute(user=user, filters=parse_filters({"instrument": code}, user=user))
    # A row per clinician and the practice's total, all of that instrument.
    assert narrowed["rows"] and {row["instrument_code"] for row in narrowed["rows"]} == {code}


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_a_text_cell_a_spreadsheet_would_run_is_written_as_text(prefix):
    assert csv_cell(f"{prefix}SUM(A1)") == f"'{prefix}SUM(A1)"


def test_numbers_stay_numbers_and_none_is_empty():
    assert csv_cell(-3.5) == -3.5 and csv_cell(0) == 0 and csv_cell(None) == ""
    assert csv_cell("Dana") == "Dana"
    lines = list(csv_lines(["Clinician", "Mean change"], [["=cmd|' /C calc'!A0", -2.0], ["Ann, B", None]]))
    assert lines == ["Clinician,Mean change\r\n", "'=cmd|' /C calc'!A0,-2.0\r\n", '"Ann, B",\r\n']


def _report(chart: ChartSpec) -> Report:
    return Report(
        key="trial",
        title="Trial",
        description="A trial report.",
        compute=lambda **_kwargs: {},
        columns=[("display_name", "Clinician"), ("due", "Due")],
        chart=chart,
    )


def test_a_chart_is_a_bar_per_row_without_the_total():
    report = _report(ChartSpec("due", "Due"))
    chart = report.draw(
        {
            "rows": [{"display_name": "Ann", "due": 3}, {"display_name": "Bo", "due": None}],
            "total": {"display_name": "Total", "due": 3},
        }
    )
    assert chart.title == "Due by clinician"
    assert chart.table_headers == ["Clinician", "Due"]
    assert chart.table_rows == [["Ann", "3"], ["Bo", "—"]]
    assert chart.svg.count('class="bar"') == 2  # Ann's, in each layout; Bo has none
    assert "<polyline" not in chart.svg
    assert report.draw({"rows": [], "total": None}) is None


def test_a_chart_with_weekly_fields_draws_lines_over_the_weeks_when_there_are_weeks():
    report = _report(ChartSpec("due", "Due", weekly=(("rate", "Adherence (%)"), ("due", "Due"))))
    weeks = [
        {"week": datetime.date(2026, 3, 2), "rate": 50.0, "due": 4},
        {"week": datetime.date(2026, 3, 9), "rate": None, "due": 0},
        {"week": datetime.date(2026, 3, 16), "rate": 75.0, "due": 4},
    ]
    chart = report.draw({"rows": [{"display_name": "Ann", "due": 8}], "weeks": weeks})
    assert chart.title == "Adherence (%), Due by week"
    assert chart.table_headers == ["Week of", "Adherence (%)", "Due"]
    assert chart.table_rows == [
        ["2 Mar 2026", "50", "4"],
        ["9 Mar 2026", "—", "0"],
        ["16 Mar 2026", "75", "4"],
    ]
    assert "<polyline" in chart.svg and 'class="bar"' not in chart.svg
    # Without weeks, the bars per row.
    assert 'class="bar"' in report.draw({"rows": [{"display_name": "Ann", "due": 8}], "weeks": []}).svg
