"""clinician.writes: new rows written together — in one statement on PostgreSQL."""

import os
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinician import events
from clinician.models import AuditEvent
from clinician.writes import KeyBlocks, Writes, key_blocks, together
from cyclecare import services, webhooks
from cyclecare.models import CheckIn, Instrument, WebhookDelivery, WebhookEndpoint
from tests.factories import integration_client

ANSWERS = {
    "cycle_showed_up": True,
    "my_move": "away",
    "intensity": 6,
    "minutes": 20,
    "repair_tried": True,
    "repair_worked": False,
    "connection": 5,
    "felt_unsafe": False,
}


def event(action: str, **fields) -> AuditEvent:
    return AuditEvent(
        actor_kind=AuditEvent.ActorKind.SYSTEM, action=action, target_type="t", target_id="1", **fields
    )


def test_rows_added_together_are_written_with_their_keys(db):
    with together() as writes:
        first = writes.add(event("test.one"))
        second = writes.add(event("test.two"))
        # A row has its key as soon as it is added, so the next row can name it.
        assert first.pk is not None and second.pk is not None and first.pk != second.pk
        writes.add(event("test.three", changes=[str(first.pk)]))
    stored = {row.action: row for row in AuditEvent.objects.filter(action__startswith="test.")}
    assert set(stored) == {"test.one", "test.two", "test.three"}
    assert stored["test.one"].pk == first.pk and stored["test.three"].changes == [str(first.pk)]
    assert stored["test.one"].occurred_at is not None  # auto_now_add, as save() sets it
    assert not first._state.adding


def test_one_bad_row_writes_none_of_them(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        with together() as writes:
            writes.add(event("test.one"))
            writes.add(event("test.two"))
            writes.add(event(None))  # action is NOT NULL
    assert not AuditEvent.objects.filter(action__startswith="test.").exists()


def test_a_block_that_raises_writes_nothing(db):
    with pytest.raises(RuntimeError), together() as writes:
        writes.add(event("test.one"))
        raise RuntimeError("the service refused after adding a row")
    assert not AuditEvent.objects.filter(action__startswith="test.").exists()


def test_callbacks_wait_for_the_rows(db, django_capture_on_commit_callbacks):
    seen = []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with together() as writes:
            row = writes.add(event("test.one"))
            writes.on_commit(lambda: seen.append(AuditEvent.objects.filter(pk=row.pk).exists()))
            assert seen == []
    assert len(callbacks) == 1 and seen == [True]


def test_postgresql_writes_them_in_one_statement(postgres):
    writes = Writes()
    for action in ("test.one", "test.two", "test.three"):
        writes.add(event(action))  # the first may reserve a block of keys
    with CaptureQueriesContext(connection) as captured:
        writes.flush()
    assert len(captured) == 1
    assert captured[0]["sql"].startswith("WITH w0 AS (INSERT INTO")
    assert AuditEvent.objects.filter(action__startswith="test.").count() == 3
    with pytest.raises(RuntimeError, match="already flushed"):
        writes.add(event("test.four"))


def test_a_row_is_written_as_djangos_insert_compiler_writes_it(postgres, tenants, monkeypatch):
    from django.utils import timezone

    from clinician.writes import _compiled_insert

    instant = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: instant)  # auto_now_add, the same in both
    endpoint = webhooks.webhook_endpoint_create(
        user=tenants["a"].admin.user, url="https://hooks.alpha.invalid/x", events=["checkin.completed"]
    )
    rows = [
        event("test.one", changes=["status"]),
        WebhookDelivery(
            id=10**9,
            practice_id=endpoint.practice_id,
            endpoint=endpoint,
            event_id="6f0c2d1e-1b7a-4c55-9d1c-0f4f1b2a3c4d",
            event="checkin.completed",
            payload={"data": {"checkin_id": 1}},
            next_attempt_at=instant,
        ),
    ]
    rows[0].pk = 10**9
    writes = Writes()
    for row in rows:
        ours, django = writes._insert_sql(row), _compiled_insert(connection, row)
        assert connection.ops.compose_sql(*ours) == connection.ops.compose_sql(*django)


def test_keys_come_from_the_sequence_a_block_at_a_time(postgres, monkeypatch):
    blocks = KeyBlocks()
    monkeypatch.setattr(blocks, "size", 3)
    with CaptureQueriesContext(connection) as captured:
        keys = [blocks.take(connection, AuditEvent) for _ in range(7)]
    assert len(captured) == 3  # 3 + 3 + 1
    assert len(set(keys)) == 7 and keys[:3] == sorted(keys[:3])
    # The sequence has moved past them: an ordinary save never collides with a reserved key.
    event("test.saved").save()
    assert AuditEvent.objects.get(action="test.saved").pk not in keys


