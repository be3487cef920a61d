"""Fuzzing the instrument-file loader and the scoring engine (hypothesis).

The promise (cyclecare.instrument_files, cyclecare.scoring): any definition file either loads —
and then every answer set it accepts scores inside the range its items declare — or is refused
with messages that say where (``line N: …``), never with a crash. Three sources of files: valid
definitions built from the rules, the same with one part broken at random, and arbitrary JSON or
text.
"""

import json
import math
import re
from decimal import Decimal

import pytest
import yaml
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cyclecare import scoring
from cyclecare.instrument_files import InstrumentSpec, parse_instrument_file

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINE = re.compile(r"^line \d+(, column \d+)?: ")
# Refusals of the whole file, which has no better line to name.
WHOLE_FILE = ("The file is empty.", "The file is larger than", "The file is nested too deeply")
# Syntax errors name their place in the parser's words ("line 3 column 5", "line 3, column 5").
SYNTAX = re.compile(r"^(JSON|YAML)[ a-z]*: .*line \d+", re.DOTALL)

codes = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def numeric_items(draw, code: str) -> dict:
    kind = draw(st.sampled_from(scoring.NUMERIC_TYPES))
    low = draw(st.integers(-10, 10))
    high = low + draw(st.integers(1, 20))
    item = {"code": code, "type": kind, "min": low, "max": high, "text": f"Item {code}"}
    if draw(st.booleans()):
        item["reverse"] = True
    if draw(st.booleans()):
        item["required"] = draw(st.booleans())
    return item


@st.composite
def other_items(draw, code: str) -> dict:
    kind = draw(st.sampled_from(("yes_no", "choice", "text")))
    item = {"code": code, "type": kind, "text": f"Item {code}"}
    if kind == "choice":
        item["options"] = draw(st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=4, unique=True))
    if kind == "yes_no" and draw(st.booleans()):
        item["safety"] = True
    if kind == "text":
        item["max_length"] = draw(st.integers(1, 500))
    return item


