"""Webhooks for integrations: endpoints a practice registers, and signed deliveries of its events.

Outbox, as for reminders (DESIGN §4): a domain event (``clinician.events``) is turned into one
``WebhookDelivery`` row per subscribed endpoint *in the transaction that caused it*, and the send
is enqueued once it commits (``transaction.on_commit``; batched per process, see PromptSends). A
delivery is claimed (PENDING → SENDING, committed) before the POST, recorded after it, and
retried with exponential backoff by the periodic dispatcher (``webhook_deliveries_dispatch``) —
never by long ETA tasks. A reconciler returns rows left in SENDING by a lost worker. Delivery is
at least once: receivers de-duplicate on the ``Cyclecare-Delivery`` header (the event id).

What a receiver gets::

    POST <endpoint url>
    Content-Type: application/json
    Cyclecare-Event: note.signed
    Cyclecare-Delivery: 6f0c…            (event id, the same on every retry)
    Cyclecare-Timestamp: 1764032400      (unix seconds of this attempt)
    Cyclecare-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

    {"id": "6f0c…", "type": "note.signed", "created": "…Z", "data": {"note_id": 7, …}}

Payloads carry ids, codes and times only — no names, note text, answers or scores; a receiver
reads the records it needs through the API with its own token. Receivers check the signature
with ``verify_signature`` (or its few lines in their own language).
"""

import atexit
import datetime
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import os
import secrets
import socket
import ssl
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Lookup, QuerySet
from django.utils import timezone

from clinician.api.fields import CompiledQuery
from clinician.audit import audit_record
from clinician.conf import cyclecare_settings
from clinician.models import Clinician
from clinician.permissions import acting_clinician, is_integration
from clinician.writes import SelectSQL, Writes

from . import queue
from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"
REQUEST_TIMEOUT_SECONDS = 10
BACKOFF_BASE = datetime.timedelta(seconds=30)
BACKOFF_CAP = datetime.timedelta(hours=6)
# A claimed delivery whose result was never recorded (a killed worker) is retried after this.
SENDING_STUCK_AFTER = datetime.timedelta(minutes=10)
DISPATCH_BATCH = 1000
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
USER_AGENT = "cyclecare-webhooks/1"
MAX_ERROR_LENGTH = WebhookDelivery._meta.get_field("last_error").max_length


# SUBSCRIBER (the outbox)
# ------------------------------------------------------------------------------
class HasElement(Lookup):
    """``events`` (a JSON array of strings) holds this string: the same answer on PostgreSQL
    and SQLite, where Django's ``contains`` on a JSONField does not exist."""

    lookup_name = "has_element"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [value]  # the plain string, not JSON-encoded as the field would

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        # Compiled column names and placeholders; the string travels as a parameter.
        element = f"SELECT 1 FROM json_each({lhs}) AS element WHERE element.value = {rhs}"  # noqa: S608
        return f"(json_type({lhs}) = 'array' AND EXISTS ({element}))", [*lhs_params, *lhs_params, *rhs_params]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"({lhs} @> jsonb_build_array({rhs}::text))", [*lhs_params, *rhs_params]


def subscribed_endpoints(*, practice_id: int, event: str) -> QuerySet[WebhookEndpoint]:
    """The practice's active endpoints subscribed to ``event``."""
    return WebhookEndpoint.objects.filter(
        HasElement(F("events"), event), practice_id=practice_id, is_active=True
    )


# The SQL of that read, compiled once per process (text only: the practice and the event are
# its parameters); it runs inside the write that adds the deliveries.
_subscribed_endpoint_ids = CompiledQuery(
    lambda *, practice_id, event: subscribed_endpoints(practice_id=practice_id, event=event).values_list(
        "pk", flat=True
    )
)


def on_domain_event(event: str, *, practice_id: int, data: dict[str, Any], writes: Writes) -> None:
    """Add one delivery per active endpoint of the practice subscribed to ``event`` to the
    writes of the change that caused it, and enqueue the sends once they commit.

    The subscriptions are read by the write itself (``Writes.add_each``: an INSERT … SELECT on
    PostgreSQL), never remembered: an endpoint created, changed or switched off is honoured by
    the next event, in every process."""
    if event not in WebhookEvent.values:
        return
    event_id = uuid.uuid4()
    now = timezone.now()
    payload = {"id": str(event_id), "type": event, "created": _iso(now), "data": data}
    deliveries = writes.add_each(
        WebhookDelivery(
            practice_id=practice_id, event_id=event_id, event=event, payload=payload, next_attempt_at=now
        ),
        field="endpoint",
        source=SelectSQL(*_subscribed_endpoint_ids(practice_id=practice_id, event=event)),
    )
    writes.on_commit(lambda: send_soon(list(deliveries)))


