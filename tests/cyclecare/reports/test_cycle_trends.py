"""cyclecare.reports.cycle_trends: episodes per couple-week, intensity, repair, minutes to
repair — per clinician, by week and by EFT stage — the active caseload's stages and the median
weeks from intake to the end of de-escalation, on a hand-built world."""

import datetime

import pytest

from couples import services as couple_services
from couples.models import Couple
from cyclecare.reports.cycle_trends import cycle_trends_report
from cyclecare.trends import week_start
from tests.factories import CycleEpisodeFactory, TherapySessionFactory

from .outcomes_world import SECRET_WORDS, ZONE, build_world, filters, today

pytestmark = pytest.mark.django_db


def noon(days_ago: int) -> datetime.datetime:
    return datetime.datetime.combine(
        today() - datetime.timedelta(days=days_ago), datetime.time(12), tzinfo=ZONE
    )


def episode(couple, days_ago: int, intensity: int, *, attempted=False, worked=None, minutes=None):
    return CycleEpisodeFactory(
        couple=couple,
        occurred_at=noon(days_ago),
        intensity=intensity,
        repair_attempted=attempted,
        repair_worked=worked,
        duration_minutes=minutes,
    )


def staged_note(couple, days_ago: int, stage: int, *, sign: bool = True):
    session = TherapySessionFactory(couple=couple, starts_at=noon(days_ago), status="held")
    user = couple.primary_clinician.user
    note = couple_services.note_create(
        user=user,
        session=session,
        data="Observed the cycle.",
        assessment="Working the cycle.",
        plan="Continue.",
        eft_stage=stage,
        eft_step={1: 2, 2: 5, 3: 8}[stage],
    )
    return couple_services.note_sign(user=user, note=note) if sign else note


def dates(couple, **fields):
    Couple.objects.filter(pk=couple.pk).update(**fields)


@pytest.fixture
def world():
    """Period: the last 28 days (day −27 … today).
    Casey — C1 (intake day −100, step 5 now): in care all 28 days; episodes at −20 (4), −15 (6,
    repair tried, failed), −5 (8, repaired in 20 min); signed notes: stage 1 at −50, stage 2 at
    −10 (de-escalation ends 90 days after intake: 12.9 weeks). C2 (intake −13, step 3): 14 days;
    episodes at −12, −8, −3 (2 each; the last repaired in 10 min); no notes.
    Dana — D1 (discharged at −6): 22 days; an episode at −7 (9) and one at −40; a signed stage-1
    note at −20 and a draft stage-2 note at −8 (drafts do not count). D2 (paused): 28 days.
    Blake (practice Q): an episode at −2."""
    world = build_world()
    c1, c2, d1, d2 = world.c1[0], world.c2[0], world.d1[0], world.d2
    long_ago = today() - datetime.timedelta(days=100)
    dates(c1, started_on=long_ago, eft_step=5)
    dates(c2, started_on=today() - datetime.timedelta(days=13), eft_step=3)
    dates(d1, started_on=long_ago, status="discharged", discharged_on=today() - datetime.timedelta(days=6))
    dates(d2, started_on=long_ago)
    episode(c1, 20, 4)
    episode(c1, 15, 6, attempted=True, worked=False)
    episode(c1, 5, 8, attempted=True, worked=True, minutes=20)
    for days_ago in (12, 8):
        episode(c2, days_ago, 2)
    episode(c2, 3, 2, attempted=True, worked=True, minutes=10)
    episode(d1, 7, 9)
    episode(d1, 40, 1)
    episode(world.q1[0], 2, 10)
    for couple in (c1, d1):
        couple.refresh_from_db()
    staged_note(c1, 50, 1)
    staged_note(c1, 10, 2)
    staged_note(d1, 20, 1)
    staged_note(d1, 8, 2, sign=False)
    return world


def by_name(report):
    return {row["display_name"]: row for row in report["rows"]}


