"""The report rollups: an incremental refresh leaves exactly what a full rebuild computes after
any mix of new rows and status changes; watermarks trail the settle margin; the refresh runs
from the beat; partner scores respect disclosure."""

import datetime
import random
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from cyclecare.models import (
    CheckIn,
    DeliveryDay,
    EngagementDay,
    Occurrence,
    PartnerScoreDay,
    ReminderDelivery,
    ReportRollup,
)
from cyclecare.reminders import dispatch, holds
from cyclecare.reports.filters import ReportFilters
from cyclecare.reports.rollups import delivery_reason, partner_score_pairs, refresh_rollups
from cyclecare.schedule import BEAT_SCHEDULE
from tests.cyclecare.reports.world import add_checkin, add_occurrence, build_world, change_something
from tests.factories import OccurrenceFactory, ReminderDeliveryFactory, shipped_instrument

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, list[tuple]]:
    """Every rollup row, without its id, in a stable order."""

    def rows(model) -> list[tuple]:
        fields = [field.attname for field in model._meta.concrete_fields if field.attname != "id"]
        return sorted(model.objects.values_list(*fields))

    return {model.__name__: rows(model) for model in (EngagementDay, DeliveryDay, PartnerScoreDay)}


@pytest.mark.parametrize("seed", range(6))
def test_an_incremental_refresh_equals_a_full_rebuild(seed):
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    world = build_world()
    now = timezone.now()
    for _ in range(25):
        add_occurrence(world, rng, now)
    first = refresh_rollups(now=now)
    assert first.full  # the first refresh builds everything
    for step in range(1, 5):
        # Minutes pass between refreshes; changes made in between are folded in by the next.
        now += datetime.timedelta(minutes=rng.choice((1, 7, 30, 24 * 60)))
        for _ in range(rng.randint(1, 12)):
            change_something(world, rng, now)
        result = refresh_rollups(now=now)
        assert not result.full
        incremental = snapshot()
        refresh_rollups(full=True, now=now)
        assert incremental == snapshot(), f"seed {seed}, step {step}"


def test_a_settled_bucket_is_not_reread():
    world = build_world()
    rng = random.Random(1)  # noqa: S311 - test data, not secrets
    now = timezone.now()
    occurrence = add_occurrence(world, rng, now)
    Occurrence.objects.filter(pk=occurrence.pk).update(
        status=Occurrence.Status.MISSED, due_at=now - datetime.timedelta(days=3)
    )
    ReminderDelivery.objects.filter(occurrence=occurrence).update(status=ReminderDelivery.Status.FAILED)
    later = now + datetime.timedelta(hours=1)
    refresh_rollups(now=later)  # full
    assert refresh_rollups(now=later + datetime.timedelta(minutes=1)).activity_buckets == 0
    # A change the rule says cannot happen without a new row is, indeed, not seen…
    Occurrence.objects.filter(pk=occurrence.pk).update(status=Occurrence.Status.CANCELLED)
    refresh_rollups(now=later + datetime.timedelta(minutes=2))
    assert EngagementDay.objects.get(partner=occurrence.partner_id).missed == 1
    # …until the nightly rebuild.
    refresh_rollups(full=True, now=later + datetime.timedelta(minutes=3))
    assert EngagementDay.objects.get(partner=occurrence.partner_id).cancelled == 1


def test_watermarks_trail_the_settle_margin():
    world = build_world()
    rng = random.Random(2)  # noqa: S311 - test data, not secrets
    now = timezone.now()
    old = add_occurrence(world, rng, now)
    refresh_rollups(now=now + datetime.timedelta(minutes=30))
    marks = ReportRollup.objects.get(name="activity").watermarks
    assert marks["occurrence"] == old.pk
    fresh = add_occurrence(world, rng, now)
    # Created less than ROLLUP_SETTLE_MINUTES before this refresh: read, but the watermark
    # stays below it so the next refresh reads it again.
    refresh_rollups(now=fresh.created_at + datetime.timedelta(minutes=2))
    state = ReportRollup.objects.get(name="activity")
    assert state.watermarks["occurrence"] == old.pk
    assert EngagementDay.objects.filter(partner=fresh.partner_id, day=fresh.local_due_date).exists()
    with override_settings(CYCLECARE={"ROLLUP_SETTLE_MINUTES": 1}):
        refresh_rollups(now=fresh.created_at + datetime.timedelta(minutes=2))
    assert ReportRollup.objects.get(name="activity").watermarks["occurrence"] == fresh.pk
    assert ReportRollup.objects.get(name="activity").fresh_at == fresh.created_at + datetime.timedelta(
        minutes=2
    )


