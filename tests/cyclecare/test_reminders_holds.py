"""Reminders follow a couple's and a partner's settings at once (issue 13, item 3): a time-zone
or quiet-hours change re-plans the partner's future reminders without duplicating any; a pause
stops them now and a resume brings no burst; a withdrawn consent, by the clinician, by a "STOP"
text or by the email's unsubscribe link, stops that channel's reminders."""

import datetime
import re

import pytest
from django.core import mail

from clinician.models import AuditEvent
from couples import services as couple_services
from couples.models import Consent, Couple
from couples.selectors import consent_in_force
from cyclecare.models import Occurrence, ReminderDelivery
from cyclecare.reminders import dispatch, holds, inbound
from cyclecare.reminders.channels import LocmemSmsBackend
from cyclecare.reminders.messages import stop_token_make
from tests.cyclecare.reminder_world import assign, at, plan, tick, travel, world
from tests.factories import SafetyFlagFactory

pytestmark = pytest.mark.django_db
NY = "America/New_York"
LA = "America/Los_Angeles"
Status = ReminderDelivery.Status
INBOUND_TOKEN = "inbound-secret-for-tests"


@pytest.fixture(autouse=True)
def on_the_minute(settings):
    settings.CYCLECARE = {
        **settings.CYCLECARE,
        "REMINDER_SPREAD_MINUTES": 1,
        "SMS_INBOUND_TOKEN": INBOUND_TOKEN,
    }
    LocmemSmsBackend.outbox.clear()
    yield
    LocmemSmsBackend.outbox.clear()


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def planned(**options):
    """A's daily 20:00 check-in in New York, planned on 2 March 2026 at noon (36 hours ahead)."""
    w = world(zone_a=NY, **options)
    w.assignment = assign(w, partners=[w.a])
    plan(at(NY, 2026, 3, 2, 12))
    return w


def reminders_of(partner):
    return ReminderDelivery.objects.filter(partner=partner).order_by("occurrence__local_due_date")


# TIME ZONE AND QUIET HOURS
# ------------------------------------------------------------------------------
def test_a_time_zone_change_moves_future_reminders_to_the_new_zone_without_duplicates(capture):
    w = planned()
    before = {o.local_due_date: o.pk for o in Occurrence.objects.filter(partner=w.a)}
    with travel(at(NY, 2026, 3, 2, 13)):
        couple_services.partner_update(user=w.user, partner=w.a, time_zone=LA)
    occurrences = Occurrence.objects.filter(partner=w.a).order_by("local_due_date")
    # the same rows (one per local due date), now due at 20:00 in Los Angeles
    assert {o.local_due_date: o.pk for o in occurrences} == before
    assert all(o.due_at == at(LA, 2026, 3, o.local_due_date.day, 20) for o in occurrences)
    assert [r.next_attempt_at for r in reminders_of(w.a)] == [o.due_at for o in occurrences]
    # the planner's next runs and the dispatcher's ticks add and send nothing twice
    plan(at(NY, 2026, 3, 2, 14))
    plan(at(LA, 2026, 3, 2, 19))
    assert Occurrence.objects.filter(partner=w.a).count() == len(before)
    assert ReminderDelivery.objects.filter(partner=w.a).count() == len(before)
    assert tick(at(NY, 2026, 3, 2, 20, 0), capture) == 0  # 20:00 in New York is 17:00 for A now
    for minute in (0, 1, 5):
        tick(at(LA, 2026, 3, 2, 20, minute), capture)
    assert len(mail.outbox) == 1


def test_quiet_hours_set_now_retime_the_unsent_reminders():
    w = planned()
    with travel(at(NY, 2026, 3, 2, 13)):
        couple_services.partner_update(
            user=w.user, partner=w.a, quiet_hours_start=datetime.time(19), quiet_hours_end=datetime.time(21)
        )
    first = reminders_of(w.a).first()
    assert first.next_attempt_at == at(NY, 2026, 3, 2, 21)
    assert first.status == Status.PENDING


def test_a_channel_change_cancels_the_old_channels_reminders_and_plans_the_new_one(capture):
    w = planned()
    with travel(at(NY, 2026, 3, 2, 13)):
        couple_services.partner_update(user=w.user, partner=w.a, preferred_channel="sms")
    by_channel = {(r.channel, r.status) for r in reminders_of(w.a)}
    assert by_channel == {("email", Status.CANCELLED), ("sms", Status.PENDING)}
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert mail.outbox == [] and len(LocmemSmsBackend.outbox) == 1


