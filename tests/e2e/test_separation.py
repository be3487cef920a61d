"""The separation workflow in a real browser at 1280×800: read what will happen, choose who
continues, review, confirm, and land on the new individual case. No CSP violation.

Screenshots: test-artifacts/separation-1280.png, test-artifacts/separation-confirm-1280.png.
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from couples.models import Couple, Partner
from tests.factories import ClinicianFactory, couple_with_partners, held_session

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_choose_review_confirm_and_land_on_the_individual_case(page, live_server, login_as, artifacts_dir):
    clinician = ClinicianFactory(display_name="Dr Ana Okafor")
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", names=("Alex", "Sam"))
    held_session(couple)
    csp_errors: list[str] = []
    page.on(
        "console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None
    )

    login_as(clinician.user)
    page.goto(reverse("cyclecare:clinician:separation", args=[couple.pk]))
    expect(page.get_by_role("heading", name="Separation: Rivera & Chen")).to_be_visible()
    expect(page.get_by_role("heading", name="What will happen")).to_be_visible()
    # The form sits beside the explanation at 1280px.
    explain = page.locator(".sep-explain").bounding_box()
    form = page.locator(".sep-form").bounding_box()
    assert form["x"] > explain["x"] + explain["width"] - 1
    page.screenshot(path=str(artifacts_dir / "separation-1280.png"), full_page=True)

    # Review without a reason: the form says so and nothing changes.
    page.get_by_label("Only Alex continues, individually").check()
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("alert")).to_contain_text("Please check the answers marked below.")
    expect(page.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Reason").select_option("relationship_ended")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Confirm the separation of Rivera & Chen")).to_be_visible()
    expect(page.get_by_text("Sam leaves treatment on that date")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "separation-confirm-1280.png"), full_page=True)
    assert Couple.objects.get(pk=couple.pk).status == Couple.Status.ACTIVE

    # Keyboard: the confirm button is reachable and visibly focused.
    confirm = page.get_by_role("button", name="Confirm the separation")
    confirm.focus()
    outline = confirm.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"
    confirm.click()
    continuation = Couple.objects.get(continued_from=couple)
    page.wait_for_url(f"**{reverse('cyclecare:clinician:couple', args=[continuation.pk])}")
    assert Couple.objects.get(pk=couple.pk).status == Couple.Status.SEPARATED
    assert Partner.objects.get(pk=a.pk).couple_id == continuation.pk
    assert not Partner.objects.get(pk=b.pk).is_active
    assert csp_errors == []
