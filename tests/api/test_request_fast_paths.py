"""How the API stays fast without remembering anything between requests: a bearer token checked
on every request in one query (revocation, expiry and deactivation honoured by the very next
request, whichever process serves it), fixed-window throttling (429 with Retry-After), the
partner and instrument of a check-in read in the token's own query, the webhook subscriptions
read by the write itself, and committed deliveries handed to Celery at commit.

"Another process" is played by a queryset ``update()`` or ``delete()``: it sends no signal, so
nothing in this process can hear of the change except by reading the database."""

import datetime
import hashlib
import logging
import os
import threading
import time

import pytest
import time_machine
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken
from rest_framework import serializers

from clinician.api import authentication
from clinician.api.fields import CompiledQuery, CompiledReads, first_rows
from clinician.api.throttling import PrincipalRateThrottle
from clinician.models import IntegrationClient
from clinician.principals import PracticePrincipal
from couples.models import Partner
from cyclecare import selectors as cyclecare_selectors
from cyclecare import services, tasks, webhooks
from cyclecare.api import checkins as checkins_api
from cyclecare.api.checkins import (
    INSTRUMENT_COLUMNS,
    PARTNER_ROW,
    _partners_in_scope,
    partner_and_instrument,
)
from cyclecare.models import CheckIn, Instrument, WebhookDelivery, WebhookEndpoint
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db

PRACTICES = "/api/v1/practices/"
CHECKINS = "/api/v1/checkins/"
START = datetime.datetime(2026, 3, 2, 12, 0, 20, tzinfo=datetime.UTC)


def token_queries(api) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(PRACTICES).status_code == 200
    return sum("oauth2_provider_accesstoken" in query["sql"] for query in captured.captured_queries)


def record_checkin(api, partner, instrument):
    body = {
        "partner": partner.pk,
        "instrument": instrument.pk,
        "answers": {"cycle_showed_up": True, "connection": 6},
    }
    return api.post(CHECKINS, body, format="json")


