"""The planner: occurrences in each partner's own zone, DST-correct, quiet hours respected,
spread by a stable per-partner offset, nothing for a couple on hold, idempotent and streamed."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from couples.models import Couple, Partner
from cyclecare import services
from cyclecare.models import Assignment, Occurrence, ReminderDelivery, SafetyFlag
from cyclecare.reminders import bulk, planner
from tests.cyclecare.reminder_world import UTC, assign, at, plan, world
from tests.factories import TherapySessionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_the_minute")]


def dues(zone: str, local_time: datetime.time, start: datetime.datetime, days: int = 3) -> list:
    return planner.scheduled_dues(
        schedule=Assignment.Schedule.DAILY,
        local_time=local_time,
        weekdays=0,
        hours_before_session=None,
        starts_on=datetime.date(2026, 1, 1),
        ends_on=None,
        zone=zone,
        start=start,
        end=start + datetime.timedelta(days=days),
    )


# DST
# ------------------------------------------------------------------------------
# (zone, the spring-forward date, a wall time inside its gap, the UTC instant just after the jump)
SPRING_FORWARD = [
    (
        "America/New_York",
        datetime.date(2026, 3, 8),
        datetime.time(2, 30),
        datetime.datetime(2026, 3, 8, 7, 30),
    ),
    (
        "Europe/London",
        datetime.date(2026, 3, 29),
        datetime.time(1, 30),
        datetime.datetime(2026, 3, 29, 1, 30),
    ),
    (
        "Pacific/Auckland",
        datetime.date(2026, 9, 27),
        datetime.time(2, 30),
        datetime.datetime(2026, 9, 26, 14, 30),
    ),
]
# (zone, the fall-back date, a wall time that happens twice, the UTC instant of its first time)
FALL_BACK = [
    (
        "America/New_York",
        datetime.date(2026, 11, 1),
        datetime.time(1, 30),
        datetime.datetime(2026, 11, 1, 5, 30),
    ),
    (
        "Europe/London",
        datetime.date(2026, 10, 25),
        datetime.time(1, 30),
        datetime.datetime(2026, 10, 25, 0, 30),
    ),
    (
        "Pacific/Auckland",
        datetime.date(2026, 4, 5),
        datetime.time(2, 30),
        datetime.datetime(2026, 4, 4, 13, 30),
    ),
]


@pytest.mark.parametrize(("zone", "day", "_wall", "_utc"), SPRING_FORWARD + FALL_BACK)
def test_20_00_stays_20_00_local_across_the_change(zone, day, _wall, _utc):
    start = at(zone, day.year, day.month, day.day) - datetime.timedelta(days=1)
    found = dues(zone, datetime.time(20), start)
    assert [d.local_date for d in found] == [
        day - datetime.timedelta(days=1),
        day,
        day + datetime.timedelta(days=1),
    ]
    for due in found:
        local = due.due_at.astimezone(at(zone, 2026, 1, 1).tzinfo)
        assert (local.hour, local.minute) == (20, 0)
    offsets = {due.due_at.astimezone(at(zone, 2026, 1, 1).tzinfo).utcoffset() for due in found}
    assert len(offsets) == 2  # the same wall time is a different UTC instant after the change


@pytest.mark.parametrize(("zone", "day", "wall", "utc"), SPRING_FORWARD)
def test_a_time_in_the_spring_forward_gap_is_due_just_after_the_jump(zone, day, wall, utc):
    start = at(zone, day.year, day.month, day.day) - datetime.timedelta(hours=12)
    found = [d for d in dues(zone, wall, start, days=1) if d.local_date == day]
    assert len(found) == 1
    assert found[0].due_at == utc.replace(tzinfo=UTC)
    assert found[0].local_time == wall  # the identity stays the wall time the clinician chose


@pytest.mark.parametrize(("zone", "day", "wall", "utc"), FALL_BACK)
def test_a_repeated_fall_back_time_is_due_once_at_its_first_instance(zone, day, wall, utc):
    start = at(zone, day.year, day.month, day.day) - datetime.timedelta(hours=12)
    found = [d for d in dues(zone, wall, start, days=1) if d.local_date == day]
    assert [d.due_at for d in found] == [utc.replace(tzinfo=UTC)]


@pytest.mark.parametrize(("zone", "day", "wall", "utc"), FALL_BACK + SPRING_FORWARD)
def test_the_planner_materialises_a_dst_day_once_however_often_it_runs(zone, day, wall, utc):
    w = world(zone_a=zone)
    assign(w, partners=[w.a], local_time=wall)
    moment = utc.replace(tzinfo=UTC)
    for hours_before in (30, 20, 10, 2, 1):
        plan(moment - datetime.timedelta(hours=hours_before))
    occurrences = Occurrence.objects.filter(partner=w.a, local_due_date=day)
    assert [(o.local_due_time, o.due_at) for o in occurrences] == [(wall, moment)]
    assert ReminderDelivery.objects.filter(occurrence__in=occurrences).count() == 1


# QUIET HOURS
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end", "wall", "quiet"),
    [
        (datetime.time(22), datetime.time(7), datetime.time(23, 30), True),  # across midnight, before it
        (datetime.time(22), datetime.time(7), datetime.time(6, 59), True),  # across midnight, after it
        (datetime.time(22), datetime.time(7), datetime.time(7), False),  # the end is not quiet
        (datetime.time(22), datetime.time(7), datetime.time(21, 59), False),
        (datetime.time(13), datetime.time(15), datetime.time(14), True),  # same-day window
        (datetime.time(13), datetime.time(15), datetime.time(15, 30), False),
        (datetime.time(9), datetime.time(9), datetime.time(9), False),  # empty window
        (None, None, datetime.time(3), False),
    ],
)
def test_quiet_hours(start, end, wall, quiet):
    assert planner.in_quiet_hours(wall, start, end) is quiet


def test_a_reminder_due_in_quiet_hours_waits_for_their_end_across_midnight():
    zone = "America/New_York"
    late = at(zone, 2026, 3, 2, 23, 0).astimezone(UTC)
    sent = planner.send_time(
        late, partner_id=1, zone=zone, quiet_start=datetime.time(22), quiet_end=datetime.time(7)
    )
    assert sent == at(zone, 2026, 3, 3, 7, 0)
    early = at(zone, 2026, 3, 3, 5, 0).astimezone(UTC)
    sent = planner.send_time(
        early, partner_id=1, zone=zone, quiet_start=datetime.time(22), quiet_end=datetime.time(7)
    )
    assert sent == at(zone, 2026, 3, 3, 7, 0)


def test_quiet_hours_ending_in_the_spring_forward_gap_end_just_after_the_jump():
    zone = "America/New_York"
    moment = at(zone, 2026, 3, 8, 1, 0).astimezone(UTC)
    sent = planner.send_time(
        moment, partner_id=1, zone=zone, quiet_start=datetime.time(22), quiet_end=datetime.time(2, 30)
    )
    assert sent == datetime.datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT


def test_the_planner_puts_the_reminder_after_the_partners_quiet_hours(settings):
    w = world(zone_a="Europe/London")
    Partner.objects.filter(pk=w.a.pk).update(
        quiet_hours_start=datetime.time(21), quiet_hours_end=datetime.time(8)
    )
    assign(w, partners=[w.a], local_time=datetime.time(22, 15))
    plan(at("Europe/London", 2026, 3, 2, 12))
    occurrence = Occurrence.objects.get(local_due_date=datetime.date(2026, 3, 2))
    assert occurrence.due_at == at("Europe/London", 2026, 3, 2, 22, 15)  # due when it is due…
    reminder = ReminderDelivery.objects.get(occurrence=occurrence)
    assert reminder.next_attempt_at == at("Europe/London", 2026, 3, 3, 8, 0)  # …reminded after 08:00


# SPREAD
# ------------------------------------------------------------------------------
def test_the_spread_offset_is_stable_per_partner_and_spreads_partners(settings):
    settings.CYCLECARE = {**settings.CYCLECARE, "REMINDER_SPREAD_MINUTES": 5}
    offsets = [planner.spread_offset(partner_id) for partner_id in range(1, 201)]
    assert offsets == [planner.spread_offset(partner_id) for partner_id in range(1, 201)]
    assert {o.total_seconds() // 60 for o in offsets} == {0, 1, 2, 3, 4}
    due = datetime.datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert planner.send_time(due, partner_id=7, zone="UTC", quiet_start=None, quiet_end=None) == (
        due + planner.spread_offset(7)
    )


# SCHEDULES
# ------------------------------------------------------------------------------
def test_chosen_weekdays_and_weekly_in_the_partners_zone():
    zone = "Pacific/Auckland"
    start = at(zone, 2026, 3, 2)  # a Monday
    common = {
        "local_time": datetime.time(19),
        "hours_before_session": None,
        "starts_on": datetime.date(2026, 1, 1),
        "ends_on": datetime.date(2026, 3, 12),
        "zone": zone,
        "start": start,
        "end": start + datetime.timedelta(days=14),
    }
    mon_wed = planner.scheduled_dues(schedule="weekdays", weekdays=0b101, **common)
    assert [d.local_date.isoformat() for d in mon_wed] == [
        "2026-03-02",
        "2026-03-04",
        "2026-03-09",
        "2026-03-11",
    ]
    sundays = planner.scheduled_dues(schedule="weekly", weekdays=64, **common)
    assert [d.local_date.isoformat() for d in sundays] == ["2026-03-08"]


def test_before_session_is_due_n_hours_before_each_scheduled_session_for_who_attends():
    w = world(zone_a="America/New_York", zone_b="Europe/London")
    session_at = datetime.datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
    TherapySessionFactory(couple=w.couple, starts_at=session_at, status="scheduled")
    TherapySessionFactory(
        couple=w.couple, starts_at=session_at + datetime.timedelta(days=1), status="cancelled"
    )
    TherapySessionFactory(
        couple=w.couple,
        starts_at=session_at + datetime.timedelta(hours=6),
        status="scheduled",
        kind="individual",
        partner=w.b,
    )
    assign(w, schedule=Assignment.Schedule.BEFORE_SESSION, local_time=None, hours_before_session=24)
    plan(datetime.datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    a_dues = list(Occurrence.objects.filter(partner=w.a).values_list("due_at", "local_due_time"))
    assert a_dues == [(session_at - datetime.timedelta(hours=24), datetime.time(12, 0))]  # 12:00 EST
    b_dues = sorted(Occurrence.objects.filter(partner=w.b).values_list("due_at", flat=True))
    assert b_dues == [session_at - datetime.timedelta(hours=24), session_at - datetime.timedelta(hours=18)]


def test_a_moved_session_cancels_its_pending_before_session_occurrence():
    w = world()
    session = TherapySessionFactory(
        couple=w.couple, starts_at=datetime.datetime(2026, 3, 4, 17, 0, tzinfo=UTC), status="scheduled"
    )
    assign(
        w,
        partners=[w.a],
        schedule=Assignment.Schedule.BEFORE_SESSION,
        local_time=None,
        hours_before_session=2,
    )
    plan(datetime.datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    first = Occurrence.objects.get()
    session.starts_at += datetime.timedelta(hours=3)
    session.save(update_fields=["starts_at"])
    plan(datetime.datetime(2026, 3, 3, 6, 10, tzinfo=UTC))
    first.refresh_from_db()
    assert first.status == Occurrence.Status.CANCELLED
    assert first.reminder_deliveries.get().status == ReminderDelivery.Status.CANCELLED
    assert Occurrence.objects.get(status="pending").due_at == datetime.datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


def test_start_and_end_dates_bound_the_occurrences():
    w = world(zone_a="America/New_York")
    assign(w, partners=[w.a], starts_on=datetime.date(2026, 3, 3), ends_on=datetime.date(2026, 3, 3))
    for day in (1, 2, 3, 4, 5):
        plan(at("America/New_York", 2026, 3, day, 12))
    assert list(Occurrence.objects.values_list("local_due_date", flat=True)) == [datetime.date(2026, 3, 3)]


# WHO IS PLANNED
# ------------------------------------------------------------------------------
def test_each_partner_is_planned_in_their_own_zone():
    w = world(zone_a="America/New_York", zone_b="Pacific/Auckland")
    assign(w)
    plan(datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    for partner, zone in ((w.a, "America/New_York"), (w.b, "Pacific/Auckland")):
        for occurrence in Occurrence.objects.filter(partner=partner):
            local = occurrence.due_at.astimezone(at(zone, 2026, 1, 1).tzinfo)
            assert (local.hour, local.minute) == (20, 0)
            assert local.date() == occurrence.local_due_date
    assert ReminderDelivery.objects.count() == Occurrence.objects.count() > 0


@pytest.mark.parametrize("status", [Couple.Status.PAUSED, Couple.Status.DISCHARGED])
def test_a_paused_or_discharged_couple_is_not_planned(status):
    w = world()
    assign(w)
    Couple.objects.filter(pk=w.couple.pk).update(
        status=status, discharged_on=datetime.date(2026, 3, 1) if status == "discharged" else None
    )
    plan(datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert not Occurrence.objects.exists()


@pytest.mark.parametrize("flag_status", [SafetyFlag.Status.OPEN, SafetyFlag.Status.ACKNOWLEDGED])
def test_an_unresolved_safety_flag_stops_planning_for_both_partners(flag_status):
    w = world()
    assign(w)
    SafetyFlag.objects.create(
        practice=w.couple.practice,
        couple=w.couple,
        partner=w.a,
        source="clinician",
        status=flag_status,
        raised_at=datetime.datetime(2026, 3, 1, tzinfo=UTC),
        acknowledged_at=datetime.datetime(2026, 3, 1, tzinfo=UTC) if flag_status == "acknowledged" else None,
    )
    plan(datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert not Occurrence.objects.exists()
    SafetyFlag.objects.update(
        status=SafetyFlag.Status.RESOLVED, resolved_at=datetime.datetime(2026, 3, 2, tzinfo=UTC)
    )
    plan(datetime.datetime(2026, 3, 2, 12, 10, tzinfo=UTC))
    assert set(Occurrence.objects.values_list("partner", flat=True)) == {w.a.pk, w.b.pk}


def test_paused_homework_and_inactive_partners_are_not_planned():
    w = world()
    paused = assign(w, partners=[w.a])
    services.assignment_set_status(user=w.user, assignment=paused, status=Assignment.Status.PAUSED)
    assign(w, partners=[w.b], title="Other")
    Partner.objects.filter(pk=w.b.pk).update(is_active=False)
    plan(datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert not Occurrence.objects.exists()


def test_no_reminder_row_for_a_partner_who_wants_none():
    w = world()
    Partner.objects.filter(pk=w.a.pk).update(preferred_channel=Partner.Channel.NONE)
    assign(w)
    plan(datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert Occurrence.objects.filter(partner=w.a).exists()
    assert not ReminderDelivery.objects.filter(partner=w.a).exists()
    assert ReminderDelivery.objects.filter(partner=w.b, channel="email").exists()


def test_a_partner_who_changed_zone_gets_the_same_wall_time_in_the_new_zone():
    w = world(zone_a="America/New_York")
    assign(w, partners=[w.a])
    plan(datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    Partner.objects.filter(pk=w.a.pk).update(time_zone="America/Los_Angeles")
    plan(datetime.datetime(2026, 3, 2, 12, 10, tzinfo=UTC))
    occurrence = Occurrence.objects.get(local_due_date=datetime.date(2026, 3, 2))
    assert occurrence.due_at == at("America/Los_Angeles", 2026, 3, 2, 20)
    assert occurrence.reminder_deliveries.get().next_attempt_at == at("America/Los_Angeles", 2026, 3, 2, 20)


# STREAMING
# ------------------------------------------------------------------------------
def test_the_planner_reads_assignments_in_chunks_and_resumes_after_a_deadline():
    w = world()
    for n in range(7):
        assign(w, title=f"Homework {n}")
    moment = datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with CaptureQueriesContext(connection) as queries:
        result = planner.plan(now=moment, chunk_size=3)
    assert result.complete and result.assignments == 7
    paged = [q["sql"] for q in queries.captured_queries if "LIMIT 3" in q["sql"]]
    assert len(paged) == 4  # 3 + 3 + 1, then an empty page: never all at once

    stopped = planner.plan(now=moment, chunk_size=3, deadline=0)  # past its deadline after one chunk
    assert not stopped.complete and stopped.assignments == 3
    resumed = planner.plan(now=moment, chunk_size=3, start_after=stopped.cursor)
    assert resumed.complete and resumed.assignments == 4


def test_planning_twice_creates_nothing_twice():
    w = world()
    assign(w)
    moment = datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    first = planner.plan(now=moment)
    again = planner.plan(now=moment)
    assert first.occurrences_created > 0 and first.reminders_created > 0
    assert (again.occurrences_created, again.reminders_created) == (0, 0)


def test_the_planners_bulk_insert_skips_rows_already_there_and_fills_defaults():
    w = world()
    assignment = assign(w, partners=[w.a])
    planner.plan(now=datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    there = Occurrence.objects.filter(partner=w.a).order_by("due_at").first()
    later = datetime.date(2026, 6, 1)
    before = Occurrence.objects.count()
    inserted = bulk.rows_insert(
        Occurrence,
        {
            "practice_id": [there.practice_id] * 2,
            "assignment_id": [assignment.pk] * 2,
            "partner_id": [w.a.pk] * 2,
            "local_due_date": [there.local_due_date, later],
            "local_due_time": [there.local_due_time] * 2,
            "due_at": [there.due_at, datetime.datetime(2026, 6, 2, 0, 0, tzinfo=UTC)],
        },
        returning=("id", "local_due_date"),
    )
    assert Occurrence.objects.count() == before + 1
    new = Occurrence.objects.get(partner=w.a, local_due_date=later)
    assert new.status == Occurrence.Status.PENDING and new.completed_at is None and new.created_at
    if connection.vendor == "postgresql":  # it says which rows went in; bulk_create cannot
        assert inserted == [(new.pk, later)]
    else:
        assert inserted is None
