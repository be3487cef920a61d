"""A practice admin runs their practice in a real browser, with two-factor required.

1280 px: the admin signs in (password and code) and lands on the practice at a glance; invites
a clinician; the invitation lands in var/mail/ (the file backend `make run` uses); the invitee
follows its link, sets a password, signs in, enrols two-factor before anything else and sees
only their own (empty) caseload; the link is spent. Then the admin deactivates them and their
very next request is signed out.
360 px: the overview and the clinicians table fit a phone, and the deactivation refusal for a
clinician with couples in care says to transfer them first.

Screenshots: test-artifacts/practice-*.png.
"""

import re
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from playwright.sync_api import expect

from clinician.models import Clinician
from tests.factories import ClinicianFactory, PracticeFactory, couple_with_partners
from tests.totp import enrol, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"
NEW_PASSWORD = "Harbour-tide-42-long"


@pytest.fixture
def clinic(settings, tmp_path, live_server):
    settings.CYCLECARE = {**settings.CYCLECARE, "REQUIRE_2FA": True, "SITE_URL": live_server.url}
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "var" / "mail")
    practice = PracticeFactory(name="Harbour Couples Clinic")
    admin = ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name="Dana Admin")
    secret, _ = enrol(admin.user)
    colleague = ClinicianFactory(practice=practice, display_name="Robin Okafor")
    couple_with_partners(colleague, label="Rivera & Chen")
    return {
        "practice": practice,
        "admin": admin,
        "secret": secret,
        "colleague": colleague,
        "mail": tmp_path / "var" / "mail",
    }


def sign_in(page, login: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email or username").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_admin(page, clinic) -> None:
    sign_in(page, clinic["admin"].user.username, PASSWORD)
    page.get_by_label("Authenticator code").fill(totp_code(clinic["secret"]))
    page.get_by_role("button", name="Verify and sign in").click()


def invitation_link(mail_dir, to: str) -> str:
    for path in sorted(mail_dir.iterdir()):
        # The file backend writes each message's bytes, separated by a line of dashes.
        for chunk in path.read_bytes().split(b"-" * 79):
            if not chunk.strip():
                continue
            message = message_from_bytes(chunk.strip(), policy=default_policy)
            if message["To"] == to and "invited" in message["Subject"]:
                body = message.get_body(preferencelist=("plain",)).get_content()
                return re.search(r"https?://\S+/accounts/password/reset/key/\S+/", body).group(0)
    raise AssertionError(f"no invitation to {to} in {mail_dir}")


def test_admin_invites_a_clinician_who_enrols_and_is_later_deactivated(
    page, browser, live_server, clinic, artifacts_dir
):
    sign_in_admin(page, clinic)
    expect(page).to_have_url(re.compile(r"/clinic/practice/$"))
    expect(page.get_by_role("heading", name="Harbour Couples Clinic")).to_be_visible()
    expect(page.locator('[data-figure="active_couples"]')).to_have_text("1")
    expect(page.locator('[data-figure="clinicians"]')).to_have_text("2")
    expect(page.locator(".site-nav")).to_contain_text("Practice")
    expect(page.locator("main")).not_to_contain_text("Rivera")  # counts only
    page.screenshot(path=str(artifacts_dir / "practice-overview-1280.png"), full_page=True)

    page.get_by_role("link", name="Invite a clinician").click()
    page.get_by_label("Email").fill("sam.new@example.test")
    page.get_by_label("Name as colleagues see it").fill("Sam New")
    page.get_by_label("Role").select_option("clinician")
    page.screenshot(path=str(artifacts_dir / "practice-invite-1280.png"), full_page=True)
    page.get_by_role("button", name="Send the invitation").click()
    expect(page).to_have_url(re.compile(r"/clinic/practice/$"))
    expect(page.locator(".flash")).to_contain_text("Invitation sent to sam.new@example.test")
    expect(page.locator("tr", has_text="Sam New")).to_contain_text("Invited")

    link = invitation_link(clinic["mail"], "sam.new@example.test")
    invitee_context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    invitee = invitee_context.new_page()
    invitee.set_default_timeout(10_000)
    invitee.goto(link)
    invitee.locator('input[name="password1"]').fill(NEW_PASSWORD)
    invitee.locator('input[name="password2"]').fill(NEW_PASSWORD)
    invitee.screenshot(path=str(artifacts_dir / "practice-set-password-1280.png"), full_page=True)
    expect(invitee.get_by_role("heading", name="Choose your password")).to_be_visible()
    invitee.get_by_role("button", name="Set my password").click()
    expect(invitee.locator("body")).to_contain_text(re.compile("password", re.I))

    # The link is spent.
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name="This link no longer works")).to_be_visible()

    # First sign-in: two-factor before anything else, then only their own (empty) caseload.
    sign_in(invitee, "sam.new@example.test", NEW_PASSWORD)
    expect(invitee).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    invitee.goto("/clinic/")
    expect(invitee).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    secret = invitee.get_by_label("Setup key").input_value()
    invitee.get_by_label("Authenticator code").fill(totp_code(secret))
    invitee.get_by_role("button", name="Turn on two-factor sign-in").click()
    invitee.get_by_role("link", name="I have saved them — go to my caseload").click()
    expect(invitee.get_by_role("heading", name="Your caseload", exact=True)).to_be_visible()
    expect(invitee.get_by_text("No couples on your caseload")).to_be_visible()
    expect(invitee.locator("main")).not_to_contain_text("Rivera")
    expect(invitee.locator(".site-nav")).not_to_contain_text("Practice")
    assert invitee.goto("/clinic/practice/").status == 404
    invitee.goto("/clinic/")
    invitee.screenshot(path=str(artifacts_dir / "practice-invitee-caseload-1280.png"), full_page=True)

    # The admin deactivates them; the invitee's next request is signed out.
    page.goto("/clinic/practice/")
    page.locator("tr", has_text="Sam New").get_by_role("link", name=re.compile("Edit")).click()
    page.get_by_role("link", name=re.compile("Deactivate")).click()
    page.get_by_label(re.compile("I understand")).check()
    page.screenshot(path=str(artifacts_dir / "practice-deactivate-1280.png"), full_page=True)
    page.get_by_role("button", name="Deactivate").click()
    expect(page.locator(".flash")).to_contain_text("Sam New is deactivated")
    expect(page.locator("tr", has_text="Sam New")).to_contain_text("Deactivated")

    invitee.reload()
    expect(invitee).to_have_url(re.compile(r"/accounts/login/"))
    expect(invitee.locator("body")).to_contain_text("Your access to this practice has ended")
    invitee.screenshot(path=str(artifacts_dir / "practice-signed-out-1280.png"), full_page=True)
    sign_in(invitee, "sam.new@example.test", NEW_PASSWORD)
    expect(invitee.get_by_role("alert")).to_contain_text("do not match an active account")
    invitee_context.close()


