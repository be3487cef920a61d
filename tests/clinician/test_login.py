"""Clinician sign-in (django-allauth), two-factor (TOTP, recovery codes), the admin's login, the
lockout after repeated failures (django-axes), idle sessions, and the banner while two-factor is
off."""

import datetime
import os
import re
import subprocess
import sys

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.test import override_settings
from django.urls import reverse

from cyclecare import plugin
from tests.factories import ClinicianFactory, UserFactory
from tests.totp import enrol, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"
LOGIN = reverse("account_login")
CASELOAD = reverse("cyclecare:clinician:caseload")
# A clinician page that is not the landing page: a signed-out visit comes back to it after sign-in.
INTAKE = reverse("cyclecare:clinician:couple_new")
MFA_STEP = reverse("mfa_authenticate")
ENROL = reverse("mfa_activate_totp")
RECOVERY_CODES = reverse("mfa_view_recovery_codes")
FAILED = "That email or username and password do not match an active account."
BANNER = "Two-factor sign-in is switched off — local demo only."
LOCKED = "Too many failed sign-in attempts"


@pytest.fixture
def require_2fa(settings):
    settings.CYCLECARE = {**settings.CYCLECARE, "REQUIRE_2FA": True}


def sign_in(client, login: str, password: str = PASSWORD, **extra):
    return client.post(LOGIN, {"login": login, "password": password, **extra})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# SIGN-IN WITH A PASSWORD
# ------------------------------------------------------------------------------
def test_the_old_login_name_forwards_to_allauth_keeping_next(client):
    response = client.get(reverse("cyclecare:clinician:login") + "?next=/clinic/")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/clinic/"


def test_anonymous_is_sent_to_sign_in_with_next(client):
    response = client.get(INTAKE)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={INTAKE}"


def test_the_landing_page_sends_to_sign_in_without_next_so_each_role_lands_home(client):
    """The caseload is where sign-in lands by default; a ``?next`` back to it would override the
    role's own landing (a practice admin's practice at a glance)."""
    response = client.get(CASELOAD)
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    admin = ClinicianFactory(role="practice_admin")
    signed = client.post(LOGIN, {"login": admin.user.username, "password": "pw-for-tests-only"})
    assert signed["Location"] == reverse("cyclecare:clinician:practice")


def test_sign_in_page_is_the_clinics_and_offers_no_sign_up(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Sign in to the clinic" in body
    assert 'autocomplete="current-password"' in body
    assert "clinician/clinic.css" in body and "clinician/auth.css" in body
    assert reverse("account_signup") not in body
    # CSP: no inline script or style on the page.
    assert "<script>" not in body and "style=" not in body


@pytest.mark.parametrize("login_with", ["username", "email"])
def test_sign_in_by_username_or_email_lands_on_the_caseload(client, clinician, login_with):
    user = clinician.user
    user.username = "okafor"
    user.email = "ana.okafor@example.test"
    user.save(update_fields=["username", "email"])
    login = "okafor" if login_with == "username" else "Ana.Okafor@example.test"
    response = sign_in(client, login)
    assert response.status_code == 302
    assert response["Location"] == CASELOAD
    assert client.get(CASELOAD).status_code == 200


def test_sign_in_returns_to_next(client, clinician):
    response = sign_in(client, clinician.user.username, next="/clinic/?x=1")
    assert response["Location"] == "/clinic/?x=1"


def test_failures_do_not_say_whether_the_account_exists(client, clinician):
    wrong_password = sign_in(client, clinician.user.username, "nope")
    no_such_user = sign_in(client, "nobody@example.test", "nope")
    clinician.user.is_active = False
    clinician.user.save(update_fields=["is_active"])
    inactive = sign_in(client, clinician.user.username)
    bodies = []
    for response in (wrong_password, no_such_user, inactive):
        assert response.status_code == 200
        body = response.content.decode()
        assert FAILED in body
        assert not signed_in(client)
        # The same page apart from what was typed and the CSRF token.
        bodies.append(re.sub(r'value="[^"]*"', "", body))
    assert bodies[0] == bodies[1] == bodies[2]


def test_sign_up_is_closed(client):
    users = get_user_model().objects.count()
    page = client.get(reverse("account_signup"))
    assert page.status_code == 200
    assert "Sign Up Closed" in page.content.decode()
    client.post(
        reverse("account_signup"),
        {
            "email": "new@example.test",
            "username": "new",
            "password1": "x-Long-pass-1",
            "password2": "x-Long-pass-1",
        },
    )
    assert get_user_model().objects.count() == users
    assert not signed_in(client)


def test_a_password_change_is_emailed_to_the_clinician(client, clinician, mailoutbox):
    client.force_login(clinician.user)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "a-New-pass-2026", "password2": "a-New-pass-2026"},
    )
    assert response.status_code == 302
    assert [mail.to for mail in mailoutbox] == [[clinician.user.email]]
    assert "Password Changed" in mailoutbox[0].subject


