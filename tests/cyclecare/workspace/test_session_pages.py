"""The sessions pages: the couple's list and booking form (practice time zone, datetime-local),
one session's outcome and attendance, rescheduling, and every bad input refused with a message
and nothing changed."""

import datetime
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from clinician.models import AuditEvent
from couples.models import TherapySession
from tests.factories import (
    ClinicianFactory,
    TherapySessionFactory,
    couple_with_partners,
    held_session,
)

pytestmark = pytest.mark.django_db

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")  # PracticeFactory's time zone


def sessions_url(couple) -> str:
    return reverse("cyclecare:clinician:sessions", kwargs={"couple_id": couple.pk})


def session_url(session) -> str:
    return reverse("cyclecare:clinician:session", kwargs={"session_id": session.pk})


def local(dt: datetime.datetime) -> str:
    return dt.astimezone(CHICAGO).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def world(client):
    clinician = ClinicianFactory(display_name="Dr Okafor")
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen")
    client.force_login(clinician.user)
    return clinician, couple, a, b


def test_list_shows_sessions_in_the_practice_time_zone_and_a_datetime_local_form(client, world):
    clinician, couple, a, b = world
    starts = datetime.datetime(2030, 7, 1, 15, 0, tzinfo=datetime.UTC)  # 10:00 in Chicago (CDT)
    TherapySessionFactory(couple=couple, starts_at=starts)
    held_session(couple, kind="individual", partner=a)
    response = client.get(sessions_url(couple))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Mon 1 Jul 2030, 10:00" in html
    assert 'type="datetime-local"' in html
    assert "America/Chicago" in html
    assert f"Individual · {a.display_name}" in html
    assert 'style="' not in html and "<script>" not in html


def test_booking_reads_the_local_time_in_the_practice_zone(client, world):
    clinician, couple, a, b = world
    response = client.post(
        sessions_url(couple),
        {"starts_at": "2030-01-15T09:30", "kind": "joint", "modality": "video", "duration_minutes": "50"},
    )
    session = TherapySession.objects.get()
    assert response.status_code == 302 and response["Location"] == session_url(session)
    assert session.starts_at == datetime.datetime(2030, 1, 15, 15, 30, tzinfo=datetime.UTC)  # CST = UTC−6
    assert session.modality == "video" and session.partner is None


def test_booking_an_individual_session_needs_the_partner(client, world):
    clinician, couple, a, b = world
    data = {
        "starts_at": "2030-01-15T09:30",
        "kind": "individual",
        "modality": "in_person",
        "duration_minutes": "50",
    }
    response = client.post(sessions_url(couple), data)
    assert response.status_code == 400
    assert "Choose the partner seen in an individual session." in response.content.decode()
    assert not TherapySession.objects.exists()
    response = client.post(sessions_url(couple), {**data, "partner": b.pk})
    assert response.status_code == 302
    assert TherapySession.objects.get().partner == b


