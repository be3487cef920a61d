"""The cycle domain through the API: versioned cycle maps, episodes and occurrences under cursor
pagination, homework and its status — scoped, service-validated, problem details on error."""

import datetime
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from cyclecare import services as cycle
from cyclecare.models import Assignment, CycleEpisode, CycleMap, Instrument, Occurrence
from tests.api.conftest import assert_problem
from tests.factories import ClinicianFactory, couple_with_partners, held_session, shipped_instruments

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic():
    """A clinician (with a supervisor) treating two couples, a colleague's couple in the same
    practice, and a foreign practice's couple — with the shipped instruments installed."""
    instruments = shipped_instruments()
    supervisor = ClinicianFactory(role="supervisor")
    practice = supervisor.practice
    clinician = ClinicianFactory(practice=practice, supervisor=supervisor)
    colleague = ClinicianFactory(practice=practice)
    couple, a, b = couple_with_partners(clinician)
    second_couple, c, _ = couple_with_partners(clinician)
    colleague_couple, _, _ = couple_with_partners(colleague)
    foreign_clinician = ClinicianFactory()
    foreign_couple, x, y = couple_with_partners(foreign_clinician)
    return SimpleNamespace(
        instruments=instruments,
        practice=practice,
        supervisor=supervisor,
        clinician=clinician,
        colleague=colleague,
        couple=couple,
        a=a,
        b=b,
        second_couple=second_couple,
        second_partner=c,
        colleague_couple=colleague_couple,
        foreign_clinician=foreign_clinician,
        foreign_couple=foreign_couple,
        foreign_a=x,
        foreign_b=y,
    )


def ago(**delta: int) -> str:
    return (timezone.now() - datetime.timedelta(**delta)).isoformat()


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    return [row["id"] for row in response.json()["results"]]


def fresh_client(clinician) -> APIClient:
    """A client for a freshly loaded user, so no per-user cache hides a query."""
    api = APIClient()
    api.force_authenticate(user=get_user_model().objects.get(pk=clinician.user_id))
    return api


def queries_for(clinician, url: str) -> int:
    api = fresh_client(clinician)
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def positions(a, b) -> list[dict]:
    return [
        {
            "partner": a.pk,
            "move": "pursue",
            "trigger": "Phone at dinner",
            "perception": "I don't matter",
            "surface_emotion": "frustration",
            "underlying_emotion": "fear of being alone",
            "move_detail": "raises it again, louder",
            "longing": "to know I'm wanted",
        },
        {"partner": b.pk, "move": "withdraw", "underlying_emotion": "shame", "longing": "to be enough"},
    ]


def episode_payload(clinic, **overrides) -> dict:
    payload = {
        "couple": clinic.couple.pk,
        "occurred_at": ago(hours=2),
        "intensity": 6,
        "pursuer": clinic.a.pk,
        "withdrawer": clinic.b.pk,
    }
    payload.update(overrides)
    return payload


def assignment_payload(clinic, **overrides) -> dict:
    payload = {
        "couple": clinic.couple.pk,
        "partners": [clinic.a.pk, clinic.b.pk],
        "kind": "check_in",
        "title": "Daily check-in",
        "instrument": clinic.instruments["cycle-checkin"].pk,
        "schedule": "daily",
        "local_time": "20:00",
        "starts_on": timezone.localdate().isoformat(),
    }
    payload.update(overrides)
    return payload


# CYCLE MAPS
# ------------------------------------------------------------------------------
def test_cycle_map_saves_versions_and_lists_history_newest_first(clinic, api_as):
    api = api_as(clinic.clinician.user)
    first = api.post(
        "/api/v1/cycle-maps/",
        {"couple": clinic.couple.pk, "positions": positions(clinic.a, clinic.b), "summary": "The loop."},
        format="json",
    )
    assert first.status_code == 201, first.content
    assert first.json()["version"] == 1 and first.json()["created_by"] == clinic.clinician.pk
    pursuer = first.json()["positions"][0]
    assert pursuer["partner"] == clinic.a.pk and pursuer["underlying_emotion"] == "fear of being alone"
    second = api.post(
        "/api/v1/cycle-maps/",
        {"couple": clinic.couple.pk, "positions": positions(clinic.b, clinic.a)},
        format="json",
    )
    assert second.json()["version"] == 2
    history = api.get("/api/v1/cycle-maps/", {"couple": clinic.couple.pk})
    assert ids(history) == [second.json()["id"], first.json()["id"]]
    assert [p["move"] for p in history.json()["results"][1]["positions"]] == ["pursue", "withdraw"]
    current = api.get("/api/v1/cycle-maps/current/", {"couple": clinic.couple.pk})
    assert current.status_code == 200 and current.json()["version"] == 2
    assert api.get(f"/api/v1/cycle-maps/{first.json()['id']}/").json()["summary"] == "The loop."


