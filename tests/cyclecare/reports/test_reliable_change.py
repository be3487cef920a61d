"""Reliable change for CSI-4 and CSI-16 (Jacobson & Truax): the shipped parameters and their
source, the practice's intake baseline, the thresholds against a hand calculation, and the
couple page's band, note and divergence alert."""

import json
import math
import statistics

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from cyclecare import scoring, trends
from cyclecare.instrument_files import summarise
from cyclecare.reliable_change import baseline_annotations, baselines_from_row, intake_baseline
from cyclecare.selectors import checkins_visible_to
from cyclecare.services import SHIPPED_INSTRUMENTS_DIR
from tests.factories import shipped_instrument

from .outcomes_world import build_world, csi4, practice_csi4

pytestmark = pytest.mark.django_db


def shipped(code: str) -> dict:
    return json.loads((SHIPPED_INSTRUMENTS_DIR / f"{code}.json").read_text(encoding="utf-8"))


# THE SHIPPED PARAMETERS AND THEIR SOURCE
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "alpha"), [("csi-4", 0.94), ("csi-16", 0.98)])
def test_csi_version_3_carries_the_published_reliability_with_its_source(code, alpha):
    spec = shipped(code)
    assert spec["version"] == 3
    rule = spec["definition"]["reliable_change"]
    assert rule["sd"] == scoring.PRACTICE_INTAKE
    assert rule["reliability"] == alpha
    assert rule["min_partners"] == 20
    assert rule["citation"] == "Funk & Rogge (2007)"
    source = rule["source"]
    assert f"coefficient alpha {str(alpha)[1:]}" in source
    assert "5,315 online participants" in source
    assert "https://doi.org/10.1037/0893-3200.21.4.572" in source
    assert "cyclecare ships no published SD" in source and "intake baseline" in source
    scoring.validate_definition(spec["definition"])
    # The items and scoring did not change: version 3 adds reliable change only.
    assert "Version 3: reliable change" in spec["definition"]["notes"]


def test_installing_version_3_keeps_the_version_each_checkin_was_made_with():
    world = build_world()
    _, a, _ = world.c1
    old = shipped_instrument("csi-4")
    assert old.version == 3 and old.definition["reliable_change"]["reliability"] == 0.94
    checkin = csi4(a, 10, days_ago=3)
    assert checkin.instrument.version == 3


# THE THRESHOLDS AGAINST A HAND CALCULATION
# ------------------------------------------------------------------------------
def test_threshold_from_the_intake_sd_matches_a_hand_calculation():
    rule = shipped("csi-4")["definition"]["reliable_change"]
    # s = 3.741657 (the SD of 8, 14, 10, 12, 6, 16), r = .94:
    # SE = 3.741657 × √0.06 = 0.916515; S_diff = √2 × SE = 1.296148; 1.96 × S_diff = 2.540450.
    assert scoring.reliable_change_threshold(rule, baseline_sd=3.741657) == pytest.approx(2.540450, abs=1e-5)
    csi16 = shipped("csi-16")["definition"]["reliable_change"]
    # s = 10, r = .98: S_diff = √2 × 10 × √0.02 = 2.0 exactly; threshold 3.92.
    assert scoring.reliable_change_threshold(csi16, baseline_sd=10) == pytest.approx(3.92, abs=1e-9)
    # The design document's worked check still holds for a published SD.
    assert round(scoring.reliable_change_threshold({"sd": 10.5, "reliability": 0.961}), 4) == 5.7477


def test_no_reliable_change_until_the_practice_has_a_baseline():
    definition = shipped("csi-4")["definition"]
    rule = definition["reliable_change"]
    assert scoring.reliable_change_threshold(rule) is None
    assert scoring.trajectory(definition, 5, 20) is None
    few = scoring.Baseline(partners=19, sd=4.0)
    assert scoring.baseline_sd_for(rule, few) is None
    assert scoring.baseline_sd_for(rule, scoring.Baseline(partners=20, sd=4.0)) == 4.0
    note = scoring.change_basis_note("csi-4", rule, few)
    assert "no reliable change yet" in note and "once 20 partners" in note and "(19 so far)" in note


def test_the_note_says_where_the_figures_come_from():
    rule = shipped("csi-4")["definition"]["reliable_change"]
    note = scoring.change_basis_note("csi-4", rule, scoring.Baseline(partners=25, sd=3.741657))
    assert note == (
        "CSI-4: reliable change is 2.54 points, computed from this practice's intake baseline "
        "(SD 3.74 of 25 partners' first scores), reliability 0.94 from Funk & Rogge (2007)."
    )
    published = {"sd": 10.5, "reliability": 0.961, "citation": "A published sample"}
    assert scoring.change_basis_note("x", published, None) == (
        "X: reliable change is 5.75 points, from published figures (A published sample)."
    )


def test_the_instrument_summary_says_where_s_comes_from():
    lines = summarise(shipped("csi-16")["definition"])
    assert (
        "reliable change: SD of the practice's intake scores (at least 20 partners), reliability 0.98"
        in lines
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"sd": "practice_intake", "reliability": 0.94}, "min_partners"),
        ({"sd": "practice_intake", "reliability": 0.94, "min_partners": 1}, "min_partners"),
        ({"sd": "practice_intake", "reliability": 1.2, "min_partners": 20}, "reliability"),
        ({"sd": "published", "reliability": 0.94}, "sd > 0"),
        ({"sd": 5, "reliability": 0.9, "min_partners": 20}, "only with sd"),
        ({"sd": 5, "reliability": 0.9, "alpha": 0.9}, "'alpha' is not a known key"),
        ({"threshold": 5, "source": 7}, "source: must be text"),
    ],
)
def test_a_bad_reliable_change_rule_is_refused_naming_the_place(rule, message):
    definition = {**shipped("csi-4")["definition"], "reliable_change": rule}
    with pytest.raises(ValidationError) as raised:
        scoring.validate_definition(definition)
    assert any(message in text for text in raised.value.messages), raised.value.messages


