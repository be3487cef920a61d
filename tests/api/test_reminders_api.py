"""/api/v1/reminder-deliveries/: the reminder log, read-only, scoped like every other list."""

import datetime

import pytest
from django.core import mail
from rest_framework.test import APIClient

from clinician.models import Clinician
from cyclecare import services
from cyclecare.models import Occurrence, ReminderDelivery
from cyclecare.reminders import dispatch
from tests.cyclecare.reminder_world import assign, at, plan, tick, travel, world
from tests.factories import ClinicianFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_the_minute")]
LOG = "/api/v1/reminder-deliveries/"
NY = "America/New_York"


def signed_in(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user=user)
    return api


@pytest.fixture
def log(django_capture_on_commit_callbacks):
    """One couple's reminders: A's sent, opened and completed; B's failed (a bad address)."""
    w = world(zone_a=NY, zone_b=NY)
    from couples.models import Partner

    Partner.objects.filter(pk=w.b.pk).update(email="not-an-address")
    assign(w)
    plan(at(NY, 2026, 3, 2, 12))
    tick(at(NY, 2026, 3, 2, 20, 0), django_capture_on_commit_callbacks)
    sent = ReminderDelivery.objects.get(partner=w.a, status="sent")
    with travel(at(NY, 2026, 3, 2, 20, 5)):
        dispatch.reminder_link_opened(link=sent.link)
        services.checkin_submit(
            partner=w.a,
            instrument=w.instruments["cycle-checkin"],
            answers={"cycle_showed_up": False, "connection": 8},
            occurrence=sent.occurrence,
        )
    assert len(mail.outbox) == 1
    return w


def test_the_treating_clinician_sees_what_was_sent_opened_completed_and_what_failed_and_why(log):
    body = signed_in(log.user).get(LOG).json()
    rows = {row["partner"]: row for row in body["results"] if row["status"] in ("sent", "failed")}
    a, b = rows[log.a.pk], rows[log.b.pk]
    assert a["channel"] == "email" and a["kind"] == "reminder"
    assert a["sent_at"] == "2026-03-03T01:00:00Z" and a["link_opened_at"] == "2026-03-03T01:05:00Z"
    assert a["checkin_completed"] is True and a["completed_at"] == "2026-03-03T01:05:00Z"
    assert b["status"] == "failed" and b["reason"] == "The email address is not valid."
    assert b["checkin_completed"] is False and b["sent_at"] is None
    assert "link" not in a and "token" not in str(body)


def test_filters(log):
    api = signed_in(log.user)
    occurrence = Occurrence.objects.get(partner=log.a, local_due_date=datetime.date(2026, 3, 2))
    assert [r["partner"] for r in api.get(LOG, {"occurrence": occurrence.pk}).json()["results"]] == [log.a.pk]
    assert {r["status"] for r in api.get(LOG, {"status": "failed"}).json()["results"]} == {"failed"}
    assert {r["partner"] for r in api.get(LOG, {"partner": log.b.pk}).json()["results"]} == {log.b.pk}
    assert api.get(LOG, {"channel": "sms"}).json()["results"] == []
    assert api.get(LOG, {"status": "nonsense"}).status_code == 400


def test_the_practice_admin_sees_the_practice_log_and_other_practices_see_nothing(log):
    admin = ClinicianFactory(practice=log.couple.practice, role=Clinician.Role.PRACTICE_ADMIN)
    colleague = ClinicianFactory(practice=log.couple.practice)
    stranger = ClinicianFactory()
    count = ReminderDelivery.objects.count()
    assert len(signed_in(admin.user).get(LOG).json()["results"]) == count
    assert signed_in(colleague.user).get(LOG).json()["results"] == []
    assert signed_in(stranger.user).get(LOG).json()["results"] == []
    one = ReminderDelivery.objects.first().pk
    assert signed_in(stranger.user).get(f"{LOG}{one}/").status_code == 404
    assert signed_in(log.user).get(f"{LOG}{one}/").status_code == 200


def test_the_log_is_read_only(log):
    api = signed_in(log.user)
    one = ReminderDelivery.objects.first().pk
    assert api.post(LOG, {}, format="json").status_code == 405
    assert api.delete(f"{LOG}{one}/").status_code == 405
