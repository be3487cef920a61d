"""Endpoints of the cyclecare app for operators and providers: health, and the SMS provider's
inbound texts. (The partner's pages, the reminder stop page among them, are in
cyclecare.partner.)"""

import hmac
import json
import logging

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from clinician.conf import cyclecare_settings

from .reminders.inbound import sms_inbound_receive

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


def _problem(status: int, title: str, detail: str = "") -> JsonResponse:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return JsonResponse(body, status=status, content_type="application/problem+json")


@never_cache
@csrf_exempt  # a provider's server-to-server POST; the shared token is the credential
@require_POST
def sms_inbound(request: HttpRequest) -> JsonResponse:
    """One inbound text from the SMS provider: ``{"from": "+1…", "body": "STOP"}`` as JSON (or
    the form fields ``From``/``Body`` a provider posts). A stop word withdraws the partner's
    text-message consent. Off (404) until ``SMS_INBOUND_TOKEN`` is set; the number and the text
    are never logged."""
    secret = cyclecare_settings.SMS_INBOUND_TOKEN
    if not secret:
        return _problem(404, "Not found")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return _problem(401, "Unauthorized", "Send the shared inbound token as a bearer token.")
    if request.content_type == "application/json":
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _problem(400, "Bad request", "The body must be a JSON object.")
    else:
        payload = request.POST
    from_number = payload.get("from") or payload.get("From") or ""
    body = payload.get("body") or payload.get("Body") or ""
    if not isinstance(from_number, str) or not isinstance(body, str):
        return _problem(400, "Bad request", "Give the sender's number and the text as strings.")
    try:
        with transaction.atomic():
            withdrawn = sms_inbound_receive(from_number=from_number, body=body)
    except ValidationError as exc:
        code = exc.error_dict["from"][0].code
        logger.info("sms inbound: refused (%s)", code)
        if code == "unknown_number":
            return _problem(404, "Unknown number", exc.error_dict["from"][0].message)
        return _problem(400, "Bad request", exc.error_dict["from"][0].message)
    logger.info("sms inbound: %s consent(s) withdrawn", len(withdrawn))
    return JsonResponse({"withdrawn": len(withdrawn)})
