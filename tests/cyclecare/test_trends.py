"""cyclecare.trends: weekly buckets in the practice's time zone, the cycle's metrics, adherence,
rising episodes, the dyadic outcome (cutoff, reliable change, divergence) and the timeline."""

import datetime
import zoneinfo

import pytest
from django.utils import timezone

from couples import services as couple_services
from couples.selectors import notes_visible_to, sessions_visible_to_clinically
from cyclecare import scoring, trends
from cyclecare import services as cycle
from cyclecare.models import SafetyFlag
from cyclecare.selectors import (
    checkins_visible_to,
    episodes_visible_to,
    occurrences_visible_to,
    safety_flags_visible_to,
)
from tests.factories import (
    AssignmentFactory,
    ClinicianFactory,
    CycleEpisodeFactory,
    OccurrenceFactory,
    couple_with_partners,
    held_session,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
# A Monday, 12:00 in Chicago.
MONDAY = datetime.datetime(2026, 3, 2, 12, 0, tzinfo=CHICAGO)


@pytest.fixture
def world():
    clinician = ClinicianFactory()
    couple, a, b = couple_with_partners(clinician)
    return clinician, couple, a, b


def episode(
    couple, at, *, pursuer=None, withdrawer=None, intensity=5, minutes=None, attempted=False, worked=None
):
    return CycleEpisodeFactory(
        couple=couple,
        occurred_at=at,
        pursuer=pursuer,
        withdrawer=withdrawer,
        intensity=intensity,
        duration_minutes=minutes,
        repair_attempted=attempted,
        repair_worked=worked,
    )


def test_weeks_start_on_monday():
    assert trends.week_start(datetime.date(2026, 3, 8)) == datetime.date(2026, 3, 2)
    assert trends.weeks_ending(datetime.date(2026, 3, 10), 3) == [
        datetime.date(2026, 2, 23),
        datetime.date(2026, 3, 2),
        datetime.date(2026, 3, 9),
    ]


def test_episode_weeks_bucket_in_the_practice_time_zone_and_fill_empty_weeks(world):
    clinician, couple, a, b = world
    # Sunday 23:30 in Chicago is Monday 05:30 UTC: it belongs to the Chicago week before.
    sunday_night = datetime.datetime(2026, 3, 8, 23, 30, tzinfo=CHICAGO)
    episode(
        couple, sunday_night, pursuer=a, withdrawer=b, intensity=8, minutes=40, attempted=True, worked=True
    )
    episode(couple, MONDAY, pursuer=a, withdrawer=b, intensity=4, minutes=20, attempted=True, worked=False)
    episode(couple, MONDAY + datetime.timedelta(days=7), pursuer=b, withdrawer=a, intensity=6)
    weeks = [datetime.date(2026, 2, 23), datetime.date(2026, 3, 2), datetime.date(2026, 3, 9)]
    rows = trends.episode_weeks(
        episodes_visible_to(user=clinician.user).filter(couple=couple),
        partner_ids=(a.pk, b.pk),
        weeks=weeks,
        zone=CHICAGO,
    )
    assert [row.week for row in rows] == weeks
    assert [row.episodes for row in rows] == [0, 2, 1]
    assert rows[0].mean_intensity is None
    week = rows[1]
    assert week.mean_intensity == 6.0
    assert (week.repairs_attempted, week.repairs_worked, week.repair_rate) == (2, 1, 0.5)
    assert week.minutes_to_repair == 40.0  # only the repaired episode counts
    assert week.pursued == {a.pk: 2, b.pk: 0}
    assert week.withdrew == {a.pk: 0, b.pk: 2}
    assert rows[2].pursued == {a.pk: 0, b.pk: 1}

    metrics = trends.cycle_metrics(rows, partner_ids=(a.pk, b.pk))
    assert metrics.episodes == 3
    assert metrics.per_week == 1.0
    assert metrics.mean_intensity == pytest.approx(6.0)  # (8 + 4 + 6) / 3, weighted by episodes
    assert metrics.repair_rate == 0.5
    rigidity = {r.partner_id: r for r in metrics.rigidity}
    assert rigidity[a.pk].position == "pursue"
    assert rigidity[a.pk].share == pytest.approx(2 / 3)
    assert rigidity[b.pk].position == "withdraw"
    assert rigidity[b.pk].episodes == 3


def test_metrics_of_weeks_without_episodes_are_empty_not_zero():
    metrics = trends.cycle_metrics([trends.EpisodeWeek(week=datetime.date(2026, 3, 2))], partner_ids=(1, 2))
    assert metrics.episodes == 0
    assert metrics.mean_intensity is None
    assert metrics.repair_rate is None
    assert metrics.minutes_to_repair is None
    assert [r.share for r in metrics.rigidity] == [None, None]


def _assignment(couple, partners):
    return AssignmentFactory(
        couple=couple, partners=partners, title="Notice the first move", starts_on=datetime.date(2026, 1, 1)
    )


def occurrence(assignment, partner, due_at, status):
    return OccurrenceFactory(assignment=assignment, partner=partner, due_at=due_at, status=status)


def test_adherence_counts_due_and_completed_per_partner_and_week(world):
    clinician, couple, a, b = world
    assignment = _assignment(couple, [a, b])
    day = datetime.timedelta(days=1)
    occurrence(assignment, a, MONDAY, "completed")
    occurrence(assignment, a, MONDAY + day, "missed")
    occurrence(assignment, a, MONDAY + 2 * day, "cancelled")  # never due
    occurrence(assignment, b, MONDAY, "completed")
    occurrence(assignment, b, MONDAY + 3 * day, "pending")  # after "now": not due yet
    weeks = [datetime.date(2026, 2, 23), datetime.date(2026, 3, 2)]
    now = MONDAY + 2 * day
    adherence = trends.adherence_weeks(
        occurrences_visible_to(user=clinician.user).filter(partner_id__in=(a.pk, b.pk)),
        partner_ids=(a.pk, b.pk),
        weeks=weeks,
        zone=CHICAGO,
        now=now,
    )
    assert adherence[a.pk] == [trends.Adherence(0, 0), trends.Adherence(2, 1)]
    assert adherence[b.pk] == [trends.Adherence(0, 0), trends.Adherence(1, 1)]
    assert adherence[a.pk][1].rate == 0.5
    assert adherence[a.pk][0].rate is None
    assert trends.adherence_total(adherence[a.pk]) == trends.Adherence(2, 1)


def test_last_checkin_and_adherence_for_the_caseload(world):
    clinician, couple, a, b = world
    user = clinician.user
    now = timezone.now()
    assignment = _assignment(couple, [a, b])
    instrument = shipped_instrument()
    for days_ago in (1, 3, 20):
        occurrence(assignment, a, now - datetime.timedelta(days=days_ago), "completed")
    occurrence(assignment, a, now - datetime.timedelta(days=2), "missed")
    cycle.checkin_submit(
        partner=a,
        instrument=instrument,
        answers={"cycle_showed_up": False, "connection": 7},
        submitted_at=now - datetime.timedelta(days=3),
    )
    partners = {
        p.pk: p
        for p in trends.partners_with_last_checkin(
            couple.partners.all(), checkins=checkins_visible_to(user=user)
        )
    }
    adherence = trends.adherence_by_partner(occurrences_visible_to(user=user), now=now)
    assert adherence == {a.pk: trends.Adherence(due=3, completed=2)}
    assert partners[a.pk].last_checkin_at == now - datetime.timedelta(days=3)
    assert partners[b.pk].last_checkin_at is None
    assert trends.days_since(partners[a.pk].last_checkin_at, now=now, zone=CHICAGO) == 3
    assert trends.days_since(None, now=now, zone=CHICAGO) is None


def test_rising_compares_the_last_14_days_with_the_14_before(world):
    clinician, couple, a, b = world
    calm, *_ = couple_with_partners(clinician)
    now = timezone.now()
    for days_ago in (1, 2, 5, 13):
        episode(couple, now - datetime.timedelta(days=days_ago))
    for days_ago in (15, 27, 40):  # 40 days ago is in neither window
        episode(couple, now - datetime.timedelta(days=days_ago))
    episode(calm, now - datetime.timedelta(days=1))
    episode(calm, now - datetime.timedelta(days=16))
    rows = {
        c.pk: c
        for c in trends.couples_with_episode_trend(
            type(couple).objects.all(), episodes=episodes_visible_to(user=clinician.user), now=now
        )
    }
    assert (rows[couple.pk].episodes_recent, rows[couple.pk].episodes_before) == (4, 2)
    assert (rows[calm.pk].episodes_recent, rows[calm.pk].episodes_before) == (1, 1)
    assert trends.is_rising(4, 2)
    assert not trends.is_rising(1, 1)
    assert not trends.is_rising(3, 2)  # one more is noise, not a rise


def test_episode_trend_is_scoped(world):
    clinician, couple, a, b = world
    other = ClinicianFactory(practice=clinician.practice)
    episode(couple, timezone.now())
    rows = trends.couples_with_episode_trend(
        type(couple).objects.filter(pk=couple.pk),
        episodes=episodes_visible_to(user=other.user),
        now=timezone.now(),
    )
    assert rows.get().episodes_recent == 0


CSI_RC = {"threshold": 4.5}


def csi(partner, instrument, total, days_ago):
    answers, left = {}, total
    for code, high in (("csi1", 6), ("csi12", 5), ("csi19", 5), ("csi22", 5)):
        answers[code] = min(high, left)
        left -= answers[code]
    return cycle.checkin_submit(
        partner=partner,
        instrument=instrument,
        answers=answers,
        submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


def test_dyadic_outcome_uses_the_definition_cutoff_and_has_no_band_without_reliable_change(world):
    clinician, couple, a, b = world
    shipped = shipped_instrument("csi-4")
    csi(a, shipped, 8, 30)
    csi(a, shipped, 12, 2)
    csi(b, shipped, 20, 30)
    rows = trends.outcome_scores(checkins_visible_to(user=clinician.user).filter(couple=couple))
    outcome = trends.dyadic_outcome(rows, partner_ids=(a.pk, b.pk))
    assert outcome.code == "csi-4"
    assert outcome.cutoff == 13.5
    assert outcome.cutoff_label == "distressed"
    assert outcome.threshold is None
    assert [s.total for s in outcome.series[a.pk]] == [8.0, 12.0]
    assert outcome.divergence == 8.0
    assert not outcome.diverges  # no threshold: divergence is not judged
    assert outcome.trajectories == {a.pk: None, b.pk: None}


def test_dyadic_outcome_reliable_change_divergence_and_trajectories(world):
    clinician, couple, a, b = world
    shipped = shipped_instrument("csi-4")
    licensed = cycle.instrument_create(
        practice=clinician.practice,
        code="csi-4",
        version=2,
        name="CSI-4 (with reliable change)",
        definition={**shipped.definition, "reliable_change": CSI_RC},
    )
    csi(a, licensed, 8, 60)
    csi(a, licensed, 15, 1)  # +7: reliable, and out of the distressed range → recovered
    csi(b, licensed, 14, 60)
    csi(b, licensed, 9, 1)  # −5: reliable worsening
    rows = trends.outcome_scores(checkins_visible_to(user=clinician.user).filter(couple=couple))
    outcome = trends.dyadic_outcome(rows, partner_ids=(a.pk, b.pk))
    assert outcome.threshold == 4.5
    assert outcome.latest(a.pk).total == 15.0
    assert outcome.divergence == 6.0
    assert outcome.diverges
    assert outcome.trajectories == {a.pk: scoring.Trajectory.RECOVERED, b.pk: scoring.Trajectory.DETERIORATED}


def test_dyadic_outcome_threshold_from_sd_and_reliability(world):
    clinician, couple, a, b = world
    shipped = shipped_instrument("csi-4")
    instrument = cycle.instrument_create(
        practice=clinician.practice,
        code="csi-4",
        version=3,
        name="CSI-4",
        definition={**shipped.definition, "reliable_change": {"sd": 10.5, "reliability": 0.961}},
    )
    csi(a, instrument, 10, 3)
    csi(b, instrument, 15, 3)
    outcome = trends.dyadic_outcome(
        trends.outcome_scores(checkins_visible_to(user=clinician.user)), partner_ids=(a.pk, b.pk)
    )
    assert round(outcome.threshold, 4) == 5.7477
    assert outcome.divergence == 5.0
    assert not outcome.diverges


def test_no_outcome_without_csi_scores(world):
    clinician, couple, a, b = world
    assert trends.dyadic_outcome([], partner_ids=(a.pk, b.pk)) is None


def test_timeline_merges_every_kind_newest_first_without_note_bodies(world):
    clinician, couple, a, b = world
    user = clinician.user
    session = held_session(couple, days_ago=3)
    note = couple_services.note_create(user=user, session=session, data="secret words", plan="p")
    e = cycle.episode_record(
        actor=a,
        couple=couple,
        occurred_at=timezone.now() - datetime.timedelta(days=2),
        intensity=7,
        pursuer=a,
        withdrawer=b,
    )
    instrument = shipped_instrument()
    checkin = cycle.checkin_submit(
        partner=b,
        instrument=instrument,
        answers={"cycle_showed_up": True, "connection": 4},
        submitted_at=timezone.now() - datetime.timedelta(days=1),
    )
    flag = cycle.safety_flag_raise(partner=a, source=SafetyFlag.Source.CLINICIAN)
    held_session(couple, days_ago=60)  # outside the window
    now = timezone.now()
    entries = trends.timeline_entries(
        sessions=sessions_visible_to_clinically(user=user).filter(couple=couple),
        notes=notes_visible_to(user=user),
        episodes=episodes_visible_to(user=user).filter(couple=couple),
        checkins=checkins_visible_to(user=user).filter(couple=couple),
        flags=safety_flags_visible_to(user=user).filter(couple=couple),
        since=now - datetime.timedelta(days=28),
        until=now + datetime.timedelta(seconds=1),
    )
    assert [(entry.kind, entry.item_id) for entry in entries] == [
        ("flag", flag.pk),
        ("checkin", checkin.pk),
        ("episode", e.pk),
        ("session", session.pk),
    ]
    session_entry = entries[-1]
    assert (session_entry.note_id, session_entry.note_format, session_entry.note_status) == (
        note.pk,
        "dap",
        "draft",
    )
    assert "secret words" not in repr(entries)
    episode_entry = entries[2]
    assert (episode_entry.status, episode_entry.by_partner_id, episode_entry.number) == (
        "self_report",
        a.pk,
        7,
    )
    assert (episode_entry.partner_id, episode_entry.other_partner_id) == (a.pk, b.pk)
    assert entries[1].partner_id == b.pk and entries[1].status == "cycle-checkin"
