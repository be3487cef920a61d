"""Clinician sign-in: the hooks django-allauth and django-axes are configured with
(``cyclecare.plugin.AUTH_SETTINGS``).

Accounts are made by the practice, never by sign-up; two-factor (TOTP) is required for every
clinician and staff user while ``CYCLECARE["REQUIRE_2FA"]`` is on (``clinician.middleware``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.forms import LoginForm
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.base.forms import AuthenticateForm
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.forms import ActivateTOTPForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.translation import gettext_lazy as _

from clinician.conf import cyclecare_settings

from .models import Clinician
from .permissions import acting_clinician

# One message for every failed sign-in, whatever was typed: it never says whether the account
# exists or is active.
SIGN_IN_FAILED = _(
    "That email or username and password do not match an active account. Check both and try again."
)


# The practice admin's first screen (cyclecare.workspace's practice page), by URL name.
PRACTICE_ADMIN_HOME = "cyclecare:clinician:practice"


class ClinicAccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "email_password_mismatch": SIGN_IN_FAILED,
        "username_password_mismatch": SIGN_IN_FAILED,
        "too_many_login_attempts": _("Too many failed sign-in attempts. Wait a few minutes and try again."),
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Closed: a practice admin (or the operator) adds clinicians."""
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        """allauth asks for the password again before any two-factor change. A clinician who
        typed it minutes ago and had no authenticator then (enrolling now, and reading the
        recovery codes enrolment gives) is not asked twice; any other session still is."""
        required = super().is_reauthentication_required(app=app, **kwargs)
        request = context.request
        if not required or app != "allauth.mfa" or request is None:
            return required
        user = request.user
        signed_in_at = max(
            (
                record.get("at", 0)
                for record in get_authentication_records(request, user)
                if record.get("method") == "password"
            ),
            default=0,
        )
        if time.time() - signed_in_at >= account_settings.REAUTHENTICATION_TIMEOUT:
            return True
        signed_in = datetime.fromtimestamp(signed_in_at, tz=UTC)
        return Authenticator.objects.filter(user_id=user.pk, created_at__lte=signed_in).exists()

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """Where sign-in lands without a ``?next``: a practice admin's practice at a glance
        (they may treat no couple, and their caseload stays a link away), everyone else's
        caseload (``LOGIN_REDIRECT_URL``)."""
        clinician = acting_clinician(request.user)
        if clinician is not None and clinician.role == Clinician.Role.PRACTICE_ADMIN:
            return resolve_url(PRACTICE_ADMIN_HOME)
        return super().get_login_redirect_url(request)

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        """allauth hands back an inactive user whose password matched, to show an "account
        inactive" page; we treat it as any other failure, so the page never differs. A
        deactivated clinician fails the same way."""
        user = super().authenticate(request, **credentials)
        if user is not None and (not user.is_active or clinician_is_active(user) is False):
            return None
        return user


class ClinicLoginForm(LoginForm):
    """allauth's sign-in form, its login field named for what clinicians type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        login = self.fields["login"]
        login.label = _("Email or username")
        login.widget.attrs.pop("placeholder", None)
        login.widget.attrs.update(
            {"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs.pop("placeholder", None)


class ClinicMFAAdapter(DefaultMFAAdapter):
    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """While two-factor is required, a clinician cannot switch their authenticator app off
        (they would only be sent straight back to enrol); a lost device is reset by an admin."""
        if cyclecare_settings.REQUIRE_2FA and authenticator.type == Authenticator.Type.TOTP:
            return not two_factor_required_for(authenticator.user)
        return super().can_delete_authenticator(authenticator)


def _code_field(form: Any, *, label: str, help_text: str) -> None:
    code = form.fields["code"]
    code.label = label
    code.help_text = help_text
    code.widget.attrs.pop("placeholder", None)
    code.widget.attrs.update({"inputmode": "numeric", "autocomplete": "one-time-code", "spellcheck": "false"})


class ClinicAuthenticateForm(AuthenticateForm):
    """The sign-in step after the password: an authenticator code, or a recovery code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _code_field(
            self,
            label=_("Authenticator code"),
            help_text=_("The 6-digit code your app shows now, or one of your recovery codes."),
        )


class ClinicActivateTOTPForm(ActivateTOTPForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _code_field(
            self,
            label=_("Authenticator code"),
            help_text=_("The 6-digit code your app shows after scanning."),
        )


def two_factor_required_for(user: Any) -> bool:
    """Whether ``user`` must sign in with two-factor: staff (the admin site) and clinicians."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_staff or acting_clinician(user) is not None)


def clinician_is_active(user: Any) -> bool | None:
    """Whether ``user``'s clinician record is active; None when they have none."""
    return Clinician.objects.filter(user_id=user.pk).values_list("is_active", flat=True).first()


def has_totp(user: Any) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


# DJANGO-AXES
# ------------------------------------------------------------------------------
def axes_username(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """The name failures are counted under: what was typed in allauth's ``login`` field (or the
    admin's ``username``), case-folded, whether or not such an account exists."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email") or credentials.get("login")
    if not value and request is not None:
        data = getattr(request, "POST", {})
        value = data.get("login") or data.get("username")
    value = str(value or "").strip().casefold()
    return value or None


def client_ip(request: HttpRequest) -> str | None:
    """One client address for axes and allauth's rate limits (ALLAUTH_TRUSTED_PROXY_COUNT).
    None where there is none to read (a login made in code, e.g. ``Client.force_login``)."""
    try:
        return get_account_adapter().get_client_ip(request)
    except PermissionDenied:
        return None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The same page for any name typed, existing or not: it names no account and no count."""
    from django.conf import settings

    cool_off = getattr(settings, "AXES_COOLOFF_TIME", None)
    if isinstance(cool_off, int | float):  # axes reads a number as hours
        cool_off = timedelta(hours=cool_off)
    minutes = int(cool_off.total_seconds() // 60) if isinstance(cool_off, timedelta) else None
    return render(
        request,
        "clinician/lockout.html",
        {"cool_off_minutes": minutes},
        status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429),
    )
