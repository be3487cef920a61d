"""/api/v1/webhook-endpoints/ and /api/v1/webhook-deliveries/: the practice admin and the
practice's integration clients only; the secret shown once; the delivery log read-only."""

from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from couples import services as couple_services
from cyclecare import services as cycle_services
from cyclecare import webhooks
from cyclecare.models import WebhookDelivery, WebhookEndpoint
from tests.factories import (
    couple_with_partners,
    held_session,
    integration_client,
    practice_with_staff,
)

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhook-endpoints/"
DELIVERIES = "/api/v1/webhook-deliveries/"
HOOK_URL = "https://hooks.example.test/cyclecare"


def signed_in(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user=user)
    return api


def integration(practice, scopes: str = "read write") -> APIClient:
    """A client of ``practice`` with a live bearer token carrying ``scopes``."""
    return integration_client(practice, scopes, name="EHR").api


@pytest.fixture
def alpha() -> SimpleNamespace:
    return practice_with_staff("alpha")


@pytest.fixture
def bravo() -> SimpleNamespace:
    return practice_with_staff("bravo")


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return body


def test_the_admin_registers_an_endpoint_and_sees_the_secret_once(alpha):
    api = signed_in(alpha.admin.user)
    response = api.post(
        ENDPOINTS,
        {"url": HOOK_URL, "events": ["note.signed", "checkin.completed"], "description": "EHR bridge"},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert created["secret"] == endpoint.secret
    assert created["events"] == ["checkin.completed", "note.signed"]
    assert endpoint.practice_id == alpha.practice.pk

    listed = api.get(ENDPOINTS).json()["results"]
    assert [row["id"] for row in listed] == [endpoint.pk]
    detail = api.get(f"{ENDPOINTS}{endpoint.pk}/")
    assert detail.status_code == 200
    for body in (listed[0], detail.json()):
        assert "secret" not in body
        assert endpoint.secret not in str(body)


def test_an_integration_with_write_scope_manages_its_practices_endpoints(alpha):
    api = integration(alpha.practice, "read write")
    response = api.post(ENDPOINTS, {"url": HOOK_URL, "events": ["episode.recorded"]}, format="json")
    assert response.status_code == 201, response.content
    endpoint_id = response.json()["id"]
    assert WebhookEndpoint.objects.get(pk=endpoint_id).practice_id == alpha.practice.pk

    response = api.patch(
        f"{ENDPOINTS}{endpoint_id}/",
        {"events": ["assignment.missed"], "description": "missed homework", "is_active": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["events"] == ["assignment.missed"]
    assert response.json()["is_active"] is False
    assert "secret" not in response.json()


def test_a_read_only_integration_reads_but_cannot_register(alpha):
    webhooks.webhook_endpoint_create(user=alpha.admin.user, url=HOOK_URL, events=["note.signed"])
    api = integration(alpha.practice, "read")
    assert len(api.get(ENDPOINTS).json()["results"]) == 1
    assert_problem(api.post(ENDPOINTS, {"url": HOOK_URL, "events": ["note.signed"]}, format="json"), 403)


def test_other_clinicians_and_other_practices_see_nothing(alpha, bravo):
    endpoint = webhooks.webhook_endpoint_create(user=alpha.admin.user, url=HOOK_URL, events=["note.signed"])
    for api in (signed_in(alpha.clinician.user), signed_in(bravo.admin.user), integration(bravo.practice)):
        assert api.get(ENDPOINTS).json()["results"] == []
        assert_problem(api.get(f"{ENDPOINTS}{endpoint.pk}/"), 404)
        assert_problem(api.patch(f"{ENDPOINTS}{endpoint.pk}/", {"is_active": False}, format="json"), 404)
        assert api.get(DELIVERIES).json()["results"] == []
    assert_problem(
        signed_in(alpha.clinician.user).post(
            ENDPOINTS, {"url": HOOK_URL, "events": ["note.signed"]}, format="json"
        ),
        403,
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert APIClient().get(ENDPOINTS).status_code == 401


def test_invalid_endpoints_are_problem_details(alpha):
    api = signed_in(alpha.admin.user)
    body = assert_problem(
        api.post(ENDPOINTS, {"url": "http://hooks.example.test/", "events": ["note.signed"]}, format="json"),
        400,
    )
    assert "url" in body["errors"]
    body = assert_problem(
        api.post(ENDPOINTS, {"url": HOOK_URL, "events": ["note.deleted"]}, format="json"), 400
    )
    assert "events" in body["errors"]
    body = assert_problem(api.post(ENDPOINTS, {"url": HOOK_URL, "events": []}, format="json"), 400)
    assert "events" in body["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_put_and_delete_are_not_offered(alpha):
    endpoint = webhooks.webhook_endpoint_create(user=alpha.admin.user, url=HOOK_URL, events=["note.signed"])
    api = signed_in(alpha.admin.user)
    assert_problem(api.put(f"{ENDPOINTS}{endpoint.pk}/", {"url": HOOK_URL, "events": []}, format="json"), 405)
    assert_problem(api.delete(f"{ENDPOINTS}{endpoint.pk}/"), 405)
    # The URL is fixed once registered (register a new endpoint instead).
    api.patch(f"{ENDPOINTS}{endpoint.pk}/", {"url": "https://elsewhere.example.test/"}, format="json")
    endpoint.refresh_from_db()
    assert endpoint.url == HOOK_URL


def test_the_delivery_log_is_read_only_and_filterable(alpha, bravo):
    signed = webhooks.webhook_endpoint_create(user=alpha.admin.user, url=HOOK_URL, events=["note.signed"])
    episodes = webhooks.webhook_endpoint_create(
        user=alpha.admin.user, url=HOOK_URL + "/episodes", events=["episode.recorded"]
    )
    webhooks.webhook_endpoint_create(user=bravo.admin.user, url=HOOK_URL, events=["note.signed"])
    couple, a, b = couple_with_partners(alpha.clinician)
    note = couple_services.note_create(
        user=alpha.clinician.user,
        session=held_session(couple),
        data="private words",
        assessment="a",
        plan="p",
    )
    # No on_commit here: the rows wait in the outbox, as they would before the worker picks them up.
    couple_services.note_sign(user=alpha.clinician.user, note=note)
    cycle_services.episode_record(
        actor=alpha.clinician.user,
        couple=couple,
        occurred_at=timezone.now(),
        intensity=4,
        pursuer=a,
        withdrawer=b,
    )
    WebhookDelivery.objects.filter(endpoint=episodes).update(
        status="failed", attempts=8, last_status_code=500
    )

    for api in (signed_in(alpha.admin.user), integration(alpha.practice, "read")):
        rows = api.get(DELIVERIES).json()["results"]
        assert {row["event"] for row in rows} == {"note.signed", "episode.recorded"}
        (row,) = api.get(DELIVERIES, {"event": "note.signed"}).json()["results"]
        assert row["endpoint"] == signed.pk
        assert row["payload"]["data"]["note_id"] == note.pk
        assert "private words" not in str(row)
        assert [r["endpoint"] for r in api.get(DELIVERIES, {"status": "failed"}).json()["results"]] == [
            episodes.pk
        ]
        assert [r["event"] for r in api.get(DELIVERIES, {"endpoint": signed.pk}).json()["results"]] == [
            "note.signed"
        ]
        detail = api.get(f"{DELIVERIES}{row['id']}/")
        assert detail.status_code == 200 and detail.json()["event_id"] == row["event_id"]
    api = signed_in(alpha.admin.user)
    assert_problem(api.post(DELIVERIES, {}, format="json"), 405)
    assert_problem(api.delete(f"{DELIVERIES}{row['id']}/"), 405)
    assert_problem(signed_in(bravo.admin.user).get(f"{DELIVERIES}{row['id']}/"), 404)
    assert api.get(DELIVERIES, {"endpoint": 999999}).json()["results"] == []
