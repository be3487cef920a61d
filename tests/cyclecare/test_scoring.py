"""Instrument scoring against the facts in DESIGN.md §3 (pure functions; no database)."""

import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cyclecare import scoring
from cyclecare.scoring import Trajectory
from cyclecare.services import SHIPPED_INSTRUMENTS_DIR


def shipped(code: str) -> dict:
    return json.loads((SHIPPED_INSTRUMENTS_DIR / f"{code}.json").read_text(encoding="utf-8"))["definition"]


def messages(excinfo) -> str:
    return " | ".join(excinfo.value.messages)


def cleaned_and_scored(definition: dict, answers: dict) -> dict:
    return scoring.score(definition, scoring.clean_answers(definition, answers))


# JACOBSON & TRUAX WORKED CHECKS
# ------------------------------------------------------------------------------
def test_standard_error_of_difference_worked_check():
    assert round(scoring.standard_error_of_difference(10.5, 0.961), 5) == 2.93249


def test_reliable_change_threshold_worked_check():
    assert round(scoring.reliable_change_threshold({"sd": 10.5, "reliability": 0.961}), 4) == 5.7477
    assert round(1.96 * scoring.standard_error_of_difference(10.5, 0.961), 4) == 5.7477


def test_reliable_change_index():
    s_diff = scoring.standard_error_of_difference(10.5, 0.961)
    assert scoring.reliable_change_index(40, 50, sd=10.5, reliability=0.961) == pytest.approx(10 / s_diff)


def test_clinical_cutoff_worked_check():
    assert (
        scoring.clinical_cutoff(mean_clinical=40, sd_clinical=7.5, mean_functional=60, sd_functional=7.5)
        == 50
    )


def test_clinical_cutoff_weights_by_the_other_samples_sd():
    # c = (s0*M1 + s1*M0) / (s0 + s1) = (5*40 + 10*60) / 15 = 53.33…
    assert scoring.clinical_cutoff(
        mean_clinical=40, sd_clinical=10, mean_functional=60, sd_functional=5
    ) == pytest.approx(800 / 15)


# SHIPPED INSTRUMENTS
# ------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["csi-4", "csi-16", "hits", "cycle-checkin"])
def test_shipped_definitions_are_valid(code):
    scoring.validate_definition(shipped(code))


def test_csi4_total_runs_0_to_21():
    csi = shipped("csi-4")
    top = cleaned_and_scored(csi, {"csi1": 6, "csi12": 5, "csi19": 5, "csi22": 5})
    bottom = cleaned_and_scored(csi, {"csi1": 0, "csi12": 0, "csi19": 0, "csi22": 0})
    assert top["total"] == Decimal("21")
    assert bottom["total"] == Decimal("0")
    assert top["clinical"] is False and bottom["clinical"] is True


def test_csi4_item1_scored_0_to_6_and_others_0_to_5():
    csi = shipped("csi-4")
    scoring.clean_answers(csi, {"csi1": 6, "csi12": 5, "csi19": 5, "csi22": 5})
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(csi, {"csi1": 6, "csi12": 6, "csi19": 5, "csi22": 5})
    assert set(excinfo.value.error_dict) == {"csi12"}


@pytest.mark.parametrize(("answers", "clinical"), [((4, 3, 3, 3), True), ((5, 3, 3, 3), False)])
def test_csi4_distressed_at_or_below_13_5(answers, clinical):
    csi = shipped("csi-4")
    result = cleaned_and_scored(csi, dict(zip(["csi1", "csi12", "csi19", "csi22"], answers, strict=True)))
    assert result["total"] == sum(answers)
    assert result["clinical"] is clinical


# CSI-16: CSI-32 items 1, 5, 9, 11, 12, 17, 19, 20, 21, 22, 26, 27, 28, 30, 31, 32.
CSI16_CODES = [f"csi{n}" for n in (1, 5, 9, 11, 12, 17, 19, 20, 21, 22, 26, 27, 28, 30, 31, 32)]


