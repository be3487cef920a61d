"""Session rules for clinicians and staff: idle sessions end, a deactivated clinician is signed
out, and two-factor is required.

Both run after Django's authentication and messages middleware (``cyclecare.plugin.configure``
puts them there in a host site). Requests authenticated by an API token carry no session user,
so neither rule touches them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework.views import APIView

from clinician.conf import cyclecare_settings

from .audit import Surface, request_audit_context, set_request_surface
from .auth import client_ip, has_totp, two_factor_required_for
from .permissions import clinician_record_for

LAST_SEEN_SESSION_KEY = "cyclecare.last_seen"
TWO_FACTOR_SESSION_KEY = "cyclecare.two_factor_seen"
ACTIVE_CLINICIAN_SESSION_KEY = "cyclecare.clinician_seen_active"
# The last-seen time is written at most this often, so an active session costs one session
# write a minute rather than one a request.
LAST_SEEN_RESOLUTION_SECONDS = 60


class SessionIdleTimeoutMiddleware:
    """Signs a user out when their session has been unused for ``SESSION_IDLE_MINUTES``.

    The request then goes on as anonymous: a clinician page sends them to sign in (with
    ``?next``) and says why; the API answers 401/403 as for any anonymous call.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        minutes = cyclecare_settings.SESSION_IDLE_MINUTES
        user = getattr(request, "user", None)
        if minutes and user is not None and user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(LAST_SEEN_SESSION_KEY)
            if isinstance(last_seen, int) and now - last_seen > minutes * 60:
                logout(request)
                messages.info(
                    request,
                    ngettext(
                        "You were signed out after %(minutes)d minute without activity.",
                        "You were signed out after %(minutes)d minutes without activity.",
                        minutes,
                    )
                    % {"minutes": minutes},
                )
            elif not isinstance(last_seen, int) or now - last_seen >= LAST_SEEN_RESOLUTION_SECONDS:
                request.session[LAST_SEEN_SESSION_KEY] = now
        return self.get_response(request)


class DeactivatedClinicianMiddleware:
    """Signs out, on their next request, a session that was signed in as an active clinician
    whose clinician record has since been deactivated, whatever page it asks for. Django keeps
    no list of a user's sessions, so this is how every session they have ends at once.

    One indexed query per signed-in request, which also answers ``acting_clinician`` for the
    rest of the request, so a clinician page costs no more. A session marks the clinician it saw active once;
    a session that never saw them active (one made after deactivation by other means than
    sign-in, which refuses them: ``ClinicAccountAdapter.authenticate``) is left to the pages,
    which answer an inactive clinician with a 403 and no data.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is not None and user.is_authenticated and session is not None:
            record = clinician_record_for(user)
            active = None if record is None else record.is_active
            seen_active = session.get(ACTIVE_CLINICIAN_SESSION_KEY) == user.pk
            if active is False and seen_active:
                logout(request)
                messages.info(request, _("Your access to this practice has ended. You have been signed out."))
            elif active and not seen_active:
                session[ACTIVE_CLINICIAN_SESSION_KEY] = user.pk
        return self.get_response(request)


class RequireTwoFactorMiddleware:
    """While ``CYCLECARE["REQUIRE_2FA"]`` is on, a signed-in clinician or staff user without a
    TOTP authenticator reaches only the enrolment pages (and sign-out); every other page
    redirects to enrolment, and a session call to the API gets a 403 problem.

    Enforcement depends only on whether the user has an authenticator: allauth asks for the
    code at sign-in whenever one exists, so a signed-in user with one has passed it.
    """

    # allauth's (un-namespaced) enrolment, re-authentication and sign-out pages, and ours.
    ALLOWED_VIEWS = frozenset(
        {
            "mfa_activate_totp",
            "mfa_view_recovery_codes",
            "mfa_download_recovery_codes",
            "account_reauthenticate",
            "account_logout",
            "cyclecare:clinician:logout",
        }
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if not cyclecare_settings.REQUIRE_2FA:
            return None
        user = getattr(request, "user", None)
        if not two_factor_required_for(user):
            return None
        # Once this session has seen the user's authenticator, later requests skip the query
        # (the authenticator cannot be removed while 2FA is required; a new session checks again).
        session = getattr(request, "session", None)
        if session is not None and session.get(TWO_FACTOR_SESSION_KEY) == user.pk:
            return None
        if has_totp(user):
            if session is not None:
                session[TWO_FACTOR_SESSION_KEY] = user.pk
            return None
        match = request.resolver_match
        if match is not None and match.view_name in self.ALLOWED_VIEWS:
            return None
        if settings.STATIC_URL and request.path_info.startswith(str(settings.STATIC_URL)):
            return None
        if _is_api_view(view_func):
            return JsonResponse(
                {
                    "type": "urn:cyclecare:problem:two_factor_required",
                    "title": "Not allowed.",
                    "status": 403,
                    "detail": _("Set up two-factor sign-in before using the API from a browser session."),
                },
                status=403,
                content_type="application/problem+json",
            )
        return HttpResponseRedirect(reverse("mfa_activate_totp"))


def _is_api_view(view_func) -> bool:
    try:
        from rest_framework.views import APIView
    except ImportError:  # pragma: no cover - DRF is a dependency
        return False
    view_class = getattr(view_func, "cls", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


class AuditContextMiddleware:
    """Opens the audit context of each request (clinician.audit): what every event appended
    while serving it records as its surface and source address.

    The surface is the view's own ``audit_surface`` where it names one (a partner page, the FHIR
    export), else the API for a REST framework view, the Django admin for the admin site, and a
    clinician page for the rest. It goes first among cyclecare's middleware, so the events the
    others append (a sign-out) have their address too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The address as the sign-in's rate limits see it: behind DJANGO_TRUSTED_PROXY_COUNT
        # proxies, the client's, not the proxy's.
        with request_audit_context(request, source=client_ip(request)):
            return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, view_args, view_kwargs) -> None:
        set_request_surface(view_surface(request, view_func))


def view_surface(request: HttpRequest, view_func: Callable) -> str:
    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    named = getattr(view_func, "audit_surface", None) or getattr(view_class, "audit_surface", None)
    if named:
        return named
    if view_class is not None and issubclass(view_class, APIView):
        return Surface.API
    match = request.resolver_match
    if match is not None and "admin" in match.namespaces:
        return Surface.ADMIN
    return Surface.PAGE
