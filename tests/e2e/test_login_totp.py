"""Two-factor sign-in in a real browser at 1280×800, with two-factor required: a clinician signs in
with a password and a code from their authenticator, and a clinician without one enrols first
(scanning is replaced by reading the setup key off the page, as a person may type it).

Screenshots: test-artifacts/login-totp-1280.png (the code step), enrol-totp-1280.png and
recovery-codes-1280.png.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import ClinicianFactory, couple_with_partners
from tests.totp import enrol, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"


@pytest.fixture
def require_2fa(settings):
    settings.CYCLECARE = {**settings.CYCLECARE, "REQUIRE_2FA": True}


@pytest.fixture
def csp_violations(page):
    """Console errors the browser logs when the CSP blocks something (inline style or script)."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if message.type == "error" else None)
    return seen


def sign_in_with_password(page, username: str) -> None:
    page.goto("/clinic/")
    # The caseload is the landing page: sign-in without ?next, and lands each role home (DECISIONS 69).
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_clinician_signs_in_with_password_and_totp(page, artifacts_dir, require_2fa, csp_violations):
    clinician = ClinicianFactory(display_name="Dr Ana Okafor, LMFT")
    couple_with_partners(clinician, label="Rivera & Chen")
    secret, _ = enrol(clinician.user)

    sign_in_with_password(page, clinician.user.username)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    expect(page.get_by_role("heading", name="Enter your authenticator code")).to_be_visible()
    expect(page.locator(".demo-banner")).to_have_count(0)

    code = page.get_by_label("Authenticator code")
    assert code.get_attribute("autocomplete") == "one-time-code"
    assert code.get_attribute("inputmode") == "numeric"
    code.fill(totp_code(secret))
    page.screenshot(path=str(artifacts_dir / "login-totp-1280.png"), full_page=True)

    # A wrong code first: refused, said so, and still not signed in.
    code.fill("000000" if totp_code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Incorrect code.")
    # The caseload is out of reach until the code is right: back to the pending code step.
    page.goto("/clinic/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    expect(page.locator("table.caseload")).to_have_count(0)

    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Verify and sign in").click()

    expect(page).to_have_url(re.compile(r"/clinic/$"))
    expect(page.get_by_role("heading", name="Your caseload", exact=True)).to_be_visible()
    expect(page.locator("table.caseload")).to_contain_text("Rivera & Chen")
    expect(page.get_by_text("Dr Ana Okafor, LMFT")).to_be_visible()
    assert not [text for text in csp_violations if "Content Security Policy" in text]


def test_clinician_without_two_factor_enrols_before_anything_else(
    page, artifacts_dir, require_2fa, csp_violations
):
    clinician = ClinicianFactory(display_name="Dr Sam Reyes")
    sign_in_with_password(page, clinician.user.username)

    # Sent to enrol, whatever page was asked for.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    page.goto("/clinic/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert qr.evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(artifacts_dir / "enrol-totp-1280.png"), full_page=True)

    secret = page.get_by_label("Setup key").input_value()
    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    page.screenshot(path=str(artifacts_dir / "recovery-codes-1280.png"), full_page=True)
    page.get_by_role("link", name="I have saved them — go to my caseload").click()
    expect(page.get_by_role("heading", name="Your caseload", exact=True)).to_be_visible()
    assert not [text for text in csp_violations if "Content Security Policy" in text]
