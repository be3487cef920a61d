"""The audit trail in a real browser, as a practice admin meets it.

1280 px: from the practice page to "Audit trail"; a search by action (the URL carries it); a
bad date refused beside its field; from an event to the partner's access report, which names
the clinician who opened the couple; back through the breadcrumb; the CSV downloaded and read.
360 px: both pages fit the phone (the table scrolls inside its own box).
"""

import csv
import io
import re

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from tests.factories import build_practice_world

pytestmark = pytest.mark.django_db(transaction=True)

FITS = """() => document.documentElement.scrollWidth <= window.innerWidth"""


@pytest.fixture
def world():
    world = build_practice_world("alpha")
    # The treating clinician opens the couple's page: a read on the couple's shared record.
    clinic = Client()
    clinic.force_login(world.clinician.user)
    clinic.get(reverse("cyclecare:clinician:couple", args=[world.couples[0].couple.pk]))
    return world


def test_the_admin_searches_the_trail_and_reads_a_partners_access_report(
    page, login_as, world, artifacts_dir
):
    login_as(world.admin.user)
    page.goto("/clinic/practice/")
    page.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", level=1, name="Audit trail")).to_be_visible()
    expect(page.locator(".audit-table tbody tr").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "audit-search-1280.png"), full_page=True)

    page.get_by_label("Action").fill("couple.read")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"action=couple.read"))
    rows = page.locator(".audit-table tbody tr")
    expect(rows.first).to_contain_text("alpha clin")
    expect(rows.first).to_contain_text("Clinician page")

    page.get_by_label("From").fill("2026-05-01")
    page.get_by_label("To").fill("2026-04-01")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".field-error").first).to_contain_text("The first day comes after the last day.")
    page.get_by_role("link", name="Clear").click()

    # An event on partner A's own record leads to their access report.
    partner = world.couples[0].a
    page.goto(f"/clinic/practice/audit/?partner={partner.pk}")
    page.locator(".audit-table").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/clinic/practice/audit/partners/{partner.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Access report")
    # Their couple's shared record is theirs too: the clinician's opening of the couple is listed.
    expect(page.locator(".audit-table")).to_contain_text("couple.read")
    page.screenshot(path=str(artifacts_dir / "audit-partner-1280.png"), full_page=True)

    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO(open(downloaded.value.path(), encoding="utf-8").read())))
    assert rows[0][:2] == ["When", "Who"] and any(row[4] == "couple.read" for row in rows[1:])

    page.locator(".crumbs").get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", level=1, name="Audit trail")).to_be_visible()


def test_the_audit_pages_fit_a_phone(page, login_as, world, artifacts_dir):
    page.set_viewport_size({"width": 360, "height": 740})
    login_as(world.admin.user)
    partner = world.couples[0].a
    for path, name in (
        ("/clinic/practice/audit/", "audit-search-360.png"),
        (f"/clinic/practice/audit/partners/{partner.pk}/", "audit-partner-360.png"),
    ):
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.evaluate(FITS)
        page.screenshot(path=str(artifacts_dir / name), full_page=True)
