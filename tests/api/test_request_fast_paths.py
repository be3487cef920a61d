"""What the API remembers between requests to stay fast, and the limits of that memory: validated
bearer tokens (revocation and expiry still honoured), fixed-window throttling (429 with
Retry-After), remembered instruments and webhook subscriptions, and batched webhook enqueues."""

import datetime
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

from clinician.api.authentication import token_cache
from clinician.api.throttling import PrincipalRateThrottle
from clinician.models import IntegrationClient
from clinician.principals import PracticePrincipal
from couples.models import Partner
from cyclecare import tasks, webhooks
from cyclecare.api.checkins import _partners_in_scope, partner_rows
from cyclecare.models import CheckIn, Instrument, WebhookDelivery
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db

PRACTICES = "/api/v1/practices/"
CHECKINS = "/api/v1/checkins/"
START = datetime.datetime(2026, 3, 2, 12, 0, 20, tzinfo=datetime.UTC)


def token_queries(api) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(PRACTICES).status_code == 200
    return sum("oauth2_provider_accesstoken" in query["sql"] for query in captured.captured_queries)


# VALIDATED TOKENS
# ------------------------------------------------------------------------------
def test_a_validated_token_is_not_looked_up_again(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    assert token_queries(integration.api) == 1
    assert token_queries(integration.api) == 0


def test_a_revoked_token_is_refused_at_once(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    assert integration.api.get(PRACTICES).status_code == 200
    AccessToken.objects.get().revoke()  # what /o/revoke_token/ does: deletes the row
    assert_problem(integration.api.get(PRACTICES), 401)


def test_a_deactivated_client_is_refused_at_once(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    assert integration.api.get(PRACTICES).status_code == 200
    integration.client.is_active = False
    integration.client.save(update_fields=["is_active"])
    assert_problem(integration.api.get(PRACTICES), 401)


def test_an_expired_token_is_refused_though_it_was_remembered(tenants, integration_for):
    integration = integration_for(tenants["a"].practice)
    AccessToken.objects.update(expires=timezone.now() + datetime.timedelta(seconds=2))
    token_cache.clear()
    assert integration.api.get(PRACTICES).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=3)):
        assert_problem(integration.api.get(PRACTICES), 401)


def test_a_change_made_in_another_process_is_seen_within_the_cache_lifetime(tenants, integration_for):
    """No signal reaches this process (a queryset update stands in for another worker): the
    remembered answer holds for at most ``token_cache.seconds``, the documented trade-off."""
    integration = integration_for(tenants["a"].practice)
    assert integration.api.get(PRACTICES).status_code == 200
    IntegrationClient.objects.update(is_active=False)
    assert integration.api.get(PRACTICES).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=token_cache.seconds + 1)):
        assert_problem(integration.api.get(PRACTICES), 401)


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


# REMEMBERED INSTRUMENTS AND SUBSCRIPTIONS
# ------------------------------------------------------------------------------
def record_checkin(api, partner, instrument):
    body = {
        "partner": partner.pk,
        "instrument": instrument.pk,
        "answers": {"cycle_showed_up": True, "connection": 6},
    }
    return api.post(CHECKINS, body, format="json")


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


def test_a_create_reads_only_what_it_needs(tenants, integration_for):
    """A remembered token and instrument: the partner read, then the check-in, its audit event
    and its outbox row written together: on PostgreSQL in one statement (clinician.writes), with
    no BEGIN or COMMIT round trip; elsewhere three INSERTs in one transaction."""
    world = tenants["a"]
    webhooks.webhook_endpoint_create(
        user=world.admin.user, url="https://hooks.alpha.invalid/x", events=["checkin.completed"]
    )
    api = integration_for(world.practice).api
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    assert record_checkin(api, world.couples[0].a, instrument).status_code == 201
    with CaptureQueriesContext(connection) as captured:
        assert record_checkin(api, world.couples[0].b, instrument).status_code == 201
    statements = [query["sql"].split()[0] for query in captured.captured_queries]
    assert statements.count("SELECT") == 1, captured.captured_queries
    if connection.vendor == "postgresql":
        assert statements == ["SELECT", "WITH"], captured.captured_queries
        written = captured.captured_queries[1]["sql"]
        for table in ("cyclecare_checkin", "clinician_auditevent", "cyclecare_webhookdelivery"):
            assert written.count(f'INSERT INTO "{table}"') == 1
    else:
        assert statements.count("INSERT") == 3
    partner_read = captured.captured_queries[0]["sql"]
    assert '"couples_partner"."is_active"' in partner_read
    assert '"display_name"' not in partner_read and '"email"' not in partner_read  # not decrypted


# THE PARTNER READ, COMPILED ONCE PER PRACTICE
# ------------------------------------------------------------------------------
def principal_of(practice) -> PracticePrincipal:
    return PracticePrincipal(
        client_id=1, practice_id=practice.pk, name="t", scopes=frozenset({"read", "write"})
    )


def test_the_partner_read_sees_exactly_what_the_selector_sees(tenants):
    """For an integration client of either practice and for each clinician role: every partner
    (active, inactive, the other practice's) and an id nobody has."""
    world = tenants["a"]
    inactive = world.couples[1].b
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    ids = [*Partner.objects.values_list("pk", flat=True), 10**12]
    callers = [principal_of(tenants["a"].practice), principal_of(tenants["b"].practice)]
    callers += [world.admin.user, world.supervisor.user, world.clinician.user]
    for caller in callers:
        for pk in ids:
            expected = (
                _partners_in_scope(user=caller).filter(pk=pk).values_list(*partner_rows.columns).first()
            )
            assert partner_rows.get(caller, pk) == expected, (caller, pk)
    assert partner_rows.get(callers[0], inactive.pk) is None


def test_an_integration_clients_partner_read_is_compiled_once(postgres, tenants, monkeypatch):
    compiles = []
    compile_sql = SQLCompiler.as_sql

    def counted(self, *args, **kwargs):
        compiles.append(self.query.model)
        return compile_sql(self, *args, **kwargs)

    ids = list(Partner.objects.filter(practice=tenants["a"].practice).values_list("pk", flat=True))
    principal = principal_of(tenants["a"].practice)
    monkeypatch.setattr(SQLCompiler, "as_sql", counted)
    with CaptureQueriesContext(connection) as captured:
        assert all(partner_rows.get(principal, pk) is not None for pk in ids)
    assert compiles == [Partner] and len(captured) == len(ids)


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
    """CheckInSerializer builds its fields once (ReadOnlyFieldsOnce) and copies them per
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


# WEBHOOK SENDS, BATCHED PER PROCESS
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
