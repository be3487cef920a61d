"""Pages and endpoints of the cyclecare app that need no login."""

import logging

from celery import current_app
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2


def _database_reachable() -> bool:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        # The class name only: a driver's message can carry hosts, users or DSNs.
        logger.warning("healthz: database unreachable (%s)", type(exc).__name__)
        return False
    return True


def _broker_reachable() -> bool:
    # `current_app` rather than config's app: a host project brings its own Celery app.
    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=1, timeout=BROKER_TIMEOUT_SECONDS
            )
    except Exception as exc:
        logger.warning("healthz: broker unreachable (%s)", type(exc).__name__)
        return False
    return True


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for load balancers: 200 when the database and broker answer, else 503."""
    database_ok = _database_reachable()
    broker_ok = _broker_reachable()
    healthy = database_ok and broker_ok
    return JsonResponse(
        {
            "status": "ok" if healthy else "degraded",
            "database": "ok" if database_ok else "error",
            "broker": "ok" if broker_ok else "error",
        },
        status=200 if healthy else 503,
    )


# REMINDERS: STOP / PAUSE (no login: a signed token in every reminder)
# ------------------------------------------------------------------------------
@never_cache
@csrf_exempt  # the signed token is the credential; mail clients' one-click POST has no CSRF token
@require_http_methods(["GET", "POST"])
def reminders_stop(request: HttpRequest, token: str) -> HttpResponse:
    """Stop (or start again) one channel's reminders for the partner the token names. GET only
    shows the choice — mail scanners open links; a POST records the partner's own decision as an
    electronic consent (RFC 8058 one-click POSTs ``List-Unsubscribe=One-Click``)."""
    from couples.models import Consent, Partner
    from couples.selectors import consent_in_force
    from couples.services import consent_record

    from .reminders.messages import first_name, stop_token_read

    found = stop_token_read(token)
    partner = (
        Partner.objects.select_related("practice").filter(pk=found[0], is_active=True).first()
        if found
        else None
    )
    if partner is None:
        response = render(request, "cyclecare/reminders/stop.html", {"invalid": True}, status=404)
        return _private_page(response)
    channel = found[1]
    kind = Consent.Kind.EMAIL if channel == "email" else Consent.Kind.SMS
    with translation.override(partner.language):
        if request.method == "POST":
            one_click = request.POST.get("List-Unsubscribe") == "One-Click"
            action = "stop" if one_click else request.POST.get("action", "")
            if action in ("stop", "resume"):
                consent_record(
                    actor=partner,
                    partner=partner,
                    kind=kind,
                    granted=action == "resume",
                    method=Consent.Method.ELECTRONIC,
                )
            if not one_click:
                return _private_page(HttpResponseRedirect(f"{request.path}?done={action}"))
        context = {
            "invalid": False,
            "first_name": first_name(partner.display_name),
            "practice_name": partner.practice.name,
            "channel": channel,
            "receiving": consent_in_force(partner=partner, kind=kind),
            "done": request.GET.get("done", "") if request.method == "GET" else "stop",
        }
        response = render(request, "cyclecare/reminders/stop.html", context)
    return _private_page(response)


def _private_page(response: HttpResponse) -> HttpResponse:
    # The URL holds a token: never send it onwards, never index the page.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
