"""The dispatcher: a due reminder goes out once, in the partner's language, with no PHI; ticks,
duplicate tasks and lost workers send nothing twice; rules stop what must not go out, and say
why without revealing a safety flag; failures back off and end."""

import datetime
import re

import pytest
from django.core import mail
from django.db import transaction

from couples.models import Consent, Couple, Partner
from couples.services import consent_record
from cyclecare import services, tasks
from cyclecare.models import Occurrence, PartnerLink, ReminderDelivery, SafetyFlag
from cyclecare.partner_access import LinkState, partner_link_resolve
from cyclecare.reminders import channels, dispatch, planner
from cyclecare.reminders.channels import LocmemSmsBackend
from tests.cyclecare.reminder_world import assign, at, plan, tick, travel, world

pytestmark = pytest.mark.django_db
NY = "America/New_York"
Status = ReminderDelivery.Status


@pytest.fixture(autouse=True)
def empty_sms_outbox(on_the_minute):
    LocmemSmsBackend.outbox.clear()
    yield
    LocmemSmsBackend.outbox.clear()


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def planned(**world_options) -> object:
    """A's daily 20:00 New York check-in, planned on 2 March 2026 at noon."""
    w = world(zone_a=NY, **world_options)
    w.assignment = assign(w, partners=[w.a])
    plan(at(NY, 2026, 3, 2, 12))
    return w


def token_in(text: str) -> str:
    return re.search(r"/p/c/([A-Za-z0-9_\-]+)/", text)[1]


# SENT ONCE
# ------------------------------------------------------------------------------
def test_a_due_reminder_is_sent_once_at_its_time(capture):
    w = planned()
    assert tick(at(NY, 2026, 3, 2, 19, 59), capture) == 0
    assert mail.outbox == []
    assert tick(at(NY, 2026, 3, 2, 20, 0), capture) == 1
    for minutes in (1, 2, 30, 600):
        tick(at(NY, 2026, 3, 2, 20, 0) + datetime.timedelta(minutes=minutes), capture)
    assert len(mail.outbox) == 1
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    assert reminder.status == Status.SENT and reminder.attempts == 1
    assert reminder.sent_at == at(NY, 2026, 3, 2, 20, 0)
    assert reminder.provider_message_id == mail.outbox[0].extra_headers["Message-ID"]
    assert (
        reminder.link.purpose == PartnerLink.Purpose.CHECK_IN
        and reminder.link.occurrence == reminder.occurrence
    )
    assert mail.outbox[0].to == [w.a.email]


def test_the_email_carries_no_phi_and_working_links(capture, client):
    w = planned()
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    message = mail.outbox[0]
    html = message.alternatives[0][0]
    practice = w.couple.practice.name
    assert message.subject == f"{practice}: your check-in is ready"
    for text in (message.subject, message.body, html):
        assert "Rivera" not in text and w.couple.label not in text and "Daily check-in" not in text
        assert "Sam" not in text  # nothing about the other partner
    assert "Hi Alex," in message.body and practice in message.body and "Hi Alex," in html
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with travel(at(NY, 2026, 3, 2, 20, 5)):
        assert partner_link_resolve(token=token_in(message.body)).state == LinkState.VALID
    stop = re.search(r"https?://[^/]+(/r/stop/[^/\s]+/)", message.body)[1]
    assert message.extra_headers["List-Unsubscribe"] == f"<http://127.0.0.1:8000{stop}>"
    assert client.get(stop).status_code == 200


def test_spanish_partners_get_the_message_in_spanish(capture):
    w = planned()
    Partner.objects.filter(pk=w.a.pk).update(language="es")
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert len(mail.outbox) == 1
    html = mail.outbox[0].alternatives[0][0]
    assert '<html lang="es">' in html and "Hola" in mail.outbox[0].body
    assert "Open my check-in" not in html


def test_two_beat_ticks_in_the_same_minute_send_once(capture):
    planned()
    moment = at(NY, 2026, 3, 2, 20, 0, 5)
    with travel(moment), capture() as first:
        assert dispatch.reminders_enqueue_due() == 1
    with travel(moment), capture() as second:
        assert dispatch.reminders_enqueue_due() == 0  # already on the queue
    with travel(moment):
        for callback in first + second:
            callback()
    assert len(mail.outbox) == 1


