"""Homework: schedules validated, ending cancels what is pending, wall-clock times DST-correct,
and each occurrence created once."""

import datetime
import zoneinfo
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cyclecare import services
from cyclecare.models import Assignment, Occurrence
from tests.factories import ClinicianFactory, couple_with_partners, shipped_instruments

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
TODAY = datetime.date(2026, 3, 2)


@pytest.fixture
def world():
    instruments = shipped_instruments()
    couple, a, b = couple_with_partners()
    return SimpleNamespace(
        couple=couple, a=a, b=b, user=couple.primary_clinician.user, instruments=instruments
    )


def assign(w, **overrides):
    """assignment_create of a valid daily practice task, with overrides."""
    details = {
        "user": w.user,
        "couple": w.couple,
        "partners": [w.a, w.b],
        "kind": Assignment.Kind.PRACTICE,
        "title": "Notice the first move",
        "schedule": Assignment.Schedule.DAILY,
        "local_time": datetime.time(20, 0),
        "starts_on": TODAY,
    }
    details.update(overrides)
    return services.assignment_create(**details)


def refused(w, **overrides) -> set[str]:
    with pytest.raises(ValidationError) as excinfo:
        assign(w, **overrides)
    assert not Assignment.objects.exists()
    return set(excinfo.value.error_dict)


def bits(*weekdays: int) -> int:
    """Monday = 0 … Sunday = 6, as the model's bitmask."""
    return sum(1 << day for day in weekdays)


# VALIDATION
# ------------------------------------------------------------------------------
def test_daily_assignment_for_both_partners(world):
    assignment = assign(world, instructions="Name the cycle out loud")
    assert set(assignment.partners.all()) == {world.a, world.b}
    assert assignment.assigned_by == world.couple.primary_clinician
    assert assignment.status == Assignment.Status.ACTIVE
    assert Assignment.objects.get(pk=assignment.pk).instructions == "Name the cycle out loud"


def test_daily_needs_a_local_time(world):
    assert "local_time" in refused(world, local_time=None)


@pytest.mark.parametrize("weekdays", [0, bits(0, 2), bits(0, 1, 2, 3, 4, 5, 6)])
def test_weekly_needs_exactly_one_weekday(world, weekdays):
    assert "weekdays" in refused(world, schedule=Assignment.Schedule.WEEKLY, weekdays=weekdays)


def test_weekly_on_one_weekday_accepted(world):
    assignment = assign(world, schedule=Assignment.Schedule.WEEKLY, weekdays=bits(6))
    assert assignment.weekdays == 64


@pytest.mark.parametrize("weekdays", [0, 128])
def test_weekdays_needs_at_least_one_valid_weekday(world, weekdays):
    assert "weekdays" in refused(world, schedule=Assignment.Schedule.WEEKDAYS, weekdays=weekdays)


def test_weekdays_with_several_days_accepted(world):
    assert assign(world, schedule=Assignment.Schedule.WEEKDAYS, weekdays=bits(0, 2, 4)).weekdays == 21


@pytest.mark.parametrize("hours", [None, 0, 169])
def test_before_session_needs_1_to_168_hours(world, hours):
    errors = refused(
        world, schedule=Assignment.Schedule.BEFORE_SESSION, local_time=None, hours_before_session=hours
    )
    assert "hours_before_session" in errors


@pytest.mark.parametrize("hours", [1, 168])
def test_before_session_bounds_accepted(world, hours):
    assignment = assign(
        world, schedule=Assignment.Schedule.BEFORE_SESSION, local_time=None, hours_before_session=hours
    )
    assert assignment.hours_before_session == hours


def test_check_in_kind_needs_an_instrument(world):
    assert "instrument" in refused(world, kind=Assignment.Kind.CHECK_IN, instrument=None)


def test_ends_on_before_starts_on_refused(world):
    assert "ends_on" in refused(world, ends_on=TODAY - datetime.timedelta(days=1))


def test_ends_on_the_start_day_accepted(world):
    assert assign(world, ends_on=TODAY).ends_on == TODAY


def test_partner_of_another_couple_refused(world):
    _, stranger, _ = couple_with_partners(world.couple.primary_clinician)
    assert "partners" in refused(world, partners=[world.a, stranger])


def test_inactive_partner_refused(world):
    world.b.is_active = False
    world.b.save(update_fields=["is_active"])
    assert "partners" in refused(world, partners=[world.b])


def test_no_partners_refused(world):
    assert "partners" in refused(world, partners=[])


