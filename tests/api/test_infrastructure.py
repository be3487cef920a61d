"""The API's shared behaviour: OAuth2 client credentials, problem-details errors, idempotent
creates, throttling, and the integration-client command."""

import datetime
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from clinician.api.throttling import PrincipalRateThrottle
from couples.models import TherapySession
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db


def create_client(slug: str, scopes: str = "read,write") -> dict:
    out = StringIO()
    call_command("create_integration_client", practice=slug, name="EHR sync", scopes=scopes, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def token_for(credentials: dict, scope: str | None = None):
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=_basic(credentials))
    return api.post("/o/token/", data, format="multipart")


def _basic(credentials: dict) -> str:
    import base64

    raw = f"{credentials['client_id']}:{credentials['client_secret']}".encode()
    return "Basic " + base64.b64encode(raw).decode()


# OAUTH2 CLIENT CREDENTIALS
# ------------------------------------------------------------------------------
def test_client_credentials_token_reaches_only_its_practice(tenants):
    credentials = create_client("alpha")
    assert credentials["practice"] == "alpha" and credentials["scopes"] == ["read", "write"]
    response = token_for(credentials)
    assert response.status_code == 200, response.content
    token = response.json()
    assert set(token["scope"].split()) == {"read", "write"}
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    practices = api.get("/api/v1/practices/").json()["results"]
    assert [p["slug"] for p in practices] == ["alpha"]
    foreign = tenants["b"].couples[0].session
    assert_problem(api.get(f"/api/v1/sessions/{foreign.pk}/"), 404)


def test_a_client_cannot_be_granted_scopes_beyond_its_own(tenants):
    credentials = create_client("alpha", scopes="read")
    response = token_for(credentials, scope="read notes:read")
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_wrong_secret_gets_no_token(tenants):
    credentials = create_client("alpha")
    credentials["client_secret"] = "not-the-secret"
    assert token_for(credentials).status_code == 401


def test_command_reports_bad_input(tenants):
    with pytest.raises(CommandError, match="No practice"):
        call_command("create_integration_client", practice="nope", name="x", scopes="read", stdout=StringIO())
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command(
            "create_integration_client", practice="alpha", name="x", scopes="read,admin", stdout=StringIO()
        )
    with pytest.raises(CommandError, match="--name"):
        call_command(
            "create_integration_client", practice="alpha", name="  ", scopes="read", stdout=StringIO()
        )


def test_scopes_are_enforced(tenants, integration_for):
    world = tenants["a"]
    reader = integration_for(world.practice, scopes="read")
    assert reader.api.get("/api/v1/sessions/").status_code == 200
    body = {"couple": world.couples[0].couple.pk, "starts_at": _later()}
    assert_problem(reader.api.post("/api/v1/sessions/", body, format="json"), 403)
    # Note bodies need notes:read, whatever else the token has.
    assert_problem(integration_for(world.practice, scopes="read write").api.get("/api/v1/notes/"), 403)
    notes = integration_for(world.practice, scopes="read notes:read").api.get("/api/v1/notes/")
    assert notes.status_code == 200 and notes.json()["count"] == 2


