"""delivery_report: the funnel per channel and clinician, failures and holds by reason — counts
only — in the caller's administrative scope."""

import datetime

import pytest
from django.utils import timezone

from cyclecare.reminders import dispatch, holds
from cyclecare.reports.delivery import delivery_report
from cyclecare.reports.filters import ReportFilters
from cyclecare.reports.rollups import refresh_rollups
from tests.cyclecare.reports.world import build_world
from tests.factories import OccurrenceFactory, ReminderDeliveryFactory

pytestmark = pytest.mark.django_db


def reminded(world, couple_index: int, *, days_ago: int, occurrence_status: str, **deliveries):
    """An occurrence of the couple's partner A with one reminder row per channel given."""
    couple, a, _ = world.couples[couple_index]
    due = timezone.now() - datetime.timedelta(days=days_ago, hours=2)
    occurrence = OccurrenceFactory(
        assignment=world.assignments[couple.pk],
        partner=a,
        due_at=due,
        local_due_date=timezone.now().date() - datetime.timedelta(days=days_ago),
        local_due_time=due.time(),
        status=occurrence_status,
    )
    for channel, fields in deliveries.items():
        ReminderDeliveryFactory(occurrence=occurrence, channel=channel, **fields)


@pytest.fixture
def world(db):
    world = build_world()
    sent = {"status": "sent", "sent_at": timezone.now() - datetime.timedelta(days=1)}
    opened = {**sent, "opened_at": timezone.now() - datetime.timedelta(hours=20)}
    # Casey: email sent, opened, completed; sms sent, not opened; email sent, opened, missed;
    # email held (on hold); sms failed after retries; email held (no consent).
    reminded(world, 0, days_ago=1, occurrence_status="completed", email=opened, sms=sent)
    reminded(world, 0, days_ago=2, occurrence_status="missed", email=opened)
    reminded(
        world,
        1,
        days_ago=3,
        occurrence_status="cancelled",
        email={"status": "cancelled", "last_error": dispatch.ON_HOLD},
    )
    reminded(
        world,
        1,
        days_ago=4,
        occurrence_status="missed",
        sms={"status": "failed", "last_error": "Gave up after 6 attempts. Timeout."},
    )
    reminded(
        world,
        0,
        days_ago=5,
        occurrence_status="missed",
        email={"status": "cancelled", "last_error": dispatch.NO_CONSENT["email"]},
    )
    # Dana: email rejected; sms waiting (due now).
    reminded(
        world,
        2,
        days_ago=1,
        occurrence_status="missed",
        email={"status": "failed", "last_error": "550 unknown user"},
    )
    reminded(world, 2, days_ago=0, occurrence_status="pending", sms={})
    # Blake, another practice: held (channel changed).
    reminded(
        world,
        3,
        days_ago=1,
        occurrence_status="missed",
        email={"status": "cancelled", "last_error": holds.CHANNEL_CHANGED},
    )
    refresh_rollups()
    return world


def period(**filters) -> ReportFilters:
    today = timezone.now().date()
    return ReportFilters(
        date_from=today - datetime.timedelta(days=30), date_to=today + datetime.timedelta(days=1), **filters
    )


FUNNEL = ("planned", "sent", "opened", "completed", "failed", "held", "waiting")


def funnel(row) -> tuple:
    return tuple(row[stage] for stage in FUNNEL)


def test_the_funnel_per_channel_and_clinician(world):
    report = delivery_report(user=world.admin.user, filters=period())
    channels = {row["channel"]: funnel(row) for row in report["channels"]}
    assert channels == {"email": (5, 2, 2, 1, 1, 2, 0), "sms": (3, 1, 0, 1, 1, 0, 1)}
    rows = {row["display_name"]: funnel(row) for row in report["rows"]}
    assert rows["Casey One"] == (6, 3, 2, 2, 1, 2, 0)
    assert rows["Dana Two"] == (2, 0, 0, 0, 1, 0, 1)
    assert funnel(report["total"]) == (8, 3, 2, 2, 2, 2, 1)
    assert {item["reason"]: item["count"] for item in report["failed_by_reason"]} == {
        "retries_exhausted": 1,
        "rejected": 1,
    }
    assert {item["reason"]: item["count"] for item in report["held_by_reason"]} == {
        "on_hold": 1,
        "no_consent": 1,
    }
    assert report["fresh_at"] is not None
    # Counts and codes only: no provider text reaches the report.
    assert "550" not in repr(report) and "Timeout" not in repr(report)


def test_scope_and_filters(world):
    assert funnel(delivery_report(user=world.dana.user, filters=period())["total"]) == (2, 0, 0, 0, 1, 0, 1)
    blake = delivery_report(user=world.blake.user, filters=period())
    assert funnel(blake["total"]) == (1, 0, 0, 0, 0, 1, 0)
    assert {item["reason"] for item in blake["held_by_reason"]} == {"channel_changed"}
    only_casey = delivery_report(user=world.admin.user, filters=period(clinician=world.casey.pk))
    assert funnel(only_casey["total"]) == (6, 3, 2, 2, 1, 2, 0)
    today = timezone.now().date()
    two_days = ReportFilters(
        date_from=today - datetime.timedelta(days=2), date_to=today + datetime.timedelta(days=1)
    )
    assert delivery_report(user=world.admin.user, filters=two_days)["total"]["planned"] == 5
    assert delivery_report(user=world.admin.user, filters=period(status="paused"))["total"]["planned"] == 0