def test_csi16_items_are_the_published_csi32_items():
    csi = shipped("csi-16")
    assert [item["code"] for item in csi["items"]] == CSI16_CODES
    assert csi["total"]["items"] == CSI16_CODES
    assert {(i["code"], i["min"], i["max"]) for i in csi["items"] if i["code"] != "csi1"} == {
        (code, 0, 5) for code in CSI16_CODES[1:]
    }
    assert (csi["items"][0]["min"], csi["items"][0]["max"]) == (0, 6)
    # Higher = more satisfied everywhere; no item needs reverse keying because the
    # semantic-differential anchors already put the positive pole at 5.
    assert not any(item.get("reverse") for item in csi["items"])
    assert csi["higher_is_better"] is True
    poles = {item["code"]: item["anchors"]["5"]["en"] for item in csi["items"][10:]}
    assert poles == {
        "csi26": "Interesting",
        "csi27": "Good",
        "csi28": "Full",
        "csi30": "Sturdy",
        "csi31": "Hopeful",
        "csi32": "Enjoyable",
    }
    # Version 2 ships Spanish; it is cyclecare's own translation and the definition says so.
    assert all(set(item["text"]) == {"en", "es"} for item in csi["items"])
    assert "cyclecare's own careful translation, not a published or validated" in csi["source"]


def test_csi16_total_runs_0_to_81():
    csi = shipped("csi-16")
    top = cleaned_and_scored(csi, {"csi1": 6, **dict.fromkeys(CSI16_CODES[1:], 5)})
    bottom = cleaned_and_scored(csi, dict.fromkeys(CSI16_CODES, 0))
    assert top["total"] == Decimal("81") and top["clinical"] is False
    assert bottom["total"] == Decimal("0") and bottom["clinical"] is True
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(csi, {"csi1": 7, **dict.fromkeys(CSI16_CODES[1:], 6)})
    assert set(excinfo.value.error_dict) == set(CSI16_CODES)  # csi1 above 6, the rest above 5


@pytest.mark.parametrize(("total", "distressed"), [(51, True), (52, False)])
def test_csi16_distressed_at_or_below_51_5(total, distressed):
    csi = shipped("csi-16")
    # csi1 = 6, then 5s and a remainder: 6 + 5·9 = 51; one more point gives 52.
    answers = {"csi1": 6, **dict.fromkeys(CSI16_CODES[1:], 0)}
    remaining = total - 6
    for code in CSI16_CODES[1:]:
        answers[code] = min(5, remaining)
        remaining -= answers[code]
    result = cleaned_and_scored(csi, answers)
    assert result["total"] == total
    assert result["clinical"] is distressed
    assert csi["cutoff"] == {"value": 51.5, "clinical_when": "at_or_below", "label": "distressed"}


def test_csi4_items_inside_csi16_carry_the_same_codes():
    csi4 = {item["code"]: item for item in shipped("csi-4")["items"]}
    csi16 = {item["code"]: item for item in shipped("csi-16")["items"]}
    assert set(csi4) == {"csi1", "csi12", "csi19", "csi22"} <= set(csi16)
    for code, item in csi4.items():
        same = ("type", "min", "max", "text", "anchors")
        assert {k: item[k] for k in same} == {k: csi16[code][k] for k in same}, code


def test_hits_total_runs_4_to_20():
    hits = shipped("hits")
    codes = ["hurt", "insult", "threaten", "scream"]
    assert cleaned_and_scored(hits, dict.fromkeys(codes, 1))["total"] == 4
    assert cleaned_and_scored(hits, dict.fromkeys(codes, 5))["total"] == 20
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(hits, {**dict.fromkeys(codes, 1), "hurt": 0})
    assert set(excinfo.value.error_dict) == {"hurt"}


@pytest.mark.parametrize(("answers", "positive"), [((1, 3, 3, 3), False), ((2, 3, 3, 3), True)])
def test_hits_positive_above_10(answers, positive):
    hits = shipped("hits")
    result = cleaned_and_scored(
        hits, dict(zip(["hurt", "insult", "threaten", "scream"], answers, strict=True))
    )
    assert result["total"] == sum(answers)  # 10 then 11
    assert result["clinical"] is positive


