"""Webhooks: signed deliveries received by a real local HTTP server, ids only, retried with
backoff from the outbox, scoped to the practice and its subscriptions."""

import datetime
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.utils import timezone

from clinician import events
from clinician.principals import PracticePrincipal
from couples import services as couple_services
from cyclecare import services, tasks, webhooks
from cyclecare.models import Occurrence, WebhookDelivery
from cyclecare.schedule import BEAT_SCHEDULE
from tests.factories import (
    couple_with_partners,
    daily_checkin,
    held_session,
    practice_with_staff,
    shipped_instruments,
)

pytestmark = pytest.mark.django_db

NOTE_TEXT = "Ilsabet said she felt invisible when Corwin went quiet at dinner"


# FIXTURES
# ------------------------------------------------------------------------------
class Receiver:
    """What the local server saw, and the status codes it should answer with (then 200s)."""

    def __init__(self) -> None:
        self.requests: list[SimpleNamespace] = []
        self.statuses: list[int] = []
        self.url = ""
        # Called in the server's thread for each request (e.g. to look at the database).
        self.on_request = lambda request: None


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 (an ephemeral port) in a thread."""
    seen = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = SimpleNamespace(path=self.path, headers=self.headers, body=body)
            seen.on_request(request)
            seen.requests.append(request)
            code = seen.statuses.pop(0) if seen.statuses else 200
            answer = b"receiver stack trace: do not store me"
            self.send_response(code)
            if 300 <= code < 400:
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/elsewhere")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/cyclecare"
    yield seen
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def allow_local_http(settings):
    settings.CYCLECARE = {"WEBHOOK_ALLOW_HTTP": True}
    return settings


def build_practice(name: str) -> SimpleNamespace:
    """A practice with an admin and a clinician treating one couple, with a held session and
    a complete draft note whose text is recognisable."""
    staff = practice_with_staff(name, name=f"{name} practice")
    couple, a, b = couple_with_partners(staff.clinician)
    session = held_session(couple)
    note = couple_services.note_create(
        user=staff.clinician.user,
        session=session,
        data=NOTE_TEXT,
        assessment="Stage 1, step 2",
        plan="Map it",
    )
    return SimpleNamespace(**vars(staff), couple=couple, a=a, b=b, session=session, note=note)


@pytest.fixture
def alpha() -> SimpleNamespace:
    return build_practice("alpha")


def sign_note(world: SimpleNamespace, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        couple_services.note_sign(user=world.clinician.user, note=world.note)


# DELIVERY
# ------------------------------------------------------------------------------
def test_note_signed_reaches_a_real_server_signed_and_without_phi(
    alpha, receiver, django_capture_on_commit_callbacks
):
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url, events=["note.signed"]
    )
    secret = endpoint.secret
    assert len(secret) >= 40

    sign_note(alpha, django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks/cyclecare"
    headers, body = request.headers, request.body
    assert headers["Content-Type"] == "application/json"
    assert headers["Cyclecare-Event"] == "note.signed"
    timestamp = headers["Cyclecare-Timestamp"]
    assert abs(int(timestamp) - timezone.now().timestamp()) < 60
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["Cyclecare-Signature"] == f"v1={expected}"
    assert webhooks.verify_signature(secret, timestamp, body, headers["Cyclecare-Signature"])
    assert not webhooks.verify_signature("not-the-secret", timestamp, body, headers["Cyclecare-Signature"])
    assert not webhooks.verify_signature(secret, timestamp, body + b" ", headers["Cyclecare-Signature"])
    assert not webhooks.verify_signature(
        secret, timestamp, body, headers["Cyclecare-Signature"], now=int(timestamp) + 301
    )

    payload = json.loads(body)
    alpha.note.refresh_from_db()
    assert payload["type"] == "note.signed"
    assert payload["id"] == headers["Cyclecare-Delivery"]
    assert payload["data"] == {
        "note_id": alpha.note.pk,
        "session_id": alpha.session.pk,
        "couple_id": alpha.couple.pk,
        "signed_at": alpha.note.signed_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
    }
    text = body.decode()
    for phi in (
        NOTE_TEXT,
        "Ilsabet",
        "Stage 1",
        alpha.couple.label,
        alpha.a.display_name,
        alpha.b.display_name,
    ):
        assert phi not in text

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, 200, "")
    assert delivery.delivered_at is not None
    assert str(delivery.event_id) == payload["id"]
    assert delivery.payload == payload


def test_a_failed_attempt_backs_off_and_the_next_dispatch_delivers(
    alpha, receiver, django_capture_on_commit_callbacks
):
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url, events=["note.signed"]
    )
    receiver.statuses = [500]

    sign_note(alpha, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.PENDING
    assert (delivery.attempts, delivery.last_status_code) == (1, 500)
    assert delivery.last_error == "HTTP 500"  # never the receiver's response body
    assert delivery.next_attempt_at > timezone.now()
    assert delivery.next_attempt_at - delivery.last_attempt_at == webhooks.backoff(1)

    assert tasks.webhook_deliveries_dispatch() == 0  # not due yet
    assert len(receiver.requests) == 1

    with time_machine.travel(delivery.next_attempt_at + datetime.timedelta(seconds=1), tick=False):
        assert tasks.webhook_deliveries_dispatch() == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (2, 200, "")
    first, second = receiver.requests
    assert first.headers["Cyclecare-Delivery"] == second.headers["Cyclecare-Delivery"]
    assert first.body == second.body
    assert int(second.headers["Cyclecare-Timestamp"]) > int(first.headers["Cyclecare-Timestamp"])
    assert webhooks.verify_signature(
        endpoint.secret,
        second.headers["Cyclecare-Timestamp"],
        second.body,
        second.headers["Cyclecare-Signature"],
        now=int(second.headers["Cyclecare-Timestamp"]),
    )
    # Delivered is final: a later dispatch sends nothing.
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=1), tick=False):
        assert tasks.webhook_deliveries_dispatch() == 0
    assert len(receiver.requests) == 2


def test_after_the_last_attempt_a_delivery_fails(
    alpha, receiver, settings, django_capture_on_commit_callbacks
):
    settings.CYCLECARE = {"WEBHOOK_ALLOW_HTTP": True, "WEBHOOK_MAX_ATTEMPTS": 3}
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url, events=["note.signed"]
    )
    receiver.statuses = [503] * 10

    sign_note(alpha, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    waits = []
    for _ in range(2):
        assert delivery.status == WebhookDelivery.Status.PENDING
        waits.append(delivery.next_attempt_at - delivery.last_attempt_at)
        with time_machine.travel(delivery.next_attempt_at + datetime.timedelta(seconds=1), tick=False):
            tasks.webhook_deliveries_dispatch()
        delivery.refresh_from_db()

    assert waits == [datetime.timedelta(seconds=30), datetime.timedelta(seconds=60)]
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert (delivery.attempts, delivery.last_status_code) == (3, 503)
    assert len(receiver.requests) == 3
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2), tick=False):
        assert tasks.webhook_deliveries_dispatch() == 0
    assert len(receiver.requests) == 3


def test_a_delivery_connects_to_the_address_it_checked(settings, monkeypatch):
    """DNS rebinding: the name answers a public address for the check and a private one after.
    The delivery resolves once and connects to the checked address, the URL's name kept for
    the Host header and TLS."""
    import socket

    from cyclecare import webhooks

    settings.CYCLECARE = {"WEBHOOK_ALLOW_HTTP": False}
    settings.DEBUG = False
    answers = iter([("93.184.216.34", 443), ("127.0.0.1", 443)])
    lookups, connected = [], []

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        return [(None, None, None, "", next(answers))]

    def create_connection(address, *args, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    status, error = webhooks._post("https://hooks.clinic.example:8443/in?x=1", b"{}", {})
    assert status is None and error.startswith("ConnectionRefusedError")
    assert lookups == ["hooks.clinic.example"] and connected == [("93.184.216.34", 8443)]


def test_backoff_doubles_and_is_capped():
    assert [webhooks.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert webhooks.backoff(30) == datetime.timedelta(hours=6)


def test_redirects_are_not_followed(alpha, receiver, django_capture_on_commit_callbacks):
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url, events=["note.signed"]
    )
    receiver.statuses = [302]

    sign_note(alpha, django_capture_on_commit_callbacks)

    assert [r.path for r in receiver.requests] == ["/hooks/cyclecare"]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 302)


def test_an_unreachable_endpoint_is_a_failed_attempt(alpha, django_capture_on_commit_callbacks):
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url="http://127.0.0.1:9/nothing-listens", events=["note.signed"]
    )
    sign_note(alpha, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error and len(delivery.last_error) <= 200


def test_a_delivery_is_sent_once_even_if_enqueued_twice(alpha, receiver, django_capture_on_commit_callbacks):
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url, events=["note.signed"]
    )
    couple_services.note_sign(user=alpha.clinician.user, note=alpha.note)  # enqueue "lost"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert webhooks.webhook_deliver(delivery_id=delivery.pk) == "delivered"
    assert webhooks.webhook_deliver(delivery_id=delivery.pk) == "skipped"
    assert tasks.webhook_deliveries_dispatch() == 0
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_the_claim_is_committed_before_the_post(receiver):
    """Real commits: the signature commits with its outbox row, on_commit sends, and while the
    receiver is being called another connection already sees the delivery as SENDING."""
    world = build_practice("committed")
    webhooks.webhook_endpoint_create(user=world.admin.user, url=receiver.url, events=["note.signed"])

    def look_from_another_connection(request):
        try:
            request.seen_status = WebhookDelivery.objects.values_list("status", flat=True).get()
        finally:
            connections.close_all()

    receiver.on_request = look_from_another_connection
    couple_services.note_sign(user=world.clinician.user, note=world.note)

    (request,) = receiver.requests
    assert request.seen_status == WebhookDelivery.Status.SENDING
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED


def test_reconciler_returns_a_delivery_stuck_in_sending(alpha, receiver):
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url, events=["note.signed"]
    )
    couple_services.note_sign(user=alpha.clinician.user, note=alpha.note)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    # A worker claimed it and died before recording anything.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="sending", last_attempt_at=timezone.now())

    assert tasks.webhook_deliveries_dispatch() == 0  # a live attempt may still be running
    assert receiver.requests == []
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=11), tick=False):
        assert tasks.webhook_deliveries_dispatch() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert len(receiver.requests) == 1


def test_a_deactivated_endpoint_gets_nothing_more(alpha, receiver, django_capture_on_commit_callbacks):
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url, events=["note.signed"]
    )
    couple_services.note_sign(user=alpha.clinician.user, note=alpha.note)  # waiting in the outbox
    webhooks.webhook_endpoint_deactivate(user=alpha.admin.user, endpoint=endpoint)
    assert tasks.webhook_deliveries_dispatch() == 1
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert receiver.requests == []

    other = build_practice("other-world")  # new events in alpha create no rows for it either
    assert not WebhookDelivery.objects.filter(practice=other.practice).exists()
    episode_for(alpha, django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


# WHO GETS WHAT
# ------------------------------------------------------------------------------
def episode_for(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.episode_record(
            actor=world.clinician.user,
            couple=world.couple,
            occurred_at=timezone.now() - datetime.timedelta(hours=2),
            intensity=6,
            pursuer=world.a,
            withdrawer=world.b,
            trigger="He checked his phone while she was talking",
            notes="Long silence afterwards",
        )


def test_an_endpoint_not_subscribed_to_the_event_gets_nothing(
    alpha, receiver, django_capture_on_commit_callbacks
):
    endpoint = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url, events=["checkin.completed", "episode.recorded"]
    )
    sign_note(alpha, django_capture_on_commit_callbacks)
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()
    assert receiver.requests == []

    episode = episode_for(alpha, django_capture_on_commit_callbacks)
    (request,) = receiver.requests
    payload = json.loads(request.body)
    assert payload["type"] == "episode.recorded"
    assert payload["data"] == {
        "episode_id": episode.pk,
        "couple_id": alpha.couple.pk,
        "source": "session",
        "occurred_at": episode.occurred_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
    }
    assert b"phone" not in request.body and b"silence" not in request.body


def test_another_practices_endpoint_gets_nothing(alpha, receiver, django_capture_on_commit_callbacks):
    bravo = build_practice("bravo")
    theirs = webhooks.webhook_endpoint_create(user=bravo.admin.user, url=receiver.url, events=["note.signed"])
    ours = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url + "/alpha", events=["note.signed"]
    )

    sign_note(alpha, django_capture_on_commit_callbacks)

    assert not WebhookDelivery.objects.filter(endpoint=theirs).exists()
    assert WebhookDelivery.objects.filter(endpoint=ours, practice=alpha.practice).count() == 1
    assert [r.path for r in receiver.requests] == ["/hooks/cyclecare/alpha"]


def test_every_subscribed_endpoint_gets_its_own_delivery_of_one_event(
    alpha, receiver, django_capture_on_commit_callbacks
):
    first = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url + "/1", events=["note.signed"]
    )
    second = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=receiver.url + "/2", events=["note.signed"]
    )
    sign_note(alpha, django_capture_on_commit_callbacks)
    one, two = (WebhookDelivery.objects.get(endpoint=e) for e in (first, second))
    assert one.event_id == two.event_id
    by_path = {r.path: r for r in receiver.requests}
    assert webhooks.verify_signature(
        first.secret,
        by_path["/hooks/cyclecare/1"].headers["Cyclecare-Timestamp"],
        by_path["/hooks/cyclecare/1"].body,
        by_path["/hooks/cyclecare/1"].headers["Cyclecare-Signature"],
    )
    # Secrets are per endpoint: one endpoint's secret does not verify the other's delivery.
    assert not webhooks.verify_signature(
        first.secret,
        by_path["/hooks/cyclecare/2"].headers["Cyclecare-Timestamp"],
        by_path["/hooks/cyclecare/2"].body,
        by_path["/hooks/cyclecare/2"].headers["Cyclecare-Signature"],
    )


def test_checkin_completed_carries_ids_not_answers_or_scores(
    alpha, receiver, django_capture_on_commit_callbacks
):
    webhooks.webhook_endpoint_create(user=alpha.admin.user, url=receiver.url, events=["checkin.completed"])
    instrument = shipped_instruments()["cycle-checkin"]
    assignment = daily_checkin(alpha.couple, [alpha.a], instrument=instrument)
    occurrence, _ = services.occurrence_materialise(
        assignment=assignment,
        partner=alpha.a,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(20),
    )
    with django_capture_on_commit_callbacks(execute=True):
        checkin = services.checkin_submit(
            partner=alpha.a,
            instrument=instrument,
            occurrence=occurrence,
            answers={"cycle_showed_up": True, "my_move": "away", "intensity": 7, "connection": 3},
        )
    (request,) = receiver.requests
    data = json.loads(request.body)["data"]
    assert data == {
        "checkin_id": checkin.pk,
        "partner_id": alpha.a.pk,
        "couple_id": alpha.couple.pk,
        "instrument_code": "cycle-checkin",
        "occurrence_id": occurrence.pk,
        "submitted_at": checkin.submitted_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
    }
    assert b"away" not in request.body and b"score" not in request.body


def test_the_outbox_row_shares_the_services_transaction(alpha, receiver, django_capture_on_commit_callbacks):
    webhooks.webhook_endpoint_create(user=alpha.admin.user, url=receiver.url, events=["note.signed"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            couple_services.note_sign(user=alpha.clinician.user, note=alpha.note)
            assert WebhookDelivery.objects.count() == 1  # written with the signature…
            raise RuntimeError("the request failed after signing")
    assert WebhookDelivery.objects.count() == 0  # …and rolled back with it
    assert callbacks == []
    assert receiver.requests == []
    alpha.note.refresh_from_db()
    assert not alpha.note.is_signed


def test_a_failing_subscriber_fails_the_write(alpha):
    def broken(event, *, practice_id, data, writes):
        raise RuntimeError("subscriber down")

    events.subscribe(broken)
    try:
        with pytest.raises(RuntimeError):
            couple_services.note_sign(user=alpha.clinician.user, note=alpha.note)
    finally:
        events.unsubscribe(broken)
    alpha.note.refresh_from_db()
    assert not alpha.note.is_signed


def test_events_carry_ids_codes_and_times_only():
    with transaction.atomic():
        with pytest.raises(ValueError, match="only ids, codes and times"):
            events.publish("note.signed", practice_id=1, data={"text": "x" * 200})
        with pytest.raises(ValueError, match="aware"):
            events.publish("note.signed", practice_id=1, data={"at": datetime.datetime(2026, 1, 1)})  # noqa: DTZ001


@pytest.mark.django_db(transaction=True)
def test_events_are_published_inside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        events.publish("note.signed", practice_id=1, data={"note_id": 1})


# MISSED ASSIGNMENTS
# ------------------------------------------------------------------------------
def test_occurrences_mark_missed_marks_only_old_pending_ones_and_publishes(
    alpha, receiver, django_capture_on_commit_callbacks
):
    webhooks.webhook_endpoint_create(user=alpha.admin.user, url=receiver.url, events=["assignment.missed"])
    today = timezone.localdate()
    assignment = services.assignment_create(
        user=alpha.clinician.user,
        couple=alpha.couple,
        partners=[alpha.a, alpha.b],
        kind="practice",
        title="Name the cycle when it starts",
        schedule="daily",
        local_time=datetime.time(20, 0),
        starts_on=today - datetime.timedelta(days=7),
    )

    def due(partner, days_ago):
        return services.occurrence_materialise(
            assignment=assignment,
            partner=partner,
            local_due_date=today - datetime.timedelta(days=days_ago),
            local_due_time=datetime.time(20),
        )[0]

    old, older_done, recent = due(alpha.a, 3), due(alpha.b, 3), due(alpha.a, 2)
    Occurrence.objects.filter(pk=older_done.pk).update(status="completed", completed_at=older_done.due_at)
    # "Now" is 23 hours after the recent one was due: under the 24-hour default.
    now = recent.due_at + datetime.timedelta(hours=23)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.occurrences_mark_missed(now=now) == 1
    assert Occurrence.objects.get(pk=old.pk).status == "missed"
    assert Occurrence.objects.get(pk=recent.pk).status == "pending"
    assert Occurrence.objects.get(pk=older_done.pk).status == "completed"
    (request,) = receiver.requests
    payload = json.loads(request.body)
    assert payload["type"] == "assignment.missed"
    assert payload["data"] == {
        "assignment_id": assignment.pk,
        "occurrence_id": old.pk,
        "partner_id": alpha.a.pk,
        "couple_id": alpha.couple.pk,
        "due_at": old.due_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
    }
    assert b"Name the cycle" not in request.body

    with django_capture_on_commit_callbacks(execute=True):
        assert services.occurrences_mark_missed(now=now) == 0  # idempotent
    assert len(receiver.requests) == 1


def test_occurrences_mark_missed_works_in_batches_and_honours_the_setting(alpha, settings):
    settings.CYCLECARE = {"WEBHOOK_ALLOW_HTTP": True, "MISSED_AFTER_HOURS": 1}
    today = timezone.localdate()
    assignment = services.assignment_create(
        user=alpha.clinician.user,
        couple=alpha.couple,
        partners=[alpha.a],
        kind="practice",
        title="Soft start-up",
        schedule="daily",
        local_time=datetime.time(8, 0),
        starts_on=today - datetime.timedelta(days=10),
    )
    for days_ago in range(1, 6):
        services.occurrence_materialise(
            assignment=assignment,
            partner=alpha.a,
            local_due_date=today - datetime.timedelta(days=days_ago),
            local_due_time=datetime.time(8),
        )
    assert services.occurrences_mark_missed(batch_size=2) == 5
    assert not Occurrence.objects.filter(assignment=assignment, status="pending").exists()
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5), tick=False):
        assert tasks.occurrences_mark_missed_task() == 0


def test_periodic_tasks_are_in_the_beat_schedule():
    entries = {entry["task"]: entry["schedule"] for entry in BEAT_SCHEDULE.values()}
    assert entries["cyclecare.tasks.webhook_deliveries_dispatch"] == 60.0
    assert entries["cyclecare.tasks.occurrences_mark_missed_task"] == 300.0


# ENDPOINT RULES
# ------------------------------------------------------------------------------
def test_only_the_practice_admin_or_a_writing_integration_manages_endpoints(alpha, receiver):
    for user in (
        alpha.clinician.user,
        PracticePrincipal(client_id=1, practice_id=alpha.practice.pk, scopes=frozenset({"read"})),
    ):
        with pytest.raises(ValidationError) as caught:
            webhooks.webhook_endpoint_create(user=user, url=receiver.url, events=["note.signed"])
        assert caught.value.code == "forbidden"
    client = PracticePrincipal(
        client_id=2, practice_id=alpha.practice.pk, scopes=frozenset({"read", "write"})
    )
    endpoint = webhooks.webhook_endpoint_create(
        user=client, url=receiver.url, events=["note.signed", "note.signed"]
    )
    assert endpoint.practice_id == alpha.practice.pk
    assert endpoint.events == ["note.signed"]

    bravo = build_practice("bravo")
    with pytest.raises(ValidationError):
        webhooks.webhook_endpoint_update(user=bravo.admin.user, endpoint=endpoint, is_active=False)
    endpoint.refresh_from_db()
    assert endpoint.is_active


@pytest.mark.parametrize(
    ("url", "allow_http", "ok"),
    [
        ("https://hooks.example.test/cyclecare", False, True),
        ("http://hooks.example.test/cyclecare", True, False),
        ("http://127.0.0.1:8080/hook", False, False),
        ("http://127.0.0.1:8080/hook", True, True),
        ("http://localhost/hook", True, True),
        ("https://user:pw@hooks.example.test/", False, False),
        ("ftp://hooks.example.test/", True, False),
        ("not a url", True, False),
    ],
)
def test_endpoint_urls_must_be_https(alpha, settings, url, allow_http, ok):
    settings.CYCLECARE = {"WEBHOOK_ALLOW_HTTP": allow_http}
    if ok:
        assert webhooks.webhook_endpoint_create(user=alpha.admin.user, url=url, events=["note.signed"]).pk
    else:
        with pytest.raises(ValidationError) as caught:
            webhooks.webhook_endpoint_create(user=alpha.admin.user, url=url, events=["note.signed"])
        assert "url" in caught.value.message_dict


def test_local_http_is_allowed_in_debug(alpha, settings):
    settings.CYCLECARE = {}
    settings.DEBUG = True
    assert webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url="http://localhost:9000/", events=["note.signed"]
    )


def test_endpoint_events_must_be_known(alpha, receiver):
    for events_ in ([], ["note.deleted"], "note.signed"):
        with pytest.raises(ValidationError) as caught:
            webhooks.webhook_endpoint_create(user=alpha.admin.user, url=receiver.url, events=events_)
        assert "events" in caught.value.message_dict


# SERVER-SIDE REQUEST FORGERY GUARD
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host", ["10.0.0.5", "192.168.1.10", "169.254.169.254", "127.0.0.1", "[::1]", "100.64.0.1"]
)
def test_private_destinations_are_refused_at_registration(settings, host):
    from cyclecare.webhooks import _clean_url

    settings.CYCLECARE = {"WEBHOOK_ALLOW_HTTP": False}
    settings.DEBUG = False
    with pytest.raises(ValidationError):
        _clean_url(f"https://{host}/hooks")


def test_names_resolving_to_private_addresses_are_refused_when_sending(settings, monkeypatch):
    import socket

    from cyclecare import webhooks

    settings.CYCLECARE = {"WEBHOOK_ALLOW_HTTP": False}
    settings.DEBUG = False
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(None, None, None, "", ("10.1.2.3", 443))])
    status, error = webhooks._post("https://hooks.clinic.example/in", b"{}", {})
    assert status is None and error.startswith("Refused")
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(None, None, None, "", ("93.184.216.34", 443))]
    )
    assert webhooks.destination_refused("hooks.clinic.example") == ""