def test_a_forked_child_takes_no_keys_from_its_parent(postgres):
    key_blocks.take(connection, AuditEvent)
    assert key_blocks._free
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it inherited, and leave at once
        os.write(write_end, str(len(key_blocks._free)).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 16) == b"0"
    assert key_blocks._free  # the parent keeps its own


@pytest.fixture
def received():
    """post_save receivers on AuditEvent and CheckIn, as a host project might connect them."""
    seen: list[tuple[str, int, bool]] = []

    def receiver(sender, instance, created, **kwargs):
        # The row is in the database when its receiver runs, as with save().
        assert sender.objects.filter(pk=instance.pk).exists()
        seen.append((sender._meta.label, instance.pk, created))

    for model in (AuditEvent, CheckIn):
        post_save.connect(receiver, sender=model, dispatch_uid=f"host-{model._meta.label}")
    yield seen
    for model in (AuditEvent, CheckIn):
        post_save.disconnect(sender=model, dispatch_uid=f"host-{model._meta.label}")


def test_a_model_with_receivers_is_saved_and_its_receivers_run(db, received):
    # Gathered (PostgreSQL) or saved at once (SQLite), the receivers run for each row.
    with together() as writes:
        first = writes.add(event("test.one"))
        second = writes.add(event("test.two", changes=[str(first.pk)]))
    assert received == [("clinician.AuditEvent", first.pk, True), ("clinician.AuditEvent", second.pk, True)]
    assert AuditEvent.objects.get(pk=second.pk).changes == [str(first.pk)]


def test_a_check_in_runs_a_hosts_receivers_on_every_database(subscribed, received):
    partner = subscribed.couples[0].a
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    checkin = services.checkin_submit(partner=partner, instrument=instrument, answers=ANSWERS)
    assert ("cyclecare.CheckIn", checkin.pk, True) in received
    audit = AuditEvent.objects.get(action="checkin.submit", target_id=str(checkin.pk))
    assert ("clinician.AuditEvent", audit.pk, True) in received
    assert WebhookDelivery.objects.filter(payload__data__checkin_id=checkin.pk).count() == 1