# REVERSE KEYING, ITEM TYPES
# ------------------------------------------------------------------------------
CPQ_LIKE = {
    "higher_is_better": True,
    "items": [
        {"code": "cpq1", "type": "likert", "min": 1, "max": 9, "reverse": True},
        {"code": "cpq2", "type": "likert", "min": 1, "max": 9},
        {"code": "cpq3", "type": "likert", "min": 1, "max": 9},
    ],
    "subscales": {"constructive": {"items": ["cpq1", "cpq2"]}, "demand": {"items": ["cpq3"]}},
}


@pytest.mark.parametrize("x", [1, 3, 5, 9])
def test_reverse_keying_on_1_to_9_gives_10_minus_x(x):
    item = CPQ_LIKE["items"][0]
    assert scoring.item_score(item, x) == 10 - x
    assert scoring.item_score(CPQ_LIKE["items"][1], x) == x


def test_subscales_use_reverse_keyed_items():
    scoring.validate_definition(CPQ_LIKE)
    result = cleaned_and_scored(CPQ_LIKE, {"cpq1": 2, "cpq2": 7, "cpq3": 4})
    assert result["subscales"] == {"constructive": 15.0, "demand": 4.0}  # (10 − 2) + 7
    assert result["total"] is None and result["clinical"] is None


def test_subscale_with_an_unanswered_item_is_none():
    definition = {**CPQ_LIKE, "items": [{**i, "required": False} for i in CPQ_LIKE["items"]]}
    result = cleaned_and_scored(definition, {"cpq1": 2, "cpq3": 4})
    assert result["subscales"] == {"constructive": None, "demand": 4.0}


VAS = {"items": [{"code": "v", "type": "vas", "min": 0, "max": 10}], "total": {"items": ["v"]}}


@pytest.mark.parametrize("value", [7.5, "7.5", 0, 10, "10.0"])
def test_vas_accepts_one_decimal(value):
    assert scoring.clean_answers(VAS, {"v": value})["v"] == float(value)


@pytest.mark.parametrize("value", [7.55, "7.25", "0.01"])
def test_vas_refuses_two_decimals(value):
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(VAS, {"v": value})
    assert set(excinfo.value.error_dict) == {"v"}


def test_likert_refuses_a_fraction():
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(CPQ_LIKE, {"cpq1": 2.5, "cpq2": 1, "cpq3": 1})
    assert set(excinfo.value.error_dict) == {"cpq1"}


# ANSWER ERRORS, KEYED BY ITEM CODE
# ------------------------------------------------------------------------------
def test_out_of_range_answer_keyed_by_item():
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(CPQ_LIKE, {"cpq1": 10, "cpq2": 0, "cpq3": 5})
    assert set(excinfo.value.error_dict) == {"cpq1", "cpq2"}


def test_missing_required_answer_keyed_by_item():
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(CPQ_LIKE, {"cpq1": 1, "cpq3": ""})
    assert set(excinfo.value.error_dict) == {"cpq2", "cpq3"}


def test_unknown_item_keyed_by_its_code():
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(CPQ_LIKE, {"cpq1": 1, "cpq2": 1, "cpq3": 1, "cpq99": 4})
    assert set(excinfo.value.error_dict) == {"cpq99"}


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", [3], True])
def test_non_number_keyed_by_item(value):
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(CPQ_LIKE, {"cpq1": value, "cpq2": 1, "cpq3": 1})
    assert set(excinfo.value.error_dict) == {"cpq1"}


def test_answers_must_be_an_object():
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(CPQ_LIKE, [1, 2, 3])
    assert set(excinfo.value.error_dict) == {"answers"}


def test_yes_no_and_choice_answers():
    checkin = shipped("cycle-checkin")
    cleaned = scoring.clean_answers(
        checkin, {"cycle_showed_up": "yes", "connection": 4, "my_move": "away", "felt_unsafe": "no"}
    )
    assert cleaned == {"cycle_showed_up": True, "connection": 4, "my_move": "away", "felt_unsafe": False}
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(checkin, {"cycle_showed_up": "maybe", "connection": 4, "my_move": "sideways"})
    assert set(excinfo.value.error_dict) == {"cycle_showed_up", "my_move"}