def send_soon(delivery_ids: list[int]) -> None:
    """Hand committed deliveries to Celery (run from ``transaction.on_commit``), batched per
    process by ``prompt_sends``."""
    if delivery_ids:
        prompt_sends.add(delivery_ids)


class PromptSends:
    """Hands committed deliveries to Celery for a prompt send, without a broker message per
    transaction: ids are gathered in this process and a background thread enqueues them every
    ``gather_seconds`` as one ``webhook_deliver_batch`` task, which the worker fans out into one
    ``webhook_deliver`` task per delivery. So a check-in pays an append to a list instead of a
    Celery publish, and a delivery waits at most ``gather_seconds`` longer.

    Under eager Celery (tests, development without a broker) each delivery is sent at once, as
    before. Ids lost with their process (killed between commit and flush) or a failed publish
    lose nothing: the rows are committed, PENDING and due, and the minute dispatcher sends them.

    Kept, with its fork and exit hooks, for the figure it buys (DECISIONS, issue 12): a Celery
    publish per check-in cost 7-10 ms of a 11-14 ms check-in on the benchmark machine. It is
    no cache: it holds ids of committed rows for at most ``gather_seconds``, and whichever
    process (or database) commits them, the same rows are sent."""

    gather_seconds = 0.05

    def __init__(self) -> None:
        self._reset()
        # A forked child (a prefork worker, say) starts empty, with its own lock and thread.
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, delivery_ids: list[int]) -> None:
        if self._eager():
            for pk in delivery_ids:
                queue.task("webhook_deliver").delay(pk)
            return
        with self._lock:
            self._ids.extend(delivery_ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="webhook-prompt-sends", daemon=True)
                self._thread.start()
        self._wake.set()

    @staticmethod
    def _eager() -> bool:
        return bool(queue.task("webhook_deliver").app.conf.task_always_eager)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.gather_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        with self._lock:
            delivery_ids, self._ids = self._ids, []
        if not delivery_ids:
            return
        try:
            queue.task("webhook_deliver_batch").delay(delivery_ids)
        except Exception:  # the broker is down: the dispatcher sends them within a minute
            logger.warning("Could not enqueue %d webhook deliveries; the dispatcher will.", len(delivery_ids))


prompt_sends = PromptSends()


# ENDPOINTS
# ------------------------------------------------------------------------------
def _managed_practice_id(user: AbstractBaseUser) -> int:
    """The practice whose endpoints the caller may change: a practice admin's own, or an
    integration client's with the ``write`` scope. Anyone else is refused."""
    if is_integration(user):
        if user.has_scope("write"):
            return user.practice_id
    else:
        clinician = acting_clinician(user)
        if clinician is not None and clinician.role == Clinician.Role.PRACTICE_ADMIN:
            return clinician.practice_id
    raise ValidationError(
        "Only the practice admin or an integration client can manage webhooks.", code="forbidden"
    )


def _local_allowed() -> bool:
    return settings.DEBUG or cyclecare_settings.WEBHOOK_ALLOW_HTTP


def _private_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return not ip.is_global or ip.is_multicast


def destination_refused(host: str) -> str:
    """Why a delivery may not go to ``host`` (server-side request forgery guard), or ""."""
    return _checked_destination(host)[1]


def _checked_destination(host: str) -> tuple[str, str]:
    """(the address to connect to, "") or ("", why a delivery may not go to ``host``).

    Every address the name resolves to must be public; local hosts only in development/tests
    (connected to by name, as they are). The delivery then connects to the address checked
    here, never resolving the name again: a DNS answer that changes between the check and the
    connection (DNS rebinding) cannot send it to a private address."""
    if host in LOCAL_HOSTS and _local_allowed():
        return host, ""
    try:
        addresses = [info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]
    except (OSError, UnicodeError):
        return "", "the host name does not resolve"
    if not addresses or any(_private_address(address) for address in addresses):
        return "", "the host is on a private, loopback or reserved network"
    return addresses[0], ""


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValidationError({"url": "Put no credentials in the URL; deliveries are signed instead."})
    host = parts.hostname or ""
    try:
        if host and _private_address(host) and not (host in LOCAL_HOSTS and _local_allowed()):
            raise ValidationError(
                {"url": ValidationError("Webhook URLs must be public addresses.", code="private")}
            )
    except ValueError:
        pass  # a name, not an address literal: checked when each delivery resolves it
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host in LOCAL_HOSTS and _local_allowed():
        return url
    raise ValidationError({"url": ValidationError("Webhook URLs must use https://.", code="https_required")})


