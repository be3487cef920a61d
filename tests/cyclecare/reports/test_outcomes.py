"""cyclecare.reports.outcomes: score pairs per partner, trajectories per clinician and
instrument, couples (both partners improved, one, none), the period, filters, scope and notes."""

import datetime
import math

import pytest
from django.utils import timezone

from cyclecare import services
from cyclecare.reports.outcomes import ScorePair, couple_trajectory, outcomes_report, score_pairs
from tests.factories import shipped_instrument

from .outcomes_world import SECRET_WORDS, build_world, csi4, filters, practice_csi4, today

pytestmark = pytest.mark.django_db

TRAJECTORIES = ("recovered", "improved", "unchanged", "deteriorated")
COUPLES = ("couples", "couples_recovered", "couples_improved", "couples_unchanged", "couples_deteriorated")
DYADS = ("couples_both_improved", "couples_one_improved", "couples_none_improved")


@pytest.fixture
def world():
    """First CSI-4 scores 60 days ago (the practice's intake: 8, 14, 10, 12, 6 and 16 → SD √14,
    threshold 2.540 points at r = .94), latest 5 days ago:
    Casey — C1: Zebulon 8 → 15 (recovered), Quintessa 14 → 16 (unchanged);
            C2: Thaddeus 10 → 13 (improved), Ophelia 12 → 8 (deteriorated).
    Dana  — D1: Rosalind 6 → 10 (improved); Bartholomew one score (16) only.
    Blake (another practice) — 0 → 21."""
    world = build_world()
    world.instrument = practice_csi4(world.practice)
    (_, a1, b1), (_, a2, b2), (_, d1a, d1b) = world.c1, world.c2, world.d1
    for partner, first, latest in ((a1, 8, 15), (b1, 14, 16), (a2, 10, 13), (b2, 12, 8), (d1a, 6, 10)):
        csi4(partner, first, 60, world.instrument)
        csi4(partner, latest, 5, world.instrument)
    csi4(d1b, 16, 60, world.instrument)
    csi4(world.q1[1], 0, 60)
    csi4(world.q1[1], 21, 5)
    return world


def row_of(report, name, code="csi-4"):
    return next(r for r in report["rows"] if r["display_name"] == name and r["instrument_code"] == code)


def pick(row, names):
    return tuple(row[name] for name in names)


def test_score_pairs_first_ever_and_latest_in_the_period(world):
    pairs = sorted(score_pairs(user=world.admin.user, filters=filters()), key=lambda p: p.partner_id)
    a1 = world.c1[1]
    assert len(pairs) == 5
    first = next(p for p in pairs if p.partner_id == a1.pk)
    assert first == ScorePair(
        a1.pk, world.c1[0].pk, world.casey.pk, "csi-4", first.first_total, first.latest_total
    )
    assert (first.first_total, first.latest_total) == (8, 15)
    # The period ends before the latest scores: the latest on or before it is the first one.
    early = filters(days=30)
    early = type(early)(
        date_from=today() - datetime.timedelta(days=70), date_to=today() - datetime.timedelta(days=10)
    )
    assert score_pairs(user=world.admin.user, filters=early) == []
    # The period starts after the latest scores: nobody's latest falls in it.
    late = type(early)(date_from=today() - datetime.timedelta(days=3), date_to=today())
    assert score_pairs(user=world.admin.user, filters=late) == []


def test_figures_per_clinician_and_for_the_practice(world):
    report = outcomes_report(user=world.admin.user, filters=filters(instrument="csi-4"))
    casey, dana = row_of(report, "Casey One"), row_of(report, "Dana Two")
    assert casey["partners"] == 4 and casey["reliable_change"] is True
    assert pick(casey, TRAJECTORIES) == (1, 1, 1, 1)
    # C1: recovered + unchanged → improved, one partner improved; C2: improved + deteriorated
    # → deteriorated (the less favourable partner), one partner improved.
    assert pick(casey, COUPLES) == (2, 0, 1, 0, 1)
    assert pick(casey, DYADS) == (0, 2, 0)
    assert pick(casey, ("mean_first_total", "mean_latest_total", "mean_change")) == (11.0, 13.0, 2.0)
    assert dana["partners"] == 1 and pick(dana, TRAJECTORIES) == (0, 1, 0, 0)
    assert dana["couples"] == 0  # Bartholomew has one score: no dyad to judge
    assert pick(row_of(report, "Avery Admin"), TRAJECTORIES) == (0, 0, 0, 0)
    total = report["total"]
    assert total == report["totals"][0] and total["display_name"] == "Total"
    assert pick(total, TRAJECTORIES) == (1, 2, 1, 1)
    assert pick(total, COUPLES) == (2, 0, 1, 0, 1)
    assert total["mean_change"] == 2.4  # (7 + 2 + 3 − 4 + 4) / 5
    assert report["fresh_at"] is None