def test_per_clinician_figures(world):
    report = cycle_trends_report(user=world.admin.user, filters=filters(days=28))
    casey, dana = by_name(report)["Casey One"], by_name(report)["Dana Two"]
    assert casey["episodes"] == 6
    assert casey["couple_weeks"] == 6.0  # (28 + 14) days ÷ 7
    assert casey["episodes_per_couple_week"] == 1.0
    assert casey["mean_intensity"] == 4.0  # (4 + 6 + 8 + 2 + 2 + 2) ÷ 6
    assert casey["repair_success_pct"] == 66.7  # 2 worked of 3 attempted
    assert casey["minutes_to_repair"] == 15.0  # (20 + 10) ÷ 2
    assert (casey["active_stage_1"], casey["active_stage_2"], casey["active_stage_unknown"]) == (1, 1, 0)
    assert casey["reached_stage_2"] == 1 and casey["median_weeks_to_stage_2"] == 12.9
    assert dana["episodes"] == 1
    assert dana["couple_weeks"] == 7.1  # (22 + 28) days ÷ 7
    assert dana["episodes_per_couple_week"] == 0.14
    assert (dana["mean_intensity"], dana["repair_success_pct"], dana["minutes_to_repair"]) == (
        9.0,
        None,
        None,
    )
    assert dana["reached_stage_2"] == 0 and dana["median_weeks_to_stage_2"] is None
    total = report["total"]
    assert (total["episodes"], total["couple_weeks"]) == (7, 13.1)
    assert total["mean_intensity"] == 4.71  # 33 ÷ 7
    assert total["repair_success_pct"] == 66.7 and total["minutes_to_repair"] == 15.0
    assert total["median_weeks_to_stage_2"] == 12.9
    assert report["fresh_at"] is None and len(report["notes"]) == 3


def test_by_eft_stage(world):
    stages = {
        row["stage"]: row
        for row in cycle_trends_report(user=world.admin.user, filters=filters(days=28))["stages"]
    }
    assert list(stages) == [1, 2, 3, None]
    # Stage 1: C1's episodes at −20 and −15, D1's at −7; C1 spent −27…−11 (17 days) and D1
    # −20…−6 (15 days) in stage 1: 32 days.
    assert (stages[1]["episodes"], stages[1]["couple_weeks"], stages[1]["episodes_per_couple_week"]) == (
        3,
        4.6,
        0.66,
    )
    assert stages[1]["mean_intensity"] == 6.33
    # Stage 2: C1's episode at −5, over −10…0 (11 days).
    assert (stages[2]["episodes"], stages[2]["couple_weeks"], stages[2]["episodes_per_couple_week"]) == (
        1,
        1.6,
        0.64,
    )
    assert stages[3]["episodes"] == 0 and stages[3]["episodes_per_couple_week"] is None
    # Not recorded: C2 throughout (14 days, 3 episodes), D1 before −20 (7 days), D2 (28 days).
    assert (stages[None]["episodes"], stages[None]["couple_weeks"]) == (3, 7.0)
    assert stages[None]["label"] == "Not recorded"


def test_weeks_series(world):
    chosen = filters(days=28)
    weeks = cycle_trends_report(user=world.admin.user, filters=chosen)["weeks"]
    assert weeks[0]["week"] == week_start(chosen.date_from)
    assert all(row["week"].weekday() == 0 for row in weeks)
    assert sum(row["episodes"] for row in weeks) == 7
    assert sum(row["couple_weeks"] for row in weeks) == pytest.approx(92 / 7, abs=0.3)
    newest = weeks[-1]
    # This week: from Monday to today, C1 and D2 in care every day, C2 too; D1 not (discharged).
    days = (today() - week_start(today())).days + 1
    assert newest["couple_weeks"] == round(3 * days / 7, 1)


def test_scope_and_filters(world):
    mine = cycle_trends_report(user=world.casey.user, filters=filters(days=28))
    assert list(by_name(mine)) == ["Casey One"] and mine["total"]["episodes"] == 6
    assert [row["episodes"] for row in mine["stages"]] == [2, 1, 0, 3]
    supervised = cycle_trends_report(user=world.supervisor.user, filters=filters(days=28))
    assert set(by_name(supervised)) == {"Casey One", "Sam Super"}
    theirs = cycle_trends_report(user=world.other_admin.user, filters=filters(days=28))
    assert theirs["total"]["episodes"] == 1 and "Casey One" not in str(theirs)
    only_dana = cycle_trends_report(user=world.admin.user, filters=filters(days=28, clinician=world.dana.pk))
    assert list(by_name(only_dana)) == ["Dana Two"] and only_dana["total"]["episodes"] == 1
    discharged = cycle_trends_report(user=world.admin.user, filters=filters(days=28, status="discharged"))
    assert discharged["total"]["episodes"] == 1 and discharged["total"]["couple_weeks"] == round(22 / 7, 1)


def test_no_names_labels_or_note_text(world):
    text = str(cycle_trends_report(user=world.admin.user, filters=filters(days=28)))
    assert not any(word in text for word in SECRET_WORDS)
    assert "Observed the cycle" not in text and "Working the cycle" not in text