def test_booking_in_the_past_is_refused_with_a_message_and_nothing_booked(client, world):
    clinician, couple, a, b = world
    yesterday = timezone.now() - datetime.timedelta(days=1)
    response = client.post(
        sessions_url(couple),
        {"starts_at": local(yesterday), "kind": "joint", "modality": "in_person", "duration_minutes": "50"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "A scheduled session must be in the future." in html
    assert 'aria-invalid="true"' in html
    assert not TherapySession.objects.exists()
    assert not AuditEvent.objects.filter(action="session.schedule").exists()


def test_a_local_time_skipped_by_the_dst_change_is_refused(client, world):
    clinician, couple, a, b = world
    # 2 March 2031... Chicago springs forward on 9 March 2031 at 02:00: 02:30 does not exist.
    response = client.post(
        sessions_url(couple),
        {"starts_at": "2031-03-09T02:30", "kind": "joint", "modality": "in_person", "duration_minutes": "50"},
    )
    assert response.status_code == 400
    assert not TherapySession.objects.exists()


def test_another_clinicians_couple_is_a_404(client, world):
    other_couple, _, _ = couple_with_partners()
    other_session = TherapySessionFactory(couple=other_couple)
    assert client.get(sessions_url(other_couple)).status_code == 404
    assert client.get(session_url(other_session)).status_code == 404
    response = client.post(
        sessions_url(other_couple),
        {"starts_at": "2030-01-15T09:30", "kind": "joint", "modality": "in_person", "duration_minutes": "50"},
    )
    assert response.status_code == 404
    response = client.post(session_url(other_session), {"action": "outcome", "status": "cancelled"})
    assert response.status_code == 404
    other_session.refresh_from_db()
    assert other_session.status == "scheduled"


def test_a_practice_admin_books_but_gets_no_note_links(client, world):
    clinician, couple, a, b = world
    admin = ClinicianFactory(practice=clinician.practice, role="practice_admin")
    held = held_session(couple)
    client.force_login(admin.user)
    response = client.get(sessions_url(couple))
    assert response.status_code == 200
    assert (
        reverse("cyclecare:clinician:note_edit", kwargs={"session_id": held.pk})
        not in response.content.decode()
    )
    assert client.get(session_url(held)).status_code == 200


def test_record_held_with_attendance_of_one_partner(client, world):
    clinician, couple, a, b = world
    past = TherapySessionFactory(couple=couple, starts_at=timezone.now() - datetime.timedelta(hours=2))
    page = client.get(session_url(past)).content.decode()
    assert "This session's time has passed and it is still marked scheduled." in page
    assert a.display_name in page and b.display_name in page
    response = client.post(session_url(past), {"action": "outcome", "status": "held", "attendees": [a.pk]})
    assert response.status_code == 302
    past.refresh_from_db()
    assert past.status == "held" and list(past.attendees.all()) == [a]
    page = client.get(session_url(past)).content.decode()
    assert "Write the note" in page
    assert "Record what happened" not in page  # no outcome form once recorded


def test_record_held_with_both_partners(client, world):
    clinician, couple, a, b = world
    past = TherapySessionFactory(couple=couple, starts_at=timezone.now() - datetime.timedelta(hours=2))
    client.post(session_url(past), {"action": "outcome", "status": "held", "attendees": [a.pk, b.pk]})
    past.refresh_from_db()
    assert set(past.attendees.all()) == {a, b}


def test_individual_session_offers_only_its_partner(client, world):
    clinician, couple, a, b = world
    past = TherapySessionFactory(
        couple=couple, kind="individual", partner=a, starts_at=timezone.now() - datetime.timedelta(hours=1)
    )
    response = client.get(session_url(past))
    assert list(response.context["outcome_form"].fields["attendees"].queryset) == [a]
    response = client.post(session_url(past), {"action": "outcome", "status": "held", "attendees": [b.pk]})
    assert response.status_code == 400
    past.refresh_from_db()
    assert past.status == "scheduled"


def test_held_without_attendees_is_refused(client, world):
    clinician, couple, a, b = world
    past = TherapySessionFactory(couple=couple, starts_at=timezone.now() - datetime.timedelta(hours=2))
    response = client.post(session_url(past), {"action": "outcome", "status": "held"})
    assert response.status_code == 400
    assert "Record who attended." in response.content.decode()
    past.refresh_from_db()
    assert past.status == "scheduled" and not past.attendees.exists()


def test_cancel_and_no_show(client, world):
    clinician, couple, a, b = world
    future = TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=2))
    # A no-show before the session starts is refused (cancel it instead).
    response = client.post(session_url(future), {"action": "outcome", "status": "no_show"})
    assert response.status_code == 400
    assert "A no-show can be recorded only once the session has started" in response.content.decode()
    future.refresh_from_db()
    assert future.status == "scheduled"
    assert client.post(session_url(future), {"action": "outcome", "status": "cancelled"}).status_code == 302
    future.refresh_from_db()
    assert future.status == "cancelled"
    past = TherapySessionFactory(couple=couple, starts_at=timezone.now() - datetime.timedelta(hours=3))
    assert client.post(session_url(past), {"action": "outcome", "status": "no_show"}).status_code == 302
    past.refresh_from_db()
    assert past.status == "no_show"


def test_an_outcome_cannot_be_recorded_twice_nor_set_back_to_scheduled(client, world):
    clinician, couple, a, b = world
    held = held_session(couple)
    response = client.post(session_url(held), {"action": "outcome", "status": "cancelled"})
    assert response.status_code == 400
    assert "This session is already held." in response.content.decode()
    response = client.post(session_url(held), {"action": "outcome", "status": "scheduled"})
    assert response.status_code == 400
    held.refresh_from_db()
    assert held.status == "held"


def test_reschedule_a_scheduled_session_and_refuse_the_past(client, world):
    clinician, couple, a, b = world
    future = TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=2))
    before = future.starts_at
    response = client.post(
        session_url(future),
        {"action": "reschedule", "starts_at": local(timezone.now() - datetime.timedelta(days=1))},
    )
    assert response.status_code == 400
    assert "A scheduled session must be in the future." in response.content.decode()
    future.refresh_from_db()
    assert future.starts_at == before
    response = client.post(session_url(future), {"action": "reschedule", "starts_at": "2030-02-01T16:00"})
    assert response.status_code == 302
    future.refresh_from_db()
    assert future.starts_at == datetime.datetime(2030, 2, 1, 22, 0, tzinfo=datetime.UTC)


def test_a_held_session_cannot_be_moved(client, world):
    clinician, couple, a, b = world
    held = held_session(couple)
    before = held.starts_at
    response = client.post(session_url(held), {"action": "reschedule", "starts_at": "2030-02-01T16:00"})
    assert response.status_code == 400
    held.refresh_from_db()
    assert held.starts_at == before


def test_anonymous_is_sent_to_sign_in(client, world):
    clinician, couple, a, b = world
    client.logout()
    response = client.get(sessions_url(couple))
    assert response.status_code == 302 and "/login/" in response["Location"]