def test_the_notes_say_the_figures_come_from_the_practices_intake_baseline(world):
    report = outcomes_report(user=world.casey.user, filters=filters())
    sd = math.sqrt(14)
    threshold = 1.96 * math.sqrt(2) * sd * math.sqrt(1 - 0.94)
    assert report["notes"] == [
        f"CSI-4: reliable change is {threshold:.2f} points, computed from this practice's intake "
        f"baseline (SD {sd:.2f} of 6 partners' first scores), reliability 0.94 from Funk & Rogge (2007)."
    ]


def test_without_a_baseline_nothing_is_judged_and_the_note_says_why():
    world = build_world()
    (_, a1, b1) = world.c1
    csi4(a1, 8, 60)
    csi4(a1, 15, 5)
    report = outcomes_report(user=world.admin.user, filters=filters(instrument="csi-4"))
    total = report["total"]
    assert total["partners"] == 1 and total["reliable_change"] is False
    assert pick(total, TRAJECTORIES) == (None,) * 4
    assert total["mean_change"] == 7.0
    assert "no reliable change yet" in report["notes"][0] and "(1 so far)" in report["notes"][0]


def test_couple_trajectory_is_the_less_favourable_partners():
    assert couple_trajectory(["recovered", "recovered"]) == "recovered"
    assert couple_trajectory(["recovered", "improved"]) == "improved"
    assert couple_trajectory(["improved", "unchanged"]) == "improved"
    assert couple_trajectory(["unchanged", "unchanged"]) == "unchanged"
    assert couple_trajectory(["recovered", "deteriorated"]) == "deteriorated"


# SCOPE AND FILTERS
# ------------------------------------------------------------------------------
def test_a_clinician_sees_their_caseload_a_supervisor_their_supervisees(world):
    mine = outcomes_report(user=world.casey.user, filters=filters())
    assert {r["display_name"] for r in mine["rows"]} == {"Casey One"}
    assert mine["totals"][0]["partners"] == 4
    dana = outcomes_report(user=world.dana.user, filters=filters())
    assert {r["display_name"] for r in dana["rows"]} == {"Dana Two"}
    assert dana["totals"][0]["partners"] == 1
    supervised = outcomes_report(user=world.supervisor.user, filters=filters())
    assert {r["display_name"] for r in supervised["rows"]} == {"Casey One", "Sam Super"}
    assert supervised["totals"][0]["partners"] == 4


def test_nothing_of_another_practice(world):
    ours = outcomes_report(user=world.admin.user, filters=filters())
    assert "Blake Bravo" not in str(ours)
    assert ours["totals"][0]["partners"] == 5
    theirs = outcomes_report(user=world.other_admin.user, filters=filters())
    assert [(t["partners"], t["mean_change"]) for t in theirs["totals"]] == [(1, 21.0)]
    assert not any(name in str(theirs) for name in ("Casey One", "Dana Two"))


def test_filters_narrow_by_clinician_status_and_instrument(world):
    by_dana = outcomes_report(user=world.admin.user, filters=filters(clinician=world.dana.pk))
    assert by_dana["totals"][0]["partners"] == 1
    world.c2[0].status = "paused"
    world.c2[0].save(update_fields=["status"])
    paused = outcomes_report(user=world.admin.user, filters=filters(status="paused"))
    assert paused["totals"][0]["partners"] == 2
    assert outcomes_report(user=world.admin.user, filters=filters(instrument="csi-16"))["totals"] == []
    assert (
        outcomes_report(user=world.admin.user, filters=filters())["total"] is None
    )  # two instruments could show


def test_no_names_answers_or_labels_in_the_report(world):
    text = str(outcomes_report(user=world.admin.user, filters=filters()))
    assert not any(word in text for word in SECRET_WORDS)
    assert "csi1" not in text and "answers" not in text


def test_a_screens_scores_are_never_in_the_outcomes(world):
    """HITS totals are the screen's result, for the treating clinician alone: no pair of them."""
    hits = shipped_instrument("hits")
    partner = world.c1[1]
    for days_ago, answer in ((40, 1), (3, 5)):
        services.checkin_submit(
            partner=partner,
            instrument=hits,
            answers=dict.fromkeys(("hurt", "insult", "threaten", "scream"), answer),
            submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
        )
    report = outcomes_report(user=world.admin.user, filters=filters())
    assert {row["instrument_code"] for row in report["rows"]} == {"csi-4"}
    assert all(
        pair.instrument_code != "hits" for pair in score_pairs(user=world.admin.user, filters=filters())
    )