# TOKENS, CHECKED ON EVERY REQUEST
# ------------------------------------------------------------------------------
def test_a_token_is_looked_up_on_every_request_in_one_query(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    assert token_queries(integration.api) == 1
    assert token_queries(integration.api) == 1


def test_a_revoked_token_is_refused_at_once(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    assert integration.api.get(PRACTICES).status_code == 200
    AccessToken.objects.get().revoke()  # what /o/revoke_token/ does: deletes the row
    assert_problem(integration.api.get(PRACTICES), 401)


def test_a_token_revoked_by_another_process_is_refused_by_the_next_request(tenants, integration_for):
    """Used once (so a per-process memory would hold it), then deleted where no signal reaches
    this process: the next request is refused, the next check-in is not written."""
    world = tenants["a"]
    integration = integration_for(world.practice)
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    assert record_checkin(integration.api, world.couples[0].a, instrument).status_code == 201
    written = CheckIn.objects.count()
    AccessToken.objects.all().delete()
    assert_problem(integration.api.get(PRACTICES), 401)
    assert_problem(record_checkin(integration.api, world.couples[0].a, instrument), 401)
    assert CheckIn.objects.count() == written


def test_a_deactivated_client_is_refused_at_once(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    assert integration.api.get(PRACTICES).status_code == 200
    integration.client.is_active = False
    integration.client.save(update_fields=["is_active"])
    assert_problem(integration.api.get(PRACTICES), 401)


def test_an_expired_token_is_refused_though_it_was_used(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    AccessToken.objects.update(expires=timezone.now() + datetime.timedelta(seconds=2))
    assert integration.api.get(PRACTICES).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=3)):
        assert_problem(integration.api.get(PRACTICES), 401)


def test_a_change_made_in_another_process_is_seen_by_the_next_request(tenants, integration_for):
    """No signal reaches this process (a queryset update stands in for another worker)."""
    integration = integration_for(tenants["a"].practice)
    assert integration.api.get(PRACTICES).status_code == 200
    IntegrationClient.objects.update(is_active=False)
    assert_problem(integration.api.get(PRACTICES), 401)
    IntegrationClient.objects.update(is_active=True)
    assert integration.api.get(PRACTICES).status_code == 200
    AccessToken.objects.update(scope="read")  # narrowed elsewhere: a write is refused at once
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    assert_problem(record_checkin(integration.api, tenants["a"].couples[0].a, instrument), 403)


def test_a_token_in_the_query_string_is_still_refused(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    assert integration.api.get(PRACTICES).status_code == 200
    assert_problem(integration.api.get(f"{PRACTICES}?access_token={integration.token}"), 401)


# FIXED-WINDOW THROTTLE
# ------------------------------------------------------------------------------
def test_throttle_refuses_until_the_window_ends(tenants, integration_for, monkeypatch):
    monkeypatch.setattr(PrincipalRateThrottle, "rate", "3/min", raising=False)
    integration = integration_for(tenants["a"].practice)
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(3):
            assert integration.api.get(PRACTICES).status_code == 200
        refused = integration.api.get(PRACTICES)
        assert_problem(refused, 429)
        assert refused["Retry-After"] == "40"  # 12:00:20 → the window ends at 12:01:00
        clock.move_to(START + datetime.timedelta(seconds=39))
        assert_problem(integration.api.get(PRACTICES), 429)
        clock.move_to(START + datetime.timedelta(seconds=40))
        assert integration.api.get(PRACTICES).status_code == 200


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")
def test_throttle_counts_in_redis_in_one_round_trip(tenants, integration_for, monkeypatch):
    prefix = f"cyclecare-test-throttle-{os.getpid()}"
    backend = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": prefix})
    monkeypatch.setattr(PrincipalRateThrottle, "cache", backend)
    monkeypatch.setattr(PrincipalRateThrottle, "rate", "2/min", raising=False)
    integration = integration_for(tenants["a"].practice)
    client = backend._cache.get_client(None, write=True)
    try:
        with time_machine.travel(START, tick=False):
            assert integration.api.get(PRACTICES).status_code == 200
            assert integration.api.get(PRACTICES).status_code == 200
            refused = integration.api.get(PRACTICES)
            assert_problem(refused, 429)
            assert refused["Retry-After"] == "40"
        keys = list(client.scan_iter(match=f"{prefix}*"))
        assert len(keys) == 1 and 0 < client.ttl(keys[0]) <= 61
    finally:
        # Only this test's keys: the Redis database may be shared (never FLUSHDB here).
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


# INSTRUMENTS AND SUBSCRIPTIONS, READ WITH EACH WRITE
# ------------------------------------------------------------------------------
def test_a_deactivated_instrument_is_refused_at_once(tenants, integration_for):
    world = tenants["a"]
    api = integration_for(world.practice).api
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    assert record_checkin(api, world.couples[0].a, instrument).status_code == 201
    instrument.is_active = False
    instrument.save(update_fields=["is_active"])
    body = assert_problem(record_checkin(api, world.couples[0].a, instrument), 400)
    assert "instrument" in body["errors"]


def test_a_new_endpoint_gets_the_next_event(tenants, integration_for):
    world = tenants["a"]
    api = integration_for(world.practice).api
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    assert record_checkin(api, world.couples[0].a, instrument).status_code == 201
    assert not WebhookDelivery.objects.filter(event="checkin.completed").exists()
    endpoint = webhooks.webhook_endpoint_create(
        user=world.admin.user, url="https://hooks.alpha.invalid/x", events=["checkin.completed"]
    )
    created = record_checkin(api, world.couples[0].a, instrument)
    assert created.status_code == 201
    delivery = WebhookDelivery.objects.get(event="checkin.completed")
    assert delivery.endpoint_id == endpoint.pk
    assert delivery.payload["data"]["checkin_id"] == created.json()["id"]
    # And a switched-off endpoint gets nothing more.
    webhooks.webhook_endpoint_deactivate(user=world.admin.user, endpoint=endpoint)
    assert record_checkin(api, world.couples[0].a, instrument).status_code == 201
    assert WebhookDelivery.objects.filter(event="checkin.completed").count() == 1


def test_an_instrument_deactivated_by_another_process_is_refused_by_the_next_check_in(
    tenants, integration_for
):
    world = tenants["a"]
    api = integration_for(world.practice).api
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    assert record_checkin(api, world.couples[0].a, instrument).status_code == 201
    Instrument.objects.filter(pk=instrument.pk).update(is_active=False)
    body = assert_problem(record_checkin(api, world.couples[0].a, instrument), 400)
    assert "instrument" in body["errors"]


def test_endpoint_changes_made_in_another_process_take_effect_at_the_next_event(tenants, integration_for):
    """Delivered once; then switched off, re-subscribed and created where no signal reaches this
    process: each change decides the very next check-in's deliveries."""
    world = tenants["a"]
    api = integration_for(world.practice).api
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    endpoint = webhooks.webhook_endpoint_create(
        user=world.admin.user, url="https://hooks.alpha.invalid/x", events=["checkin.completed"]
    )

    def next_deliveries() -> list[int]:
        created = record_checkin(api, world.couples[0].a, instrument)
        assert created.status_code == 201
        deliveries = WebhookDelivery.objects.filter(payload__data__checkin_id=created.json()["id"])
        return sorted(deliveries.values_list("endpoint_id", flat=True))

    assert next_deliveries() == [endpoint.pk]
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    assert next_deliveries() == []
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=True, events=["note.signed"])
    assert next_deliveries() == []
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(events=["note.signed", "checkin.completed"])
    assert next_deliveries() == [endpoint.pk]
    other = WebhookEndpoint.objects.create(
        practice=world.practice, url="https://hooks.alpha.invalid/y", events=["checkin.completed"], secret="s"
    )
    assert next_deliveries() == sorted([endpoint.pk, other.pk])
    # Another practice's endpoint never gets this practice's events.
    WebhookEndpoint.objects.filter(pk=other.pk).update(practice=tenants["b"].practice)
    assert next_deliveries() == [endpoint.pk]


def test_a_create_reads_only_what_it_needs(tenants, integration_for):
    """The token, the partner and the instrument in one query (ReadsWithToken), then the
    check-in, its audit event and its outbox rows written together: on PostgreSQL in one
    statement (clinician.writes) that also reads the subscriptions, with no BEGIN or COMMIT
    round trip; elsewhere the subscriptions read and three INSERTs in one transaction."""
    world = tenants["a"]
    webhooks.webhook_endpoint_create(
        user=world.admin.user, url="https://hooks.alpha.invalid/x", events=["checkin.completed"]
    )
    api = integration_for(world.practice).api
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    assert record_checkin(api, world.couples[0].a, instrument).status_code == 201  # keys reserved
    with CaptureQueriesContext(connection) as captured:
        assert record_checkin(api, world.couples[0].b, instrument).status_code == 201
    statements = [query["sql"].split()[0] for query in captured.captured_queries]
    if connection.vendor == "postgresql":
        assert statements == ["SELECT", "WITH"], captured.captured_queries
        written = captured.captured_queries[1]["sql"]
        for table in ("cyclecare_checkin", "clinician_auditevent", "cyclecare_webhookdelivery"):
            assert written.count(f'INSERT INTO "{table}"') == 1
        assert '"cyclecare_webhookendpoint"' in written
    else:
        assert statements.count("SELECT") == 2, captured.captured_queries
        assert statements.count("INSERT") == 3
    read = captured.captured_queries[0]["sql"]
    assert '"oauth2_provider_accesstoken"' in read
    assert '"couples_partner"."is_active"' in read and '"cyclecare_instrument"' in read
    # The partner's name and contact details are not read (nor decrypted).
    assert '"couples_partner"."display_name"' not in read and '"couples_partner"."email"' not in read


# THE PARTNER AND THE INSTRUMENT, IN ONE READ
# ------------------------------------------------------------------------------
def principal_of(practice) -> PracticePrincipal:
    return PracticePrincipal(
        client_id=1, practice_id=practice.pk, name="t", scopes=frozenset({"read", "write"})
    )


def test_the_read_together_sees_exactly_what_the_selectors_see(tenants):
    """For an integration client of either practice and for each clinician role: every partner
    (active, inactive, the other practice's) and every instrument, and ids nobody has."""
    world = tenants["a"]
    inactive = world.couples[1].b
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    licensed = Instrument.objects.create(
        practice=tenants["b"].practice, code="licensed", name="Licensed", definition={"items": []}
    )
    partner_ids = [*Partner.objects.values_list("pk", flat=True), 10**12]
    instrument_ids = [*Instrument.objects.values_list("pk", flat=True), 10**12]
    callers = [principal_of(tenants["a"].practice), principal_of(tenants["b"].practice)]
    callers += [world.admin.user, world.supervisor.user, world.clinician.user]
    for caller in callers:
        for index, partner_id in enumerate(partner_ids):
            for instrument_id in (instrument_ids[index % len(instrument_ids)], licensed.pk):
                partner, instrument = partner_and_instrument(
                    user=caller, partner_id=partner_id, instrument_id=instrument_id
                )
                expected_partner = (
                    _partners_in_scope(user=caller).filter(pk=partner_id).values_list(*PARTNER_ROW).first()
                )
                expected_instrument = (
                    cyclecare_selectors.instruments_visible_to(user=caller).filter(pk=instrument_id).first()
                )
                assert (partner and partner.pk) == (expected_partner and expected_partner[0]), caller
                if partner is not None:
                    assert (partner.practice_id, partner.couple_id, partner.couple.status) == (
                        expected_partner[1],
                        expected_partner[2],
                        expected_partner[7],
                    )
                assert (instrument and instrument.pk) == (expected_instrument and expected_instrument.pk)
                if instrument is not None:
                    for column in INSTRUMENT_COLUMNS:  # converted as the ORM converts (JSON, times)
                        assert getattr(instrument, column) == getattr(expected_instrument, column), column
    assert partner_and_instrument(user=callers[0], partner_id=inactive.pk, instrument_id=licensed.pk) == (
        None,
        None,
    )


def test_the_read_with_the_token_sees_exactly_what_the_selectors_see(tenants, integration_for):
    """ReadsWithToken scopes the partner and the instrument to the token's own client's practice
    in the token's query: for a token of either practice, every partner (active, inactive, the
    other practice's), every instrument and ids nobody has, the same rows as the selectors."""
    world = tenants["a"]
    inactive = world.couples[1].b
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    Instrument.objects.create(
        practice=tenants["b"].practice, code="licensed", name="Licensed", definition={"items": []}
    )
    partner_ids = [*Partner.objects.values_list("pk", flat=True), 10**12]
    instrument_ids = [*Instrument.objects.values_list("pk", flat=True), 10**12]
    for practice in (tenants["a"].practice, tenants["b"].practice):
        integration = integration_for(practice)
        checksum = hashlib.sha256(integration.token.encode()).hexdigest()
        caller = principal_of(practice)
        for index, partner_id in enumerate(partner_ids):
            for instrument_id in (instrument_ids[index % len(instrument_ids)], instrument_ids[-2]):
                ids = {"partner_id": partner_id, "instrument_id": instrument_id}
                with CaptureQueriesContext(connection) as captured:
                    token_row, rows = checkins_api._reads_with_token(checksum=checksum, **ids)
                assert len(captured) == 1
                assert token_row[0] == AccessToken.objects.get(token=integration.token).pk
                assert rows == list(
                    checkins_api._compiled_integration_reads(practice_id=practice.pk, **ids)
                ), (practice, ids)
                assert checkins_api._partner_and_instrument_of(rows)[0] is None or (
                    partner_and_instrument(user=caller, **ids)[0].pk == partner_id
                )
    # A checksum no token has: no token and no practice, so no partner (a shipped instrument is
    # everyone's; nothing read with a token is used unless the token is accepted).
    token_row, rows = checkins_api._reads_with_token(
        checksum="0" * 64, partner_id=partner_ids[0], instrument_id=instrument_ids[0]
    )
    assert token_row is None and rows[0] is None


def test_a_check_in_is_refused_when_its_token_is(tenants, integration_for):
    """The partner and instrument read with the token are never used unless the token is
    accepted: an expired token, a deactivated client, a read-only token all write nothing."""
    world = tenants["a"]
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    written = CheckIn.objects.count()
    expired = integration_for(world.practice)
    AccessToken.objects.filter(token=expired.token).update(expires=timezone.now())
    assert_problem(record_checkin(expired.api, world.couples[0].a, instrument), 401)
    deactivated = integration_for(world.practice)
    IntegrationClient.objects.filter(pk=deactivated.client.pk).update(is_active=False)
    assert_problem(record_checkin(deactivated.api, world.couples[0].a, instrument), 401)
    read_only = integration_for(world.practice, scopes="read")
    assert_problem(record_checkin(read_only.api, world.couples[0].a, instrument), 403)
    other = integration_for(tenants["b"].practice)
    problem = assert_problem(record_checkin(other.api, world.couples[0].a, instrument), 400)
    assert "partner" in problem["errors"]
    assert CheckIn.objects.count() == written


@pytest.mark.parametrize(
    "header",
    [
        "bearer {token}",
        "BEARER {token}",
        "Bearer  {token}",
        "Bearer {token} extra",
        "Bearer",
        "Bearer nosuchtoken",
        "Token {token}",
        " Bearer {token}",
    ],
)
def test_the_header_read_answers_as_the_toolkit_does(tenants, integration_for, header, monkeypatch):
    """Taking a token from the Authorization header without oauthlib's parsing changes no
    answer: each header gets the status (and challenge) the toolkit's whole way gives it."""
    integration = integration_for(tenants["a"].practice)
    integration.api.credentials(HTTP_AUTHORIZATION=header.format(token=integration.token))
    ours = integration.api.get(PRACTICES)
    monkeypatch.setattr(authentication, "_bearer_in_header", lambda request: None)
    toolkit = integration.api.get(PRACTICES)
    assert ours.status_code == toolkit.status_code
    assert ours.get("WWW-Authenticate") == toolkit.get("WWW-Authenticate")
    assert ours.content == toolkit.content


def test_first_rows_answers_empty_querysets_in_the_same_query(tenants):
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    with CaptureQueriesContext(connection) as captured:
        rows = first_rows(
            (Instrument.objects.none(), ("id",)),
            (Instrument.objects.filter(pk=instrument.pk), ("id", "definition")),
            (Instrument.objects.filter(pk__in=[]), ("id",)),
        )
    assert rows == [None, (instrument.pk, instrument.definition), None]
    assert len(captured) == 1


def test_a_check_in_names_a_partner_in_scope(tenants, integration_for):
    world = tenants["a"]
    api = integration_for(world.practice).api
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    written = CheckIn.objects.count()
    inactive = world.couples[1].b
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    for partner in (tenants["b"].couples[0].a, inactive):
        body = assert_problem(record_checkin(api, partner, instrument), 400)
        assert "partner" in body["errors"]
    body = {
        "partner": str(world.couples[0].a.pk),
        "instrument": instrument.pk,
        "answers": {"cycle_showed_up": True, "connection": 6},
    }
    created = api.post(CHECKINS, body, format="json")  # a numeric string: DRF's own reading
    assert created.status_code == 201, created.content
    assert created.json()["partner"] == world.couples[0].a.pk
    for wrong in (2**70, -1, 1.5, True, [1]):
        problem = assert_problem(api.post(CHECKINS, {**body, "partner": wrong}, format="json"), 400)
        assert "partner" in problem["errors"], wrong
    assert CheckIn.objects.count() == written + 1


def test_copied_read_only_fields_answer_as_freshly_built_ones(tenants):
    """CheckInSerializer builds its fields once (FieldsOnce) and copies them per
    instance: the same output as DRF building them anew, each copy bound to its own serializer."""
    from cyclecare import services
    from cyclecare.api.checkins import CheckInSerializer

    class Fresh(CheckInSerializer):
        def get_fields(self):
            return serializers.ModelSerializer.get_fields(self)

    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    answers = {"cycle_showed_up": True, "connection": 6}
    checkins = [
        services.checkin_submit(partner=partner, instrument=instrument, answers=answers)
        for partner in (tenants["a"].couples[0].a, tenants["b"].couples[0].b)
    ]
    first, second = (CheckInSerializer(checkin) for checkin in checkins)
    assert first.data == Fresh(checkins[0]).data and second.data == Fresh(checkins[1]).data
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
    assert first.fields["answers"].child.parent is first.fields["answers"]  # nested: deep-copied


def test_copied_write_fields_validate_as_freshly_built_ones(tenants):
    """CheckInRecordSerializer builds its declared fields once (FieldsOnce): each body gets the
    same validated data or the same errors as DRF's own deep copies would give."""
    from types import SimpleNamespace

    from cyclecare.api.checkins import CheckInRecordSerializer

    class Fresh(CheckInRecordSerializer):
        def get_fields(self):
            return serializers.Serializer.get_fields(self)

    world = tenants["a"]
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    partner = world.couples[0].a
    good = {"partner": partner.pk, "instrument": instrument.pk, "answers": {"connection": 6}}
    bodies = [
        good,
        {**good, "submitted_at": "2026-03-02T12:00:00Z"},
        {**good, "submitted_at": "yesterday"},
        {**good, "answers": ["not", "a", "dict"]},
        {**good, "partner": tenants["b"].couples[0].a.pk},
        {**good, "occurrence": 10**12},
        {"answers": {}},
        {},
    ]
    context = {"request": SimpleNamespace(user=principal_of(world.practice))}
    for body in bodies:
        ours, fresh = CheckInRecordSerializer(data=body, context=context), Fresh(data=body, context=context)
        assert ours.is_valid() == fresh.is_valid(), body
        assert ours.errors == fresh.errors, body
        if not ours.errors:
            assert {k: getattr(v, "pk", v) for k, v in ours.validated_data.items()} == {
                k: getattr(v, "pk", v) for k, v in fresh.validated_data.items()
            }
    first, second = (CheckInRecordSerializer(data=good, context=context) for _ in range(2))
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
    assert first.fields["answers"].child is not second.fields["answers"].child
    assert first.fields["answers"].child.parent is first.fields["answers"]


# WEBHOOK SENDS, HANDED TO CELERY AT COMMIT
# ------------------------------------------------------------------------------
def test_committed_deliveries_are_enqueued_together_soon(monkeypatch):
    sent: list[list[int]] = []
    done = threading.Event()

    def record(delivery_ids):
        sent.append(list(delivery_ids))
        done.set()

    monkeypatch.setattr(tasks.webhook_deliver_batch, "delay", record)
    prompt = webhooks.PromptSends()
    monkeypatch.setattr(prompt, "_eager", lambda: False)
    prompt.gather_seconds = 0.2
    started = time.monotonic()
    prompt.add([1, 2])
    prompt.add([3])
    assert done.wait(5)
    assert sent == [[1, 2, 3]] and time.monotonic() - started < 2
    done.clear()
    prompt.add([4])
    assert done.wait(5) and sent[-1] == [4]


def test_a_broker_that_is_down_loses_no_delivery(monkeypatch, caplog):
    def refuse(*args):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.webhook_deliver_batch, "delay", refuse)
    prompt = webhooks.PromptSends()
    monkeypatch.setattr(prompt, "_eager", lambda: False)
    prompt._ids = [7]
    with caplog.at_level(logging.WARNING, logger="cyclecare.webhooks"):
        prompt.flush()  # the row stays PENDING and due: the dispatcher sends it
    assert "the dispatcher will" in caplog.text


def test_a_check_in_hands_its_deliveries_to_celery_once_committed(
    tenants, django_capture_on_commit_callbacks, monkeypatch
):
    world = tenants["a"]
    endpoints = [
        webhooks.webhook_endpoint_create(
            user=world.admin.user, url=f"https://hooks.alpha.invalid/{name}", events=["checkin.completed"]
        )
        for name in ("x", "y")
    ]
    sent: list[list[int]] = []
    monkeypatch.setattr(webhooks, "send_soon", sent.append)
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.checkin_submit(
            partner=world.couples[0].a,
            instrument=instrument,
            answers={"cycle_showed_up": False, "connection": 4},
        )
    assert sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    ids = sorted(WebhookDelivery.objects.filter(endpoint__in=endpoints).values_list("pk", flat=True))
    assert len(ids) == 2 and [sorted(batch) for batch in sent] == [ids]


def test_a_batch_task_sends_each_delivery(tenants, django_capture_on_commit_callbacks, monkeypatch):
    world = tenants["a"]
    endpoint = webhooks.webhook_endpoint_create(
        user=world.admin.user, url="https://hooks.alpha.invalid/x", events=["checkin.completed"]
    )
    monkeypatch.setattr(webhooks, "_post", lambda url, body, headers: (204, ""))
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    from cyclecare import services

    with django_capture_on_commit_callbacks(execute=False):
        services.checkin_submit(
            partner=world.couples[0].a,
            instrument=instrument,
            answers={"cycle_showed_up": False, "connection": 4},
        )
        services.checkin_submit(
            partner=world.couples[0].b,
            instrument=instrument,
            answers={"cycle_showed_up": True, "connection": 5},
        )
    ids = list(endpoint.deliveries.values_list("pk", flat=True))
    assert len(ids) == 2
    assert tasks.webhook_deliver_batch.delay(ids).get() == 2
    assert set(endpoint.deliveries.values_list("status", flat=True)) == {WebhookDelivery.Status.DELIVERED}


# SQL TEXT COMPILED ONCE (CompiledReads): TEXT ONLY, CHECKED TO DEPEND ON NO DATA
# ------------------------------------------------------------------------------
@pytest.fixture
def compiles(monkeypatch):
    seen: list = []
    compile_sql = SQLCompiler.as_sql

    def counted(self, *args, **kwargs):
        seen.append(self.query.model)
        return compile_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counted)
    return seen