def test_sign_out_is_post_only_and_returns_to_sign_in(client, clinician):
    logout = reverse("cyclecare:clinician:logout")
    client.force_login(clinician.user)
    assert client.get(logout).status_code == 405
    response = client.post(logout)
    assert response["Location"] == LOGIN
    assert not signed_in(client)


# TWO-FACTOR REQUIRED: ENROLMENT
# ------------------------------------------------------------------------------
def test_a_clinician_without_two_factor_is_sent_to_enrol_before_anything_else(client, clinician, require_2fa):
    response = sign_in(client, clinician.user.username)
    assert response["Location"] == CASELOAD
    for path in (CASELOAD, reverse("mfa_index"), "/admin/", reverse("account_change_password")):
        assert client.get(path)["Location"] == ENROL, path
    # Enrolment and signing out stay reachable.
    assert client.get(ENROL).status_code == 200
    assert client.post(reverse("cyclecare:clinician:logout")).status_code == 302


def test_enrolment_with_a_code_from_the_secret_gives_recovery_codes_and_the_caseload(
    client, clinician, require_2fa
):
    sign_in(client, clinician.user.username)
    page = client.get(ENROL)
    body = page.content.decode()
    assert "Set up two-factor sign-in" in body
    # The QR code is drawn here as an SVG data URI: nothing is fetched from elsewhere.
    assert 'src="data:image/svg+xml;base64,' in body
    secret = page.context["form"].secret
    assert secret in body

    wrong = client.post(ENROL, {"code": "000000" if totp_code(secret) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "Incorrect code." in wrong.content.decode()
    assert not Authenticator.objects.filter(user=clinician.user).exists()

    response = client.post(ENROL, {"code": totp_code(secret)})
    assert response["Location"] == RECOVERY_CODES
    assert Authenticator.objects.filter(user=clinician.user, type=Authenticator.Type.TOTP).exists()
    codes_page = client.get(RECOVERY_CODES)
    codes = codes_page.context["unused_codes"]
    assert len(codes) == 10
    assert all(code in codes_page.content.decode() for code in codes)
    assert client.get(CASELOAD).status_code == 200


def test_a_user_signed_in_without_the_form_is_asked_for_the_password_before_enrolling(
    client, clinician, require_2fa
):
    client.force_login(clinician.user)
    response = client.get(ENROL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    page = client.get(response["Location"])
    assert page.status_code == 200


def test_staff_without_a_clinician_record_must_enrol_too(client, require_2fa):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    assert client.get("/admin/")["Location"] == ENROL


def test_a_user_who_is_neither_clinician_nor_staff_is_not_asked_to_enrol(client, require_2fa):
    client.force_login(UserFactory())
    assert client.get(CASELOAD).status_code == 403


def test_the_authenticator_cannot_be_switched_off_while_required(client, clinician, require_2fa):
    enrol(clinician.user)
    client.force_login(clinician.user)
    client.get(reverse("mfa_deactivate_totp"))
    client.post(reverse("mfa_deactivate_totp"))
    assert Authenticator.objects.filter(user=clinician.user, type=Authenticator.Type.TOTP).exists()


# SIGNING IN WITH TWO-FACTOR
# ------------------------------------------------------------------------------
def test_sign_in_with_a_totp_code(client, clinician, require_2fa):
    secret, _ = enrol(clinician.user)
    response = sign_in(client, clinician.user.username, next=CASELOAD)
    assert response["Location"] == MFA_STEP
    # The password alone signs no one in.
    assert not signed_in(client)
    assert client.get(CASELOAD)["Location"].startswith(LOGIN)

    step = client.get(MFA_STEP)
    assert "Enter your authenticator code" in step.content.decode()
    wrong = client.post(MFA_STEP, {"code": "not-a-code"})
    assert "Incorrect code." in wrong.content.decode()
    assert not signed_in(client)

    response = client.post(MFA_STEP, {"code": totp_code(secret)})
    assert response["Location"] == CASELOAD
    assert signed_in(client)
    page = client.get(CASELOAD)
    assert page.status_code == 200
    assert BANNER not in page.content.decode()


def test_a_recovery_code_signs_in_once(client, clinician, require_2fa):
    _, codes = enrol(clinician.user)
    sign_in(client, clinician.user.username)
    assert client.post(MFA_STEP, {"code": codes[0]})["Location"] == CASELOAD
    assert signed_in(client)

    client.post(reverse("cyclecare:clinician:logout"))
    sign_in(client, clinician.user.username)
    again = client.post(MFA_STEP, {"code": codes[0]})
    assert again.status_code == 200
    assert "Incorrect code." in again.content.decode()
    assert not signed_in(client)
    assert client.post(MFA_STEP, {"code": codes[1]})["Location"] == CASELOAD


def test_the_admin_login_goes_through_allauth_and_its_code_step(client, require_2fa):
    operator = UserFactory(username="operator@example.test", is_staff=True, is_superuser=True)
    secret, _ = enrol(operator)
    response = client.get("/admin/login/?next=/admin/")
    assert response["Location"] == f"{LOGIN}?next=%2Fadmin%2F"
    # Posting to the admin's own form signs no one in.
    client.post("/admin/login/", {"username": operator.username, "password": PASSWORD, "next": "/admin/"})
    assert not signed_in(client)

    assert sign_in(client, operator.username, next="/admin/")["Location"] == MFA_STEP
    assert not signed_in(client)
    assert client.post(MFA_STEP, {"code": totp_code(secret)})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_signed_in_non_staff_user_cannot_open_the_admin_login(client, clinician):
    client.force_login(clinician.user)
    assert client.get("/admin/login/").status_code == 403


# THE API IS NOT ASKED FOR TWO-FACTOR
# ------------------------------------------------------------------------------
def test_token_calls_are_unaffected_and_session_calls_need_two_factor(client, clinician, require_2fa):
    from tests.factories import integration_client

    integration = integration_client(clinician.practice)
    assert integration.api.get("/api/v1/couples/").status_code == 200

    client.force_login(clinician.user)
    refused = client.get("/api/v1/couples/", HTTP_ACCEPT="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:cyclecare:problem:two_factor_required"
    enrol(clinician.user)
    assert client.get("/api/v1/couples/", HTTP_ACCEPT="application/json").status_code == 200


# LOCKOUT (DJANGO-AXES)
# ------------------------------------------------------------------------------
def test_five_failures_lock_out_that_username_from_that_address(client, clinician):
    for _ in range(4):
        assert sign_in(client, clinician.user.username, "wrong").status_code == 200
    fifth = sign_in(client, clinician.user.username, "wrong")
    assert fifth.status_code == 429
    assert LOCKED in fifth.content.decode()
    # Locked: even the right password is refused, and nothing is signed in.
    right = sign_in(client, clinician.user.username)
    assert right.status_code == 429
    assert not signed_in(client)
    # Another account from the same address, and this one from another address, are not.
    other = ClinicianFactory()
    assert sign_in(client, other.user.username)["Location"] == CASELOAD
    client.post(reverse("cyclecare:clinician:logout"))
    response = client.post(
        LOGIN, {"login": clinician.user.username, "password": PASSWORD}, REMOTE_ADDR="203.0.113.9"
    )
    assert response["Location"] == CASELOAD


def test_the_lockout_page_is_the_same_for_an_account_that_does_not_exist(client, clinician):
    pages = {}
    for login in (clinician.user.username, "nobody@example.test"):
        for _ in range(5):
            response = sign_in(client, login, "wrong")
        assert response.status_code == 429
        pages[login] = response.content.decode()
    existing, missing = pages.values()
    assert existing == missing
    assert clinician.user.username not in existing
    assert "Wait 15 minutes" in existing


def test_the_lockout_ends_after_the_cool_off(client, clinician):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            sign_in(client, clinician.user.username, "wrong")
        assert sign_in(client, clinician.user.username).status_code == 429
    with time_machine.travel(start + datetime.timedelta(minutes=16), tick=False):
        assert sign_in(client, clinician.user.username)["Location"] == CASELOAD


# IDLE SESSIONS
# ------------------------------------------------------------------------------
def test_an_idle_session_is_signed_out_and_told_why(client, clinician):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        client.force_login(clinician.user)
        assert client.get(CASELOAD).status_code == 200
    with time_machine.travel(start + datetime.timedelta(minutes=31), tick=False):
        response = client.get(INTAKE)
        assert response["Location"] == f"{LOGIN}?next={INTAKE}"
        assert not signed_in(client)
        page = client.get(response["Location"])
        assert "You were signed out after 30 minutes without activity." in page.content.decode()


def test_activity_keeps_a_session_alive(client, clinician):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    client.force_login(clinician.user)
    for minutes in (0, 20, 40, 60, 85):
        with time_machine.travel(start + datetime.timedelta(minutes=minutes), tick=False):
            assert client.get(CASELOAD).status_code == 200, minutes


def test_the_idle_limit_is_a_setting(client, clinician, settings):
    settings.CYCLECARE = {**settings.CYCLECARE, "SESSION_IDLE_MINUTES": 5}
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        client.force_login(clinician.user)
        client.get(CASELOAD)
    with time_machine.travel(start + datetime.timedelta(minutes=6), tick=False):
        assert client.get(CASELOAD).status_code == 302


# THE BANNER WHILE TWO-FACTOR IS OFF
# ------------------------------------------------------------------------------
def test_banner_on_every_clinician_page_while_two_factor_is_off(client, clinician):
    assert BANNER in client.get(LOGIN).content.decode()
    client.force_login(clinician.user)
    assert BANNER in client.get(CASELOAD).content.decode()
    forbidden = UserFactory()
    client.force_login(forbidden)
    assert BANNER in client.get(CASELOAD).content.decode()


def test_no_banner_when_two_factor_is_required(client, clinician, require_2fa):
    assert BANNER not in client.get(LOGIN).content.decode()
    enrol(clinician.user)
    client.force_login(clinician.user)
    assert BANNER not in client.get(CASELOAD).content.decode()


# SETTINGS
# ------------------------------------------------------------------------------
def test_two_factor_is_required_by_default_and_in_production():
    from clinician.conf import DEFAULTS
    from tests.test_settings import GOOD, ROOT

    assert DEFAULTS["REQUIRE_2FA"] is True
    code = (
        "import django; django.setup(); from clinician.conf import cyclecare_settings as c; "
        "print(c.REQUIRE_2FA)"
    )
    env = {key: value for key, value in os.environ.items() if key not in GOOD}
    shown = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, **GOOD},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "True"


def test_configure_gives_a_host_the_backends_and_middleware():
    host = {
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ]
    }
    plugin.configure(host)
    middleware = host["MIDDLEWARE"]
    assert middleware.index("allauth.account.middleware.AccountMiddleware") > middleware.index(
        "django.contrib.messages.middleware.MessageMiddleware"
    )
    assert middleware.index("clinician.middleware.SessionIdleTimeoutMiddleware") < middleware.index(
        "clinician.middleware.RequireTwoFactorMiddleware"
    )
    assert middleware[-1] == "axes.middleware.AxesMiddleware"
    assert host["AUTHENTICATION_BACKENDS"][0] == "axes.backends.AxesStandaloneBackend"
    # Calling it twice changes nothing.
    plugin.configure(host)
    assert host["MIDDLEWARE"] == middleware


def test_checks_need_the_enforcing_middleware_when_two_factor_is_required(settings):
    settings.CYCLECARE = {**settings.CYCLECARE, "REQUIRE_2FA": True}
    assert "cyclecare.E006" not in {message.id for message in run_checks()}
    with override_settings(
        MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != "clinician.middleware.RequireTwoFactorMiddleware"]
    ):
        assert "cyclecare.E006" in {message.id for message in run_checks()}
    settings.CYCLECARE = {**settings.CYCLECARE, "REQUIRE_2FA": False}
    assert "cyclecare.W001" in {message.id for message in run_checks(include_deployment_checks=True)}


def test_the_authenticator_is_looked_up_once_per_session(client, clinician, require_2fa):
    """Once a session has seen the clinician's authenticator, later pages skip that query (the
    couple page and caseload keep to their query budgets with 2FA on); a new session checks
    again, and a user without one is still sent to enrol."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    enrol(clinician.user)
    client.force_login(clinician.user)
    caseload = reverse("cyclecare:clinician:caseload")
    with CaptureQueriesContext(connection) as first:
        assert client.get(caseload).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get(caseload).status_code == 200
    authenticator_queries = [q for q in first.captured_queries if "mfa_authenticator" in q["sql"]]
    assert len(authenticator_queries) == 1
    assert not [q for q in second.captured_queries if "mfa_authenticator" in q["sql"]]

    Authenticator.objects.filter(user=clinician.user).delete()
    client.logout()
    client.force_login(clinician.user)
    assert client.get(caseload)["Location"] == reverse("mfa_activate_totp")