def _clean_events(events: Any) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise ValidationError({"events": "Choose at least one event."})
    unknown = sorted({str(e) for e in events} - set(WebhookEvent.values))
    if unknown:
        raise ValidationError({"events": f"Unknown event(s): {', '.join(unknown)}."})
    return sorted(set(events))


@transaction.atomic
def webhook_endpoint_create(
    *, user: AbstractBaseUser, url: str, events: list[str], description: str = ""
) -> WebhookEndpoint:
    """Register an endpoint of the caller's practice. Its signing secret is on the returned
    object; show it to the caller this once (the API never shows it again)."""
    practice_id = _managed_practice_id(user)
    endpoint = WebhookEndpoint(
        practice_id=practice_id,
        url=_clean_url(url),
        events=_clean_events(events),
        description=(description or "").strip(),
        secret=secrets.token_urlsafe(32),
    )
    endpoint.full_clean()
    endpoint.save()
    audit_record(actor=user, action="webhook_endpoint.create", target=endpoint)
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *,
    user: AbstractBaseUser,
    endpoint: WebhookEndpoint,
    events: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change what an endpoint receives, its description, or switch it off and on."""
    practice_id = _managed_practice_id(user)
    endpoint = (
        WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk, practice_id=practice_id).first()
    )
    if endpoint is None:
        raise ValidationError({"endpoint": "No such webhook endpoint in your practice."})
    changes = {}
    if events is not None:
        changes["events"] = _clean_events(events)
    if description is not None:
        changes["description"] = description.strip()
    if is_active is not None:
        changes["is_active"] = bool(is_active)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    if changes:
        endpoint.full_clean()
        endpoint.save(update_fields=list(changes))
        audit_record(actor=user, action="webhook_endpoint.update", target=endpoint, changes=changes)
    return endpoint


def webhook_endpoint_deactivate(*, user: AbstractBaseUser, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Stop sending to an endpoint; deliveries still waiting for it fail rather than go out."""
    return webhook_endpoint_update(user=user, endpoint=endpoint, is_active=False)


# SELECTORS
# ------------------------------------------------------------------------------
def _visible_practice_id(user: AbstractBaseUser) -> int | None:
    """Webhooks are the practice's plumbing: its admin and its integration clients see them."""
    if is_integration(user):
        return user.practice_id
    clinician = acting_clinician(user)
    if clinician is not None and clinician.role == Clinician.Role.PRACTICE_ADMIN:
        return clinician.practice_id
    return None


def webhook_endpoints_visible_to(*, user: AbstractBaseUser) -> QuerySet[WebhookEndpoint]:
    """The endpoints of the caller's practice (practice admin or integration client); else none."""
    practice_id = _visible_practice_id(user)
    if practice_id is None:
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.filter(practice_id=practice_id)


def webhook_deliveries_visible_to(*, user: AbstractBaseUser) -> QuerySet[WebhookDelivery]:
    """The delivery log of the caller's practice (practice admin or integration client)."""
    practice_id = _visible_practice_id(user)
    if practice_id is None:
        return WebhookDelivery.objects.none()
    return WebhookDelivery.objects.filter(practice_id=practice_id, endpoint__practice_id=practice_id)


# DELIVERY
# ------------------------------------------------------------------------------
def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``Cyclecare-Signature`` header value for a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    header: str,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """For receivers: is this delivery genuine and fresh?

    ``timestamp`` is the ``Cyclecare-Timestamp`` header, ``body`` the raw request body (bytes,
    exactly as received — not re-serialised JSON), ``header`` the ``Cyclecare-Signature`` header.
    True when one of the header's comma-separated ``v1=`` signatures is the HMAC-SHA256 of
    ``f"{timestamp}.{body}"`` under the endpoint's secret and the timestamp is within
    ``tolerance`` seconds of now (replays of old deliveries fail). Compared in constant time.
    """
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    current = timezone.now().timestamp() if now is None else now
    if abs(current - sent_at) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret, sent_at, raw)
    return any(
        hmac.compare_digest(candidate.strip().encode(), expected.encode())
        for candidate in (header or "").split(",")
    )