def test_a_duplicated_send_task_sends_once(capture):
    planned()
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    with travel(at(NY, 2026, 3, 2, 20, 1)):
        assert tasks.reminders_send([reminder.pk]) == {"sent": 1, "skipped": 0}
        assert tasks.reminders_send([reminder.pk]) == {"skipped": 1}
    assert len(mail.outbox) == 1


def test_a_lost_queue_is_enqueued_again_and_still_sent_once(capture):
    planned()
    with travel(at(NY, 2026, 3, 2, 20, 0)), capture():  # the enqueue never runs: the broker lost it
        assert dispatch.reminders_enqueue_due() == 1
    assert tick(at(NY, 2026, 3, 2, 20, 3), capture) == 0  # recently enqueued: not doubled
    assert tick(at(NY, 2026, 3, 2, 20, 6), capture) == 1
    assert len(mail.outbox) == 1


def test_a_rolled_back_assignment_sends_nothing(capture):
    w = world(zone_a=NY)
    with travel(at(NY, 2026, 3, 2, 12)), pytest.raises(RuntimeError), transaction.atomic():
        assign(w, partners=[w.a])
        assert planner.plan().reminders_created > 0
        raise RuntimeError("the clinician's request failed after assigning")
    for hour in (20, 21):
        assert tick(at(NY, 2026, 3, 2, hour), capture) == 0
    assert not Occurrence.objects.exists() and not ReminderDelivery.objects.exists()
    assert mail.outbox == []


# RULES AT SEND TIME
# ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [Couple.Status.PAUSED, Couple.Status.DISCHARGED])
def test_a_couple_paused_after_planning_gets_nothing(capture, status):
    w = planned()
    Couple.objects.filter(pk=w.couple.pk).update(
        status=status, discharged_on=datetime.date(2026, 3, 2) if status == "discharged" else None
    )
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert mail.outbox == []
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    assert (reminder.status, reminder.last_error) == (Status.CANCELLED, dispatch.ON_HOLD)


def test_an_open_safety_flag_stops_both_partners_without_saying_why(capture):
    w = world(zone_a=NY, zone_b=NY)
    assign(w)
    plan(at(NY, 2026, 3, 2, 12))
    checkin_a = services.checkin_submit(
        partner=w.a,
        instrument=w.instruments["cycle-checkin"],
        answers={"cycle_showed_up": True, "connection": 2, "felt_unsafe": True},
    )
    assert checkin_a.safety_flags.get().status == SafetyFlag.Status.OPEN
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert mail.outbox == [] and LocmemSmsBackend.outbox == []
    reasons = set(
        ReminderDelivery.objects.filter(occurrence__local_due_date=datetime.date(2026, 3, 2)).values_list(
            "status", "last_error"
        )
    )
    assert reasons == {(Status.CANCELLED, dispatch.ON_HOLD)}  # the same words as a paused couple
    assert "safety" not in dispatch.ON_HOLD.lower() and "flag" not in dispatch.ON_HOLD.lower()


def test_homework_paused_or_completed_before_its_reminder_is_not_reminded(capture):
    w = world(zone_a=NY, zone_b=NY)
    paused = assign(w, partners=[w.a])
    done = assign(w, partners=[w.b], title="Other")
    plan(at(NY, 2026, 3, 2, 12))
    services.assignment_set_status(user=w.user, assignment=paused, status="paused")
    occurrence = Occurrence.objects.get(assignment=done, local_due_date=datetime.date(2026, 3, 2))
    services.checkin_submit(
        partner=w.b,
        instrument=w.instruments["cycle-checkin"],
        answers={"cycle_showed_up": False, "connection": 5},
        occurrence=occurrence,
    )
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert mail.outbox == []
    assert set(
        ReminderDelivery.objects.filter(occurrence__local_due_date=datetime.date(2026, 3, 2)).values_list(
            "last_error", flat=True
        )
    ) == {"The homework is paused or ended.", "The homework was already done."}


