"""The clinician's caseload in a real browser at 1280×800: sign in through the form, the flagged
couple first with its badge, the keyboard focus visible, sign out. And its layout, measured on
the demo's supervisor (the widest caseload: a clinician column, both supervisees' couples): every
cell's text whole inside the page at 1280 px, and each couple a card of labelled fields at 360 px.

Screenshots: test-artifacts/caseload-1280.png, caseload-supervisor-1280.png and
caseload-supervisor-360.png.
"""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from clinician.models import Clinician
from cyclecare import services
from cyclecare.models import SafetyFlag
from tests.factories import ClinicianFactory, TherapySessionFactory, couple_with_partners, shipped_instrument

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def clinician():
    clinician = ClinicianFactory(display_name="Dr Ana Okafor, LMFT")
    instrument = shipped_instrument()
    for n, (label, step) in enumerate(
        (
            ("Abbott & Ames", 2),
            ("Moreno & Li", 5),
            ("Rivera & Chen", 4),
            ("Zhou & Ziegler", 8),
            ("Baker", None),
        )
    ):
        couple, a, b = couple_with_partners(clinician, label=label, eft_step=step)
        if step:
            services.checkin_submit(
                partner=b,
                instrument=instrument,
                answers={"cycle_showed_up": True, "connection": 6},
                submitted_at=timezone.now() - datetime.timedelta(days=n + 1),
            )
            TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=n + 2))
        if label == "Zhou & Ziegler":
            a.display_name = "Mei"
            a.save(update_fields=["display_name"])
            # A positive safety answer in a real check-in raises the flag.
            services.checkin_submit(
                partner=a,
                instrument=instrument,
                answers={"cycle_showed_up": True, "connection": 2, "felt_unsafe": True},
            )
    # Someone else's couple, in another practice, flagged: never on this caseload.
    _, stranger, _ = couple_with_partners(label="Elsewhere & Co")
    services.safety_flag_raise(partner=stranger, source=SafetyFlag.Source.CLINICIAN)
    return clinician


