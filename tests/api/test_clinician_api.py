"""Sessions and notes through the API: schedule, outcome, draft → sign → locked → addenda."""

import datetime

import pytest
from django.utils import timezone

from clinician.models import AuditEvent
from couples.models import SessionNote
from tests.api.conftest import assert_problem
from tests.factories import ClinicianFactory, couple_with_partners, held_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def case():
    supervisor = ClinicianFactory(role="supervisor")
    author = ClinicianFactory(practice=supervisor.practice, supervisor=supervisor, is_prelicensed=True)
    couple, a, b = couple_with_partners(author)
    return couple, a, b, author, supervisor


def test_schedule_and_record_a_session(case, api_as):
    couple, a, b, author, _ = case
    api = api_as(author.user)
    later = (timezone.now() + datetime.timedelta(days=2)).isoformat()
    created = api.post(
        "/api/v1/sessions/",
        {"couple": couple.pk, "starts_at": later, "kind": "individual", "partner": a.pk, "modality": "video"},
        format="json",
    )
    assert created.status_code == 201, created.content
    session = created.json()
    assert session["partner"] == a.pk and session["status"] == "scheduled"
    moved = api.post(f"/api/v1/sessions/{session['id']}/reschedule/", {"starts_at": later}, format="json")
    assert moved.status_code == 200
    body = assert_problem(
        api.post(f"/api/v1/sessions/{session['id']}/outcome/", {"status": "held"}, format="json"), 400
    )
    assert "status" in body["errors"] or "attendees" in body["errors"]
    cancelled = api.post(f"/api/v1/sessions/{session['id']}/outcome/", {"status": "cancelled"}, format="json")
    assert cancelled.json()["status"] == "cancelled"
    listed = api.get("/api/v1/sessions/", {"status": "cancelled", "couple": couple.pk}).json()
    assert [s["id"] for s in listed["results"]] == [session["id"]]


def test_note_lifecycle(case, api_as):
    couple, a, b, author, supervisor = case
    session = held_session(couple)
    api = api_as(author.user)
    created = api.post(
        "/api/v1/notes/",
        {"session": session.pk, "format": "dap", "data": "Both named the loop."},
        format="json",
    )
    assert created.status_code == 201, created.content
    note_id = created.json()["id"]
    body = assert_problem(api.post(f"/api/v1/notes/{note_id}/sign/"), 400)
    assert {"assessment", "plan"} <= set(body["errors"])
    patched = api.patch(
        f"/api/v1/notes/{note_id}/",
        {"assessment": "De-escalating.", "plan": "Practise the pause.", "eft_stage": 1, "eft_step": 3},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["eft_step"] == 3
    signed = api.post(f"/api/v1/notes/{note_id}/sign/")
    assert signed.status_code == 200 and signed.json()["status"] == "signed"
    assert signed.json()["signed_content_sha256"]
    # Locked: edits are a conflict, and nothing changes.
    assert_problem(api.patch(f"/api/v1/notes/{note_id}/", {"plan": "Rewritten"}, format="json"), 409)
    assert SessionNote.objects.get(pk=note_id).plan == "Practise the pause."
    # Co-signature: not by the author, yes by the supervisor.
    assert api.post(f"/api/v1/notes/{note_id}/co-sign/").status_code == 400
    cosigned = api_as(supervisor.user).post(f"/api/v1/notes/{note_id}/co-sign/")
    assert cosigned.status_code == 200 and cosigned.json()["cosigned_by"] == supervisor.pk
    added = api.post(f"/api/v1/notes/{note_id}/addenda/", {"body": "B called with context."}, format="json")
    assert added.status_code == 201
    assert [x["body"] for x in api.get(f"/api/v1/notes/{note_id}/addenda/").json()] == [
        "B called with context."
    ]
    assert AuditEvent.objects.filter(action="note.read", target_id=str(note_id)).exists()


def test_note_for_a_session_outside_scope_is_a_400(case, api_as):
    couple, a, b, author, _ = case
    other_couple, *_ = couple_with_partners()
    foreign = held_session(other_couple)
    body = assert_problem(
        api_as(author.user).post("/api/v1/notes/", {"session": foreign.pk}, format="json"), 400
    )
    assert "session" in body["errors"]


def test_a_practice_admin_sees_the_schedule_but_not_note_bodies(case, api_as):
    couple, a, b, author, _ = case
    admin = ClinicianFactory(practice=couple.practice, role="practice_admin")
    session = held_session(couple)
    api_as(author.user).post("/api/v1/notes/", {"session": session.pk, "data": "private"}, format="json")
    api = api_as(admin.user)
    assert session.pk in [s["id"] for s in api.get("/api/v1/sessions/").json()["results"]]
    assert api.get("/api/v1/notes/").json()["count"] == 0
    note = SessionNote.objects.get(session=session)
    assert_problem(api.get(f"/api/v1/notes/{note.pk}/"), 404)


def test_lists_use_a_constant_number_of_queries(case, api_as, django_assert_max_num_queries):
    couple, a, b, author, _ = case
    api = api_as(author.user)
    held_session(couple)
    with django_assert_max_num_queries(8):
        small = api.get("/api/v1/sessions/")
    for days in range(2, 22):
        held_session(couple, days_ago=days)
    with django_assert_max_num_queries(8):
        large = api.get("/api/v1/sessions/")
    assert small.json()["count"] == 1 and large.json()["count"] == 21
