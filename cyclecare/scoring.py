"""Instrument definitions as data: validation, answer checking and scoring.

A definition is a dict (loaded from JSON/YAML or the admin):

    {"items": [{"code": "q1", "type": "likert", "min": 0, "max": 5, "required": true,
                "reverse": false, "privacy": "private", "safety": false,
                "text": {"en": "...", "es": "..."}, "anchors": {"0": {"en": "..."}},
                "preamble": {"en": "..."}}],    # optional: instructions shown before the item
     "total": {"items": ["q1", ...]},            # optional; sum of (reverse-keyed) items
     "subscales": {"name": {"items": [...]}},    # optional
     "higher_is_better": true,
     "cutoff": {"value": 13.5, "clinical_when": "at_or_below", "label": "distressed"},
     "reliable_change": {"sd": 10.5, "reliability": 0.961} or {"threshold": 5}
                        or {"sd": "practice_intake", "reliability": 0.94, "min_partners": 20},
                        each with an optional "source" (where the figures come from),
     "safety_flag_when_clinical": false,         # a screen (HITS): a clinical total raises a flag
     "individual_only": false,                   # assigned to one partner at a time (HITS)
     "source": "...", "notes": "..."}            # text for people: where the wording comes from

Every key is one of these: an unknown key is refused, so a misspelt or invented one (say
``anchors_all``) cannot sit in a definition that nothing reads. Labels (``text``, ``preamble``,
``anchors``, an option's ``label``) are text or an object of language → text; a likert item's
``anchors`` label its values, each with its own key ("0" … "6").

Jacobson & Truax (1991): SE = s·√(1 − r); S_diff = √2·SE; RC = (post − pre) / S_diff, reliable
when |RC| > 1.96. Cutoff c = (s₀·M₁ + s₁·M₀) / (s₀ + s₁).

Where no published SD exists, ``"sd": "practice_intake"`` takes s from the practice's own intake
baseline (the SD of each partner's first total on the instrument, in that practice) once at least
``min_partners`` partners have one, with the published reliability; until then there is no
reliable change (``concrete_change`` gives None), and every chart says where s came from.
"""

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

ITEM_TYPES = ("likert", "slider", "vas", "yes_no", "choice", "text")
# "clinician": only the treating clinician sees the answer, not even its author (cyclecare.disclosure).
PRIVACY = ("private", "shareable", "joint", "clinician")
NUMERIC_TYPES = ("likert", "slider", "vas")
CLINICAL_WHEN = ("at_or_below", "below", "at_or_above", "above")
RELIABLE_Z = 1.96
# The keys a definition, an item and a choice option may have (see the module docstring).
DEFINITION_KEYS = frozenset(
    ("items", "total", "subscales", "higher_is_better", "cutoff", "reliable_change")
    + ("safety_flag_when_clinical", "individual_only", "source", "notes")
)
ITEM_KEYS = frozenset(
    ("code", "type", "min", "max", "required", "reverse", "privacy", "safety")
    + ("text", "preamble", "anchors", "options", "max_length")
)
OPTION_KEYS = frozenset({"value", "label"})
CHANGE_KEYS = frozenset({"threshold", "sd", "reliability", "min_partners", "source", "citation"})
# "sd": PRACTICE_INTAKE — the SD of the practice's own intake baseline (see concrete_change).
PRACTICE_INTAKE = "practice_intake"