def test_individual_only_instrument_refused_for_two_partners(world):
    errors = refused(
        world,
        kind=Assignment.Kind.CHECK_IN,
        instrument=world.instruments["hits"],
        partners=[world.a, world.b],
    )
    assert "partners" in errors


def test_individual_only_instrument_accepted_for_one_partner(world):
    assignment = assign(
        world, kind=Assignment.Kind.CHECK_IN, instrument=world.instruments["hits"], partners=[world.a]
    )
    assert list(assignment.partners.all()) == [world.a]


def test_out_of_scope_clinician_cannot_assign(world):
    colleague = ClinicianFactory(practice=world.couple.practice)
    with pytest.raises(ValidationError):
        assign(world, user=colleague.user)
    assert not Assignment.objects.exists()


def test_database_requires_a_complete_schedule(world):
    assignment = assign(world, schedule=Assignment.Schedule.WEEKLY, weekdays=bits(1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.filter(pk=assignment.pk).update(weekdays=bits(1, 2))


# STATUS
# ------------------------------------------------------------------------------
def _occurrence(assignment, partner, day):
    return services.occurrence_materialise(
        assignment=assignment, partner=partner, local_due_date=day, local_due_time=datetime.time(20)
    )[0]


def test_ending_cancels_pending_occurrences_and_keeps_completed_ones(world):
    assignment = assign(world)
    pending_a = _occurrence(assignment, world.a, TODAY)
    pending_b = _occurrence(assignment, world.b, TODAY)
    done = _occurrence(assignment, world.a, TODAY + datetime.timedelta(days=1))
    Occurrence.objects.filter(pk=done.pk).update(
        status=Occurrence.Status.COMPLETED, completed_at=timezone.now()
    )

    services.assignment_set_status(user=world.user, assignment=assignment, status=Assignment.Status.ENDED)

    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.ENDED
    statuses = dict(Occurrence.objects.values_list("pk", "status"))
    assert statuses == {
        pending_a.pk: Occurrence.Status.CANCELLED,
        pending_b.pk: Occurrence.Status.CANCELLED,
        done.pk: Occurrence.Status.COMPLETED,
    }


@pytest.mark.parametrize(
    "status", [Assignment.Status.ACTIVE, Assignment.Status.PAUSED, Assignment.Status.ENDED]
)
def test_ended_assignment_cannot_restart(world, status):
    assignment = assign(world)
    services.assignment_set_status(user=world.user, assignment=assignment, status=Assignment.Status.ENDED)
    with pytest.raises(ValidationError) as excinfo:
        services.assignment_set_status(user=world.user, assignment=assignment, status=status)
    assert "status" in excinfo.value.error_dict
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.ENDED


def test_pause_and_resume(world):
    assignment = assign(world)
    pending = _occurrence(assignment, world.a, TODAY)
    services.assignment_set_status(user=world.user, assignment=assignment, status=Assignment.Status.PAUSED)
    services.assignment_set_status(user=world.user, assignment=assignment, status=Assignment.Status.ACTIVE)
    assignment.refresh_from_db()
    pending.refresh_from_db()
    assert assignment.status == Assignment.Status.ACTIVE
    assert pending.status == Occurrence.Status.PENDING  # pausing cancels nothing


def test_unknown_assignment_status_refused(world):
    assignment = assign(world)
    with pytest.raises(ValidationError) as excinfo:
        services.assignment_set_status(user=world.user, assignment=assignment, status="deleted")
    assert "status" in excinfo.value.error_dict


# WALL-CLOCK TIME ACROSS DST (America/Chicago: 2026-03-08 spring forward, 2026-11-01 fall back)
# ------------------------------------------------------------------------------
def test_spring_forward_gap_lands_just_after_the_jump():
    # 02:00 CST → 03:00 CDT, so 02:30 does not exist. Read with the offset in force before the jump
    # (CST, −6) it is 08:30 UTC, which is 03:30 CDT: after the jump, not an hour before it.
    due = services.local_to_utc(datetime.date(2026, 3, 8), datetime.time(2, 30), "America/Chicago")
    assert due == datetime.datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    assert due.astimezone(CHICAGO).replace(tzinfo=None) == datetime.datetime(2026, 3, 8, 3, 30)
    assert due > services.local_to_utc(datetime.date(2026, 3, 8), datetime.time(1, 59), "America/Chicago")


def test_fall_back_repeat_maps_to_the_first_occurrence():
    # 02:00 CDT → 01:00 CST, so 01:30 happens twice: first at 06:30 UTC (CDT, −5), then 07:30 UTC.
    due = services.local_to_utc(datetime.date(2026, 11, 1), datetime.time(1, 30), "America/Chicago")
    assert due == datetime.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert due.astimezone(CHICAGO).fold == 0


@pytest.mark.parametrize(
    ("local_day", "utc_expected"),
    [
        (datetime.date(2026, 3, 7), datetime.datetime(2026, 3, 8, 2, 0, tzinfo=UTC)),  # CST, −6
        (datetime.date(2026, 3, 9), datetime.datetime(2026, 3, 10, 1, 0, tzinfo=UTC)),  # CDT, −5
        (datetime.date(2026, 10, 31), datetime.datetime(2026, 11, 1, 1, 0, tzinfo=UTC)),  # CDT, −5
        (datetime.date(2026, 11, 1), datetime.datetime(2026, 11, 2, 2, 0, tzinfo=UTC)),  # CST, −6
    ],
)
def test_evening_reminder_stays_at_20_00_local_across_dst(local_day, utc_expected):
    due = services.local_to_utc(local_day, datetime.time(20, 0), "America/Chicago")
    assert due == utc_expected
    assert due.astimezone(CHICAGO).time() == datetime.time(20, 0)
    assert due.astimezone(CHICAGO).date() == local_day


def test_each_partner_is_scheduled_in_their_own_zone(world):
    assignment = assign(world)
    day = datetime.date(2026, 6, 1)
    occ_a = _occurrence(assignment, world.a, day)  # America/Chicago
    occ_b = _occurrence(assignment, world.b, day)  # America/New_York
    assert occ_a.due_at == datetime.datetime(2026, 6, 2, 1, 0, tzinfo=UTC)
    assert occ_b.due_at == datetime.datetime(2026, 6, 2, 0, 0, tzinfo=UTC)


def test_occurrence_in_the_gap_is_due_after_the_jump(world):
    assignment = assign(world, local_time=datetime.time(2, 30))
    occurrence, _ = services.occurrence_materialise(
        assignment=assignment,
        partner=world.a,
        local_due_date=datetime.date(2026, 3, 8),
        local_due_time=datetime.time(2, 30),
    )
    occurrence.refresh_from_db()
    assert occurrence.due_at == datetime.datetime(2026, 3, 8, 8, 30, tzinfo=UTC)


# OCCURRENCES ONCE
# ------------------------------------------------------------------------------
def test_occurrence_materialise_is_idempotent(world):
    assignment = assign(world)
    args = {
        "assignment": assignment,
        "partner": world.a,
        "local_due_date": datetime.date(2026, 11, 1),
        "local_due_time": datetime.time(1, 30),
    }
    first, created_first = services.occurrence_materialise(**args)
    second, created_second = services.occurrence_materialise(**args)
    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert Occurrence.objects.count() == 1
    assert first.status == Occurrence.Status.PENDING
    assert first.practice_id == world.couple.practice_id


def test_database_allows_one_occurrence_per_local_due(world):
    assignment = assign(world)
    occurrence = _occurrence(assignment, world.a, TODAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Occurrence.objects.create(
            practice_id=occurrence.practice_id,
            assignment=assignment,
            partner=world.a,
            local_due_date=TODAY,
            local_due_time=datetime.time(20),
            due_at=occurrence.due_at,
        )


def test_occurrence_for_an_unassigned_partner_refused(world):
    assignment = assign(world, partners=[world.a])
    with pytest.raises(ValidationError) as excinfo:
        _occurrence(assignment, world.b, TODAY)
    assert "partner" in excinfo.value.error_dict
    assert not Occurrence.objects.exists()


def test_no_occurrences_outside_the_dates_or_for_paused_homework(world):
    assignment = assign(world, ends_on=TODAY + datetime.timedelta(days=7))
    for day in (TODAY - datetime.timedelta(days=1), TODAY + datetime.timedelta(days=8)):
        with pytest.raises(ValidationError) as excinfo:
            _occurrence(assignment, world.a, day)
        assert "local_due_date" in excinfo.value.error_dict
    services.assignment_set_status(user=world.user, assignment=assignment, status=Assignment.Status.PAUSED)
    with pytest.raises(ValidationError) as excinfo:
        _occurrence(assignment, world.a, TODAY)
    assert "assignment" in excinfo.value.error_dict
    assert not Occurrence.objects.exists()