# THE PRACTICE'S INTAKE BASELINE
# ------------------------------------------------------------------------------
def test_intake_baseline_is_the_sd_of_each_partners_first_score_in_the_practice():
    world = build_world()
    (_, a1, b1), (_, a2, b2), (_, d1a, d1b) = world.c1, world.c2, world.d1
    for partner, first, later in ((a1, 8, 15), (b1, 14, 16), (a2, 10, 13), (b2, 12, 8), (d1a, 6, 10)):
        csi4(partner, first, days_ago=60)
        csi4(partner, later, days_ago=5)
    csi4(d1b, 16, days_ago=40)
    csi4(world.q1[1], 0, days_ago=60)  # another practice: not in the baseline
    baseline = intake_baseline(practice_id=world.practice.pk, code="csi-4")
    assert baseline.partners == 6
    # 8, 14, 10, 12, 6, 16: mean 11, squared deviations 70, sample variance 70 / 5 = 14.
    assert baseline.sd == pytest.approx(math.sqrt(14))
    assert baseline.sd == pytest.approx(statistics.stdev([8, 14, 10, 12, 6, 16]))
    assert intake_baseline(practice_id=world.practice.pk, code="csi-16") == scoring.Baseline(0, None)
    # The same figures ride on the couple page's outcome query as scalar subqueries.
    codes = ("csi-4", "csi-16")
    rows = trends.outcome_scores(
        checkins_visible_to(user=world.casey.user),
        extra=baseline_annotations(practice_id=world.practice.pk, codes=codes),
    )
    carried = baselines_from_row(rows[0], codes)
    assert carried["csi-4"].partners == 6 and carried["csi-4"].sd == pytest.approx(math.sqrt(14))
    assert carried["csi-16"] == scoring.Baseline(0, None)


# THE COUPLE PAGE: BAND, NOTE AND DIVERGENCE
# ------------------------------------------------------------------------------
def outcome_for(world, couple, *, baselines=True):
    user = couple[0].primary_clinician.user
    rows = trends.outcome_scores(checkins_visible_to(user=user).filter(couple=couple[0]))
    found = {"csi-4": intake_baseline(practice_id=world.practice.pk, code="csi-4")} if baselines else None
    return trends.dyadic_outcome(rows, partner_ids=(couple[1].pk, couple[2].pk), baselines=found)


def test_divergence_when_one_partner_reliably_improves_and_the_other_worsens():
    world = build_world()
    instrument = practice_csi4(world.practice)
    c2 = world.c2
    csi4(c2[1], 10, 60, instrument)
    csi4(c2[1], 13, 5, instrument)  # +3 > 2.54: improved
    csi4(c2[2], 12, 60, instrument)
    csi4(c2[2], 8, 5, instrument)  # −4: deteriorated
    outcome = outcome_for(world, c2)
    assert outcome.threshold == pytest.approx(
        1.96 * math.sqrt(2) * 1 * math.sqrt(0.06) * statistics.stdev([10, 12])
    )
    assert outcome.trajectories == {c2[1].pk: "improved", c2[2].pk: "deteriorated"}
    assert outcome.opposite_change and outcome.diverges
    # The gap went from 2 to 5: it grew by 3, which is more than the threshold too.
    assert outcome.gap_growth == 3.0
    assert "intake baseline" in outcome.change_note
    assert outcome_for(world, c2, baselines=False).threshold is None
    assert not outcome_for(world, c2, baselines=False).diverges


def test_a_gap_the_couple_came_in_with_is_no_alert_but_a_gap_that_opens_is():
    world = build_world()
    instrument = practice_csi4(world.practice)
    c1, d1 = world.c1, world.d1
    # C1 came in 10 apart and stays 10 apart, both unchanged: no alert.
    for partner, first, latest in ((c1[1], 5, 6), (c1[2], 15, 16)):
        csi4(partner, first, 60, instrument)
        csi4(partner, latest, 5, instrument)
    # D1 came in level; one partner improves a lot, the other stays: the gap opens.
    for partner, first, latest in ((d1[1], 10, 18), (d1[2], 10, 10)):
        csi4(partner, first, 60, instrument)
        csi4(partner, latest, 5, instrument)
    baseline = intake_baseline(practice_id=world.practice.pk, code="csi-4")
    threshold = scoring.reliable_change_threshold(
        instrument.definition["reliable_change"], baseline_sd=baseline.sd
    )
    apart = outcome_for(world, c1)
    assert apart.threshold == pytest.approx(threshold)
    assert apart.divergence == 10.0 and apart.divergence > apart.threshold
    assert apart.gap_growth == 0.0
    assert not apart.diverges
    opened = outcome_for(world, d1)
    assert opened.gap_growth == 8.0 > opened.threshold
    assert not opened.opposite_change
    assert opened.diverges


def test_the_couple_page_draws_the_band_labels_the_baseline_and_alerts(client):
    world = build_world()
    instrument = practice_csi4(world.practice)
    c2 = world.c2
    csi4(c2[1], 10, 60, instrument)
    csi4(c2[1], 13, 5, instrument)
    csi4(c2[2], 12, 60, instrument)
    csi4(c2[2], 8, 5, instrument)
    client.force_login(world.casey.user)
    body = client.get(reverse("cyclecare:clinician:couple", args=[c2[0].pk])).content.decode()
    assert body.count('class="band band-') == 2
    assert "computed from this practice&#x27;s intake baseline" in body
    assert "Partners diverge." in body
    assert "Thaddeus changed reliably for the better while Ophelia reliably worsened." in body