# DEFINITIONS
# ------------------------------------------------------------------------------
def validate_definition(definition: Any) -> None:
    """Raise ValidationError naming the bad place (``items[3].max``) in a definition."""
    errors: list[str] = []
    if not isinstance(definition, dict):
        raise ValidationError("The definition must be an object with an 'items' list.")
    items = definition.get("items")
    if not isinstance(items, list) or not items:
        raise ValidationError("items: give at least one item.")
    errors += _unknown_keys("", definition, DEFINITION_KEYS)
    for key in ("source", "notes"):
        if key in definition and not isinstance(definition[key], str):
            errors.append(f"{key}: must be text.")
    codes: set[str] = set()
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object.")
            continue
        errors += _unknown_keys(f"{where}.", item, ITEM_KEYS)
        errors += _label_errors(item, where)
        code = item.get("code")
        if not isinstance(code, str) or not code:
            errors.append(f"{where}.code: required.")
        elif code in codes:
            errors.append(f"{where}.code: {code!r} is used twice.")
        else:
            codes.add(code)
        kind = item.get("type")
        if kind not in ITEM_TYPES:
            errors.append(f"{where}.type: {kind!r} is not one of {', '.join(ITEM_TYPES)}.")
        if kind in NUMERIC_TYPES:
            low, high = item.get("min"), item.get("max")
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
                errors.append(f"{where}.min/max: numbers required for a {kind} item.")
            elif low >= high:
                errors.append(f"{where}.max: must be greater than min ({low} ≥ {high} is a reversed range).")
        if kind == "choice":
            options = item.get("options")
            if not isinstance(options, list) or len(options) < 2:
                errors.append(f"{where}.options: a choice item needs at least two options.")
            elif any(isinstance(option, dict) and "value" not in option for option in options):
                # clean_answers reads option["value"]; without it a partner's submit would crash.
                errors.append(f"{where}.options: each option object needs a 'value'.")
            else:
                for number, option in enumerate(options):
                    if isinstance(option, dict):
                        errors += _unknown_keys(f"{where}.options[{number}].", option, OPTION_KEYS)
                        if "label" in option and not _is_label(option["label"]):
                            errors.append(f"{where}.options[{number}].label: {LABEL_SHAPE}")
        if kind == "text" and not isinstance(item.get("max_length", 500), int):
            errors.append(f"{where}.max_length: must be a whole number.")
        for flag in ("required", "reverse", "safety"):
            # A JSON string "false" is truthy: only real booleans may switch these on or off.
            if flag in item and not isinstance(item[flag], bool):
                errors.append(f"{where}.{flag}: must be true or false.")
        if item.get("privacy", "private") not in PRIVACY:
            errors.append(f"{where}.privacy: must be one of {', '.join(PRIVACY)}.")
        if item.get("safety") and kind != "yes_no":
            errors.append(f"{where}.safety: only a yes/no item can be a safety item.")
        if item.get("safety") and item.get("privacy", "private") not in ("private", "clinician"):
            errors.append(f"{where}.privacy: a safety item is always private.")
        if item.get("reverse") and kind not in NUMERIC_TYPES:
            errors.append(f"{where}.reverse: only numeric items can be reverse-keyed.")
    scored = {
        i.get("code")
        for i in items
        if isinstance(i, dict) and isinstance(i.get("code"), str) and i.get("type") in NUMERIC_TYPES
    }
    subscales = definition.get("subscales") or {}
    if not isinstance(subscales, dict):
        errors.append("subscales: must be an object of name → {items: [...]}.")
        subscales = {}
    # Subscales are named by their full path, so a subscale called "total" or "cutoff" is still
    # checked and its message points at it, not at the top-level key of the same name.
    scales = [(f"subscales.{name}", scale) for name, scale in subscales.items()]
    if definition.get("total"):
        scales.append(("total", definition["total"]))
    for where, scale in scales:
        members = scale.get("items") if isinstance(scale, dict) else None
        if not isinstance(members, list) or not members:
            errors.append(f"{where}.items: list the items it sums.")
            continue
        for member in members:
            if not isinstance(member, str) or member not in scored:
                errors.append(f"{where}.items: {member!r} is not a numeric item of this instrument.")
    cutoff = definition.get("cutoff")
    if cutoff is not None:
        if not isinstance(cutoff, dict) or not _is_number(cutoff.get("value")):
            errors.append("cutoff.value: a number is required.")
        elif cutoff.get("clinical_when") not in CLINICAL_WHEN:
            errors.append(f"cutoff.clinical_when: must be one of {', '.join(CLINICAL_WHEN)}.")
        if not definition.get("total"):
            errors.append("cutoff: a cutoff needs a total.")
    change = definition.get("reliable_change")
    if change is not None:
        errors += _change_errors(change)
    if errors:
        raise ValidationError(errors)


CHANGE_SHAPE = (
    "reliable_change: give threshold, or sd > 0 and 0 < reliability < 1 "
    f'(sd "{PRACTICE_INTAKE}" with min_partners ≥ 2 to take s from the practice\'s intake baseline).'
)


