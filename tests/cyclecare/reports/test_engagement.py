"""engagement_report: adherence from the rollup per clinician, week, couple and partner, scope
(clinician: own caseload; supervisor: supervisees too; admin: the practice; another practice:
nothing), filters, uneven engagement and the time from reminder to completion."""

import datetime

import pytest
from django.test import override_settings
from django.utils import timezone

from cyclecare.reports.engagement import engagement_report, median_minutes
from cyclecare.reports.filters import ReportFilters
from cyclecare.reports.overview import practice_overview
from cyclecare.reports.rollups import refresh_rollups
from tests.cyclecare.reports.world import build_world
from tests.factories import OccurrenceFactory, ReminderDeliveryFactory

pytestmark = pytest.mark.django_db


def homework(world, couple_index: int, seat: int, *, days_ago: int, status: str, minutes_after_reminder=None):
    couple, a, b = world.couples[couple_index]
    partner = a if seat == 1 else b
    due = timezone.now() - datetime.timedelta(days=days_ago, hours=1)
    occurrence = OccurrenceFactory(
        assignment=world.assignments[couple.pk],
        partner=partner,
        due_at=due,
        local_due_date=timezone.now().date() - datetime.timedelta(days=days_ago),
        local_due_time=due.time(),
        status=status,
        completed_at=due + datetime.timedelta(minutes=(minutes_after_reminder or 0) + 10)
        if status == "completed"
        else None,
    )
    if minutes_after_reminder is not None:
        ReminderDeliveryFactory(
            occurrence=occurrence, status="sent", sent_at=due + datetime.timedelta(minutes=10)
        )
    return occurrence


@pytest.fixture
def world(db):
    world = build_world()
    # Casey's first couple: partner A did 4 of 4, partner B 1 of 4 (uneven). Casey's second: 1
    # of 2, one pending. Dana's: 2 of 3, one missed. Blake (another practice): 1 missed.
    for days_ago in (1, 2, 3, 4):
        homework(world, 0, 1, days_ago=days_ago, status="completed", minutes_after_reminder=30)
        homework(world, 0, 2, days_ago=days_ago, status="completed" if days_ago == 1 else "missed")
    homework(world, 1, 1, days_ago=2, status="completed", minutes_after_reminder=300)
    homework(world, 1, 2, days_ago=0, status="pending")
    homework(world, 1, 2, days_ago=1, status="cancelled")
    homework(world, 2, 1, days_ago=3, status="completed")
    homework(world, 2, 1, days_ago=10, status="completed")
    homework(world, 2, 2, days_ago=3, status="missed")
    homework(world, 3, 1, days_ago=1, status="missed")
    homework(world, 0, 1, days_ago=60, status="completed")  # before the period
    refresh_rollups()
    return world


def period(days: int = 30, **filters) -> ReportFilters:
    today = timezone.now().date()
    return ReportFilters(
        date_from=today - datetime.timedelta(days=days), date_to=today + datetime.timedelta(days=1), **filters
    )


def by_name(report):
    return {
        row["display_name"]: (row["due"], row["completed"], row["missed"], row["pending"])
        for row in report["rows"]
    }


def test_admin_sees_the_practice_per_clinician_with_a_total(world):
    report = engagement_report(user=world.admin.user, filters=period())
    assert by_name(report) == {
        "Avery Admin": (0, 0, 0, 0),
        "Casey One": (10, 6, 3, 1),
        "Dana Two": (3, 2, 1, 0),
        "Sam Super": (0, 0, 0, 0),
    }
    total = report["total"]
    assert (total["due"], total["completed"], total["adherence_pct"]) == (13, 8, 61.5)
    assert report["fresh_at"] is not None
    assert sum(week["due"] for week in report["weeks"]) == 13
    assert all(isinstance(week["week"], datetime.date) for week in report["weeks"])
    # Ids and couple labels only: nothing that names a partner.
    partner_keys = {key for partner in report["partners"] for key in partner}
    assert "display_name" not in partner_keys and "partner" in partner_keys


def test_scope_clinician_supervisor_other_practice(world):
    assert by_name(engagement_report(user=world.casey.user, filters=period())) == {"Casey One": (10, 6, 3, 1)}
    assert by_name(engagement_report(user=world.supervisor.user, filters=period())) == {
        "Casey One": (10, 6, 3, 1),
        "Sam Super": (0, 0, 0, 0),
    }
    blake = engagement_report(user=world.blake.user, filters=period())
    assert by_name(blake) == {"Blake Bravo": (1, 0, 1, 0)}
    assert {couple["couple"] for couple in blake["couples"]} == {world.couples[3][0].pk}


def test_filters_period_clinician_status(world):
    two_days = engagement_report(user=world.admin.user, filters=period(days=2))
    assert two_days["total"]["due"] == 6  # Casey: 2 + 2 + 1 + pending 1; Dana: none
    only_dana = engagement_report(user=world.admin.user, filters=period(clinician=world.dana.pk))
    assert only_dana["total"]["due"] == 3
    world.couples[2][0].status = "paused"
    world.couples[2][0].save(update_fields=["status"])
    paused = engagement_report(user=world.admin.user, filters=period(status="paused"))
    assert paused["total"]["due"] == 3 and {c["couple"] for c in paused["couples"]} == {
        world.couples[2][0].pk
    }


def test_uneven_engagement_follows_the_practice_threshold(world):
    report = engagement_report(user=world.admin.user, filters=period())
    [uneven] = report["uneven"]
    assert uneven["couple"] == world.couples[0][0].pk
    assert (uneven["lower_pct"], uneven["higher_pct"], uneven["gap_points"]) == (25.0, 100.0, 75.0)
    with override_settings(CYCLECARE={"UNEVEN_ENGAGEMENT_GAP_POINTS": 80}):
        assert engagement_report(user=world.admin.user, filters=period())["uneven"] == []
    with override_settings(CYCLECARE={"UNEVEN_ENGAGEMENT_MIN_DUE": 5}):
        assert engagement_report(user=world.admin.user, filters=period())["uneven"] == []


def test_minutes_from_reminder_to_completion(world):
    report = engagement_report(user=world.admin.user, filters=period())
    casey = next(row for row in report["rows"] if row["display_name"] == "Casey One")
    # Four done 30 minutes after the reminder, one 300 minutes after.
    assert casey["reminded_completions"] == 5
    assert casey["mean_minutes_to_complete"] == 84.0
    assert 15 <= casey["median_minutes_to_complete"] <= 60


def test_median_from_bins():
    assert median_minutes({}) is None
    assert median_minutes({"within_15m": 1}) == 7.5
    assert median_minutes({"within_15m": 1, "within_1h": 1, "within_4h": 2}) == 60.0
    assert median_minutes({"later": 3}) == 10080.0


def test_overview_keeps_its_adherence_total(world):
    overview = practice_overview(user=world.admin.user)
    assert set(overview["adherence"]) >= {"due", "completed", "missed", "pending", "adherence_pct"}
    assert overview["adherence_fresh_at"] is not None


def test_before_the_first_refresh_the_report_says_so(db):
    world = build_world()
    report = engagement_report(user=world.admin.user, filters=period())
    assert report["fresh_at"] is None and "not been computed" in report["notes"][0]
