"""The homework library: shipped templates a clinician assigns in two clicks, and a practice's
own templates, kept to that practice."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from clinician.models import Clinician
from cyclecare import services
from cyclecare.models import Assignment, HomeworkTemplate, Occurrence
from cyclecare.reminders import planner
from cyclecare.reminders.selectors import homework_templates_available_to
from tests.cyclecare.reminder_world import UTC, world
from tests.factories import ClinicianFactory, TherapySessionFactory

pytestmark = pytest.mark.django_db

SHIPPED = {
    "daily-cycle-check-in",
    "pause-and-return",
    "episode-log",
    "soft-start-up",
    "weekly-csi-4",
    "pre-session-check-in",
}


def test_the_shipped_library_installs_once_with_valid_schedules_and_partner_friendly_text():
    first = services.homework_templates_install_shipped()
    again = services.homework_templates_install_shipped()
    assert {t.code for t in first} == SHIPPED and [t.pk for t in first] == [t.pk for t in again]
    assert HomeworkTemplate.objects.count() == len(SHIPPED)
    by_code = {t.code: t for t in first}
    assert by_code["daily-cycle-check-in"].instrument.code == "cycle-checkin"
    assert by_code["weekly-csi-4"].instrument.code == "csi-4"
    assert by_code["pre-session-check-in"].schedule == Assignment.Schedule.BEFORE_SESSION
    assert by_code["episode-log"].kind == Assignment.Kind.EPISODE_LOG
    for template in first:
        assert template.practice is None and len(template.instructions) > 80
        assert "EFT" not in template.instructions  # written for partners, not clinicians


def test_two_clicks_assign_a_template_to_both_partners_starting_today_in_the_practice_zone():
    w = world()
    template = next(
        t for t in services.homework_templates_install_shipped() if t.code == "daily-cycle-check-in"
    )
    with time_machine.travel(
        datetime.datetime(2026, 3, 3, 3, 0, tzinfo=UTC), tick=False
    ):  # 2 March in Chicago
        assignment = services.assignment_from_template(user=w.user, couple=w.couple, template=template)
    assert set(assignment.partners.all()) == {w.a, w.b}
    assert assignment.starts_on == datetime.date(2026, 3, 2)
    assert (assignment.kind, assignment.schedule, assignment.local_time) == (
        "check_in",
        "daily",
        datetime.time(20),
    )
    assert assignment.title == template.name and assignment.instructions == template.instructions
    assert assignment.instrument == template.instrument


def test_a_template_can_be_adjusted_for_one_partner():
    w = world()
    template = next(t for t in services.homework_templates_install_shipped() if t.code == "soft-start-up")
    assignment = services.assignment_from_template(
        user=w.user, couple=w.couple, template=template, partners=[w.a], local_time=datetime.time(18, 30)
    )
    assert list(assignment.partners.all()) == [w.a] and assignment.local_time == datetime.time(18, 30)
    assert assignment.weekdays == 0b10101  # Monday, Wednesday, Friday
    with pytest.raises(ValidationError) as refused:
        services.assignment_from_template(user=w.user, couple=w.couple, template=template, kind="practice")
    assert "kind" in refused.value.error_dict


def test_the_pre_session_template_is_planned_from_the_next_session():
    w = world()
    template = next(
        t for t in services.homework_templates_install_shipped() if t.code == "pre-session-check-in"
    )
    services.assignment_from_template(
        user=w.user, couple=w.couple, template=template, starts_on=datetime.date(2026, 3, 1)
    )
    session_at = datetime.datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    TherapySessionFactory(couple=w.couple, starts_at=session_at, status="scheduled")
    planner.plan(now=datetime.datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    assert set(Occurrence.objects.values_list("due_at", flat=True)) == {
        session_at - datetime.timedelta(hours=24)
    }


def test_a_practice_writes_its_own_templates_and_keeps_them():
    w = world()
    services.homework_templates_install_shipped()
    own = services.homework_template_create(
        user=w.user,
        code="gratitude",
        name="One appreciation a day",
        kind="practice",
        instructions="Tell your partner one thing you appreciated about them today.",
        schedule="daily",
        local_time=datetime.time(21),
    )
    assert own.practice == w.couple.practice and own.created_by == w.couple.primary_clinician
    assert {t.code for t in homework_templates_available_to(user=w.user)} == SHIPPED | {"gratitude"}
    assert services.assignment_from_template(user=w.user, couple=w.couple, template=own).title == own.name

    stranger = ClinicianFactory(role=Clinician.Role.CLINICIAN)
    assert "gratitude" not in {t.code for t in homework_templates_available_to(user=stranger.user)}
    other = world()
    with pytest.raises(ValidationError) as refused:
        services.assignment_from_template(user=other.user, couple=other.couple, template=own)
    assert "template" in refused.value.error_dict


def test_a_template_is_checked_like_the_homework_made_from_it():
    w = world()
    with pytest.raises(ValidationError) as refused:
        services.homework_template_create(
            user=w.user, code="bad", name="Bad", kind="check_in", instructions="x", schedule="weekly"
        )
    assert {"local_time", "weekdays", "instrument"} <= set(refused.value.error_dict)
    services.homework_template_create(
        user=w.user,
        code="mine",
        name="Mine",
        kind="practice",
        instructions="x",
        schedule="daily",
        local_time=datetime.time(9),
    )
    with pytest.raises(ValidationError) as duplicate:
        services.homework_template_create(
            user=w.user,
            code="mine",
            name="Mine",
            kind="practice",
            instructions="x",
            schedule="daily",
            local_time=datetime.time(9),
        )
    assert "code" in duplicate.value.error_dict