def _change_errors(change: Any) -> list[str]:
    if not isinstance(change, dict):
        return [CHANGE_SHAPE]
    errors = _unknown_keys("reliable_change.", change, CHANGE_KEYS)
    for key in ("source", "citation"):
        if key in change and not isinstance(change[key], str):
            errors.append(f"reliable_change.{key}: must be text.")
    if "threshold" in change:
        if not _is_number(change["threshold"]) or change["threshold"] <= 0:
            errors.append("reliable_change.threshold: a positive number is required.")
        return errors
    reliability = change.get("reliability")
    if not (_is_number(reliability) and 0 < reliability < 1):
        return [*errors, CHANGE_SHAPE]
    if change.get("sd") == PRACTICE_INTAKE:
        minimum = change.get("min_partners")
        if not (isinstance(minimum, int) and not isinstance(minimum, bool) and minimum >= 2):
            errors.append("reliable_change.min_partners: a whole number of at least 2 is required.")
    elif not (_is_number(change.get("sd")) and change["sd"] > 0):
        errors.append(CHANGE_SHAPE)
    elif "min_partners" in change:
        errors.append(f'reliable_change.min_partners: only with sd "{PRACTICE_INTAKE}".')
    return errors


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


WHOLE_NUMBER = re.compile(r"-?[0-9]+")
LABEL_SHAPE = 'text, or an object of language → text such as {"en": "Never", "es": "Nunca"}.'


def _unknown_keys(prefix: str, value: dict, known: frozenset[str]) -> list[str]:
    return [
        f"{prefix}{key}: {key!r} is not a known key here (use {', '.join(sorted(known))})."
        for key in value
        if key not in known
    ]


def _is_label(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(text, str) and text.strip() for text in value.values())
    )


def _label_errors(item: dict, where: str) -> list[str]:
    """An item's wording: text and preamble are labels; anchors label whole values in min..max."""
    errors = [
        f"{where}.{key}: {LABEL_SHAPE}"
        for key in ("text", "preamble")
        if key in item and not _is_label(item[key])
    ]
    if "anchors" not in item:
        return errors
    anchors = item["anchors"]
    if item.get("type") not in NUMERIC_TYPES:
        errors.append(
            f"{where}.anchors: only a likert, slider or vas item has anchors; a choice labels its options."
        )
        return errors
    if not isinstance(anchors, dict):
        errors.append(f'{where}.anchors: an object of value → label, such as {{"1": {{"en": "Never"}}}}.')
        return errors
    low, high = item.get("min"), item.get("max")
    in_range = _is_number(low) and _is_number(high)  # a bad min/max is reported on its own
    for key, label in anchors.items():
        if not WHOLE_NUMBER.fullmatch(key) or (in_range and not low <= int(key) <= high):
            errors.append(f"{where}.anchors: {key!r} is not a whole number from {low} to {high}.")
        elif not _is_label(label):
            errors.append(f"{where}.anchors.{key}: {LABEL_SHAPE}")
    return errors


# ANSWERS
# ------------------------------------------------------------------------------
def clean_answers(definition: dict, answers: Any) -> dict[str, Any]:
    """Check and normalise a partner's answers; raise ValidationError keyed by item code."""
    if not isinstance(answers, dict):
        raise ValidationError({"answers": "Answers must be an object of item code → answer."})
    items = {item["code"]: item for item in definition["items"]}
    errors: dict[str, str] = {}
    unknown = set(answers) - set(items)
    for code in sorted(unknown):
        errors[code] = "Not an item of this check-in."
    cleaned: dict[str, Any] = {}
    for code, item in items.items():
        value = answers.get(code)
        if value is None or value == "":
            if item.get("required", True):
                errors[code] = "Please answer this question."
            continue
        try:
            cleaned[code] = _clean_value(item, value)
        except ValueError as exc:
            errors[code] = str(exc)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_value(item: dict, value: Any) -> Any:
    kind = item["type"]
    if kind in NUMERIC_TYPES:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError("Enter a number.") from None
        if not number.is_finite():
            raise ValueError("Enter a number.")
        if kind == "vas":
            if number != number.quantize(Decimal("0.1")):
                raise ValueError("Use at most one decimal place.")
        elif number != number.to_integral_value():
            raise ValueError("Choose a whole number.")
        if not item["min"] <= number <= item["max"]:
            raise ValueError(f"Choose a value from {item['min']} to {item['max']}.")
        return float(number) if kind == "vas" else int(number)
    if kind == "yes_no":
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"yes", "true", "1"}:
            return True
        if str(value).lower() in {"no", "false", "0"}:
            return False
        raise ValueError("Answer yes or no.")
    if kind == "choice":
        values = [option["value"] if isinstance(option, dict) else option for option in item["options"]]
        if value not in values:
            raise ValueError("Choose one of the options.")
        return value
    text = str(value).strip()
    if len(text) > item.get("max_length", 500):
        raise ValueError(f"Keep it under {item.get('max_length', 500)} characters.")
    return text