def test_no_sms_without_sms_consent(capture):
    w = planned(channel_a="sms", consents=("email",))
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert LocmemSmsBackend.outbox == [] and mail.outbox == []
    reminder = ReminderDelivery.objects.get(partner=w.a, occurrence__local_due_date=datetime.date(2026, 3, 2))
    assert (reminder.channel, reminder.status, reminder.last_error) == (
        "sms",
        Status.CANCELLED,
        dispatch.NO_CONSENT["sms"],
    )


def test_an_sms_with_consent_is_sent_once_without_phi(capture):
    w = planned(channel_a="sms")
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    tick(at(NY, 2026, 3, 2, 20, 1), capture)
    assert [m.to for m in LocmemSmsBackend.outbox] == ["+15555550101"]
    body = LocmemSmsBackend.outbox[0].body
    assert body.startswith(f"{w.couple.practice.name}: Hi Alex,") and "Rivera" not in body
    assert "/p/c/" in body and "/r/stop/" in body
    reminder = ReminderDelivery.objects.get(partner=w.a, status=Status.SENT)
    assert LocmemSmsBackend.outbox[0].idempotency_key == f"cyclecare-reminder-{reminder.pk}"


def test_email_needs_email_consent_and_a_withdrawal_stops_the_next_one(capture):
    w = planned()
    consent_record(actor=w.user, partner=w.a, kind="email", granted=False, method=Consent.Method.VERBAL)
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert mail.outbox == []
    assert (
        ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2)).last_error
        == (dispatch.NO_CONSENT["email"])
    )


def test_a_changed_channel_cancels_the_old_row_and_the_planner_writes_the_new_one(capture):
    w = planned()
    Partner.objects.filter(pk=w.a.pk).update(preferred_channel="sms")
    plan(at(NY, 2026, 3, 2, 12, 10))
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert mail.outbox == [] and len(LocmemSmsBackend.outbox) == 1
    rows = dict(
        ReminderDelivery.objects.filter(occurrence__local_due_date=datetime.date(2026, 3, 2)).values_list(
            "channel", "status"
        )
    )
    assert rows == {"email": Status.CANCELLED, "sms": Status.SENT}


def test_quiet_hours_set_after_planning_still_hold_the_reminder_back(capture):
    w = planned()
    Partner.objects.filter(pk=w.a.pk).update(
        quiet_hours_start=datetime.time(19), quiet_hours_end=datetime.time(21)
    )
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert mail.outbox == []
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    assert (reminder.status, reminder.next_attempt_at) == (Status.PENDING, at(NY, 2026, 3, 2, 21, 0))
    tick(at(NY, 2026, 3, 2, 21, 0), capture)
    assert len(mail.outbox) == 1


# FAILURES
# ------------------------------------------------------------------------------
def test_an_invalid_email_address_fails_with_a_reason_and_is_not_retried(capture):
    w = planned()
    Partner.objects.filter(pk=w.a.pk).update(email="alex.example.test")
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    assert (reminder.status, reminder.last_error, reminder.attempts) == (
        Status.FAILED,
        "The email address is not valid.",
        1,
    )
    for hours in (1, 2, 5):
        assert tick(at(NY, 2026, 3, 2, 20) + datetime.timedelta(hours=hours), capture) == 0
    reminder.refresh_from_db()
    assert reminder.attempts == 1 and mail.outbox == []
    assert "alex.example.test" not in reminder.last_error


def test_an_invalid_phone_number_fails_with_a_reason_and_is_not_retried(capture):
    w = planned(channel_a="sms")
    Partner.objects.filter(pk=w.a.pk).update(phone="555-0101")
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    tick(at(NY, 2026, 3, 2, 21, 0), capture)
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    assert (reminder.status, reminder.last_error, reminder.attempts) == (
        Status.FAILED,
        "The phone number is not valid.",
        1,
    )
    assert LocmemSmsBackend.outbox == []