def test_an_integration_clients_check_in_compiles_no_read(tenants, integration_for, compiles):
    world = tenants["a"]
    api = integration_for(world.practice).api
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    assert record_checkin(api, world.couples[0].a, instrument).status_code == 201
    compiles.clear()
    with CaptureQueriesContext(connection) as captured:
        assert record_checkin(api, world.couples[0].b, instrument).status_code == 201
        assert record_checkin(api, world.couples[1].a, instrument).status_code == 201
    assert not {AccessToken, Partner, Instrument} & set(compiles), compiles
    assert sum("oauth2_provider_accesstoken" in query["sql"] for query in captured) == 2  # read each time


def test_compiled_reads_answer_as_the_orm_for_each_practice(tenants):
    """The same text for both practices, each answer its own practice's (the scope is a parameter)."""
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    for mine, theirs in (("a", "b"), ("b", "a")):
        caller = principal_of(tenants[mine].practice)
        own, other = tenants[mine].couples[0].a, tenants[theirs].couples[0].a
        partner, found = partner_and_instrument(user=caller, partner_id=own.pk, instrument_id=instrument.pk)
        assert partner.pk == own.pk and partner.couple_id == own.couple_id and found.pk == instrument.pk
        assert (
            partner_and_instrument(user=caller, partner_id=other.pk, instrument_id=instrument.pk)[0] is None
        )


