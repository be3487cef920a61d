"""The practice's reports in a real browser.

1280 px: a practice admin signs in and lands on the practice; opens each report from it (chart,
table, how fresh its figures are); widens the caseload's period and picks a clinician (the URL carries
both, the figures change); downloads the CSV (the file holds the filtered rows); a reversed
period is refused beside its field; on paper the navigation, filters and buttons are gone.
360 px: each report fits the phone (the table scrolls inside its own box, the chart scales).

Screenshots: test-artifacts/reports-*.png.
"""

import csv
import datetime
import io
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cyclecare.reports.registry import REPORTS
from cyclecare.reports.rollups import refresh_rollups
from tests.factories import AssignmentFactory, OccurrenceFactory, build_practice_world, held_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"
FITS = """() => document.documentElement.scrollWidth <= window.innerWidth"""
WIDEST = """() => [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .slice(0, 5)
    .map((e) => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


@pytest.fixture
def world():
    """The alpha practice (every role; couples of "alpha clin" and "alpha assoc", each with a
    session held yesterday; a licensed measure answered twice), plus three sessions of alpha
    clin's couple held 100 days ago (outside the default 30 days, inside a 200-day period) and
    homework due in the last days."""
    world = build_practice_world("alpha", practice_rows=True)
    for _ in range(3):
        held_session(world.couples[0].couple, days_ago=100)
    # Homework due over the last days: alpha clin's couple did 3 of 4, alpha assoc's 1 of 2.
    now = timezone.now()
    for case, statuses in (
        (world.couples[0], ("completed",) * 3 + ("missed",)),
        (world.couples[1], ("completed", "missed")),
    ):
        assignment = AssignmentFactory(couple=case.couple, partners=[case.a])
        for days, status in enumerate(statuses, start=1):
            OccurrenceFactory(
                assignment=assignment,
                partner=case.a,
                status=status,
                due_at=now - datetime.timedelta(days=days),
            )
    # The engagement and delivery reports read the rollups, as the beat's refresh leaves them.
    refresh_rollups()
    return world


def sign_in(page, user) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email or username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def total_cell(page, column: int) -> str:
    """A cell of the table's Total row (column 0 is the row's name)."""
    return page.locator(".report-table .total-row").locator("th, td").nth(column).inner_text()


def test_admin_opens_each_report_filters_and_downloads_a_csv(page, world, artifacts_dir):
    sign_in(page, world.admin.user)
    expect(page).to_have_url(re.compile(r"/clinic/practice/$"))
    reports = page.locator(".practice-reports")
    for report in REPORTS:
        expect(reports.get_by_role("link", name=str(report.title), exact=True)).to_be_visible()
    expect(page.locator(".site-nav").get_by_role("link", name="Reports")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "reports-practice-1280.png"), full_page=True)

    for report in REPORTS:
        page.goto("/clinic/practice/")
        page.locator(".practice-reports").get_by_role("link", name=str(report.title), exact=True).click()
        expect(page).to_have_url(re.compile(rf"/clinic/reports/{report.key}/$"))
        expect(page.get_by_role("heading", level=1, name=str(report.title))).to_be_visible()
        # Engagement and delivery read the rollups (as of their refresh); the others live tables.
        expect(page.locator("[data-freshness]")).to_have_text(
            re.compile(r"^Figures as of " if report.key in ("engagement", "delivery") else r"^Live figures$")
        )
        expect(page.locator(f"#chart-{report.key} svg.chart-svg--wide")).to_be_visible()
        expect(page.locator(f"#chart-{report.key} svg.chart-svg--phone")).to_be_hidden()
        expect(page.locator(".report-table")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Rivera")  # no couple, no partner
        page.screenshot(path=str(artifacts_dir / f"reports-{report.key}-1280.png"), full_page=True)

    # The outcomes list the licensed measure the partners answered twice.
    page.goto("/clinic/reports/outcomes/")
    expect(page.locator(".report-table")).to_contain_text("alpha licensed measure")

    # Engagement: each caseload's completed ÷ due, and the practice's.
    page.goto("/clinic/reports/engagement/")
    expect(page.locator(".report-table .total-row")).to_contain_text("66.7")

    # The caseload over the last 30 days: alpha clin's couple had one session (yesterday).
    page.goto("/clinic/reports/caseload/")
    sessions = [str(label) for _field, label in REPORTS[0].columns].index("Sessions held")
    expect(page.locator(".report-table .total-row")).to_be_visible()
    assert total_cell(page, sessions) == "2"
    today = timezone.localdate()
    wider = (today - datetime.timedelta(days=200)).isoformat()
    page.get_by_label("From").fill(wider)
    page.get_by_label("Clinician", exact=True).select_option(label="alpha clin")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(
        re.compile(rf"from={wider}&to=\d{{4}}-\d\d-\d\d&clinician={world.clinician.pk}(&status=)?$")
    )
    expect(page.get_by_label("From")).to_have_value(wider)
    rows = page.locator(".report-table tbody tr")
    expect(rows).to_have_count(2)  # alpha clin and the total
    assert total_cell(page, sessions) == "4"  # yesterday's and the three 100 days ago
    page.screenshot(path=str(artifacts_dir / "reports-caseload-filtered-1280.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(rf"caseload-{wider}-to-\d{{4}}-\d\d-\d\d\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as handle:
        table = list(csv.reader(io.StringIO(handle.read())))
    assert table[0][0] == "Clinician" and "Sessions held" in table[0]
    assert [row[0] for row in table[1:]] == ["alpha clin", "Total"]
    assert table[1][table[0].index("Sessions held")] == "4"

    # A reversed period: refused beside the field, nothing shown.
    page.get_by_label("From").fill(today.isoformat())
    page.get_by_label("To").fill((today - datetime.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#id_from-error")).to_have_text("The first day comes after the last day.")
    expect(page.get_by_role("alert")).to_contain_text("These filters cannot run")
    expect(page.locator(".report-table")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "reports-caseload-refused-1280.png"), full_page=True)

    # On paper: the report alone.
    page.goto(f"/clinic/reports/caseload/?from={wider}")
    page.emulate_media(media="print")
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.locator(".report-filters")).to_be_hidden()
    expect(page.get_by_role("link", name="Download CSV")).to_be_hidden()
    expect(page.locator(".report-table")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "reports-caseload-print.png"), full_page=True)


def test_every_report_fits_a_phone(page, world, artifacts_dir):
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, world.admin.user)
    expect(page).to_have_url(re.compile(r"/clinic/practice/$"))
    page.wait_for_load_state("load")
    assert page.evaluate(FITS), page.evaluate(WIDEST)
    page.screenshot(path=str(artifacts_dir / "reports-practice-360.png"), full_page=True)
    for report in REPORTS:
        page.goto(f"/clinic/reports/{report.key}/")
        page.wait_for_load_state("load")
        expect(page.locator(".report-table")).to_be_visible()
        assert page.evaluate(FITS), page.evaluate(WIDEST)
        # The chart is as wide as the page's column, and the table scrolls inside its own box.
        expect(page.locator(f"#chart-{report.key} svg.chart-svg--wide")).to_be_hidden()
        chart = page.locator(f"#chart-{report.key} svg.chart-svg--phone").bounding_box()
        assert 300 <= chart["width"] <= 360
        # Every table (the report's, and a second one such as uneven engagement) scrolls in its box.
        for wrap in page.locator(".report-table-wrap").all():
            box = wrap.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360
        page.screenshot(path=str(artifacts_dir / f"reports-{report.key}-360.png"), full_page=True)
    page.goto("/clinic/reports/")
    page.wait_for_load_state("load")
    assert page.evaluate(FITS), page.evaluate(WIDEST)
    page.screenshot(path=str(artifacts_dir / "reports-index-360.png"), full_page=True)