def test_integration_can_schedule_but_never_write_notes(tenants, integration_for):
    world = tenants["a"]
    writer = integration_for(world.practice, scopes="read write notes:read")
    couple = world.couples[0].couple
    created = writer.api.post(
        "/api/v1/sessions/", {"couple": couple.pk, "starts_at": _later()}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["clinician"] == couple.primary_clinician_id
    session = world.couples[0].session
    assert_problem(writer.api.post("/api/v1/notes/", {"session": session.pk}, format="json"), 403)


# Operations an integration client may not call, whatever its scopes: the clinical record's
# writes (the services keep them for clinicians) and everything about safety flags.
CLINICIANS_ONLY = {
    "POST /api/v1/notes/",
    "PATCH /api/v1/notes/{id}/",
    "POST /api/v1/notes/{id}/addenda/",
    "POST /api/v1/notes/{id}/sign/",
    "POST /api/v1/notes/{id}/co-sign/",
    "POST /api/v1/cycle-maps/",
    "POST /api/v1/episodes/",
    "POST /api/v1/assignments/",
    "POST /api/v1/assignments/{id}/status/",
    "POST /api/v1/homework-templates/",
    "POST /api/v1/homework-templates/{id}/assign/",
    "GET /api/v1/safety-flags/",
    "GET /api/v1/safety-flags/{id}/",
    "POST /api/v1/safety-flags/{id}/acknowledge/",
    "POST /api/v1/safety-flags/{id}/resolve/",
}


def test_the_schema_offers_integrations_exactly_what_they_may_call(tenants, integration_for):
    """The schema's security is the permission's answer: an operation an integration client is
    always refused does not list oauth2, and the refusal comes before the body is read."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    without_oauth2 = {
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if not any("oauth2" in requirement for requirement in operation["security"])
    }
    assert without_oauth2 == CLINICIANS_ONLY
    writer = integration_for(tenants["a"].practice, scopes="read write notes:read")
    body = assert_problem(writer.api.post("/api/v1/cycle-maps/", {}, format="json"), 403)
    assert "only clinicians write" in body["detail"]
    assert writer.api.get("/api/v1/cycle-maps/").status_code == 200


# ERRORS
# ------------------------------------------------------------------------------
def test_every_error_has_the_problem_shape(tenants, api_as):
    world = tenants["a"]
    anonymous = APIClient()
    assert_problem(anonymous.get("/api/v1/sessions/"), 401)
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_problem(bad_token.get("/api/v1/sessions/"), 401)
    api = api_as(world.clinician.user)
    assert_problem(api.get("/api/v1/no-such-thing/"), 404)
    assert_problem(api.get("/api/v1/sessions/999999/"), 404)
    assert_problem(api.delete(f"/api/v1/sessions/{world.couples[0].session.pk}/"), 405)
    malformed = api.post("/api/v1/sessions/", data="{not json", content_type="application/json")
    assert_problem(malformed, 400)
    unsupported = api.post("/api/v1/sessions/", data="couple=1", content_type="text/plain")
    assert_problem(unsupported, 415)
    huge = api.post(
        "/api/v1/notes/", data=json.dumps({"plan": "x" * 300_000}), content_type="application/json"
    )
    assert_problem(huge, 413)


def test_validation_errors_name_the_fields(tenants, api_as):
    world = tenants["a"]
    api = api_as(world.clinician.user)
    couple = world.couples[0].couple
    past = (timezone.now() - datetime.timedelta(days=2)).isoformat()
    body = assert_problem(
        api.post("/api/v1/sessions/", {"couple": couple.pk, "starts_at": past}, format="json"), 400
    )
    assert "starts_at" in body["errors"]
    body = assert_problem(
        api.post("/api/v1/sessions/", {"couple": "x", "starts_at": "soon"}, format="json"), 400
    )
    assert {"couple", "starts_at"} <= set(body["errors"])
    unknown_duration = {"couple": couple.pk, "starts_at": _later(), "duration_minutes": 10_000}
    assert (
        "duration_minutes"
        in assert_problem(api.post("/api/v1/sessions/", unknown_duration, format="json"), 400)["errors"]
    )


def test_a_foreign_key_outside_scope_is_a_400(tenants, api_as):
    api = api_as(tenants["a"].clinician.user)
    foreign_couple = tenants["b"].couples[0].couple
    body = assert_problem(
        api.post("/api/v1/sessions/", {"couple": foreign_couple.pk, "starts_at": _later()}, format="json"),
        400,
    )
    assert "couple" in body["errors"]
    assert not TherapySession.objects.filter(couple=foreign_couple, status="scheduled").exists()


def test_unexpected_errors_are_500_without_details(tenants, api_as, monkeypatch):
    from clinician import selectors

    def explode(**kwargs):
        raise RuntimeError("secret detail: Partner 0 said something private")

    monkeypatch.setattr(selectors, "practices_visible_to", explode)
    api = api_as(tenants["a"].clinician.user)
    api.raise_request_exception = False
    response = api.get("/api/v1/practices/")
    body = assert_problem(response, 500)
    assert "secret" not in json.dumps(body) and "Traceback" not in response.content.decode()


# IDEMPOTENCY
# ------------------------------------------------------------------------------
def test_idempotency_key_replays_and_conflicts(tenants, api_as):
    world = tenants["a"]
    api = api_as(world.clinician.user)
    body = {"couple": world.couples[0].couple.pk, "starts_at": _later()}
    first = api.post("/api/v1/sessions/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")
    again = api.post("/api/v1/sessions/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert TherapySession.objects.filter(status="scheduled", couple=world.couples[0].couple).count() == 1
    other = {**body, "duration_minutes": 80}
    assert_problem(api.post("/api/v1/sessions/", other, format="json", HTTP_IDEMPOTENCY_KEY="abc-123"), 409)
    # Keys are per caller: another clinician's identical key is independent.
    supervisor = api_as(world.supervisor.user)
    assert (
        supervisor.post("/api/v1/sessions/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-123").status_code
        == 201
    )


def test_failed_create_records_no_key(tenants, api_as):
    world = tenants["a"]
    api = api_as(world.clinician.user)
    bad = {"couple": world.couples[0].couple.pk, "starts_at": "2000-01-01T00:00:00Z"}
    assert_problem(api.post("/api/v1/sessions/", bad, format="json", HTTP_IDEMPOTENCY_KEY="k1"), 400)
    good = {"couple": world.couples[0].couple.pk, "starts_at": _later()}
    assert api.post("/api/v1/sessions/", good, format="json", HTTP_IDEMPOTENCY_KEY="k1").status_code == 201


# THROTTLING
# ------------------------------------------------------------------------------
def test_throttled_requests_get_429_and_retry_after(tenants, api_as, integration_for, monkeypatch):
    monkeypatch.setattr(PrincipalRateThrottle, "rate", "3/min", raising=False)
    api = api_as(tenants["a"].clinician.user)
    for _ in range(3):
        assert api.get("/api/v1/practices/").status_code == 200
    body = assert_problem(api.get("/api/v1/practices/"), 429)
    assert body["type"].endswith(":throttled")
    response = api.get("/api/v1/practices/")
    assert int(response["Retry-After"]) > 0
    # Per caller: an integration client has its own bucket.
    assert integration_for(tenants["a"].practice).api.get("/api/v1/practices/").status_code == 200


def _later() -> str:
    return (timezone.now() + datetime.timedelta(days=3)).isoformat()