class FlakySmsBackend(channels.BaseSmsBackend):
    """A provider that is down: every send is a transient failure."""

    calls = 0

    def send(self, message):
        type(self).calls += 1
        raise channels.TransientSendError("The SMS provider answered HTTP 503; will retry.")


def test_transient_failures_back_off_exponentially_then_give_up(capture, settings):
    settings.CYCLECARE = {
        **settings.CYCLECARE,
        "SMS_BACKEND": "tests.cyclecare.test_reminders_dispatch.FlakySmsBackend",
        "REMINDER_MAX_ATTEMPTS": 4,
    }
    FlakySmsBackend.calls = 0
    planned(channel_a="sms")
    moment = at(NY, 2026, 3, 2, 20, 0)
    waits = []
    for _ in range(10):
        tick(moment, capture)
        reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
        if reminder.status != Status.PENDING:
            break
        waits.append(reminder.next_attempt_at - moment)
        tick(reminder.next_attempt_at - datetime.timedelta(seconds=1), capture)  # not yet
        moment = reminder.next_attempt_at
    assert waits == [datetime.timedelta(minutes=m) for m in (1, 2, 4)]
    assert FlakySmsBackend.calls == 4
    assert reminder.status == Status.FAILED and reminder.attempts == 4
    assert reminder.last_error.startswith("Gave up after 4 attempts.")
    tick(moment + datetime.timedelta(hours=3), capture)
    assert FlakySmsBackend.calls == 4


def test_the_backoff_is_capped(settings):
    assert dispatch.backoff(1) == datetime.timedelta(minutes=1)
    assert dispatch.backoff(20) == datetime.timedelta(minutes=30)


# RECONCILER
# ------------------------------------------------------------------------------
def test_a_reminder_whose_worker_died_mid_send_is_sent_again_with_the_same_message_id(capture):
    planned()
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    with travel(at(NY, 2026, 3, 2, 20, 0)):
        claimed, _ = dispatch._claim([reminder.pk], now=at(NY, 2026, 3, 2, 20, 0))  # …and the worker dies
    reminder.refresh_from_db()
    assert reminder.status == Status.SENDING and len(claimed) == 1
    first_message_id = reminder.provider_message_id
    assert tick(at(NY, 2026, 3, 2, 20, 5), capture) == 0  # not stuck yet: maybe still sending
    assert tick(at(NY, 2026, 3, 2, 20, 11), capture) == 1
    reminder.refresh_from_db()
    assert reminder.status == Status.SENT and reminder.attempts == 2
    assert [m.extra_headers["Message-ID"] for m in mail.outbox] == [first_message_id]


def test_a_reminder_that_keeps_killing_its_worker_ends_failed(capture, settings):
    settings.CYCLECARE = {**settings.CYCLECARE, "REMINDER_MAX_ATTEMPTS": 2}
    planned()
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    moment = at(NY, 2026, 3, 2, 20, 0)
    for _ in range(2):
        dispatch._claim([reminder.pk], now=moment)
        moment += datetime.timedelta(minutes=11)
        with travel(moment):
            dispatch.reminders_reclaim_stuck()
    reminder.refresh_from_db()
    assert reminder.status == Status.FAILED and "worker lost" in reminder.last_error
    assert tick(moment + datetime.timedelta(hours=1), capture) == 0


def test_a_late_result_does_not_overwrite_the_reconcilers_decision():
    planned()
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    claimed, _ = dispatch._claim([reminder.pk], now=at(NY, 2026, 3, 2, 20, 0))
    dispatch.reminders_reclaim_stuck(now=at(NY, 2026, 3, 2, 20, 11))
    assert dispatch._record(claimed[0], status=Status.SENT, sent_at=at(NY, 2026, 3, 2, 20, 12)) is False
    reminder.refresh_from_db()
    assert reminder.status == Status.PENDING