def test_reads_whose_text_depends_on_data_are_compiled_every_time(tenants):
    ids = list(Partner.objects.order_by("pk").values_list("pk", flat=True))

    def reads_data(*, partner_id):  # builds its queryset from a query: its text may depend on it
        inactive = list(Partner.objects.filter(is_active=False).values_list("pk", flat=True))
        return [(Partner.objects.filter(pk=partner_id).exclude(pk__in=inactive), ("id",))]

    def shaped_by_number(*, partner_id):  # a different text for different numbers
        extra = {"is_active": True} if partner_id % 2 else {}
        return [(Partner.objects.filter(pk=partner_id, **extra), ("id",))]

    for build in (reads_data, shaped_by_number):
        reads = CompiledReads(build)
        for pk in ids[:3]:
            assert reads(partner_id=pk) == [(pk,)]
        assert reads._compiled is False
    reads = CompiledReads(lambda *, partner_id: [(Partner.objects.filter(pk=partner_id), ("id",))])
    assert [reads(partner_id=pk) for pk in ids[:3]] == [[(pk,)] for pk in ids[:3]]
    assert reads._compiled and reads(partner_id=10**12) == [None]


def test_a_compiled_query_is_the_orm_s_own_text(tenants):
    """The subscriptions' read (CompiledQuery, compiled once) gives the very SQL and parameters
    the ORM compiles for each practice and event, and a text shaped by its numbers is compiled
    every time."""
    practices = [tenants["a"].practice.pk, tenants["b"].practice.pk, 10**12]
    for practice_id in practices:
        for event in ("checkin.completed", "note.signed", "x" * 40):
            orm = (
                webhooks.subscribed_endpoints(practice_id=practice_id, event=event)
                .values_list("pk", flat=True)
                .query.get_compiler(using="default")
                .as_sql()
            )
            sql, params = webhooks._subscribed_endpoint_ids(practice_id=practice_id, event=event)
            assert (sql, params) == (orm[0], tuple(orm[1]))
    assert webhooks._subscribed_endpoint_ids._compiled
    shaped = CompiledQuery(
        lambda *, partner_id: Partner.objects.filter(pk=partner_id, **({"seat": 1} if partner_id % 2 else {}))
    )
    for pk in (1, 2, 3):
        expected = Partner.objects.filter(pk=pk, **({"seat": 1} if pk % 2 else {})).query
        assert shaped(partner_id=pk)[0] == str(expected.get_compiler(using="default").as_sql()[0])
    assert shaped._compiled is False