def backoff(attempts: int) -> datetime.timedelta:
    """Wait before the next attempt after ``attempts`` failed ones: 30 s, 1 min, 2 min … ≤ 6 h."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def _pinned(connection: http.client.HTTPConnection, address: str) -> http.client.HTTPConnection:
    """``connection`` opens its socket to ``address`` (already checked) instead of resolving its
    host name again; the Host header, TLS server name and certificate check still use the name.
    (``_create_connection`` is the attribute http.client opens its socket with.)"""

    def create_connection(destination, timeout, source_address):
        return socket.create_connection((address, destination[1]), timeout, source_address)

    connection._create_connection = create_connection
    return connection


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST and return (status code or None, error text or ""). A redirect is an answer (a
    failed attempt), never followed: the signed body goes only to the URL the practice
    registered. Response bodies are never read into our records: they are the receiver's and
    may echo anything."""
    # The scheme was checked when the endpoint was saved: https, or local http by setting. The
    # destination is re-checked on every send, since DNS answers change.
    parts = urlsplit(url)
    host = parts.hostname or ""
    address, refused = _checked_destination(host)
    if refused:
        return None, f"Refused: {refused}."
    try:
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=REQUEST_TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=REQUEST_TIMEOUT_SECONDS)
        _pinned(connection, address)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", path, body=body, headers=headers)
            status = connection.getresponse().status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return status, "" if 200 <= status < 300 else f"HTTP {status}"


def webhook_deliver(*, delivery_id: int) -> str:
    """Send one due delivery and record the outcome; returns the delivery's new status, or
    "skipped" when it is not due, already taken or done. Safe to call twice."""
    claimed_at = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=claimed_at)
            .first()
        )
        if delivery is None:
            return "skipped"
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "The endpoint is deactivated."
            delivery.save(update_fields=["status", "last_error"])
            return delivery.status
        delivery.status = WebhookDelivery.Status.SENDING
        delivery.last_attempt_at = claimed_at
        delivery.save(update_fields=["status", "last_attempt_at"])

    # The claim is committed: other workers skip the row while we are on the network.
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(claimed_at.timestamp())
    status_code, error = _post(
        endpoint.url,
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Cyclecare-Event": delivery.event,
            "Cyclecare-Delivery": str(delivery.event_id),
            "Cyclecare-Timestamp": str(timestamp),
            "Cyclecare-Signature": sign(endpoint.secret, timestamp, body),
        },
    )
    return _record_attempt(delivery, claimed_at=claimed_at, status_code=status_code, error=error)


def _record_attempt(
    delivery: WebhookDelivery, *, claimed_at: datetime.datetime, status_code: int | None, error: str
) -> str:
    attempts = delivery.attempts + 1
    now = timezone.now()
    changes: dict[str, Any] = {"attempts": attempts, "last_status_code": status_code}
    if status_code is not None and 200 <= status_code < 300:
        changes.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now, last_error="")
    elif attempts >= cyclecare_settings.WEBHOOK_MAX_ATTEMPTS:
        changes.update(status=WebhookDelivery.Status.FAILED, last_error=error[:MAX_ERROR_LENGTH])
    else:
        changes.update(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at=claimed_at + backoff(attempts),
            last_error=error[:MAX_ERROR_LENGTH],
        )
    # Only our own claim: if the reconciler took the row back meanwhile, its state stands.
    WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.SENDING, last_attempt_at=claimed_at
    ).update(**changes)
    return changes["status"]


def webhook_deliveries_due(*, now: datetime.datetime | None = None, limit: int = DISPATCH_BATCH) -> list[int]:
    """Ids of pending deliveries whose next attempt is due, oldest first."""
    return list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now or timezone.now()
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def webhook_deliveries_reclaim_stuck(*, now: datetime.datetime | None = None) -> int:
    """Reconciler: a delivery claimed more than SENDING_STUCK_AFTER ago with no result recorded
    (its worker died) counts as a failed attempt and goes back to PENDING, due now — or FAILED
    once out of attempts, so a delivery that kills its worker cannot loop for ever."""
    now = now or timezone.now()
    stuck = WebhookDelivery.objects.select_for_update(skip_locked=True).filter(
        status=WebhookDelivery.Status.SENDING, last_attempt_at__lt=now - SENDING_STUCK_AFTER
    )[:DISPATCH_BATCH]
    count = 0
    for delivery in stuck:
        delivery.attempts += 1
        delivery.last_status_code = None
        delivery.last_error = "No result was recorded for the attempt (worker lost)."
        if delivery.attempts >= cyclecare_settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
        else:
            delivery.status = WebhookDelivery.Status.PENDING
            delivery.next_attempt_at = now
        delivery.save(
            update_fields=["attempts", "last_status_code", "last_error", "status", "next_attempt_at"]
        )
        count += 1
    return count


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