# SCORING
# ------------------------------------------------------------------------------
def item_score(item: dict, value: float) -> float:
    """Reverse keying maps x to (min + max − x): on a 1–9 scale, 10 − x."""
    return item["min"] + item["max"] - value if item.get("reverse") else value


def score(definition: dict, answers: dict[str, Any]) -> dict[str, Any]:
    """Totals and subscales of cleaned answers; None where a scored item was not answered."""
    items = {item["code"]: item for item in definition["items"]}

    def sum_of(codes: list[str]) -> Decimal | None:
        if any(code not in answers for code in codes):
            return None
        total = sum(Decimal(str(item_score(items[c], answers[c]))) for c in codes)
        return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    total = sum_of(definition["total"]["items"]) if definition.get("total") else None
    subscales = {name: sum_of(scale["items"]) for name, scale in (definition.get("subscales") or {}).items()}
    return {
        "total": total,
        "subscales": {
            name: (float(value) if value is not None else None) for name, value in subscales.items()
        },
        "clinical": in_clinical_range(definition, total),
    }


def in_clinical_range(definition: dict, total: Decimal | float | None) -> bool | None:
    cutoff = definition.get("cutoff")
    if cutoff is None or total is None:
        return None
    value, total = Decimal(str(cutoff["value"])), Decimal(str(total))
    return {
        "at_or_below": total <= value,
        "below": total < value,
        "at_or_above": total >= value,
        "above": total > value,
    }[cutoff["clinical_when"]]


def safety_items_positive(definition: dict, answers: dict[str, Any]) -> list[str]:
    """Codes of safety items answered yes."""
    return [
        item["code"]
        for item in definition["items"]
        if item.get("safety") and answers.get(item["code"]) is True
    ]


# CHANGE (Jacobson & Truax 1991)
# ------------------------------------------------------------------------------
def standard_error_of_difference(sd: float, reliability: float) -> float:
    """S_diff = √2 · s · √(1 − r)."""
    return math.sqrt(2) * sd * math.sqrt(1 - reliability)


def uses_practice_intake(rule: dict | None) -> bool:
    """The rule takes its SD from the practice's intake baseline, not from a published sample."""
    return isinstance(rule, dict) and rule.get("sd") == PRACTICE_INTAKE


def concrete_change(rule: dict | None, *, baseline_sd: float | None = None) -> dict | None:
    """The rule with numbers only: a published one as it is; a practice-intake one with
    ``baseline_sd`` as its s (None while the practice has no baseline yet); None for no rule."""
    if not rule:
        return None
    if uses_practice_intake(rule):
        if baseline_sd is None or baseline_sd <= 0:
            return None
        return {"sd": float(baseline_sd), "reliability": rule["reliability"]}
    return rule


@dataclass(frozen=True)
class Baseline:
    """A practice's intake baseline on one instrument: how many partners have a first total, and
    the sample SD of those first totals (None under two)."""

    partners: int
    sd: float | None


def baseline_sd_for(rule: dict | None, baseline: Baseline | None) -> float | None:
    """The SD a practice-intake rule may use: the baseline's, once it counts ``min_partners``."""
    if not uses_practice_intake(rule) or baseline is None or baseline.sd is None:
        return None
    return baseline.sd if baseline.partners >= rule["min_partners"] else None


