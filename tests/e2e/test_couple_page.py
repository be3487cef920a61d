"""The couple page in a real browser at 1280×800: from the caseload to the couple, the charts
named for assistive technology with their data tables, the outcome chart and the timeline.

Screenshot: test-artifacts/couple-page-1280.png.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.cyclecare.workspace.history import build_history
from tests.factories import ClinicianFactory, couple_with_partners

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def clinician():
    clinician = ClinicianFactory(display_name="Dr Ana Okafor")
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", eft_step=4, names=("Mei", "Sam"))
    build_history(couple, a, b, days=210)
    couple_with_partners(clinician, label="Abbott & Ames")
    return clinician


def test_clinician_opens_a_couple_from_the_caseload(page, login_as, artifacts_dir, clinician):
    login_as(clinician.user)
    page.goto("/clinic/")
    expect(page.get_by_role("heading", name="Your caseload")).to_be_visible()
    # The couple with the open flag leads; its row shows each partner's figures.
    first = page.locator("table.caseload tbody tr").first
    expect(first.get_by_role("rowheader")).to_contain_text("Rivera & Chen")
    expect(first).to_contain_text("Mei:")
    expect(first).to_contain_text("Sam:")
    first.get_by_role("link", name="Rivera & Chen").click()

    expect(page).to_have_url(re.compile(r"/clinic/couples/\d+/$"))
    expect(page.get_by_role("heading", level=1, name="Rivera & Chen")).to_be_visible()
    for name in (
        "Sessions",
        "Cycle map",
        "Record an episode",
        "Homework",
        "Reminder deliveries",
        "Separation",
    ):
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()

    # Charts: inline SVG images named by their titles, each with a data table.
    for title in (
        "Episodes per week",
        "Mean intensity",
        "Repair success rate",
        "Minutes to repair",
        "Check-in adherence",
    ):
        expect(page.get_by_role("img", name=title, exact=True)).to_be_visible()
    outcome = page.get_by_role("img", name=re.compile(r"^Dyadic outcome: Couples Satisfaction Index"))
    expect(outcome).to_be_visible()
    expect(page.locator("#chart-outcome-desc")).to_have_text(re.compile(r"published cutoff"))
    page.get_by_text("Data table: Episodes per week").click()
    table = page.locator("#chart-episodes table")
    expect(table).to_be_visible()
    expect(table.get_by_role("columnheader", name="Episodes")).to_be_visible()

    expect(page.get_by_role("heading", name="Cycle metrics")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Role rigidity: Mei")).to_be_visible()

    # The timeline: newest first, every kind marked.
    timeline = page.locator("ol.timeline").last
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(timeline.locator(".timeline-item--checkin").first).to_contain_text("Check-in")
    expect(timeline.locator(".timeline-item--episode").first).to_be_visible()
    expect(timeline.locator(".timeline-item--session").first).to_contain_text("Joint session")
    expect(timeline.locator(".timeline-item--flag")).to_contain_text("From Mei")
    expect(page.get_by_role("link", name="Write the note")).to_be_visible()
    expect(page.get_by_role("heading", name="Scheduled")).to_be_visible()

    # Styled through the stylesheet (CSP: no inline styles): the cutoff line is drawn dashed.
    dash = page.locator("#chart-outcome .rule.cutoff").evaluate("el => getComputedStyle(el).strokeDasharray")
    assert dash not in ("", "none")
    page.screenshot(path=str(artifacts_dir / "couple-page-1280.png"), full_page=True)

    page.get_by_role("link", name="Earlier weeks").click()
    expect(page).to_have_url(re.compile(r"\?before=\d{4}-\d\d-\d\d$"))
    expect(page.get_by_role("link", name="Later weeks")).to_be_visible()