def test_only_safety_items_answered_yes_are_positive():
    checkin = shipped("cycle-checkin")
    yes = scoring.clean_answers(checkin, {"cycle_showed_up": True, "connection": 4, "felt_unsafe": True})
    no = scoring.clean_answers(checkin, {"cycle_showed_up": True, "connection": 4, "felt_unsafe": False})
    assert scoring.safety_items_positive(checkin, yes) == ["felt_unsafe"]
    assert scoring.safety_items_positive(checkin, no) == []


# DEFINITION VALIDATION NAMES THE BAD PLACE
# ------------------------------------------------------------------------------
def _invalid(definition: dict) -> str:
    with pytest.raises(ValidationError) as excinfo:
        scoring.validate_definition(definition)
    return messages(excinfo)


def test_reversed_range_named():
    definition = {
        "items": [
            {"code": "a", "type": "likert", "min": 0, "max": 5},
            {"code": "b", "type": "likert", "min": 5, "max": 1},
        ]
    }
    assert "items[1].max" in _invalid(definition)


def test_unknown_item_type_named():
    assert "items[0].type" in _invalid({"items": [{"code": "a", "type": "stars"}]})


def test_duplicate_codes_named():
    definition = {
        "items": [
            {"code": "a", "type": "yes_no"},
            {"code": "b", "type": "yes_no"},
            {"code": "a", "type": "yes_no"},
        ]
    }
    text = _invalid(definition)
    assert "items[2].code" in text and "'a'" in text


def test_safety_item_must_be_yes_no():
    text = _invalid({"items": [{"code": "s", "type": "likert", "min": 0, "max": 4, "safety": True}]})
    assert "items[0].safety" in text


def test_safety_item_must_be_private():
    text = _invalid({"items": [{"code": "s", "type": "yes_no", "safety": True, "privacy": "shareable"}]})
    assert "items[0].privacy" in text


def test_cutoff_without_total_named():
    definition = {
        "items": [{"code": "a", "type": "likert", "min": 0, "max": 5}],
        "cutoff": {"value": 3, "clinical_when": "below"},
    }
    assert "cutoff" in _invalid(definition)


def test_total_naming_a_non_numeric_item_named():
    definition = {"items": [{"code": "a", "type": "yes_no"}], "total": {"items": ["a"]}}
    assert "total.items" in _invalid(definition)


def test_reliable_change_needs_threshold_or_sd_and_reliability():
    base = {"items": [{"code": "a", "type": "likert", "min": 0, "max": 5}], "total": {"items": ["a"]}}
    assert "reliable_change" in _invalid({**base, "reliable_change": {"sd": 10, "reliability": 1.2}})
    assert "reliable_change.threshold" in _invalid({**base, "reliable_change": {"threshold": 0}})


@pytest.mark.parametrize(
    ("extra", "place"),
    [
        ({"reliable_change": 5}, "reliable_change"),
        ({"subscales": ["a"]}, "subscales"),
        ({"total": ["a"]}, "total.items"),
    ],
)
def test_malformed_sections_are_validation_errors_not_crashes(extra, place):
    base = {"items": [{"code": "a", "type": "likert", "min": 0, "max": 5}], "total": {"items": ["a"]}}
    assert place in _invalid({**base, **extra})


def test_subscale_errors_name_the_subscale_path():
    base = {"items": [{"code": "a", "type": "likert", "min": 0, "max": 5}, {"code": "y", "type": "yes_no"}]}
    text = _invalid({**base, "subscales": {"demand": {"items": ["a", "y"]}, "withdraw": {"items": []}}})
    assert "subscales.demand.items: 'y' is not a numeric item" in text
    assert "subscales.withdraw.items: list the items it sums" in text


def test_subscale_called_total_is_still_checked():
    base = {"items": [{"code": "a", "type": "likert", "min": 0, "max": 5}], "total": {"items": ["a"]}}
    assert "subscales.total.items: 'zz'" in _invalid({**base, "subscales": {"total": {"items": ["zz"]}}})


@pytest.mark.parametrize(
    "definition",
    [
        {"items": [{"code": ["x"], "type": "likert", "min": 0, "max": 5}]},
        {"items": [{"code": "a", "type": "likert", "min": 0, "max": 5}], "total": {"items": [{"a": 1}]}},
        {"items": [{"code": "a", "type": "likert", "min": 0, "max": 5}], "total": {"items": [["a"]]}},
    ],
)
def test_unhashable_codes_are_validation_errors_not_crashes(definition):
    assert _invalid(definition)


