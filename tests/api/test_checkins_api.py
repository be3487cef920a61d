"""Instruments and check-ins through the API: clinical scope for answers, practice scope for
integrations, audited reads, filters, cursor pagination and constant query counts."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from clinician.models import AuditEvent
from cyclecare import services
from cyclecare.models import Instrument
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db

CHECKINS = "/api/v1/checkins/"
INSTRUMENTS = "/api/v1/instruments/"


def csi4_answers(total: int) -> dict[str, int]:
    """CSI-4 answers summing to ``total`` (item 1 is 0–6, the others 0–5)."""
    first = min(total, 6)
    rest = total - first
    answers = {"csi1": first}
    for code in ("csi12", "csi19", "csi22"):
        answers[code] = min(rest, 5)
        rest -= answers[code]
    assert rest == 0
    return answers


def submit_csi4(partner, total: int, *, days_ago: float):
    instrument = Instrument.objects.get(practice=None, code="csi-4")
    return services.checkin_submit(
        partner=partner,
        instrument=instrument,
        answers=csi4_answers(total),
        submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    return [row["id"] for row in response.json()["results"]]


def fresh_client(clinician) -> APIClient:
    """A freshly loaded user, so no per-user cache hides a query."""
    api = APIClient()
    api.force_authenticate(user=get_user_model().objects.get(pk=clinician.user_id))
    return api


def count_queries(api: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured.captured_queries)


# CHECK-INS
# ------------------------------------------------------------------------------
def test_treating_clinician_reads_their_couples_checkins_with_answers_and_scores(tenants, api_as):
    world = tenants["a"]
    mine = world.couples[0]
    response = api_as(world.clinician.user).get(CHECKINS)
    assert ids(response) == [mine.checkin.pk]
    row = response.json()["results"][0]
    assert set(row) == {
        "id",
        "couple",
        "partner",
        "instrument",
        "occurrence",
        "submitted_at",
        "answers",
        "total_score",
        "subscale_scores",
        "clinical",
        "shared_with_partner",
    }
    assert row["couple"] == mine.couple.pk and row["partner"] == mine.a.pk
    assert row["occurrence"] == mine.occurrence.pk
    assert row["answers"] == {"cycle_showed_up": True, "connection": 6, "felt_unsafe": True}
    # The daily check-in has no total and so no clinical range.
    assert row["total_score"] is None and row["clinical"] is None


def test_scores_and_clinical_range_of_a_scored_instrument(tenants, api_as):
    world = tenants["a"]
    distressed = submit_csi4(world.couples[0].b, 9, days_ago=1)
    satisfied = submit_csi4(world.couples[0].b, 18, days_ago=0.5)
    api = api_as(world.clinician.user)
    assert api.get(f"{CHECKINS}{distressed.pk}/").json()["total_score"] == 9
    assert api.get(f"{CHECKINS}{distressed.pk}/").json()["clinical"] is True
    assert api.get(f"{CHECKINS}{satisfied.pk}/").json()["clinical"] is False


def test_supervisor_sees_supervisees_checkins_and_colleagues_see_none(tenants, api_as):
    world = tenants["a"]
    both = {c.checkin.pk for c in world.couples}
    assert set(ids(api_as(world.supervisor.user).get(CHECKINS))) == both
    assert ids(api_as(world.outsider.user).get(CHECKINS)) == []
    assert ids(api_as(world.prelicensed.user).get(CHECKINS)) == [world.couples[1].checkin.pk]


def test_practice_admin_who_does_not_treat_sees_no_checkins(tenants, api_as):
    world = tenants["a"]
    api = api_as(world.admin.user)
    assert ids(api.get(CHECKINS)) == []
    assert_problem(api.get(f"{CHECKINS}{world.couples[0].checkin.pk}/"), 404)


def test_out_of_scope_retrieve_is_a_404_problem(tenants, api_as):
    theirs = tenants["b"].couples[0].checkin
    body = assert_problem(api_as(tenants["a"].clinician.user).get(f"{CHECKINS}{theirs.pk}/"), 404)
    assert body["type"] == "urn:cyclecare:problem:not_found"
    # A colleague in the same practice who does not treat the couple: the same 404.
    own = tenants["a"].couples[0].checkin
    assert_problem(api_as(tenants["a"].outsider.user).get(f"{CHECKINS}{own.pk}/"), 404)
    assert_problem(api_as(tenants["a"].clinician.user).get(f"{CHECKINS}999999/"), 404)


def test_retrieve_records_a_read_in_the_audit_trail(tenants, api_as):
    world = tenants["a"]
    checkin = world.couples[0].checkin
    before = AuditEvent.objects.filter(action="checkin.read", target_id=str(checkin.pk)).count()
    assert api_as(world.clinician.user).get(f"{CHECKINS}{checkin.pk}/").status_code == 200
    after = AuditEvent.objects.filter(action="checkin.read", target_id=str(checkin.pk))
    assert after.count() == before + 1
    assert after.latest("id").actor_id == str(world.clinician.user.pk)


def test_integration_reads_its_practices_checkins_only(tenants, integration_for):
    world = tenants["a"]
    api = integration_for(world.practice, scopes="read").api
    assert set(ids(api.get(CHECKINS))) == {c.checkin.pk for c in world.couples}
    assert api.get(f"{CHECKINS}{world.couples[0].checkin.pk}/").json()["answers"]["connection"] == 6
    assert_problem(api.get(f"{CHECKINS}{tenants['b'].couples[0].checkin.pk}/"), 404)


def test_checkins_cannot_be_changed_or_deleted(tenants, api_as, integration_for):
    world = tenants["a"]
    assert (
        "partner"
        in assert_problem(api_as(world.clinician.user).post(CHECKINS, {}, format="json"), 400)["errors"]
    )
    checkin = world.couples[0].checkin
    assert_problem(api_as(world.clinician.user).patch(f"{CHECKINS}{checkin.pk}/", {}, format="json"), 405)
    assert_problem(api_as(world.clinician.user).delete(f"{CHECKINS}{checkin.pk}/"), 405)
    # An integration token without `write` is refused before the method is considered.
    assert_problem(integration_for(world.practice, scopes="read").api.post(CHECKINS, {}, format="json"), 403)


def test_filters(tenants, api_as):
    world = tenants["a"]
    mine = world.couples[0]
    older = submit_csi4(mine.b, 12, days_ago=3)
    newer = submit_csi4(mine.b, 15, days_ago=1)
    csi = Instrument.objects.get(practice=None, code="csi-4")
    api = api_as(world.supervisor.user)
    assert ids(api.get(CHECKINS, {"instrument_code": "csi-4"})) == [newer.pk, older.pk]
    assert ids(api.get(CHECKINS, {"instrument": csi.pk})) == [newer.pk, older.pk]
    assert ids(api.get(CHECKINS, {"partner": mine.a.pk})) == [mine.checkin.pk]
    assert set(ids(api.get(CHECKINS, {"couple": mine.couple.pk}))) == {mine.checkin.pk, older.pk, newer.pk}
    two_days_ago = (timezone.now() - datetime.timedelta(days=2)).isoformat()
    assert ids(api.get(CHECKINS, {"instrument_code": "csi-4", "submitted_after": two_days_ago})) == [newer.pk]
    assert ids(api.get(CHECKINS, {"instrument_code": "csi-4", "submitted_before": two_days_ago})) == [
        older.pk
    ]
    # Another practice's couple id filters to nothing; it is not an error that confirms it exists.
    assert ids(api.get(CHECKINS, {"couple": tenants["b"].couples[0].couple.pk})) == []
    body = assert_problem(api.get(CHECKINS, {"couple": "not-a-number"}), 400)
    assert "couple" in body["errors"]


def test_cursor_pagination_newest_first_with_next_and_no_count(tenants, api_as):
    world = tenants["a"]
    mine = world.couples[0]
    made = [submit_csi4(mine.b, 10 + n, days_ago=5 - n) for n in range(3)]
    api = api_as(world.clinician.user)
    first = api.get(CHECKINS, {"page_size": 2})
    body = first.json()
    assert "count" not in body
    assert body["next"] and body["previous"] is None
    seen = [row["id"] for row in body["results"]]
    second = api.get(body["next"]).json()
    seen += [row["id"] for row in second["results"]]
    assert second["next"] is None
    # The build_practice_world check-in is the newest (submitted now).
    assert seen == [mine.checkin.pk, made[2].pk, made[1].pk, made[0].pk]


def test_list_query_count_does_not_grow_with_rows(tenants, django_assert_max_num_queries):
    world = tenants["a"]
    few = count_queries(fresh_client(world.supervisor), CHECKINS)
    for couple in world.couples:
        for n in range(6):
            submit_csi4(couple.b, 8 + n, days_ago=n + 1)
    many = count_queries(fresh_client(world.supervisor), CHECKINS)
    assert few == many
    with django_assert_max_num_queries(4):
        assert len(fresh_client(world.supervisor).get(CHECKINS).json()["results"]) == 14


def test_integration_list_query_count_does_not_grow_with_rows(tenants, integration_for):
    world = tenants["a"]
    api = integration_for(world.practice, scopes="read").api
    api.get(CHECKINS)  # the token is looked up once, then remembered (clinician.api.authentication)
    few = count_queries(api, CHECKINS)
    for n in range(5):
        submit_csi4(world.couples[1].b, 8 + n, days_ago=n + 1)
    assert count_queries(api, CHECKINS) == few


# INSTRUMENTS
# ------------------------------------------------------------------------------
LICENSED_DEFINITION = {
    "higher_is_better": True,
    "items": [{"code": "q1", "type": "likert", "min": 0, "max": 4, "text": {"en": "How are you?"}}],
    "total": {"items": ["q1"]},
}


def test_instruments_are_the_shipped_ones_and_the_practices_own(tenants, api_as, integration_for):
    world_a, world_b = tenants["a"], tenants["b"]
    licensed_b = services.instrument_create(
        code="licensed", name="Licensed B", definition=LICENSED_DEFINITION, practice=world_b.practice
    )
    listed = api_as(world_a.clinician.user).get(INSTRUMENTS)
    assert listed.status_code == 200
    codes = [row["code"] for row in listed.json()["results"]]
    assert codes == ["csi-16", "csi-4", "cycle-checkin", "hits"]
    csi = next(row for row in listed.json()["results"] if row["code"] == "csi-4")
    assert set(csi) == {"id", "code", "version", "name", "licence", "is_active", "definition"}
    assert [item["code"] for item in csi["definition"]["items"]] == ["csi1", "csi12", "csi19", "csi22"]
    assert "Funk & Rogge" in csi["licence"]
    assert_problem(api_as(world_a.clinician.user).get(f"{INSTRUMENTS}{licensed_b.pk}/"), 404)
    # Practice B's own clinicians and integration see it; a practice admin reads item text too.
    assert api_as(world_b.admin.user).get(f"{INSTRUMENTS}{licensed_b.pk}/").json()["name"] == "Licensed B"
    integration = integration_for(world_b.practice, scopes="read").api
    assert "licensed" in [row["code"] for row in integration.get(INSTRUMENTS).json()["results"]]
    assert [row["code"] for row in integration.get(INSTRUMENTS, {"code": "hits"}).json()["results"]] == [
        "hits"
    ]


def test_a_check_in_answers_the_version_its_homework_was_assigned_after_a_newer_one(tenants, api_as):
    """A new version of an instrument replaces the old one for new homework only: homework
    assigned before keeps its version, whose check-ins are still recorded and readable."""
    world = tenants["a"]
    case = world.couples[0]
    current = Instrument.objects.get(practice=None, code="cycle-checkin", is_active=True)
    Instrument.objects.filter(pk=current.pk).update(is_active=False)  # a newer version came
    api = api_as(world.clinician.user)
    assert current.pk not in [
        row["id"] for row in api.get(INSTRUMENTS, {"is_active": True}).json()["results"]
    ]
    old = api.get(f"{INSTRUMENTS}{current.pk}/").json()
    assert (old["id"], old["is_active"]) == (current.pk, False)
    assert case.occurrence.assignment.instrument_id == current.pk
    occurrence, _ = services.occurrence_materialise(
        assignment=case.assignment,
        partner=case.b,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(20),
    )
    created = api.post(
        CHECKINS,
        {
            "partner": case.b.pk,
            "instrument": current.pk,
            "occurrence": occurrence.pk,
            "answers": {"cycle_showed_up": False, "connection": 7},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["instrument"] == current.pk


def test_unauthenticated_callers_are_refused(tenants):
    response = APIClient().get(CHECKINS)
    assert response.status_code in (401, 403)
    assert_problem(response, response.status_code)


# RECORDING A CHECK-IN (paper in session, or an import)
# ------------------------------------------------------------------------------
def test_clinician_records_a_paper_check_in_and_it_is_scored_and_audited(api_as):
    from clinician.models import AuditEvent
    from tests.factories import couple_with_partners, shipped_instrument

    csi4 = shipped_instrument("csi-4")
    couple, a, b = couple_with_partners()
    api = api_as(couple.primary_clinician.user)
    answers = {"csi1": 3, "csi12": 4, "csi19": 3, "csi22": 4}
    created = api.post(
        "/api/v1/checkins/", {"partner": a.pk, "instrument": csi4.pk, "answers": answers}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["total_score"] == 14 and body["clinical"] is False
    event = AuditEvent.objects.get(action="checkin.submit", target_id=str(body["id"]))
    assert event.actor_kind == "user" and event.actor_id == str(couple.primary_clinician.user.pk)
    bad = api.post(
        "/api/v1/checkins/", {"partner": a.pk, "instrument": csi4.pk, "answers": {"csi1": 9}}, format="json"
    )
    assert bad.status_code == 400 and {"csi1", "csi12"} <= set(bad.json()["errors"])


def test_a_partner_outside_scope_cannot_be_recorded(api_as):
    from tests.factories import couple_with_partners, shipped_instrument

    csi4 = shipped_instrument("csi-4")
    couple, a, b = couple_with_partners()
    other, stranger, _ = couple_with_partners()
    api = api_as(couple.primary_clinician.user)
    answers = {"csi1": 3, "csi12": 4, "csi19": 3, "csi22": 4}
    response = api.post(
        "/api/v1/checkins/",
        {"partner": stranger.pk, "instrument": csi4.pk, "answers": answers},
        format="json",
    )
    assert response.status_code == 400 and "partner" in response.json()["errors"]