def both_partners_due() -> list[int]:
    """Both partners' 20:00 New York check-in, planned; the ids of 2 March's two reminders."""
    w = world(zone_a=NY, zone_b=NY)
    assign(w)
    plan(at(NY, 2026, 3, 2, 12))
    return list(
        ReminderDelivery.objects.filter(occurrence__local_due_date=datetime.date(2026, 3, 2))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@pytest.mark.parametrize(("every", "groups"), [(10, [2]), (1, [1, 1])])
def test_results_are_committed_in_groups(every, groups, monkeypatch):
    ids = both_partners_due()
    recorded = []
    record_sent = dispatch._record_sent

    def counting(sent):
        if sent:
            recorded.append(len(sent))
        return record_sent(sent)

    monkeypatch.setattr(dispatch, "RECORD_EVERY", every)
    monkeypatch.setattr(dispatch, "_record_sent", counting)
    with travel(at(NY, 2026, 3, 2, 20, 0)):
        assert dispatch.reminders_send(delivery_ids=ids)["sent"] == 2
    assert recorded == groups and len(mail.outbox) == 2
    rows = ReminderDelivery.objects.filter(pk__in=ids)
    assert {(r.status, r.sent_at, r.last_error) for r in rows} == {
        (Status.SENT, at(NY, 2026, 3, 2, 20, 0), "")
    }
    assert sorted(r.provider_message_id for r in rows) == sorted(
        m.extra_headers["Message-ID"] for m in mail.outbox
    )


def test_a_late_group_of_results_is_recorded_only_over_each_rows_own_claim():
    ids = both_partners_due()
    claimed, _ = dispatch._claim(ids, now=at(NY, 2026, 3, 2, 20, 0))
    dispatch.reminders_reclaim_stuck(now=at(NY, 2026, 3, 2, 20, 11))  # both back to PENDING
    again, _ = dispatch._claim(ids[:1], now=at(NY, 2026, 3, 2, 20, 12))  # one claimed anew

    def results(items):
        return [
            ReminderDelivery(
                pk=item.delivery_id,
                claimed_at=item.claimed_at,
                status=Status.SENT,
                sent_at=at(NY, 2026, 3, 2, 20, 13),
                provider_message_id="provider-1",
                last_error="",
            )
            for item in items
        ]

    assert dispatch._record_sent(results(claimed)) == 0  # one is PENDING, one is someone else's claim
    assert dict(ReminderDelivery.objects.filter(pk__in=ids).values_list("pk", "status")) == {
        ids[0]: Status.SENDING,
        ids[1]: Status.PENDING,
    }
    assert dispatch._record_sent(results(again)) == 1
    assert ReminderDelivery.objects.get(pk=ids[0]).status == Status.SENT


# NUDGES
# ------------------------------------------------------------------------------
def test_a_nudge_goes_once_to_the_partner_who_has_not_done_joint_homework(capture):
    w = world(zone_a=NY, zone_b=NY)
    assign(w)
    plan(at(NY, 2026, 3, 2, 12))
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([w.a.email, w.b.email])
    mail.outbox.clear()
    occurrence_a = Occurrence.objects.get(partner=w.a, local_due_date=datetime.date(2026, 3, 2))
    with travel(at(NY, 2026, 3, 2, 20, 30)):
        services.checkin_submit(
            partner=w.a,
            instrument=w.instruments["cycle-checkin"],
            answers={"cycle_showed_up": True, "connection": 3},
            occurrence=occurrence_a,
        )
    with travel(at(NY, 2026, 3, 2, 23, 29)):
        assert planner.plan_nudges() == 0  # not three hours yet
    with travel(at(NY, 2026, 3, 2, 23, 31)):
        assert planner.plan_nudges() == 1
        assert planner.plan_nudges() == 0
    tick(at(NY, 2026, 3, 2, 23, 31), capture)
    tick(at(NY, 2026, 3, 3, 1, 0), capture)
    assert [m.to for m in mail.outbox] == [[w.b.email]]
    nudge = mail.outbox[0]
    assert "still open" in nudge.body
    for text in (nudge.subject, nudge.body, nudge.alternatives[0][0]):
        assert "Alex" not in text and "partner" not in text.lower() and "connection" not in text.lower()
    assert ReminderDelivery.objects.get(kind="nudge").partner == w.b
    with travel(at(NY, 2026, 3, 3, 9)):
        assert planner.plan_nudges() == 0


def test_no_nudge_when_the_check_in_raised_a_safety_flag(capture):
    w = world(zone_a=NY, zone_b=NY)
    assign(w)
    plan(at(NY, 2026, 3, 2, 12))
    occurrence_a = Occurrence.objects.get(partner=w.a, local_due_date=datetime.date(2026, 3, 2))
    with travel(at(NY, 2026, 3, 2, 20, 30)):
        services.checkin_submit(
            partner=w.a,
            instrument=w.instruments["cycle-checkin"],
            answers={"cycle_showed_up": True, "connection": 1, "felt_unsafe": True},
            occurrence=occurrence_a,
        )
    with travel(at(NY, 2026, 3, 3, 1)):
        assert planner.plan_nudges() == 0


# LINK OPENS AND THE STOP PAGE
# ------------------------------------------------------------------------------
def test_opening_the_link_is_recorded_once(capture):
    planned()
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    with travel(at(NY, 2026, 3, 2, 20, 7)):
        link = partner_link_resolve(token=token_in(mail.outbox[0].body)).link
        assert dispatch.reminder_link_opened(link=link) == 1
    with travel(at(NY, 2026, 3, 2, 20, 9)):
        assert dispatch.reminder_link_opened(link=link) == 0
    assert ReminderDelivery.objects.get(status=Status.SENT).opened_at == at(NY, 2026, 3, 2, 20, 7)


def test_the_stop_page_pauses_and_resumes_email_reminders(capture, client):
    w = planned()
    tick(at(NY, 2026, 3, 2, 20, 0), capture)
    stop = re.search(r"https?://[^/]+(/r/stop/[^/\s]+/)", mail.outbox[0].body)[1]
    page = client.get(stop)
    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    assert b"Stop email reminders" in page.content and b"Rivera" not in page.content
    assert not Consent.objects.filter(method="electronic").exists()  # a GET changes nothing

    response = client.post(stop, {"action": "stop"})
    assert response.status_code == 302
    latest = Consent.objects.filter(partner=w.a, kind="email").order_by("-recorded_at", "-id").first()
    assert (latest.granted, latest.method, latest.recorded_by) == (False, "electronic", None)
    tick(at(NY, 2026, 3, 3, 20, 0), capture)
    assert len(mail.outbox) == 1  # the next day's reminder did not go

    assert b"Start email reminders again" in client.get(stop).content
    client.post(stop, {"action": "resume"})
    plan(at(NY, 2026, 3, 4, 12))
    tick(at(NY, 2026, 3, 4, 20, 0), capture)
    assert len(mail.outbox) == 2


def test_one_click_unsubscribe_and_bad_tokens(client):
    w = world()
    from cyclecare.reminders.messages import stop_url

    path = stop_url(partner_id=w.b.pk, channel="email").removeprefix("http://127.0.0.1:8000")
    assert client.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert (
        Consent.objects.filter(partner=w.b, kind="email").order_by("-recorded_at", "-id").first().granted
        is False
    )
    assert client.get("/r/stop/not-a-real-token/").status_code == 404
    forged = path.replace("/r/stop/", "/r/stop/x")
    assert client.post(forged, {"List-Unsubscribe": "One-Click"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_the_same_reminder_at_once_send_it_once(postgres):
    """Real row locks (PostgreSQL): whichever claim wins, the other skips the row."""
    import threading

    from django.db import connection

    planned()
    reminder = ReminderDelivery.objects.get(occurrence__local_due_date=datetime.date(2026, 3, 2))
    start = threading.Barrier(3)
    outcomes = []

    def worker() -> None:
        try:
            start.wait(timeout=10)
            outcomes.append(dispatch.reminders_send(delivery_ids=[reminder.pk]))
        finally:
            connection.close()

    with travel(at(NY, 2026, 3, 2, 20, 1)):
        threads = [threading.Thread(target=worker) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sum(outcome["sent"] for outcome in outcomes) == 1 and len(outcomes) == 3
    assert len(mail.outbox) == 1