def test_clinician_signs_in_and_sees_the_flagged_couple_first(page, live_server, artifacts_dir, clinician):
    page.goto("/clinic/")
    # The caseload is the landing page: sign-in without ?next, and lands each role home (DECISIONS 69).
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("heading", name="Sign in to the clinic")).to_be_visible()

    # A wrong password: one message that does not say whether the account exists.
    page.get_by_label("Email or username").fill(clinician.user.username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/clinic/$"))
    expect(page.get_by_role("heading", name="Your caseload")).to_be_visible()

    rows = page.locator("table.caseload tbody tr")
    expect(rows).to_have_count(5)
    first = rows.first
    expect(first.get_by_role("rowheader")).to_contain_text("Zhou & Ziegler")
    expect(first.locator(".flag-badge")).to_have_text(re.compile(r"Safety flag — review\s+1"))
    expect(first).to_contain_text("From Mei")
    expect(first).to_contain_text("Stage 3 · Step 8")
    expect(page.locator(".flag-badge")).to_have_count(1)
    expect(page.locator("table.caseload")).not_to_contain_text("Elsewhere")
    expect(rows.nth(1).get_by_role("rowheader")).to_contain_text("Abbott & Ames")
    expect(page.get_by_role("columnheader", name="Next session")).to_be_visible()

    # The stylesheet loaded under the CSP (no inline styles) and the badge is high contrast.
    badge_bg = first.locator(".flag-badge").evaluate("el => getComputedStyle(el).backgroundColor")
    assert badge_bg == "rgb(179, 38, 30)"

    page.screenshot(path=str(artifacts_dir / "caseload-1280.png"), full_page=True)

    # Keyboard: the skip link comes first and its focus ring shows.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.goto("/clinic/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


# LAYOUT
# ------------------------------------------------------------------------------
# Everything that spills: a cell whose content is wider than the cell, a cell or any of its
# contents past the table's box or the viewport, a table wider than its frame (the frame would
# scroll and clip it), and a page wider than the viewport.
OVERFLOW = """() => {
  const problems = [];
  const viewport = document.documentElement.clientWidth;
  const table = document.querySelector("table.caseload");
  const frame = table.parentElement;
  const box = table.getBoundingClientRect();
  const text = (el) => el.textContent.trim().replace(/\\s+/g, " ").slice(0, 60);
  // The headings of the cards are kept for screen readers only, clipped to a pixel on purpose.
  const head = table.querySelector("thead");
  const headHidden = head.getBoundingClientRect().height <= 1;
  if (document.documentElement.scrollWidth > viewport) {
    problems.push(`page is ${document.documentElement.scrollWidth}px wide in a ${viewport}px viewport`);
  }
  if (box.right > viewport + 0.5) problems.push(`table ends at ${box.right}px, viewport ${viewport}px`);
  if (frame.scrollWidth > frame.clientWidth) {
    problems.push(`table frame scrolls: ${frame.scrollWidth}px in ${frame.clientWidth}px`);
  }
  for (const cell of table.querySelectorAll("th, td")) {
    if ((headHidden && head.contains(cell)) || !cell.getClientRects().length) continue;
    const edge = cell.getBoundingClientRect();
    if (cell.scrollWidth > cell.clientWidth) {
      problems.push(`cell "${text(cell)}": ${cell.scrollWidth}px of content in ${cell.clientWidth}px`);
    }
    if (edge.right > Math.min(viewport, box.right) + 0.5) {
      problems.push(`cell "${text(cell)}" ends at ${edge.right}px`);
    }
    for (const part of cell.querySelectorAll("*")) {
      if (part.closest(".visually-hidden")) continue;
      for (const line of part.getClientRects()) {
        if (line.right > edge.right + 0.5 || line.left < edge.left - 0.5) {
          problems.push(`"${text(part)}" spills out of its cell (${line.left}–${line.right}px)`);
        }
      }
    }
  }
  return problems;
}"""

# At a phone's width: per body row, the cells in a column one under the other, each as wide as
# the card, and every data cell showing its column's name.
CARDS = """() => {
  const problems = [];
  for (const row of document.querySelectorAll("table.caseload tbody tr")) {
    const card = row.getBoundingClientRect();
    let bottom = -Infinity;
    const couple = row.querySelector("th").textContent.trim().slice(0, 30);
    for (const cell of row.children) {
      const edge = cell.getBoundingClientRect();
      if (edge.top < bottom - 0.5) {
        problems.push(`${couple}: "${cell.textContent.trim()}" beside another field`);
      }
      if (edge.width < card.width * 0.8) {
        problems.push(`${couple}: a field ${edge.width}px wide in a ${card.width}px card`);
      }
      bottom = edge.bottom;
      if (cell.tagName === "TD") {
        const label = getComputedStyle(cell, "::before").content;
        if (!cell.dataset.label || label !== JSON.stringify(cell.dataset.label)) {
          problems.push(`${couple}: a field without its label (${label})`);
        }
      }
    }
  }
  const head = document.querySelector("table.caseload thead").getBoundingClientRect();
  if (head.height > 1) problems.push(`the column headings still take ${head.height}px`);
  return problems;
}"""


@pytest.fixture
def supervisor():
    """The demo clinic, plus a couple of the pre-licensed clinician's with long names (that a
    table cell must wrap, not clip)."""
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    prelicensed = Clinician.objects.get(user__username="prelicensed@northstar.example")
    _, a, b = couple_with_partners(
        prelicensed, label="Featherstonehaugh-Oyelaran & Vasquez-Montgomery", eft_step=None
    )
    for partner, name in (
        (a, "Maximiliana Featherstonehaugh-Oyelaran"),
        (b, "Bartholomew Vasquez-Montgomery"),
    ):
        partner.display_name = name
        partner.save(update_fields=["display_name"])
    return get_user_model().objects.get(username="supervisor@northstar.example")


def test_caseload_fits_at_1280_and_stacks_into_cards_at_360(page, login_as, artifacts_dir, supervisor):
    login_as(supervisor)
    page.goto("/clinic/")
    rows = page.locator("table.caseload tbody tr")
    expect(rows).to_have_count(7)
    expect(page.get_by_role("columnheader", name="Clinician")).to_be_visible()

    # Screenshots first, so a failure below leaves a picture of it.
    page.screenshot(path=str(artifacts_dir / "caseload-supervisor-1280.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == []

    page.set_viewport_size({"width": 360, "height": 780})
    page.reload()
    expect(rows).to_have_count(7)
    page.screenshot(path=str(artifacts_dir / "caseload-supervisor-360.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.evaluate(OVERFLOW) == []
    assert page.evaluate(CARDS) == []
    # The table is still a table to a screen reader: headings name the columns.
    expect(page.get_by_role("columnheader", name="Next session")).to_have_count(1)
    expect(rows.first.get_by_role("rowheader")).to_contain_text("Okafor & Lindqvist")