@st.composite
def definitions(draw) -> dict:
    """A definition the rules accept: numeric items summed into a total, optional others."""
    item_codes = draw(st.lists(codes, min_size=1, max_size=8, unique=True))
    numeric_count = draw(st.integers(1, len(item_codes)))
    items = [draw(numeric_items(code)) for code in item_codes[:numeric_count]]
    items += [draw(other_items(code)) for code in item_codes[numeric_count:]]
    numeric = [item["code"] for item in items if item["type"] in scoring.NUMERIC_TYPES]
    definition: dict = {"items": items, "total": {"items": numeric}}
    if draw(st.booleans()):
        definition["subscales"] = {"part": {"items": numeric[: max(1, len(numeric) // 2)]}}
    if draw(st.booleans()):
        definition["cutoff"] = {
            "value": draw(st.integers(-50, 50)),
            "clinical_when": draw(st.sampled_from(scoring.CLINICAL_WHEN)),
        }
    if draw(st.booleans()):
        definition["reliable_change"] = draw(
            st.one_of(
                st.builds(lambda t: {"threshold": t}, st.integers(1, 20)),
                st.builds(
                    lambda sd, r: {"sd": sd, "reliability": r},
                    st.floats(0.5, 30),
                    st.floats(0.05, 0.99),
                ),
            )
        )
    return definition


def document(definition) -> dict:
    return {"code": "fuzz", "version": 1, "name": "Fuzzed instrument", "definition": definition}


def _places(node, parent=None, key=None):
    """Every (container, key) in a document, each value once."""
    if parent is not None:
        yield parent, key
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for child_key, child in children:
        yield from _places(child, node, child_key)


@st.composite
def broken(draw, base: dict) -> dict:
    """The document with one value anywhere in it (chosen uniformly) replaced by arbitrary JSON
    or a number, or its key dropped."""
    data = json.loads(json.dumps(base))
    parent, key = draw(st.sampled_from(list(_places(data))))
    if isinstance(parent, dict) and draw(st.integers(0, 3)) == 0:
        del parent[key]
    else:
        parent[key] = draw(st.one_of(st.integers(-20, 20), json_values))
    return data


def answers_for(draw, definition: dict) -> dict:
    answers = {}
    for item in definition["items"]:
        kind = item["type"]
        if kind in scoring.NUMERIC_TYPES:
            value = draw(st.integers(item["min"], item["max"]))
        elif kind == "yes_no":
            value = draw(st.booleans())
        elif kind == "choice":
            value = draw(st.sampled_from(item["options"]))
        else:
            value = draw(st.text(alphabet="abcxyz", min_size=1, max_size=item.get("max_length", 500)))
        answers[item["code"]] = value
    return answers


def load(text: str, filename: str) -> InstrumentSpec | None:
    """The spec, or None after checking the refusal says where."""
    try:
        return parse_instrument_file(text, filename=filename)
    except ValidationError as exc:
        assert exc.messages
        for message in exc.messages:
            assert LINE.match(message) or SYNTAX.match(message) or message.startswith(WHOLE_FILE), (
                f"a refusal without a place: {message!r}"
            )
        return None


def assert_scores_in_range(definition: dict, answers: dict) -> None:
    cleaned = scoring.clean_answers(definition, answers)
    result = scoring.score(definition, cleaned)
    items = {item["code"]: item for item in definition["items"]}
    for scale in [definition["total"]] if definition.get("total") else []:
        low = sum(Decimal(str(items[code]["min"])) for code in scale["items"])
        high = sum(Decimal(str(items[code]["max"])) for code in scale["items"])
        value = result["total"] if scale is definition.get("total") else None
        if value is not None:
            assert low <= value <= high
    for name, value in result["subscales"].items():
        scale = definition["subscales"][name]
        low = sum(Decimal(str(items[code]["min"])) for code in scale["items"])
        high = sum(Decimal(str(items[code]["max"])) for code in scale["items"])
        assert value is None or low <= Decimal(str(value)) <= high
    assert result["clinical"] in (True, False, None)
    if definition.get("reliable_change"):
        assert scoring.reliable_change_threshold(definition["reliable_change"]) > 0


@FUZZ
@given(data=st.data(), definition=definitions(), as_yaml=st.booleans())
def test_a_valid_definition_loads_and_scores_inside_its_range(data, definition, as_yaml):
    text = yaml.safe_dump(document(definition)) if as_yaml else json.dumps(document(definition), indent=2)
    spec = load(text, "fuzz.yaml" if as_yaml else "fuzz.json")
    assert spec is not None, "a definition built by the rules was refused"
    assert spec.definition == definition
    answers = answers_for(data.draw, definition)
    assert_scores_in_range(spec.definition, answers)


@FUZZ
@given(data=st.data(), definition=definitions(), as_yaml=st.booleans())
def test_a_broken_definition_is_refused_with_a_line_or_still_scores_in_range(data, definition, as_yaml):
    mutated = data.draw(broken(document(definition)))
    text = yaml.safe_dump(mutated) if as_yaml else json.dumps(mutated, indent=2)
    spec = load(text, "fuzz.yaml" if as_yaml else "fuzz.json")
    if spec is None:
        return
    # It still passed every rule: then any answers the rules accept must score in range.
    candidate = {}
    for item in spec.definition["items"]:
        kind = item["type"]
        if kind in scoring.NUMERIC_TYPES:
            assert item["min"] < item["max"], "a loaded item declares an empty range"
            low, high = math.ceil(item["min"]), math.floor(item["max"])
            assume(low <= high)  # a range with no whole number in it takes no answer to score
            candidate[item["code"]] = data.draw(st.integers(low, high))
        elif kind == "yes_no":
            candidate[item["code"]] = data.draw(st.booleans())
        elif kind == "choice":
            options = [o["value"] if isinstance(o, dict) else o for o in item["options"]]
            candidate[item["code"]] = data.draw(st.sampled_from(options))
        else:
            candidate[item["code"]] = "a"
    try:
        assert_scores_in_range(spec.definition, candidate)
    except ValidationError as refused:
        # Answers may still be refused, by item (e.g. a text item limited to 0 characters).
        assert set(refused.message_dict) <= {item["code"] for item in spec.definition["items"]}


@FUZZ
@given(value=json_values, filename=st.sampled_from(("fuzz.json", "fuzz.yaml")))
def test_arbitrary_json_is_refused_with_a_line(value, filename):
    text = json.dumps(value) if filename.endswith(".json") else yaml.safe_dump(value)
    assert load(text, filename) is None or isinstance(value, dict)


@FUZZ
@given(text=st.text(max_size=300), filename=st.sampled_from(("fuzz.json", "fuzz.yaml", "fuzz.txt")))
def test_arbitrary_text_never_crashes_the_loader(text, filename):
    load(text, filename)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"code": "x",\n "version": 0, "name": "X", "definition": {"items": []}}', "line 2"),
        ("code: x\nversion: 1\nname: X\ndefinition:\n  items:\n  - code: a\n    type: likert\n", "line 6"),
    ],
)
def test_the_fuzz_oracle_itself_recognises_a_placed_refusal(text, expected):
    with pytest.raises(ValidationError) as refused:
        parse_instrument_file(text, filename="x.json" if text.startswith("{") else "x.yaml")
    assert any(message.startswith(expected) for message in refused.value.messages)
    assert load(text, "x.json" if text.startswith("{") else "x.yaml") is None