def test_current_cycle_map_is_404_when_none_or_out_of_scope(clinic, api_as):
    api = api_as(clinic.clinician.user)
    cycle.cycle_map_save(
        user=clinic.foreign_clinician.user,
        couple=clinic.foreign_couple,
        positions=[
            {"partner": clinic.foreign_a, "move": "pursue"},
            {"partner": clinic.foreign_b, "move": "withdraw"},
        ],
    )
    assert_problem(api.get("/api/v1/cycle-maps/current/", {"couple": clinic.couple.pk}), 404)
    assert_problem(api.get("/api/v1/cycle-maps/current/", {"couple": clinic.foreign_couple.pk}), 404)
    assert_problem(api.get("/api/v1/cycle-maps/current/", {"couple": clinic.colleague_couple.pk}), 404)
    body = assert_problem(api.get("/api/v1/cycle-maps/current/"), 400)
    assert set(body["errors"]) == {"couple"}
    foreign_map = CycleMap.objects.get(couple=clinic.foreign_couple)
    assert_problem(api.get(f"/api/v1/cycle-maps/{foreign_map.pk}/"), 404)
    assert ids(api.get("/api/v1/cycle-maps/", {"couple": clinic.foreign_couple.pk})) == []


def test_cycle_map_errors_name_their_fields(clinic, api_as):
    api = api_as(clinic.clinician.user)
    body = assert_problem(
        api.post(
            "/api/v1/cycle-maps/",
            {"couple": clinic.couple.pk, "positions": positions(clinic.a, clinic.foreign_b)},
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {"positions"}
    # The second position (index 1) names its partner field.
    assert set(body["errors"]["positions"]["1"]) == {"partner"}
    body = assert_problem(
        api.post(
            "/api/v1/cycle-maps/",
            {"couple": clinic.foreign_couple.pk, "positions": positions(clinic.a, clinic.b)},
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {"couple"}
    # The same partner twice: each partner appears once in a map.
    body = assert_problem(
        api.post(
            "/api/v1/cycle-maps/",
            {"couple": clinic.couple.pk, "positions": positions(clinic.a, clinic.a)},
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {"positions"}
    # A partner of the clinician's other couple is in scope, but not this couple's.
    body = assert_problem(
        api.post(
            "/api/v1/cycle-maps/",
            {"couple": clinic.couple.pk, "positions": positions(clinic.a, clinic.second_partner)},
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {"positions"}
    assert not CycleMap.objects.filter(couple=clinic.couple).exists()


def test_cycle_map_create_replays_on_the_same_idempotency_key(clinic, api_as):
    api = api_as(clinic.clinician.user)
    payload = {"couple": clinic.couple.pk, "positions": positions(clinic.a, clinic.b)}
    first = api.post("/api/v1/cycle-maps/", payload, format="json", HTTP_IDEMPOTENCY_KEY="map-save-1")
    again = api.post("/api/v1/cycle-maps/", payload, format="json", HTTP_IDEMPOTENCY_KEY="map-save-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert CycleMap.objects.filter(couple=clinic.couple).count() == 1


def test_cycle_map_list_uses_constant_queries(clinic, django_assert_max_num_queries):
    def save() -> None:
        cycle.cycle_map_save(
            user=clinic.clinician.user,
            couple=clinic.couple,
            positions=[{"partner": clinic.a, "move": "pursue"}, {"partner": clinic.b, "move": "withdraw"}],
        )

    save()
    with_one = queries_for(clinic.clinician, "/api/v1/cycle-maps/")
    for _ in range(19):
        save()
    api = fresh_client(clinic.clinician)
    with django_assert_max_num_queries(with_one):
        response = api.get("/api/v1/cycle-maps/")
    assert len(response.json()["results"]) == 20
    assert all(len(row["positions"]) == 2 for row in response.json()["results"])


# EPISODES
# ------------------------------------------------------------------------------
def test_clinician_records_an_episode_seen_in_session(clinic, api_as):
    api = api_as(clinic.clinician.user)
    session = held_session(clinic.couple)
    created = api.post(
        "/api/v1/episodes/",
        episode_payload(
            clinic,
            duration_minutes=12,
            repair_attempted=True,
            repair_worked=True,
            trigger="Late again",
            notes="Named the loop mid-way.",
            session=session.pk,
        ),
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["source"] == "session" and body["recorded_by_clinician"] == clinic.clinician.pk
    assert body["session"] == session.pk and body["repair_worked"] is True and body["notes"]
    assert api.get(f"/api/v1/episodes/{body['id']}/").json()["trigger"] == "Late again"


def test_episode_errors_name_their_fields(clinic, api_as):
    api = api_as(clinic.clinician.user)

    def refused(**overrides: object) -> set[str]:
        response = api.post("/api/v1/episodes/", episode_payload(clinic, **overrides), format="json")
        return set(assert_problem(response, 400)["errors"])

    assert refused(intensity=11) == {"intensity"}
    assert refused(withdrawer=clinic.a.pk) == {"withdrawer"}
    # Another couple's partner: out of the practice, or in scope but not this couple's.
    assert refused(pursuer=clinic.foreign_a.pk) == {"pursuer"}
    assert refused(pursuer=clinic.second_partner.pk, withdrawer=None) == {"pursuer"}
    assert refused(couple=clinic.foreign_couple.pk) == {"couple"}
    assert refused(session=held_session(clinic.foreign_couple).pk) == {"session"}
    assert refused(session=held_session(clinic.second_couple).pk) == {"session"}
    assert refused(occurred_at=(timezone.now() + datetime.timedelta(hours=3)).isoformat()) == {"occurred_at"}
    assert refused(repair_worked=True) == {"repair_worked"}
    assert not CycleEpisode.objects.exists()


def test_episode_list_is_cursor_paginated_newest_first(clinic, api_as):
    api = api_as(clinic.clinician.user)
    for hours, intensity in ((5, 2), (3, 9), (1, 4)):
        cycle.episode_record(
            actor=clinic.clinician.user,
            couple=clinic.couple,
            occurred_at=timezone.now() - datetime.timedelta(hours=hours),
            intensity=intensity,
        )
    first = api.get("/api/v1/episodes/", {"page_size": 2})
    assert first.status_code == 200
    page = first.json()
    assert "count" not in page and page["next"] and page["previous"] is None
    assert [e["intensity"] for e in page["results"]] == [4, 9]
    rest = api.get(page["next"]).json()
    assert [e["intensity"] for e in rest["results"]] == [2] and rest["next"] is None
    assert [e["intensity"] for e in api.get("/api/v1/episodes/", {"intensity_min": 4}).json()["results"]] == [
        4,
        9,
    ]
    assert [e["intensity"] for e in api.get("/api/v1/episodes/", {"intensity_max": 4}).json()["results"]] == [
        4,
        2,
    ]
    window = {"occurred_after": ago(hours=4), "occurred_before": ago(hours=2)}
    assert [e["intensity"] for e in api.get("/api/v1/episodes/", window).json()["results"]] == [9]
    assert len(ids(api.get("/api/v1/episodes/", {"source": "session", "couple": clinic.couple.pk}))) == 3
    assert ids(api.get("/api/v1/episodes/", {"source": "self_report"})) == []
    assert ids(api.get("/api/v1/episodes/", {"couple": clinic.second_couple.pk})) == []


def test_episode_out_of_scope_is_404_problem(clinic, api_as):
    foreign = cycle.episode_record(
        actor=clinic.foreign_clinician.user,
        couple=clinic.foreign_couple,
        occurred_at=timezone.now(),
        intensity=3,
    )
    api = api_as(clinic.clinician.user)
    body = assert_problem(api.get(f"/api/v1/episodes/{foreign.pk}/"), 404)
    assert body["detail"]
    assert ids(api.get("/api/v1/episodes/")) == []


def test_episode_list_uses_constant_queries(clinic, django_assert_max_num_queries):
    def record() -> None:
        cycle.episode_record(
            actor=clinic.clinician.user,
            couple=clinic.couple,
            occurred_at=timezone.now() - datetime.timedelta(minutes=5),
            intensity=5,
            pursuer=clinic.a,
            withdrawer=clinic.b,
        )

    record()
    with_one = queries_for(clinic.clinician, "/api/v1/episodes/")
    for _ in range(19):
        record()
    api = fresh_client(clinic.clinician)
    with django_assert_max_num_queries(with_one):
        response = api.get("/api/v1/episodes/")
    assert len(response.json()["results"]) == 20


# ASSIGNMENTS
# ------------------------------------------------------------------------------
def test_clinician_assigns_homework_and_changes_its_status(clinic, api_as):
    api = api_as(clinic.clinician.user)
    created = api.post("/api/v1/assignments/", assignment_payload(clinic), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert sorted(body["partners"]) == sorted([clinic.a.pk, clinic.b.pk])
    assert body["local_time"] == "20:00:00" and body["status"] == "active"
    assert body["assigned_by"] == clinic.clinician.pk
    url = f"/api/v1/assignments/{body['id']}/"
    occurrence, _ = cycle.occurrence_materialise(
        assignment=Assignment.objects.get(pk=body["id"]),
        partner=clinic.a,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(20),
    )
    paused = api.post(f"{url}status/", {"status": "paused"}, format="json")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert ids(api.get("/api/v1/assignments/", {"status": "paused", "kind": "check_in"})) == [body["id"]]
    assert ids(api.get("/api/v1/assignments/", {"status": "active"})) == []
    ended = api.post(f"{url}status/", {"status": "ended"}, format="json")
    assert ended.json()["status"] == "ended"
    assert Occurrence.objects.get(pk=occurrence.pk).status == Occurrence.Status.CANCELLED
    body = assert_problem(api.post(f"{url}status/", {"status": "active"}, format="json"), 400)
    assert set(body["errors"]) == {"status"}
    body = assert_problem(api.post(f"{url}status/", {"status": "forever"}, format="json"), 400)
    assert set(body["errors"]) == {"status"}


def test_weekday_practice_task_for_one_partner(clinic, api_as):
    created = api_as(clinic.clinician.user).post(
        "/api/v1/assignments/",
        assignment_payload(
            clinic,
            partners=[clinic.b.pk],
            kind="practice",
            title="Name the loop out loud",
            instructions="When you notice yourself pulling away, say so.",
            instrument=None,
            schedule="weekdays",
            weekdays=0b0010101,
            ends_on=(timezone.localdate() + datetime.timedelta(days=28)).isoformat(),
        ),
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["partners"] == [clinic.b.pk] and created.json()["weekdays"] == 21


def test_assignment_errors_name_their_fields(clinic, api_as):
    api = api_as(clinic.clinician.user)
    licensed = Instrument.objects.create(
        practice=clinic.foreign_couple.practice,
        code="licensed",
        name="Foreign licensed measure",
        definition=clinic.instruments["csi-4"].definition,
    )

    def refused(**overrides: object) -> set[str]:
        response = api.post("/api/v1/assignments/", assignment_payload(clinic, **overrides), format="json")
        return set(assert_problem(response, 400)["errors"])

    assert refused(partners=[clinic.a.pk, clinic.foreign_b.pk]) == {"partners"}
    assert refused(partners=[clinic.second_partner.pk]) == {"partners"}
    assert refused(couple=clinic.foreign_couple.pk) == {"couple"}
    assert refused(instrument=licensed.pk) == {"instrument"}
    assert refused(local_time=None) == {"local_time"}
    assert refused(schedule="weekly", weekdays=3) == {"weekdays"}
    assert refused(instrument=None) == {"instrument"}
    assert refused(ends_on="2000-01-01") == {"ends_on"}
    assert refused(kind="chores") == {"kind"}
    assert not Assignment.objects.exists()


def test_assignment_out_of_scope_is_404_problem(clinic, api_as):
    foreign = cycle.assignment_create(
        user=clinic.foreign_clinician.user,
        couple=clinic.foreign_couple,
        partners=[clinic.foreign_a],
        kind="practice",
        title="Theirs",
        schedule="daily",
        local_time=datetime.time(9),
        starts_on=timezone.localdate(),
    )
    api = api_as(clinic.clinician.user)
    assert_problem(api.get(f"/api/v1/assignments/{foreign.pk}/"), 404)
    assert_problem(
        api.post(f"/api/v1/assignments/{foreign.pk}/status/", {"status": "ended"}, format="json"), 404
    )
    assert Assignment.objects.get(pk=foreign.pk).status == "active"


def test_assignment_list_uses_constant_queries(clinic, django_assert_max_num_queries):
    def assign() -> None:
        cycle.assignment_create(
            user=clinic.clinician.user,
            couple=clinic.couple,
            partners=[clinic.a, clinic.b],
            kind="practice",
            title="Pause and name it",
            schedule="daily",
            local_time=datetime.time(21),
            starts_on=timezone.localdate(),
        )

    assign()
    with_one = queries_for(clinic.clinician, "/api/v1/assignments/")
    for _ in range(19):
        assign()
    api = fresh_client(clinic.clinician)
    with django_assert_max_num_queries(with_one):
        response = api.get("/api/v1/assignments/")
    assert len(response.json()["results"]) == 20
    assert all(len(row["partners"]) == 2 for row in response.json()["results"])


# OCCURRENCES
# ------------------------------------------------------------------------------
def daily_homework(clinic, couple=None, partners=None, *, days: int = 3):
    """A daily practice task and its occurrences for each partner over ``days`` days."""
    couple = couple or clinic.couple
    partners = partners or [clinic.a, clinic.b]
    assignment = cycle.assignment_create(
        user=couple.primary_clinician.user,
        couple=couple,
        partners=partners,
        kind="practice",
        title="Evening pause",
        schedule="daily",
        local_time=datetime.time(20),
        starts_on=timezone.localdate(),
    )
    occurrences = [
        cycle.occurrence_materialise(
            assignment=assignment,
            partner=partner,
            local_due_date=timezone.localdate() + datetime.timedelta(days=day),
            local_due_time=datetime.time(20),
        )[0]
        for day in range(days)
        for partner in partners
    ]
    return assignment, occurrences


def test_occurrences_are_cursor_paginated_and_filtered(clinic, api_as):
    assignment, occurrences = daily_homework(clinic)
    api = api_as(clinic.clinician.user)
    page = api.get("/api/v1/occurrences/", {"page_size": 4}).json()
    assert "count" not in page and page["next"] and len(page["results"]) == 4
    due = [row["due_at"] for row in page["results"]]
    assert due == sorted(due, reverse=True)
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    mine = api.get("/api/v1/occurrences/", {"partner": clinic.b.pk, "assignment": assignment.pk})
    assert len(ids(mine)) == 3 and {row["partner"] for row in mine.json()["results"]} == {clinic.b.pk}
    first_day_end = (occurrences[1].due_at + datetime.timedelta(hours=12)).isoformat()
    assert len(ids(api.get("/api/v1/occurrences/", {"due_before": first_day_end}))) == 2
    assert len(ids(api.get("/api/v1/occurrences/", {"due_after": first_day_end}))) == 4
    assert len(ids(api.get("/api/v1/occurrences/", {"status": "pending"}))) == 6
    assert ids(api.get("/api/v1/occurrences/", {"status": "completed"})) == []
    one = api.get(f"/api/v1/occurrences/{occurrences[0].pk}/").json()
    assert one["assignment"] == assignment.pk and one["local_due_time"] == "20:00:00"


def test_occurrences_are_read_only_and_scoped(clinic, api_as):
    _, foreign = daily_homework(clinic, clinic.foreign_couple, [clinic.foreign_a], days=1)
    api = api_as(clinic.clinician.user)
    assert_problem(api.get(f"/api/v1/occurrences/{foreign[0].pk}/"), 404)
    assert ids(api.get("/api/v1/occurrences/")) == []
    assert_problem(api.post("/api/v1/occurrences/", {}, format="json"), 405)


def test_occurrence_list_uses_constant_queries(clinic, django_assert_max_num_queries):
    daily_homework(clinic, partners=[clinic.a], days=1)
    with_one = queries_for(clinic.clinician, "/api/v1/occurrences/")
    daily_homework(clinic, partners=[clinic.a, clinic.b], days=10)
    api = fresh_client(clinic.clinician)
    with django_assert_max_num_queries(with_one):
        response = api.get("/api/v1/occurrences/")
    assert len(response.json()["results"]) == 21


# INTEGRATION CLIENTS
# ------------------------------------------------------------------------------
def test_integration_client_reads_the_practice_but_may_not_write_clinical_records(clinic, integration_for):
    cycle.episode_record(
        actor=clinic.clinician.user, couple=clinic.couple, occurred_at=timezone.now(), intensity=3
    )
    api = integration_for(clinic.practice, scopes="read write").api
    assert len(ids(api.get("/api/v1/episodes/"))) == 1
    body = assert_problem(api.post("/api/v1/episodes/", episode_payload(clinic), format="json"), 403)
    assert body["type"] == "urn:cyclecare:problem:permission_denied"
    assert_problem(
        api.post(
            "/api/v1/cycle-maps/",
            {"couple": clinic.couple.pk, "positions": positions(clinic.a, clinic.b)},
            format="json",
        ),
        403,
    )
    assert_problem(api.post("/api/v1/assignments/", assignment_payload(clinic), format="json"), 403)
    assert CycleEpisode.objects.count() == 1 and not CycleMap.objects.exists()


def test_integration_token_with_read_scope_only_gets_403_on_post(clinic, integration_for):
    api = integration_for(clinic.practice, scopes="read").api
    assert api.get("/api/v1/assignments/").status_code == 200
    body = assert_problem(api.post("/api/v1/episodes/", episode_payload(clinic), format="json"), 403)
    # Refused for what it is, whatever the token's scopes: clinical records are read-only to
    # integrations (a missing write scope on a write they may make: test_couples_api).
    assert "only clinicians write" in body["detail"]
