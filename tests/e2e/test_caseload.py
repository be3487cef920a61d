"""The clinician's caseload in a real browser at 1280×800: sign in through the form, the flagged
couple first with its badge, the keyboard focus visible, sign out.

Screenshot: test-artifacts/caseload-1280.png.
"""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cyclecare import services
from cyclecare.models import SafetyFlag
from tests.factories import ClinicianFactory, TherapySessionFactory, couple_with_partners

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def clinician():
    clinician = ClinicianFactory(display_name="Dr Ana Okafor, LMFT")
    instrument = next(i for i in services.instruments_install_shipped() if i.code == "cycle-checkin")
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
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/clinic/$"))
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