FITS = """() => document.documentElement.scrollWidth <= window.innerWidth"""
# On failure: the elements that stick out, so the message says what is wider than the phone.
WIDEST = """() => [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .slice(0, 5)
    .map((e) => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


def test_the_practice_pages_fit_a_phone_and_refuse_to_deactivate_a_treating_clinician(
    page, clinic, artifacts_dir
):
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in_admin(page, clinic)
    expect(page).to_have_url(re.compile(r"/clinic/practice/$"))
    # The URL changes when the redirect commits; the layout is only final once the page's
    # stylesheets have loaded (before, the roster is an unstyled, wide table).
    page.wait_for_load_state("load")
    expect(page.locator('[data-figure="open_safety_flags"]')).to_have_text("0")
    page.screenshot(path=str(artifacts_dir / "practice-overview-360.png"), full_page=True)
    assert page.evaluate(FITS), page.evaluate(WIDEST)

    page.locator("tr", has_text="Robin Okafor").get_by_role("link", name=re.compile("Edit")).click()
    page.get_by_role("link", name=re.compile("Deactivate")).click()
    expect(page.locator(".refusal")).to_contain_text("still treats 1 couple")
    page.get_by_label(re.compile("I understand")).check()
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("alert")).to_contain_text("transfer them to another clinician first")
    page.wait_for_load_state("load")
    assert page.evaluate(FITS), page.evaluate(WIDEST)
    page.screenshot(path=str(artifacts_dir / "practice-deactivate-refused-360.png"), full_page=True)
    assert Clinician.objects.get(pk=clinic["colleague"].pk).is_active