def test_engagement_day_counts_and_reminder_minutes():
    world = build_world()
    couple, a, _ = world.couples[0]
    now = timezone.now()
    due = now - datetime.timedelta(days=1)
    done = OccurrenceFactory(
        assignment=world.assignments[couple.pk],
        partner=a,
        due_at=due,
        local_due_date=due.date(),
        local_due_time=datetime.time(1, 2, 3),
        status="completed",
        completed_at=due + datetime.timedelta(minutes=95),
    )
    ReminderDeliveryFactory(occurrence=done, status="sent", sent_at=due + datetime.timedelta(minutes=5))
    ReminderDeliveryFactory(
        occurrence=done, channel="sms", status="sent", sent_at=due + datetime.timedelta(minutes=20)
    )
    refresh_rollups(now=now)
    day = EngagementDay.objects.get(partner=a, day=due.date())
    assert (day.completed, day.reminded_completions, day.reminder_minutes, day.within_4h) == (1, 1, 90, 1)


def test_a_link_opened_after_the_refresh_is_folded_in():
    world = build_world()
    couple, a, _ = world.couples[0]
    now = timezone.now()
    due = now - datetime.timedelta(days=2)
    occurrence = OccurrenceFactory(
        assignment=world.assignments[couple.pk],
        partner=a,
        due_at=due,
        local_due_date=due.date(),
        local_due_time=datetime.time(8),
        status="missed",
    )
    reminder = ReminderDeliveryFactory(occurrence=occurrence, status="sent", sent_at=due)
    refresh_rollups(now=now)
    assert DeliveryDay.objects.get(partner=a).opened is False
    ReminderDelivery.objects.filter(pk=reminder.pk).update(opened_at=now + datetime.timedelta(seconds=30))
    assert refresh_rollups(now=now + datetime.timedelta(minutes=1)).activity_buckets == 1
    assert DeliveryDay.objects.get(partner=a).opened is True


def test_reasons_are_codes_never_the_text():
    assert delivery_reason("cancelled", dispatch.ON_HOLD) == "on_hold"
    assert delivery_reason("cancelled", holds.NOT_DUE_WHILE_HELD) == "due_while_held"
    assert delivery_reason("cancelled", holds.CHANNEL_CHANGED) == "channel_changed"
    assert {delivery_reason("cancelled", text) for text in dispatch.NO_CONSENT.values()} == {"no_consent"}
    assert delivery_reason("cancelled", "Something new.") == "other"
    assert delivery_reason("failed", "Gave up after 6 attempts. Timeout.") == "retries_exhausted"
    assert delivery_reason("failed", "550 no such user jo@example.com") == "rejected"
    assert delivery_reason("sent", "") == ""


def test_the_beat_refreshes_every_minute_and_rebuilds_daily():
    entries = {entry["task"]: entry["schedule"] for entry in BEAT_SCHEDULE.values()}
    assert entries["cyclecare.tasks.report_rollups_refresh"] <= 60
    assert entries["cyclecare.tasks.report_rollups_rebuild"] == 24 * 3600


# PARTNER SCORES
# ------------------------------------------------------------------------------
def score(world, partner, total: int, days_ago: float, instrument=None):
    checkin = add_checkin(
        world,
        None,
        random.Random(0),  # noqa: S311 - test data, not secrets
        partner=partner,
        at=timezone.now() - datetime.timedelta(days=days_ago),
    )
    checkin.total_score = Decimal(total)
    checkin.instrument = instrument or world.instrument
    checkin.save(update_fields=["total_score", "instrument"])
    return checkin


def window(days_from: int, days_to: int) -> ReportFilters:
    today = timezone.now().date()
    return ReportFilters(
        date_from=today - datetime.timedelta(days=days_from), date_to=today - datetime.timedelta(days=days_to)
    )


