"""A couple's settings in a real browser, at 1280×800 and on a phone (360×780): the clinician
opens Settings from the couple page, changes a partner's time zone, pauses and resumes (each
confirmed), and transfers the couple to a colleague; the colleague then finds it on their
caseload while the first clinician gets a 404. Labels on every field, visible focus, nothing
wider than the phone's screen, no CSP violation.

Screenshots: test-artifacts/couple-settings-<width>.png, couple-settings-confirm-<width>.png,
couple-settings-colleague-<width>.png.
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from clinician.models import AuditEvent
from couples.models import Couple, Partner
from tests.factories import ClinicianFactory, couple_with_partners

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = {1280: {"width": 1280, "height": 800}, 360: {"width": 360, "height": 780}}


@pytest.mark.parametrize("width", [1280, 360])
def test_edit_time_zone_pause_resume_and_transfer_to_a_colleague(page, login_as, artifacts_dir, width):
    page.set_viewport_size(SIZES[width])
    clinician = ClinicianFactory(display_name="Dr Ana Okafor")
    colleague = ClinicianFactory(practice=clinician.practice, display_name="Dr Ben Ito")
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen")
    Partner.objects.filter(pk=a.pk).update(display_name="Alex")
    Partner.objects.filter(pk=b.pk).update(display_name="Sam")
    csp_errors: list[str] = []
    page.on(
        "console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None
    )

    login_as(clinician.user)
    page.goto(reverse("cyclecare:clinician:couple", args=[couple.pk]))
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings: Rivera & Chen")).to_be_visible()
    # Every visible field has a label.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('main input:not([type=hidden]), main select')]
             .filter(el => !(el.labels && el.labels.length)).map(el => el.name)"""
    )
    assert unlabelled == []
    page.screenshot(path=str(artifacts_dir / f"couple-settings-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[width]["width"]

    # Alex's time zone: a bad one is refused on the field, then a good one is saved.
    alex = page.get_by_role("region", name="Alex", exact=True)
    zone = alex.get_by_label("Time zone")
    zone.fill("Mars/Olympus")
    alex.get_by_role("button", name="Save Alex's details").click()
    expect(page.get_by_role("alert").first).to_contain_text("Nothing was saved")
    alex = page.get_by_role("region", name="Alex", exact=True)
    expect(alex.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    assert Partner.objects.get(pk=a.pk).time_zone == "America/Chicago"
    alex.get_by_label("Time zone").fill("Europe/Madrid")
    save = alex.get_by_role("button", name="Save Alex's details")
    save.focus()
    assert save.evaluate("el => getComputedStyle(el).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Saved Alex's details.")
    assert Partner.objects.get(pk=a.pk).time_zone == "Europe/Madrid"

    # Pause, confirmed; then resume, confirmed.
    page.get_by_label("Change the status to").select_option("paused")
    page.locator("section", has=page.get_by_role("heading", name="Status")).get_by_role(
        "button", name="Continue"
    ).click()
    expect(page.get_by_role("heading", name="Please confirm")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"couple-settings-confirm-{width}.png"), full_page=True)
    assert Couple.objects.get(pk=couple.pk).status == "active"
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("Paused. No reminders go out until you resume.")
    assert Couple.objects.get(pk=couple.pk).status == "paused"
    page.get_by_label("Change the status to").select_option("active")
    page.locator("section", has=page.get_by_role("heading", name="Status")).get_by_role(
        "button", name="Continue"
    ).click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text("Resumed.")
    assert Couple.objects.get(pk=couple.pk).status == "active"

    # Transfer to Dr Ben Ito, confirmed: the first clinician lands on their caseload.
    page.get_by_label("Transfer to", exact=True).select_option(label="Dr Ben Ito")
    page.locator("section", has=page.get_by_role("heading", name="Transfer to a colleague")).get_by_role(
        "button", name="Continue"
    ).click()
    expect(page.get_by_text("Transfer Rivera & Chen to Dr Ben Ito?")).to_be_visible()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your caseload", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Rivera & Chen now has Dr Ben Ito as their clinician.")
    assert Couple.objects.get(pk=couple.pk).primary_clinician == colleague
    assert AuditEvent.objects.filter(action="couple.transfer", target_id=str(couple.pk)).count() == 1
    answer = page.goto(reverse("cyclecare:clinician:couple", args=[couple.pk]))
    assert answer.status == 404

    # The colleague sees it on their caseload and opens it.
    page.context.clear_cookies()
    login_as(colleague.user)
    page.goto(reverse("cyclecare:clinician:caseload"))
    page.get_by_role("link", name="Rivera & Chen").click()
    expect(page.get_by_role("heading", name="Rivera & Chen")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / f"couple-settings-colleague-{width}.png"), full_page=True)
    assert csp_errors == []