# PAUSE, RESUME, DISCHARGE
# ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["paused", "discharged"])
def test_a_pause_or_discharge_stops_every_pending_reminder_at_once(status):
    w = planned()
    with travel(at(NY, 2026, 3, 2, 13)):
        couple_services.couple_set_status(user=w.user, couple=w.couple, status=status)
    assert set(reminders_of(w.a).values_list("status", "last_error")) == {
        (Status.CANCELLED, dispatch.ON_HOLD)
    }
    plan(at(NY, 2026, 3, 2, 14))
    assert not reminders_of(w.a).filter(status=Status.PENDING).exists()


def test_a_resume_sends_no_burst_for_what_fell_due_while_paused(capture):
    w = planned()
    with travel(at(NY, 2026, 3, 2, 13)):
        couple_services.couple_set_status(user=w.user, couple=w.couple, status="paused")
    # paused through the 2 and 3 March reminders, and through the planner's runs
    for day in (2, 3):
        plan(at(NY, 2026, 3, day, 12))
        tick(at(NY, 2026, 3, day, 20, 0), capture)
    assert mail.outbox == []
    resume_at = at(NY, 2026, 3, 3, 20, 10)  # ten minutes after the 3 March due time
    with travel(resume_at):
        couple_services.couple_set_status(user=w.user, couple=w.couple, status="active")
    for minute in (10, 11, 15, 40):
        plan(at(NY, 2026, 3, 3, 20, minute))
        tick(at(NY, 2026, 3, 3, 20, minute), capture)
    assert mail.outbox == []  # nothing for the two days on hold
    missed = Occurrence.objects.filter(partner=w.a, local_due_date__lte=datetime.date(2026, 3, 3))
    assert set(missed.values_list("status", flat=True)) == {Occurrence.Status.CANCELLED}
    # and the next one goes out once, on time
    plan(at(NY, 2026, 3, 4, 12))
    for minute in (0, 1, 2):
        tick(at(NY, 2026, 3, 4, 20, minute), capture)
    assert len(mail.outbox) == 1
    assert Occurrence.objects.filter(partner=w.a, local_due_date=datetime.date(2026, 3, 4)).count() == 1


def test_a_short_pause_arms_the_future_reminder_again(capture):
    w = planned()
    with travel(at(NY, 2026, 3, 2, 13)):
        couple_services.couple_set_status(user=w.user, couple=w.couple, status="paused")
    with travel(at(NY, 2026, 3, 2, 14)):
        couple_services.couple_set_status(user=w.user, couple=w.couple, status="active")
    today = reminders_of(w.a).get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    assert (today.status, today.next_attempt_at) == (Status.PENDING, at(NY, 2026, 3, 2, 20))
    for minute in (0, 1):
        tick(at(NY, 2026, 3, 2, 20, minute), capture)
    assert len(mail.outbox) == 1


def test_resuming_a_couple_with_an_open_safety_flag_plans_nothing(capture):
    w = planned()
    with travel(at(NY, 2026, 3, 2, 13)):
        couple_services.couple_set_status(user=w.user, couple=w.couple, status="paused")
    SafetyFlagFactory(couple=w.couple, partner=w.a)
    with travel(at(NY, 2026, 3, 2, 14)):
        couple_services.couple_set_status(user=w.user, couple=w.couple, status="active")
    assert not reminders_of(w.a).filter(status=Status.PENDING).exists()


# CONSENT WITHDRAWN: BY THE CLINICIAN, A "STOP" TEXT, THE EMAIL'S UNSUBSCRIBE LINK
# ------------------------------------------------------------------------------
def test_a_withdrawn_consent_cancels_that_channels_pending_reminders_at_once():
    w = planned()
    couple_services.consent_record(actor=w.user, partner=w.a, kind="email", granted=False, method="verbal")
    assert set(reminders_of(w.a).values_list("status", "last_error")) == {
        (Status.CANCELLED, dispatch.NO_CONSENT["email"])
    }


def inbound_post(client, payload, *, token=INBOUND_TOKEN, **extra):
    return client.post(
        "/r/sms/inbound/",
        payload,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
        **extra,
    )