def test_partner_score_pairs_first_and_latest_on_or_before_the_end():
    world = build_world()
    couple, a, b = world.couples[0]
    for total, days_ago in ((5, 60), (9, 20), (14, 5)):
        score(world, a, total, days_ago)
    score(world, b, 10, 10)  # one score: no pair
    dana_couple, d, _ = world.couples[2]
    score(world, d, 3, 40)
    score(world, d, 8, 35)  # latest before the period
    refresh_rollups()
    code = world.instrument.code
    assert partner_score_pairs(user=world.admin.user, filters=window(30, 0)) == [
        (a.pk, couple.pk, world.casey.pk, code, Decimal(5), Decimal(14))
    ]
    # Ending the period 10 days ago: the latest on or before it is the score of 20 days ago.
    assert partner_score_pairs(user=world.admin.user, filters=window(30, 10)) == [
        (a.pk, couple.pk, world.casey.pk, code, Decimal(5), Decimal(9))
    ]
    assert [pair[0] for pair in partner_score_pairs(user=world.admin.user, filters=window(40, 0))] == sorted(
        [a.pk, d.pk]
    )
    # Scope and filters.
    assert partner_score_pairs(user=world.dana.user, filters=window(30, 0)) == []
    assert partner_score_pairs(user=world.blake.user, filters=window(90, 0)) == []
    narrowed = ReportFilters(**{**window(90, 0).__dict__, "clinician": world.dana.pk})
    assert [pair[0] for pair in partner_score_pairs(user=world.admin.user, filters=narrowed)] == [d.pk]
    other_code = ReportFilters(**{**window(90, 0).__dict__, "instrument": "cycle-checkin"})
    assert partner_score_pairs(user=world.admin.user, filters=other_code) == []


def test_scores_only_the_treating_clinician_sees_are_never_copied():
    world = build_world()
    _, a, _ = world.couples[0]
    screen = shipped_instrument("hits")
    assert screen.definition.get("safety_flag_when_clinical")
    score(world, a, 12, 3, instrument=screen)
    score(world, a, 14, 2, instrument=screen)
    refresh_rollups()
    assert not PartnerScoreDay.objects.filter(instrument_code=screen.code).exists()
    assert partner_score_pairs(user=world.admin.user, filters=window(30, 0)) == []


def test_scores_are_folded_in_incrementally_on_the_practice_calendar():
    world = build_world()
    _, a, _ = world.couples[0]
    refresh_rollups()
    late_evening = datetime.datetime(2026, 3, 3, 23, 30, tzinfo=datetime.UTC)  # 17:30 in Chicago
    checkin = score(world, a, 4, 0)
    CheckIn.objects.filter(pk=checkin.pk).update(submitted_at=late_evening)
    result = refresh_rollups(now=timezone.now() + datetime.timedelta(minutes=1))
    assert result.score_buckets == 1
    [day] = PartnerScoreDay.objects.filter(partner=a)
    assert day.day == datetime.date(2026, 3, 3) and day.scores == 1


def test_an_open_bucket_is_reread_but_rewritten_only_when_it_changed():
    world = build_world()
    couple, a, _ = world.couples[0]
    now = timezone.now()
    due = now + datetime.timedelta(hours=2)
    upcoming = OccurrenceFactory(
        assignment=world.assignments[couple.pk],
        partner=a,
        due_at=due,
        local_due_date=due.date(),
        local_due_time=datetime.time(9),
    )
    refresh_rollups(now=now)
    bucket = EngagementDay.objects.get(partner=a)
    assert bucket.open and bucket.upcoming == 1
    assert refresh_rollups(now=now + datetime.timedelta(minutes=1)).activity_buckets == 0
    assert EngagementDay.objects.get(partner=a).pk == bucket.pk  # not deleted and written again
    # Its due time passes: the same rows now read as due and pending.
    assert refresh_rollups(now=due + datetime.timedelta(minutes=1)).activity_buckets == 1
    assert EngagementDay.objects.get(partner=a).pending == 1
    Occurrence.objects.filter(pk=upcoming.pk).update(status=Occurrence.Status.CANCELLED)
    assert refresh_rollups(now=due + datetime.timedelta(minutes=2)).activity_buckets == 1
    bucket = EngagementDay.objects.get(partner=a)
    assert (bucket.cancelled, bucket.pending, bucket.open) == (1, 0, False)
