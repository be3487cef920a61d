"""Safety flags through the API: clinicians only, clinical scope, ids without answers,
acknowledge and resolve through the services, audited reads, constant query counts."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from clinician.models import AuditEvent
from cyclecare import services
from cyclecare.models import SafetyFlag
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db

FLAGS = "/api/v1/safety-flags/"
FLAG_FIELDS = {
    "id",
    "couple",
    "partner",
    "checkin",
    "source",
    "status",
    "raised_at",
    "clinician_notified_at",
    "acknowledged_by",
    "acknowledged_at",
    "resolved_by",
    "resolved_at",
    "resolution_note",
}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    return [row["id"] for row in response.json()["results"]]


def raise_flags(couple, count: int) -> None:
    for _ in range(count):
        services.safety_flag_raise(partner=couple.b, source=SafetyFlag.Source.CLINICIAN)


def test_treating_clinician_lists_their_flags_with_ids_only(tenants, api_as):
    world = tenants["a"]
    mine = world.couples[0]
    response = api_as(world.clinician.user).get(FLAGS)
    assert ids(response) == [mine.flag.pk]
    row = response.json()["results"][0]
    assert set(row) == FLAG_FIELDS
    assert row["checkin"] == mine.checkin.pk and row["partner"] == mine.a.pk
    assert row["source"] == "check_in" and row["status"] == "open"
    # Nothing of the answers that raised it.
    assert "felt_unsafe" not in response.content.decode()
    assert "answers" not in response.content.decode()


def test_supervisor_sees_supervisees_flags_and_others_none(tenants, api_as):
    world = tenants["a"]
    assert set(ids(api_as(world.supervisor.user).get(FLAGS))) == {c.flag.pk for c in world.couples}
    assert ids(api_as(world.outsider.user).get(FLAGS)) == []


def test_practice_admin_who_does_not_treat_sees_no_flags(tenants, api_as):
    world = tenants["a"]
    api = api_as(world.admin.user)
    assert ids(api.get(FLAGS)) == []
    flag = world.couples[0].flag
    assert_problem(api.get(f"{FLAGS}{flag.pk}/"), 404)
    assert_problem(api.post(f"{FLAGS}{flag.pk}/acknowledge/"), 404)


def test_integration_tokens_are_refused_whatever_their_scopes(tenants, integration_for):
    world = tenants["a"]
    api = integration_for(world.practice, scopes="read write notes:read reports:read").api
    flag = world.couples[0].flag
    body = assert_problem(api.get(FLAGS), 403)
    assert "clinicians only" in body["detail"]
    assert_problem(api.get(f"{FLAGS}{flag.pk}/"), 403)
    assert_problem(api.post(f"{FLAGS}{flag.pk}/acknowledge/", {}, format="json"), 403)
    assert_problem(api.post(f"{FLAGS}{flag.pk}/resolve/", {"resolution_note": "x"}, format="json"), 403)
    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.OPEN


def test_out_of_scope_retrieve_is_a_404_problem(tenants, api_as):
    theirs = tenants["b"].couples[0].flag
    api = api_as(tenants["a"].supervisor.user)
    body = assert_problem(api.get(f"{FLAGS}{theirs.pk}/"), 404)
    assert body["type"] == "urn:cyclecare:problem:not_found"
    assert_problem(api.post(f"{FLAGS}{theirs.pk}/resolve/", {"resolution_note": "x"}, format="json"), 404)
    assert_problem(api.get(f"{FLAGS}999999/"), 404)


def test_retrieve_records_a_read_in_the_audit_trail(tenants, api_as):
    world = tenants["a"]
    flag = world.couples[0].flag
    response = api_as(world.clinician.user).get(f"{FLAGS}{flag.pk}/")
    assert response.status_code == 200 and response.json()["id"] == flag.pk
    event = AuditEvent.objects.filter(action="safetyflag.read", target_id=str(flag.pk)).latest("id")
    assert event.actor_id == str(world.clinician.user.pk)


def test_acknowledge_then_resolve(tenants, api_as):
    world = tenants["a"]
    flag = world.couples[0].flag
    api = api_as(world.clinician.user)
    acknowledged = api.post(f"{FLAGS}{flag.pk}/acknowledge/")
    assert acknowledged.status_code == 200, acknowledged.content
    assert acknowledged.json()["status"] == "acknowledged"
    assert acknowledged.json()["acknowledged_by"] == world.clinician.pk
    # Acknowledging twice names the state that is wrong.
    again = assert_problem(api.post(f"{FLAGS}{flag.pk}/acknowledge/"), 409)
    assert "status" in again["errors"]

    missing = assert_problem(api.post(f"{FLAGS}{flag.pk}/resolve/", {}, format="json"), 400)
    assert "resolution_note" in missing["errors"]
    blank = assert_problem(
        api.post(f"{FLAGS}{flag.pk}/resolve/", {"resolution_note": "  "}, format="json"), 400
    )
    assert "resolution_note" in blank["errors"]
    resolved = api.post(f"{FLAGS}{flag.pk}/resolve/", {"resolution_note": "Safety plan made."}, format="json")
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_by"] == world.clinician.pk
    assert resolved.json()["resolution_note"] == "Safety plan made."
    flag.refresh_from_db()
    assert flag.status == SafetyFlag.Status.RESOLVED
    assert AuditEvent.objects.filter(action="safetyflag.resolve", target_id=str(flag.pk)).exists()
    assert_problem(api.post(f"{FLAGS}{flag.pk}/resolve/", {"resolution_note": "again"}, format="json"), 409)


def test_supervisor_may_resolve_an_open_flag_directly(tenants, api_as):
    world = tenants["a"]
    flag = world.couples[1].flag
    response = api_as(world.supervisor.user).post(
        f"{FLAGS}{flag.pk}/resolve/", {"resolution_note": "Reviewed in supervision."}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "resolved"
    assert body["acknowledged_by"] == body["resolved_by"] == world.supervisor.pk


def test_filters_by_status_and_couple(tenants, api_as):
    world = tenants["a"]
    first, second = world.couples
    api = api_as(world.supervisor.user)
    api.post(f"{FLAGS}{first.flag.pk}/acknowledge/")
    assert ids(api.get(FLAGS, {"status": "open"})) == [second.flag.pk]
    assert ids(api.get(FLAGS, {"status": "acknowledged"})) == [first.flag.pk]
    assert ids(api.get(FLAGS, {"couple": first.couple.pk})) == [first.flag.pk]
    assert ids(api.get(FLAGS, {"couple": tenants["b"].couples[0].couple.pk})) == []
    assert "status" in assert_problem(api.get(FLAGS, {"status": "closed"}), 400)["errors"]


def test_list_query_count_does_not_grow_with_rows(tenants, django_assert_max_num_queries):
    world = tenants["a"]

    def count() -> int:
        api = APIClient()
        api.force_authenticate(user=get_user_model().objects.get(pk=world.supervisor.user_id))
        with CaptureQueriesContext(connection) as captured:
            response = api.get(FLAGS)
        assert response.status_code == 200
        return len(captured.captured_queries)

    few = count()
    for couple in world.couples:
        raise_flags(couple, 6)
    assert count() == few
    api = APIClient()
    api.force_authenticate(user=get_user_model().objects.get(pk=world.supervisor.user_id))
    with django_assert_max_num_queries(5):
        assert api.get(FLAGS).json()["count"] == 14