@pytest.mark.parametrize("flag", ["required", "reverse", "safety"])
def test_item_flags_must_be_booleans(flag):
    # JSON "false" (a string) is truthy: it would silently switch the flag on.
    item = {"code": "a", "type": "likert", "min": 0, "max": 5, flag: "false"}
    assert f"items[0].{flag}: must be true or false." in _invalid({"items": [item]})


def test_reliable_change_numbers_are_not_booleans():
    base = {"items": [{"code": "a", "type": "likert", "min": 0, "max": 5}], "total": {"items": ["a"]}}
    assert "reliable_change.threshold" in _invalid({**base, "reliable_change": {"threshold": True}})
    assert "reliable_change" in _invalid({**base, "reliable_change": {"sd": True, "reliability": 0.9}})


def test_choice_option_objects_need_a_value():
    definition = {"items": [{"code": "c", "type": "choice", "options": [{"label": "x"}, {"label": "y"}]}]}
    assert "items[0].options" in _invalid(definition)
    scoring.validate_definition(
        {"items": [{"code": "c", "type": "choice", "options": ["x", {"value": "y"}]}]}
    )


def test_empty_definition_refused():
    assert "items" in _invalid({"items": []})


LIKERT_1_TO_5 = {"code": "a", "type": "likert", "min": 1, "max": 5}


def test_unknown_keys_are_refused_at_every_level():
    """HITS v1 kept its labels under 'anchors_all', which nothing read: a key the schema does
    not know is an error now, wherever it sits."""
    top = _invalid({"items": [LIKERT_1_TO_5], "anchors_all": {"1": {"en": "Never"}}})
    assert "anchors_all: 'anchors_all' is not a known key here" in top
    item = _invalid({"items": [{**LIKERT_1_TO_5, "anchor": {"1": {"en": "Never"}}}]})
    assert "items[0].anchor: 'anchor' is not a known key here" in item
    option = _invalid(
        {"items": [{"code": "c", "type": "choice", "options": [{"value": "x", "lable": "X"}, "y"]}]}
    )
    assert "items[0].options[0].lable: 'lable' is not a known key here" in option


def test_anchors_label_whole_values_inside_the_range():
    text = _invalid({"items": [{**LIKERT_1_TO_5, "anchors": {"0": {"en": "Never"}, "2.5": {"en": "x"}}}]})
    assert "items[0].anchors: '0' is not a whole number from 1 to 5." in text
    assert "items[0].anchors: '2.5' is not a whole number from 1 to 5." in text
    assert "items[0].anchors.1" in _invalid({"items": [{**LIKERT_1_TO_5, "anchors": {"1": {"en": ""}}}]})
    assert "items[0].anchors: only a likert" in _invalid(
        {"items": [{"code": "c", "type": "choice", "options": ["x", "y"], "anchors": {"1": "x"}}]}
    )
    scoring.validate_definition(
        {"items": [{**LIKERT_1_TO_5, "anchors": {"1": "Never", "5": {"es": "Frecuentemente"}}}]}
    )


@pytest.mark.parametrize("key", ["text", "preamble"])
def test_item_wording_is_text_or_text_per_language(key):
    assert f"items[0].{key}" in _invalid({"items": [{**LIKERT_1_TO_5, key: {"en": 5}}]})
    assert f"items[0].{key}" in _invalid({"items": [{**LIKERT_1_TO_5, key: ["How often?"]}]})
    assert "source: must be text." in _invalid({"items": [LIKERT_1_TO_5], "source": {"en": "x"}})


# TRAJECTORY (recovered / improved / unchanged / deteriorated)
# ------------------------------------------------------------------------------
# Threshold 1.96 · S_diff = 5.7477 with the worked-check sd and reliability; cutoff 50.
HIGHER_IS_BETTER = {
    "higher_is_better": True,
    "items": [{"code": "a", "type": "slider", "min": 0, "max": 100}],
    "total": {"items": ["a"]},
    "cutoff": {"value": 50, "clinical_when": "at_or_below", "label": "distressed"},
    "reliable_change": {"sd": 10.5, "reliability": 0.961},
}
LOWER_IS_BETTER = {
    **HIGHER_IS_BETTER,
    "higher_is_better": False,
    "cutoff": {"value": 50, "clinical_when": "above", "label": "distressed"},
}