def test_a_check_in_through_the_api_succeeds_with_a_hosts_receiver(subscribed, received):
    partner = subscribed.couples[0].a
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    api = integration_client(subscribed.practice, scopes="read write").api
    response = api.post(
        "/api/v1/checkins/",
        {"partner": partner.pk, "instrument": instrument.pk, "answers": ANSWERS},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert ("cyclecare.CheckIn", response.json()["id"], True) in received


def test_a_receiver_that_raises_leaves_no_check_in(subscribed):
    def broken(**kwargs):
        raise RuntimeError("host receiver down")

    partner = subscribed.couples[0].a
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    before = CheckIn.objects.count(), AuditEvent.objects.count(), WebhookDelivery.objects.count()
    post_save.connect(broken, sender=AuditEvent, dispatch_uid="host-broken")
    try:
        with pytest.raises(RuntimeError, match="host receiver down"):
            services.checkin_submit(partner=partner, instrument=instrument, answers=ANSWERS)
    finally:
        post_save.disconnect(sender=AuditEvent, dispatch_uid="host-broken")
    assert (CheckIn.objects.count(), AuditEvent.objects.count(), WebhookDelivery.objects.count()) == before


# THE CHECK-IN, ITS AUDIT EVENT AND ITS OUTBOX
# ------------------------------------------------------------------------------
@pytest.fixture
def subscribed(tenants):
    world = tenants["a"]
    webhooks.webhook_endpoint_create(
        user=world.admin.user, url="https://hooks.alpha.invalid/x", events=["checkin.completed"]
    )
    return world


def test_a_check_in_is_one_statement_on_postgresql(postgres, subscribed):
    partner = subscribed.couples[0].a
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    services.checkin_submit(partner=partner, instrument=instrument, answers=ANSWERS)  # reserves keys
    with CaptureQueriesContext(connection) as captured:
        checkin = services.checkin_submit(partner=partner, instrument=instrument, answers=ANSWERS)
    assert [query["sql"].split()[0] for query in captured] == ["WITH"], captured.captured_queries
    assert AuditEvent.objects.filter(action="checkin.submit", target_id=str(checkin.pk)).count() == 1
    delivery = WebhookDelivery.objects.get(payload__data__checkin_id=checkin.pk)
    assert delivery.event == "checkin.completed"


def test_a_failing_subscriber_leaves_no_check_in(subscribed):
    def broken(event, *, practice_id, data, writes):
        raise RuntimeError("subscriber down")

    partner = subscribed.couples[0].a
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    before = CheckIn.objects.count(), AuditEvent.objects.count(), WebhookDelivery.objects.count()
    events.subscribe(broken)
    try:
        with pytest.raises(RuntimeError):
            services.checkin_submit(partner=partner, instrument=instrument, answers=ANSWERS)
    finally:
        events.unsubscribe(broken)
    assert (CheckIn.objects.count(), AuditEvent.objects.count(), WebhookDelivery.objects.count()) == before


# ONE ROW PER ROW OF ANOTHER TABLE (add_each)
# ------------------------------------------------------------------------------
def delivery_template(practice_id: int) -> WebhookDelivery:
    return WebhookDelivery(
        practice_id=practice_id,
        event_id=uuid.uuid4(),
        event="checkin.completed",
        payload={"data": {"checkin_id": 1}},
        next_attempt_at=timezone.now(),
    )


@pytest.fixture
def endpoints(tenants):
    """Of practice a: two subscribed, one switched off, one subscribed to something else, one
    whose events merely look alike; and one of practice b subscribed."""
    a, b = tenants["a"].practice, tenants["b"].practice

    def endpoint(practice, name, events, is_active=True):
        return WebhookEndpoint.objects.create(
            practice=practice,
            url=f"https://hooks.invalid/{name}",
            events=events,
            secret="s",
            is_active=is_active,
        )

    return {
        "subscribed": [
            endpoint(a, "one", ["checkin.completed"]),
            endpoint(a, "two", ["note.signed", "checkin.completed"]),
        ],
        "others": [
            endpoint(a, "off", ["checkin.completed"], is_active=False),
            endpoint(a, "elsewhere", ["note.signed"]),
            endpoint(a, "alike", ["checkin.completed.later", "checkin", {"checkin.completed": True}]),
            endpoint(a, "object", {"checkin.completed": True}),
            endpoint(b, "other-practice", ["checkin.completed"]),
        ],
    }


def test_subscribed_endpoints_are_the_same_on_every_database(tenants, endpoints):
    found = webhooks.subscribed_endpoints(practice_id=tenants["a"].practice.pk, event="checkin.completed")
    assert sorted(found.values_list("pk", flat=True)) == sorted(e.pk for e in endpoints["subscribed"])


def test_add_each_writes_a_row_per_source_row_with_their_keys(tenants, endpoints):
    practice_id = tenants["a"].practice.pk
    source = webhooks.subscribed_endpoints(practice_id=practice_id, event="checkin.completed")
    with CaptureQueriesContext(connection) as captured, together() as writes:
        audit = writes.add(event("test.each"))
        added = writes.add_each(
            delivery_template(practice_id), field="endpoint", source=source.values_list("pk", flat=True)
        )
        none = writes.add_each(
            delivery_template(practice_id),
            field="endpoint",
            source=source.filter(pk__lt=0).values_list("pk", flat=True),
        )
    stored = WebhookDelivery.objects.filter(pk__in=added)
    assert sorted(stored.values_list("endpoint_id", flat=True)) == sorted(
        e.pk for e in endpoints["subscribed"]
    )
    assert len(added) == 2 and none == []
    assert {row.payload["data"]["checkin_id"] for row in stored} == {1}
    assert AuditEvent.objects.filter(pk=audit.pk).exists()
    if connection.vendor == "postgresql":  # the rows, the subscriptions read: one statement
        assert [query["sql"].split()[0] for query in captured] == ["WITH"], captured.captured_queries


def test_add_each_with_receivers_saves_each_copy(tenants, endpoints):
    seen = []

    def receiver(sender, instance, created, **kwargs):
        seen.append(instance.endpoint_id)

    practice_id = tenants["a"].practice.pk
    source = webhooks.subscribed_endpoints(practice_id=practice_id, event="checkin.completed")
    post_save.connect(receiver, sender=WebhookDelivery, dispatch_uid="host-delivery")
    try:
        with together() as writes:
            added = writes.add_each(
                delivery_template(practice_id), field="endpoint", source=source.values_list("pk", flat=True)
            )
    finally:
        post_save.disconnect(sender=WebhookDelivery, dispatch_uid="host-delivery")
    assert sorted(seen) == sorted(e.pk for e in endpoints["subscribed"])
    assert sorted(added) == sorted(WebhookDelivery.objects.values_list("pk", flat=True))
