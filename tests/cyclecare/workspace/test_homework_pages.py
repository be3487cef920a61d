"""Homework from the couple page: the library, assigning in two clicks, pause / resume / stop,
and the reminder log — what the pages show, save and refuse, and who may open them."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from cyclecare import services as cycle
from cyclecare.models import Assignment, HomeworkTemplate, Occurrence
from cyclecare.reminders import messages as reminder_messages
from tests.factories import ClinicianFactory, ReminderDeliveryFactory, couple_with_partners

pytestmark = pytest.mark.django_db


@pytest.fixture
def library():
    return {t.code: t for t in cycle.homework_templates_install_shipped()}


def url(name: str, couple, *args) -> str:
    return reverse(f"cyclecare:clinician:{name}", args=[couple.pk, *args])


def prefilled(form) -> dict:
    """What the browser posts when the clinician just presses Assign on the confirm form."""
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value in (None, ""):
            continue
        if isinstance(value, list):
            data[name] = value
        elif isinstance(value, datetime.time):
            data[name] = value.strftime("%H:%M")
        elif isinstance(value, datetime.date):
            data[name] = value.isoformat()
        else:
            data[name] = value
    return data


# THE LIBRARY
# ------------------------------------------------------------------------------
def test_the_library_lists_shipped_templates_and_the_practices_own_only(client, clinician, case, library):
    couple, _, _ = case
    own = cycle.homework_template_create(
        user=clinician.user,
        code="gratitude",
        name="Gratitude note",
        kind="practice",
        instructions="Write one thing.",
        schedule="daily",
        local_time=datetime.time(21, 0),
    )
    stranger = ClinicianFactory()
    cycle.homework_template_create(
        user=stranger.user,
        code="theirs",
        name="Another practice's homework",
        kind="practice",
        instructions="x",
        schedule="daily",
        local_time=datetime.time(9, 0),
    )
    client.force_login(clinician.user)
    response = client.get(url("homework", couple))
    assert response.status_code == 200
    body = response.content.decode()
    for template in library.values():
        assert template.name in body
    assert own.name in body and "your practice" in body
    assert "Another practice&#x27;s homework" not in body and "Another practice's homework" not in body
    assert "Daily at 20:00" in body and "Mon, Wed, Fri at 19:00" in body
    assert "Weekly on Sun at 18:00" in body and "24 hours before each session" in body


def test_migrate_installs_the_shipped_library_and_instruments(client, clinician, case):
    """The test database was built by migrate: its post_migrate step installed what cyclecare
    ships, so the first page (or the first API check-in) finds it; installing again adds nothing."""
    from django.apps import apps

    from clinician.models import AuditEvent
    from cyclecare.apps import install_shipped_data
    from cyclecare.models import Instrument

    shipped = {path.stem for path in cycle.SHIPPED_INSTRUMENTS_DIR.glob("*.json")}
    assert HomeworkTemplate.objects.filter(practice=None).count() == 6
    assert {i.code for i in Instrument.objects.filter(practice=None)} >= {"cycle-checkin", "csi-4"}
    assert Instrument.objects.filter(practice=None).count() == len(shipped)

    def counts() -> tuple[int, int, int]:
        return HomeworkTemplate.objects.count(), Instrument.objects.count(), AuditEvent.objects.count()

    before = counts()
    install_shipped_data(apps.get_app_config("cyclecare"), using="default")
    assert counts() == before
    couple, _, _ = case
    client.force_login(clinician.user)
    assert "Pause-and-return" in client.get(url("homework", couple)).content.decode()


# TWO CLICKS
# ------------------------------------------------------------------------------
def test_two_clicks_assign_exactly_one_homework_prefilled_from_the_template(client, clinician, case, library):
    couple, a, b = case
    template = library["daily-cycle-check-in"]
    client.force_login(clinician.user)
    page = client.get(url("homework", couple)).content.decode()
    # Click one: the template's Assign link opens the confirm form, prefilled.
    link = url("homework_assign", couple, template.pk)
    assert f'href="{link}"' in page
    confirm = client.get(link)
    assert confirm.status_code == 200
    form = confirm.context["form"]
    assert form.initial["partners"] == [str(a.pk), str(b.pk)]
    assert form.initial["schedule"] == "daily" and form.initial["local_time"] == datetime.time(20, 0)
    assert 'value="20:00"' in confirm.content.decode()
    # Click two: Assign, with the form as it was filled in.
    response = client.post(link, prefilled(form))
    assert response.status_code == 302
    assert response["Location"] == url("homework", couple) + "#assignments"
    assignment = Assignment.objects.get()
    assert (assignment.title, assignment.kind, assignment.instrument) == (
        template.name,
        "check_in",
        template.instrument,
    )
    assert (assignment.schedule, assignment.local_time) == ("daily", datetime.time(20, 0))
    assert set(assignment.partners.all()) == {a, b}
    assert assignment.assigned_by == clinician
    listed = client.get(response["Location"]).content.decode()
    assert "Assigned “Daily cycle check-in” to Alex and Sam." in listed
    assert f'data-assignment="{assignment.pk}"' in listed
    assert "Running for Alex and Sam" in listed


def test_the_confirm_form_can_change_who_and_when(client, clinician, case, library):
    couple, a, b = case
    template = library["soft-start-up"]
    client.force_login(clinician.user)
    response = client.post(
        url("homework_assign", couple, template.pk),
        {
            "partners": [b.pk],
            "schedule": "weekly",
            "local_time": "08:15",
            "weekdays": ["2"],
            "starts_on": "2026-12-01",
            "ends_on": "2027-01-31",
        },
    )
    assert response.status_code == 302
    assignment = Assignment.objects.get()
    assert list(assignment.partners.all()) == [b]
    assert (assignment.schedule, assignment.local_time, assignment.weekdays) == (
        "weekly",
        datetime.time(8, 15),
        4,
    )
    assert (assignment.starts_on, assignment.ends_on) == (
        datetime.date(2026, 12, 1),
        datetime.date(2027, 1, 31),
    )


def test_partners_in_the_link_prefill_the_form_and_strangers_are_ignored(client, clinician, case, library):
    couple, a, b = case
    _, stranger, _ = couple_with_partners()
    client.force_login(clinician.user)
    link = url("homework_assign", couple, library["pause-and-return"].pk)
    form = client.get(f"{link}?partners={b.pk}&partners={stranger.pk}").context["form"]
    assert form.initial["partners"] == [str(b.pk)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"partners": []}, "Choose one or both partners."),
        ({"local_time": ""}, "Choose the local time of day."),
        ({"schedule": "weekly", "weekdays": ["0", "2"]}, "Choose the one weekday it repeats on."),
        ({"schedule": "weekdays", "weekdays": []}, "Choose at least one weekday."),
        (
            {"schedule": "before_session", "hours_before_session": ""},
            "Choose 1 to 168 hours before the session.",
        ),
        ({"ends_on": "2020-01-01"}, "The end date is before the start date."),
        ({"starts_on": "not a date"}, "Enter a valid date."),
    ],
)
def test_bad_assign_input_gets_a_clear_message_and_nothing_is_saved(
    client, clinician, case, library, changes, message
):
    couple, a, b = case
    client.force_login(clinician.user)
    data = {"partners": [a.pk, b.pk], "schedule": "daily", "local_time": "20:00", "starts_on": "2026-12-01"}
    data.update(changes)
    response = client.post(url("homework_assign", couple, library["pause-and-return"].pk), data)
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body and "Nothing was saved" in body
    assert not Assignment.objects.exists()


def test_another_couples_partner_cannot_be_assigned(client, clinician, case, library):
    couple, a, _ = case
    _, stranger, _ = couple_with_partners(clinician)
    client.force_login(clinician.user)
    response = client.post(
        url("homework_assign", couple, library["pause-and-return"].pk),
        {
            "partners": [a.pk, stranger.pk],
            "schedule": "daily",
            "local_time": "20:00",
            "starts_on": "2026-12-01",
        },
    )
    assert response.status_code == 400
    assert not Assignment.objects.exists()


# PAUSE, RESUME, STOP
# ------------------------------------------------------------------------------
def test_homework_can_be_paused_resumed_and_stopped(client, clinician, case, library):
    couple, a, b = case
    assignment = cycle.assignment_from_template(
        user=clinician.user, couple=couple, template=library["pause-and-return"]
    )
    occurrence, _ = cycle.occurrence_materialise(
        assignment=assignment,
        partner=a,
        local_due_date=timezone.localdate() + datetime.timedelta(days=1),
        local_due_time=datetime.time(19),
    )
    client.force_login(clinician.user)
    status_url = url("assignment_status", couple, assignment.pk)
    for action, status in (("pause", "paused"), ("resume", "active"), ("stop", "ended")):
        response = client.post(status_url, {"action": action})
        assert response.status_code == 302
        assignment.refresh_from_db()
        assert assignment.status == status
    occurrence.refresh_from_db()
    assert occurrence.status == Occurrence.Status.CANCELLED
    page = client.get(url("homework", couple)).content.decode()
    assert "Stopped “Pause-and-return”." in page
    assert f'data-assignment="{assignment.pk}"' not in page  # no longer among current homework
    assert "1 stopped" in page


def test_stopped_homework_cannot_be_resumed_and_the_page_says_why(client, clinician, case, library):
    couple, _, _ = case
    assignment = cycle.assignment_from_template(
        user=clinician.user, couple=couple, template=library["episode-log"]
    )
    cycle.assignment_set_status(user=clinician.user, assignment=assignment, status="ended")
    client.force_login(clinician.user)
    response = client.post(url("assignment_status", couple, assignment.pk), {"action": "resume"})
    assert response.status_code == 400
    assert "Ended homework cannot be restarted; assign it again." in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == "ended"
    bad = client.post(url("assignment_status", couple, assignment.pk), {"action": "delete"})
    assert bad.status_code == 400 and "Choose pause, resume or stop." in bad.content.decode()
    assert client.get(url("assignment_status", couple, assignment.pk)).status_code == 405


# SCOPE
# ------------------------------------------------------------------------------
def test_another_practices_couple_template_or_assignment_is_a_404(client, clinician, case, library):
    couple, a, _ = case
    assignment = cycle.assignment_from_template(
        user=clinician.user, couple=couple, template=library["episode-log"]
    )
    elsewhere = ClinicianFactory()
    their_template = cycle.homework_template_create(
        user=elsewhere.user,
        code="theirs",
        name="Theirs",
        kind="practice",
        instructions="x",
        schedule="daily",
        local_time=datetime.time(9, 0),
    )
    client.force_login(elsewhere.user)
    for target in (
        url("homework", couple),
        url("deliveries", couple),
        url("homework_assign", couple, library["pause-and-return"].pk),
    ):
        assert client.get(target).status_code == 404
    assert (
        client.post(
            url("homework_assign", couple, library["pause-and-return"].pk),
            {"partners": [a.pk], "schedule": "daily", "local_time": "20:00", "starts_on": "2026-12-01"},
        ).status_code
        == 404
    )
    assert client.post(url("assignment_status", couple, assignment.pk), {"action": "stop"}).status_code == 404
    assignment.refresh_from_db()
    assert assignment.status == "active" and Assignment.objects.count() == 1
    # And the other way round: their template, or another couple's homework, under our couple.
    client.force_login(clinician.user)
    assert client.get(url("homework_assign", couple, their_template.pk)).status_code == 404
    other, _, _ = couple_with_partners(clinician)
    theirs = cycle.assignment_from_template(
        user=clinician.user, couple=other, template=library["episode-log"]
    )
    assert client.post(url("assignment_status", couple, theirs.pk), {"action": "stop"}).status_code == 404


# THE REMINDER LOG
# ------------------------------------------------------------------------------
def test_the_reminder_log_shows_sent_and_failed_deliveries_with_the_reason_and_no_message(
    client, clinician, case, library
):
    couple, a, b = case
    today = timezone.localdate()
    # Started a week ago, so yesterday is inside it whatever the hour (UTC and the practice's
    # zone disagree about "today" for part of every day).
    assignment = cycle.assignment_from_template(
        user=clinician.user,
        couple=couple,
        template=library["daily-cycle-check-in"],
        starts_on=today - datetime.timedelta(days=7),
    )
    yesterday_a, _ = cycle.occurrence_materialise(
        assignment=assignment,
        partner=a,
        local_due_date=today - datetime.timedelta(days=1),
        local_due_time=datetime.time(20),
    )
    yesterday_b, _ = cycle.occurrence_materialise(
        assignment=assignment,
        partner=b,
        local_due_date=today - datetime.timedelta(days=1),
        local_due_time=datetime.time(20),
    )
    sent_at = timezone.now() - datetime.timedelta(hours=20)
    sent = ReminderDeliveryFactory(
        occurrence=yesterday_a,
        partner=a,
        channel="email",
        status="sent",
        attempts=1,
        next_attempt_at=sent_at,
        sent_at=sent_at,
        opened_at=sent_at + datetime.timedelta(minutes=5),
        provider_message_id="<reminder-secret-id@example.test>",
    )
    Occurrence.objects.filter(pk=yesterday_a.pk).update(
        status="completed", completed_at=sent_at + datetime.timedelta(minutes=9)
    )
    failed = ReminderDeliveryFactory(
        occurrence=yesterday_b,
        partner=b,
        channel="sms",
        status="failed",
        attempts=1,
        next_attempt_at=sent_at,
        last_error="The provider refused the number (21610).",
    )
    # Another couple's reminder is not in this couple's log.
    other, c, _ = couple_with_partners(clinician)
    theirs = cycle.assignment_from_template(
        user=clinician.user, couple=other, template=library["episode-log"]
    )
    their_occurrence, _ = cycle.occurrence_materialise(
        assignment=theirs, partner=c, local_due_date=today, local_due_time=datetime.time(21)
    )
    hidden = ReminderDeliveryFactory(
        occurrence=their_occurrence,
        partner=c,
        channel="email",
        next_attempt_at=timezone.now(),
    )
    message = reminder_messages.email_build(sent, action_url="https://clinic.example.test/p/c/TOKEN-abc123")

    client.force_login(clinician.user)
    response = client.get(url("deliveries", couple))
    assert response.status_code == 200
    body = response.content.decode()
    rows = dict(re.findall(r'data-delivery="(\d+)".*?>(.*?)</tr>', body, re.S))
    assert set(rows) == {str(sent.pk), str(failed.pk)}
    assert str(hidden.pk) not in rows
    sent_row, failed_row = rows[str(sent.pk)], rows[str(failed.pk)]
    assert "Alex" in sent_row and "Email" in sent_row and ">Sent<" in sent_row
    assert "Daily cycle check-in" in sent_row
    assert sent_row.count("<time") == 3  # sent, link opened, check-in completed
    assert "Sam" in failed_row and "Text message" in failed_row and ">Failed<" in failed_row
    assert "The provider refused the number (21610)." in failed_row
    # Never the message: no body, no link token, no provider id, no address.
    assert "TOKEN-abc123" not in body and "reminder-secret-id" not in body
    assert message.subject not in body
    assert a.email not in body and b.email not in body


def test_a_template_without_a_time_starts_from_the_practices_reminder_time(client, clinician, case, library):
    couple, _, _ = case
    template = library["daily-cycle-check-in"]
    HomeworkTemplate.objects.filter(pk=template.pk).update(local_time=None)
    practice = couple.practice
    practice.reminder_time = datetime.time(18, 15)
    practice.save()
    client.force_login(clinician.user)
    confirm = client.get(url("homework_assign", couple, template.pk))
    assert confirm.context["form"].initial["local_time"] == datetime.time(18, 15)
    assert 'value="18:15"' in confirm.content.decode()