def test_trajectory_definitions_are_valid():
    scoring.validate_definition(HIGHER_IS_BETTER)
    scoring.validate_definition(LOWER_IS_BETTER)


@pytest.mark.parametrize(
    ("pre", "post", "expected"),
    [
        (40, 55, Trajectory.RECOVERED),  # +15, crossed the cutoff
        (40, 46, Trajectory.IMPROVED),  # +6 > 5.7477, still ≤ 50
        (40, 45.7, Trajectory.UNCHANGED),  # +5.7 < 5.7477
        (46, 40, Trajectory.DETERIORATED),  # −6
        (55, 62, Trajectory.IMPROVED),  # reliable, but it started in the functional range
        (45, 50, Trajectory.UNCHANGED),
    ],
)
def test_trajectory_higher_is_better(pre, post, expected):
    assert scoring.trajectory(HIGHER_IS_BETTER, pre, post) == expected


@pytest.mark.parametrize(
    ("pre", "post", "expected"),
    [
        (60, 45, Trajectory.RECOVERED),  # −15, fell out of the clinical range (> 50)
        (60, 54, Trajectory.IMPROVED),  # −6, still > 50
        (60, 57, Trajectory.UNCHANGED),
        (60, 66, Trajectory.DETERIORATED),  # +6 is worse when lower is better
        (45, 60, Trajectory.DETERIORATED),
    ],
)
def test_trajectory_lower_is_better(pre, post, expected):
    assert scoring.trajectory(LOWER_IS_BETTER, pre, post) == expected


def test_computed_threshold_needs_more_than_1_96_s_diff():
    threshold = scoring.reliable_change_threshold(HIGHER_IS_BETTER["reliable_change"])
    assert scoring.trajectory(HIGHER_IS_BETTER, 40, 40 + threshold - 0.001) == Trajectory.UNCHANGED
    assert scoring.trajectory(HIGHER_IS_BETTER, 40, 40 + threshold + 0.001) == Trajectory.IMPROVED


def test_trajectory_accepts_stored_decimal_totals():
    assert scoring.trajectory(HIGHER_IS_BETTER, Decimal("40.00"), 55.0) == Trajectory.RECOVERED


# ORS-style: four 0–10 one-decimal items, total 0–40, clinical below 25, reliable change 5 points.
ORS_LIKE = {
    "higher_is_better": True,
    "items": [{"code": f"ors{i}", "type": "vas", "min": 0, "max": 10} for i in range(1, 5)],
    "total": {"items": ["ors1", "ors2", "ors3", "ors4"]},
    "cutoff": {"value": 25, "clinical_when": "below", "label": "clinical range"},
    "reliable_change": {"threshold": 5},
}


def test_ors_like_definition_valid_and_totals_to_40():
    scoring.validate_definition(ORS_LIKE)
    result = cleaned_and_scored(ORS_LIKE, {"ors1": 10, "ors2": 10, "ors3": 10, "ors4": 10})
    assert result["total"] == 40 and result["clinical"] is False
    result = cleaned_and_scored(ORS_LIKE, {"ors1": 6.2, "ors2": 6.2, "ors3": 6.2, "ors4": 6.3})
    assert result["total"] == Decimal("24.90") and result["clinical"] is True


@pytest.mark.parametrize(
    ("pre", "post", "expected"),
    [
        (20, 25, Trajectory.RECOVERED),  # exactly 5 is reliable; 25 is not below 25
        (7.7, 12.7, Trajectory.IMPROVED),  # exactly 5 with one-decimal totals (float: 4.999…)
        (20, 24.9, Trajectory.UNCHANGED),
        (30, 25, Trajectory.DETERIORATED),
        (30.1, 25.2, Trajectory.UNCHANGED),
    ],
)
def test_ors_published_threshold_of_5_points(pre, post, expected):
    assert scoring.trajectory(ORS_LIKE, pre, post) == expected
