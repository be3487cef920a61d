"""Endpoints of the cyclecare app for operators: health. (The partner's pages, the reminder
stop page among them, are in cyclecare.partner.)"""

import logging

from celery import current_app
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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