def test_a_stop_text_withdraws_the_partners_sms_consent_and_stops_their_texts(client, capture):
    w = planned(channel_a="sms")
    answer = inbound_post(client, {"from": w.a.phone, "body": " stop "})
    assert answer.status_code == 200 and answer.json() == {"withdrawn": 1}
    assert not consent_in_force(partner=w.a, kind=Consent.Kind.SMS)
    latest = w.a.consents.filter(kind="sms").first()
    assert (latest.granted, latest.method, latest.recorded_by) == (False, "electronic", None)
    event = AuditEvent.objects.get(action="consent.record", target_id=str(latest.pk))
    assert (event.actor_kind, event.actor_id) == (AuditEvent.ActorKind.PARTNER, str(w.a.pk))
    assert not reminders_of(w.a).filter(status=Status.PENDING).exists()
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert LocmemSmsBackend.outbox == []
    # Twilio-style form fields work too; a second STOP changes nothing
    again = client.post(
        "/r/sms/inbound/",
        {"From": w.a.phone, "Body": "STOP"},
        headers={"Authorization": f"Bearer {INBOUND_TOKEN}"},
    )
    assert again.json() == {"withdrawn": 0}
    assert w.a.consents.filter(kind="sms").count() == 2  # the grant and one withdrawal


def test_a_text_that_is_not_a_stop_word_changes_nothing(client):
    w = planned(channel_a="sms")
    assert inbound_post(client, {"from": w.a.phone, "body": "Stop by later?"}).json() == {"withdrawn": 1}
    w2 = planned(channel_a="sms")
    assert inbound_post(client, {"from": w2.b.phone, "body": "thanks"}).json() == {"withdrawn": 0}
    assert consent_in_force(partner=w2.b, kind=Consent.Kind.SMS)


def test_stop_from_an_unknown_or_malformed_number_is_refused_and_records_nothing(client):
    planned()
    count = Consent.objects.count()
    unknown = inbound_post(client, {"from": "+15550000000", "body": "STOP"})
    assert unknown.status_code == 404 and unknown["Content-Type"] == "application/problem+json"
    assert inbound_post(client, {"from": "555-0101", "body": "STOP"}).status_code == 400
    assert inbound_post(client, ["not", "an", "object"]).status_code == 400
    assert Consent.objects.count() == count
    with pytest.raises(Exception) as excinfo:
        inbound.sms_inbound_receive(from_number="+15550000000", body="STOP")
    assert excinfo.value.error_dict["from"][0].code == "unknown_number"


def test_the_inbound_endpoint_needs_the_shared_token_and_is_off_without_one(client, settings):
    w = planned(channel_a="sms")
    assert inbound_post(client, {"from": w.a.phone, "body": "STOP"}, token="wrong").status_code == 401
    assert client.post("/r/sms/inbound/", {"from": w.a.phone, "body": "STOP"}).status_code == 401
    assert client.get("/r/sms/inbound/").status_code == 405
    settings.CYCLECARE = {**settings.CYCLECARE, "SMS_INBOUND_TOKEN": ""}
    assert inbound_post(client, {"from": w.a.phone, "body": "STOP"}, token="").status_code == 404
    assert consent_in_force(partner=w.a, kind=Consent.Kind.SMS)


def test_the_emails_one_click_unsubscribe_withdraws_email_consent_and_stops_reminders(client, capture):
    w = planned()
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    header = mail.outbox[0].extra_headers["List-Unsubscribe"]
    path = re.search(r"https?://[^/]+(/r/stop/[^/>]+/)", header)[1]
    # (now, after the consents the world recorded at today's date)
    answer = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert not consent_in_force(partner=w.a, kind=Consent.Kind.EMAIL)
    assert not reminders_of(w.a).filter(status=Status.PENDING).exists()
    tick(at(NY, 2026, 3, 3, 20, 0), capture)
    assert len(mail.outbox) == 1


def test_a_bad_or_tampered_unsubscribe_token_changes_nothing(client):
    w = planned()
    good = stop_token_make(partner_id=w.a.pk, channel="email")
    for token in ("not-a-token", good[:-2] + "xx", stop_token_make(partner_id=w.a.pk + 999, channel="email")):
        assert client.post(f"/r/stop/{token}/", {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert consent_in_force(partner=w.a, kind=Consent.Kind.EMAIL)
    assert reminders_of(w.a).filter(status=Status.PENDING).exists()


def test_the_hold_subscriber_ignores_other_events():
    w = planned()
    holds.on_reminder_event("note.signed", practice_id=w.couple.practice_id, data={}, writes=None)
    assert reminders_of(w.a).filter(status=Status.PENDING).exists()
    assert Couple.objects.get(pk=w.couple.pk).status == "active"