def change_basis_note(code: str, rule: dict | None, baseline: Baseline | None) -> str:
    """One sentence for every chart and report that judges change: where its figures come from."""
    label = code.upper()
    if not rule:
        return _(
            "%(code)s: this version gives no reliable-change threshold, so change and divergence "
            "are not judged."
        ) % {"code": label}
    citation = rule.get("citation") or _("the instrument's source")
    if not uses_practice_intake(rule):
        threshold = reliable_change_threshold(rule)
        return _("%(code)s: reliable change is %(t)s points, from published figures (%(source)s).") % {
            "code": label,
            "t": f"{threshold:.2f}",
            "source": citation,
        }
    sd = baseline_sd_for(rule, baseline)
    partners = baseline.partners if baseline else 0
    if sd is None:
        return _(
            "%(code)s: no reliable change yet. It is computed from this practice's intake baseline "
            "once %(min)s partners have a first score (%(n)s so far), reliability %(r)s from %(source)s."
        ) % {
            "code": label,
            "min": rule["min_partners"],
            "n": partners,
            "r": f"{rule['reliability']:g}",
            "source": citation,
        }
    threshold = reliable_change_threshold(rule, baseline_sd=sd)
    return _(
        "%(code)s: reliable change is %(t)s points, computed from this practice's intake baseline "
        "(SD %(sd)s of %(n)s partners' first scores), reliability %(r)s from %(source)s."
    ) % {
        "code": label,
        "t": f"{threshold:.2f}",
        "sd": f"{sd:.2f}",
        "n": partners,
        "r": f"{rule['reliability']:g}",
        "source": citation,
    }


def reliable_change_threshold(definition_change: dict, *, baseline_sd: float | None = None) -> float | None:
    """Points of change that count as reliable: a published threshold, or 1.96 · S_diff (None
    for a practice-intake rule while the practice has no baseline SD)."""
    rule = concrete_change(definition_change, baseline_sd=baseline_sd)
    if rule is None:
        return None
    if "threshold" in rule:
        return float(rule["threshold"])
    return RELIABLE_Z * standard_error_of_difference(rule["sd"], rule["reliability"])


def reliable_change_index(pre: float, post: float, *, sd: float, reliability: float) -> float:
    return (post - pre) / standard_error_of_difference(sd, reliability)


def clinical_cutoff(
    *, mean_clinical: float, sd_clinical: float, mean_functional: float, sd_functional: float
) -> float:
    """c = (s₀·M₁ + s₁·M₀) / (s₀ + s₁), M₁/s₁ the clinical sample, M₀/s₀ the functional one."""
    return (sd_functional * mean_clinical + sd_clinical * mean_functional) / (sd_functional + sd_clinical)


class Trajectory:
    RECOVERED = "recovered"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    DETERIORATED = "deteriorated"


def trajectory(definition: dict, pre: float, post: float, *, baseline_sd: float | None = None) -> str | None:
    """Recovered (reliable improvement and out of the clinical range), improved, unchanged or
    deteriorated, in the direction the instrument counts as better; None when the definition's
    rule needs the practice's intake SD and ``baseline_sd`` is None."""
    rule = concrete_change(definition["reliable_change"], baseline_sd=baseline_sd)
    if rule is None:
        return None
    threshold = reliable_change_threshold(rule)
    # Decimal, not float: one-decimal totals (ORS) differ by 4.999… in binary floating point, and
    # stored totals are Decimals that do not mix with floats.
    pre_d, post_d = Decimal(str(pre)), Decimal(str(post))
    change = (post_d - pre_d) if definition.get("higher_is_better", True) else (pre_d - post_d)
    # A computed threshold is 1.96 · S_diff and needs |RC| > 1.96; a published point threshold
    # (ORS: 5 points) counts change of at least that many points.
    if "threshold" in rule:
        reliable = abs(change) >= Decimal(str(rule["threshold"]))
    else:
        reliable = abs(change) > Decimal(str(threshold))
    if not reliable:
        return Trajectory.UNCHANGED
    if change < 0:
        return Trajectory.DETERIORATED
    if in_clinical_range(definition, pre) and in_clinical_range(definition, post) is False:
        return Trajectory.RECOVERED
    return Trajectory.IMPROVED
