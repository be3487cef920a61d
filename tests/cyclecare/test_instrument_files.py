"""Instrument definition files (JSON / YAML): parsing, line-numbered errors, the load_instrument
command and the admin upload. Item text here is placeholder ("Item N"): licensed wording is never
shipped, and never printed by the command."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from clinician.models import AuditEvent
from cyclecare import scoring
from cyclecare.instrument_files import InstrumentSpec, parse_instrument_file
from cyclecare.models import Instrument
from cyclecare.scoring import Trajectory
from cyclecare.services import SHIPPED_INSTRUMENTS_DIR, instrument_load
from tests.factories import PracticeFactory, UserFactory

# DEFINITIONS WRITTEN AS FILES
# ------------------------------------------------------------------------------
# ORS-like (DESIGN §3): four visual-analogue items 0–10 with one decimal, total 0–40, clinical
# below 25, reliable change 5 points.
ORS_YAML = """\
code: ors-like
version: 1
name: ORS-like (placeholder wording)
licence: Test fixture only.
definition:
  higher_is_better: true
  total:
    items: [ors1, ors2, ors3, ors4]
  cutoff:
    value: 25
    clinical_when: below
    label: clinical range
  reliable_change:
    threshold: 5
  items:
    - code: ors1
      type: vas
      min: 0
      max: 10
      text: {en: Item 1}
    - {code: ors2, type: vas, min: 0, max: 10, text: {en: Item 2}}
    - {code: ors3, type: vas, min: 0, max: 10, text: {en: Item 3}}
    - {code: ors4, type: vas, min: 0, max: 10, text: {en: Item 4}}
"""

ORS_JSON = """\
{
  "code": "ors-like",
  "version": 1,
  "name": "ORS-like (placeholder wording)",
  "licence": "Test fixture only.",
  "definition": {
    "higher_is_better": true,
    "total": {"items": ["ors1", "ors2", "ors3", "ors4"]},
    "cutoff": {"value": 25, "clinical_when": "below", "label": "clinical range"},
    "reliable_change": {"threshold": 5},
    "items": [
      {"code": "ors1", "type": "vas", "min": 0, "max": 10, "text": {"en": "Item 1"}},
      {"code": "ors2", "type": "vas", "min": 0, "max": 10, "text": {"en": "Item 2"}},
      {"code": "ors3", "type": "vas", "min": 0, "max": 10, "text": {"en": "Item 3"}},
      {"code": "ors4", "type": "vas", "min": 0, "max": 10, "text": {"en": "Item 4"}}
    ]
  }
}
"""

# CPQ-like (2016 revision, DESIGN §3): items 1–9, reverse = 10 − x. The published constructive
# communication score is (2 + 6 + 8 + 23 + 25 + 27) − (1 + 24 + 26); the engine sums one subscale
# with 1, 24 and 26 reverse-keyed, i.e. the same score + 30 (three items × 10).
CPQ_YAML = """\
code: cpq-like
version: 1
name: CPQ-like (placeholder wording)
definition:
  subscales:
    constructive_communication:
      items: [cpq1, cpq2, cpq6, cpq8, cpq23, cpq24, cpq25, cpq26, cpq27]
    self_demand_partner_withdraw:
      items: [cpq3, cpq9, cpq11, cpq13, cpq17, cpq19, cpq32]
    partner_demand_self_withdraw:
      items: [cpq4, cpq10, cpq12, cpq14, cpq18, cpq20, cpq33]
  items:
    - {code: cpq1, type: likert, min: 1, max: 9, reverse: true, text: {en: Item 1}}
    - {code: cpq2, type: likert, min: 1, max: 9, text: {en: Item 2}}
    - {code: cpq3, type: likert, min: 1, max: 9, text: {en: Item 3}}
    - {code: cpq4, type: likert, min: 1, max: 9, text: {en: Item 4}}
    - {code: cpq6, type: likert, min: 1, max: 9, text: {en: Item 6}}
    - {code: cpq8, type: likert, min: 1, max: 9, text: {en: Item 8}}
    - {code: cpq9, type: likert, min: 1, max: 9, text: {en: Item 9}}
    - {code: cpq10, type: likert, min: 1, max: 9, text: {en: Item 10}}
    - {code: cpq11, type: likert, min: 1, max: 9, text: {en: Item 11}}
    - {code: cpq12, type: likert, min: 1, max: 9, text: {en: Item 12}}
    - {code: cpq13, type: likert, min: 1, max: 9, text: {en: Item 13}}
    - {code: cpq14, type: likert, min: 1, max: 9, text: {en: Item 14}}
    - {code: cpq17, type: likert, min: 1, max: 9, text: {en: Item 17}}
    - {code: cpq18, type: likert, min: 1, max: 9, text: {en: Item 18}}
    - {code: cpq19, type: likert, min: 1, max: 9, text: {en: Item 19}}
    - {code: cpq20, type: likert, min: 1, max: 9, text: {en: Item 20}}
    - {code: cpq23, type: likert, min: 1, max: 9, text: {en: Item 23}}
    - {code: cpq24, type: likert, min: 1, max: 9, reverse: true, text: {en: Item 24}}
    - {code: cpq25, type: likert, min: 1, max: 9, text: {en: Item 25}}
    - {code: cpq26, type: likert, min: 1, max: 9, reverse: true, text: {en: Item 26}}
    - {code: cpq27, type: likert, min: 1, max: 9, text: {en: Item 27}}
    - {code: cpq32, type: likert, min: 1, max: 9, text: {en: Item 32}}
    - {code: cpq33, type: likert, min: 1, max: 9, text: {en: Item 33}}
"""

CPQ_ANSWERS = {
    # constructive communication: positives 7 + 8 + 6 + 9 + 5 + 7 = 42; reversed 1, 24, 26 answered
    # 2, 3, 1 score (10 − 2) + (10 − 3) + (10 − 1) = 24 → 66. Published form: 42 − (2 + 3 + 1) = 36,
    # and 36 + 30 = 66.
    "cpq2": 7, "cpq6": 8, "cpq8": 6, "cpq23": 9, "cpq25": 5, "cpq27": 7,
    "cpq1": 2, "cpq24": 3, "cpq26": 1,
    # self-demand / partner-withdraw: 4 + 5 + 6 + 3 + 2 + 7 + 8 = 35
    "cpq3": 4, "cpq9": 5, "cpq11": 6, "cpq13": 3, "cpq17": 2, "cpq19": 7, "cpq32": 8,
    # partner-demand / self-withdraw: 1 + 2 + 3 + 4 + 5 + 6 + 9 = 30
    "cpq4": 1, "cpq10": 2, "cpq12": 3, "cpq14": 4, "cpq18": 5, "cpq20": 6, "cpq33": 9,
}  # fmt: skip


def parse_errors(text: str, filename: str) -> list[str]:
    with pytest.raises(ValidationError) as excinfo:
        parse_instrument_file(text, filename=filename)
    return excinfo.value.messages


def line_of(text: str, needle: str) -> int:
    """1-based line of the only line holding needle (so each test states what it points at)."""
    found = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(found) == 1, found
    return found[0]


def scored(definition: dict, answers: dict) -> dict:
    return scoring.score(definition, scoring.clean_answers(definition, answers))


# PARSING AND SCORING
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "filename"), [(ORS_YAML, "ors.yaml"), (ORS_JSON, "ors.json")])
def test_ors_like_file_parses_and_scores(text, filename):
    spec = parse_instrument_file(text, filename=filename)
    assert (spec.code, spec.version, spec.name, spec.licence) == (
        "ors-like",
        1,
        "ORS-like (placeholder wording)",
        "Test fixture only.",
    )
    definition = spec.definition
    assert [item["type"] for item in definition["items"]] == ["vas"] * 4
    top = scored(definition, {"ors1": 10, "ors2": 10, "ors3": 10, "ors4": 10})
    assert top["total"] == Decimal("40") and top["clinical"] is False
    # 6.2 + 6.2 + 6.2 + 6.3 = 24.9, below 25: clinical
    low = scored(definition, {"ors1": 6.2, "ors2": 6.2, "ors3": 6.2, "ors4": "6.3"})
    assert low["total"] == Decimal("24.90") and low["clinical"] is True
    # exactly 25 is not below 25
    assert scored(definition, {"ors1": 6.2, "ors2": 6.2, "ors3": 6.3, "ors4": 6.3})["clinical"] is False
    with pytest.raises(ValidationError) as excinfo:
        scoring.clean_answers(definition, {"ors1": 6.25, "ors2": 1, "ors3": 1, "ors4": 11})
    assert set(excinfo.value.error_dict) == {"ors1", "ors4"}  # two decimals; above 10
    assert scoring.trajectory(definition, 20, 25) == Trajectory.RECOVERED  # +5 is reliable, out of range
    assert scoring.trajectory(definition, 20, 24.9) == Trajectory.UNCHANGED


def test_ors_yaml_and_json_give_the_same_spec():
    assert parse_instrument_file(ORS_YAML, filename="o.yml") == parse_instrument_file(
        ORS_JSON, filename="o.json"
    )


@pytest.mark.parametrize("as_json", [False, True])
def test_cpq_like_subscales_with_reverse_keying(as_json):
    spec = parse_instrument_file(CPQ_YAML, filename="cpq.yaml")
    if as_json:  # the same definition written as JSON text
        text = json.dumps(
            {"code": spec.code, "version": spec.version, "name": spec.name, "definition": spec.definition},
            indent=2,
        )
        spec = parse_instrument_file(text, filename="cpq.json")
    result = scored(spec.definition, CPQ_ANSWERS)
    assert result["subscales"] == {
        "constructive_communication": 66.0,
        "self_demand_partner_withdraw": 35.0,
        "partner_demand_self_withdraw": 30.0,
    }
    assert result["total"] is None and result["clinical"] is None
    reversed_items = {i["code"] for i in spec.definition["items"] if i.get("reverse")}
    assert reversed_items == {"cpq1", "cpq24", "cpq26"}
    assert scoring.item_score(spec.definition["items"][0], 1) == 9  # 10 − x on 1–9


def test_content_decides_when_the_extension_does_not():
    assert parse_instrument_file(ORS_JSON, filename="ors").code == "ors-like"
    assert parse_instrument_file(ORS_YAML, filename="ors.txt").code == "ors-like"


@pytest.mark.parametrize("path", sorted(SHIPPED_INSTRUMENTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_shipped_files_pass_the_same_parser(path):
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text)
    spec = parse_instrument_file(text, filename=path.name)
    assert spec == InstrumentSpec(
        code=raw["code"],
        version=raw["version"],
        name=raw["name"],
        licence=raw.get("licence", ""),
        definition=raw["definition"],
    )


def test_yaml_numeric_keys_become_text_like_json():
    text = ORS_YAML.replace("text: {en: Item 1}", "text: {en: Item 1}\n      anchors: {0: {en: low}}")
    spec = parse_instrument_file(text, filename="ors.yaml")
    assert spec.definition["items"][0]["anchors"] == {"0": {"en": "low"}}


def test_without_pyyaml_json_still_loads_and_yaml_says_why(monkeypatch):
    from cyclecare import instrument_files

    monkeypatch.setattr(instrument_files, "yaml", None)
    assert parse_instrument_file(ORS_JSON, filename="ors.json").code == "ors-like"
    assert parse_errors(ORS_YAML, "ors.yaml") == [
        "This server cannot read YAML (PyYAML is not installed); upload JSON instead."
    ]


# ERRORS NAME THE LINE
# ------------------------------------------------------------------------------
REVERSED_YAML = ORS_YAML.replace(
    "- {code: ors2, type: vas, min: 0, max: 10, text: {en: Item 2}}",
    "- code: ors2\n      type: vas\n      min: 10\n      max: 0\n      text: {en: Item 2}",
)


def test_reversed_range_in_yaml_names_the_line_of_max():
    line = line_of(REVERSED_YAML, "max: 0")
    assert line == 24  # counted by hand: the second item's "max: 0"
    assert parse_errors(REVERSED_YAML, "ors.yaml") == [
        "line 24: items[1].max: must be greater than min (10 ≥ 0 is a reversed range)."
    ]


def test_reversed_range_in_json_names_the_line_of_max():
    text = ORS_JSON.replace(
        '{"code": "ors3", "type": "vas", "min": 0, "max": 10,',
        '{"code": "ors3", "type": "vas",\n       "min": 10,\n       "max": 0,',
    )
    line = line_of(text, '"max": 0')
    assert parse_errors(text, "ors.json") == [
        f"line {line}: items[2].max: must be greater than min (10 ≥ 0 is a reversed range)."
    ]


def test_unknown_item_type_names_its_line():
    text = ORS_YAML.replace("{code: ors3, type: vas,", "{code: ors3, type: stars,")
    assert line_of(text, "type: stars") == 22
    total, kind = parse_errors(text, "ors.yaml")
    assert kind.startswith("line 22: items[2].type: 'stars' is not one of likert, slider, vas")
    # and the total that sums it says so on its own line
    assert total == "line 8: total.items: 'ors3' is not a numeric item of this instrument."


def test_unknown_item_type_in_json_names_its_line():
    text = ORS_JSON.replace('"code": "ors4", "type": "vas"', '"code": "ors4", "type": "stars"')
    total, kind = parse_errors(text, "ors.json")
    assert kind.startswith(f"line {line_of(text, 'stars')}: items[3].type: 'stars' is not one of")
    total_line = line_of(text, '"total"')
    assert total.startswith(f"line {total_line}: total.items: 'ors4'")


def test_json_syntax_error_names_line_and_column():
    text = ORS_JSON.replace('"version": 1,', '"version": 1')  # missing comma before "name"
    (message,) = parse_errors(text, "ors.json")
    line = line_of(text, '"name"')
    assert message == f"line {line}, column 3: JSON syntax: Expecting ',' delimiter."


def test_yaml_syntax_error_names_line_and_column():
    text = ORS_YAML.replace("name: ORS-like (placeholder wording)", "  name: [unclosed")
    (message,) = parse_errors(text, "ors.yaml")
    assert message.startswith("line 3, column ") and "YAML syntax" in message


def test_unknown_top_level_key_named_with_its_line():
    text = ORS_YAML.replace("licence: Test fixture only.\n", "licence: Test fixture only.\nnotes: hello\n")
    assert parse_errors(text, "ors.yaml") == [
        "line 5: 'notes' is not a known top-level key (use code, version, name, licence, definition)."
    ]


def test_unknown_definition_and_item_keys_named_with_their_lines():
    """A key nothing reads (HITS v1's 'anchors_all') is refused where it is written."""
    text = ORS_YAML.replace(
        "  higher_is_better: true\n", "  higher_is_better: true\n  anchors_all: {0: low}\n"
    )
    text = text.replace("      text: {en: Item 1}", "      text: {en: Item 1}\n      anchor: {0: low}")
    top, item = parse_errors(text, "ors.yaml")
    assert top.startswith(
        f"line {line_of(text, 'anchors_all')}: anchors_all: 'anchors_all' is not a known key"
    )
    assert item.startswith(f"line {line_of(text, 'anchor: ')}: items[0].anchor: 'anchor' is not a known key")


def test_several_errors_are_all_reported_in_line_order():
    text = REVERSED_YAML.replace("version: 1", "version: 0")
    text = text.replace("type: vas, min: 0, max: 10, text: {en: Item 4}", "type: dial, text: {en: Item 4}")
    errors = parse_errors(text, "ors.yaml")
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 8", "line 24", "line 27"]
    assert errors[0] == "line 2: version: a whole number from 1 to 32767."
    assert "items[3].type" in errors[3]


HEAD = "code: x\nversion: 1\nname: x\n"
ONE_ITEM = "definition: {items: [{code: a, type: yes_no}]}\n"


@pytest.mark.parametrize(
    ("text", "filename", "expected"),
    [
        ("", "x.yaml", "The file is empty."),
        ("- a\n- b\n", "x.yaml", "line 1: the file must hold one object with code, version, name and"),
        ('{"code": "x"}', "x.json", "line 1: version: required."),
        (HEAD.replace("x", "Not A Slug", 1) + ONE_ITEM, "x.yaml",
         "line 1: code: use letters, digits, hyphens and underscores only, at most 40 characters."),
        ('{"code": "x\\n", "version": 1, "name": "x",\n'
         ' "definition": {"items": [{"code": "a", "type": "yes_no"}]}}', "x.json", "line 1: code: use"),
        (HEAD.replace("1", "1.5") + ONE_ITEM, "x.yaml", "line 2: version: a whole number from 1 to 32767."),
        (HEAD + "definition: [1]\n", "x.yaml", "line 4: definition: must be an object with an 'items' list."),
        (HEAD + "definition:\n  items:\n    - {code: a, type: yes_no}\n"
         "    - {code: b, type: yes_no, required: 'no'}\n", "x.yaml",
         "line 7: items[1].required: must be true or false."),
        (HEAD + "definition:\n  items: &i [{code: a, type: yes_no}]\n  more: *i\n", "x.yaml",
         "line 6, column 9: YAML syntax: anchors and aliases (*name) are not supported"),
        (HEAD + "definition:\n  when: 2024-01-01\n  items: [{code: a, type: yes_no}]\n", "x.yaml",
         "line 5: definition.when: '2024-01-01' reads as a date, which a definition cannot hold"),
        (HEAD + "name: y\n" + ONE_ITEM, "x.yaml", "line 4: name: the key 'name' appears twice."),
        ('{"code": "x", "version": 1, "name": "x",\n "definition": {"items": [\n'
         ' {"code": "a", "type": "slider", "min": 0, "max": NaN}]}}', "x.json",
         "line 3: definition.items[0].max: NaN is not a finite number."),
        (HEAD + "definition: !!python/object:object {}\n", "x.yaml", "line 4, column 13: the tag"),
        (HEAD + "definition:\n  items: [{code: a, type: yes_no}]\n  blob: !!binary aGk=\n", "x.yaml",
         "line 6: definition.blob: 'aGk=' reads as a bytes"),
        ('{\n  "code": "x",\n  "code": "y"\n}', "x.json", "line 3: code: the key 'code' appears twice."),
    ],
)  # fmt: skip
def test_bad_files_are_named(text, filename, expected):
    errors = parse_errors(text, filename)
    assert any(error.startswith(expected) for error in errors), errors


def test_subscale_member_error_points_at_the_subscale():
    text = CPQ_YAML.replace("items: [cpq3, cpq9,", "items: [cpq99, cpq9,")
    assert parse_errors(text, "cpq.yaml") == [
        f"line {line_of(text, 'cpq99')}: subscales.self_demand_partner_withdraw.items: "
        "'cpq99' is not a numeric item of this instrument."
    ]


# THE load_instrument COMMAND
# ------------------------------------------------------------------------------
@pytest.fixture
def practice(db):
    return PracticeFactory(slug="alpha-practice")


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path, *extra: str) -> str:
    out = StringIO()
    call_command("load_instrument", str(path), *extra, stdout=out)
    return out.getvalue()


def test_command_loads_into_a_practice(tmp_path, practice):
    output = load(write(tmp_path, "ors.yaml", ORS_YAML), "--practice", practice.slug)
    instrument = Instrument.objects.get(practice=practice, code="ors-like", version=1)
    assert instrument.definition == parse_instrument_file(ORS_YAML, filename="ors.yaml").definition
    assert instrument.licence == "Test fixture only." and instrument.is_active
    assert "ors-like v1" in output and "alpha-practice" in output
    assert "4 items (vas 4)" in output and "reliable change: 5 points" in output
    assert "Item 1" not in output  # item wording is never printed
    assert AuditEvent.objects.filter(action="instrument.create", target_id=str(instrument.pk)).exists()


def test_command_refuses_a_duplicate_code_and_version(tmp_path, practice):
    path = write(tmp_path, "cpq.yaml", CPQ_YAML)
    load(path, "--practice", practice.slug)
    with pytest.raises(CommandError, match="cpq-like version 1 is already loaded") as excinfo:
        load(path, "--practice", practice.slug)
    assert "new version number" in str(excinfo.value)
    assert Instrument.objects.filter(code="cpq-like").count() == 1
    # another practice may hold its own licence for the same instrument
    load(path, "--practice", PracticeFactory().slug)
    assert Instrument.objects.filter(code="cpq-like").count() == 2


def test_command_bad_file_names_the_line_and_saves_nothing(tmp_path, practice):
    before, audited = Instrument.objects.count(), AuditEvent.objects.count()
    with pytest.raises(CommandError) as excinfo:
        load(write(tmp_path, "ors.yaml", REVERSED_YAML), "--practice", practice.slug)
    assert "ors.yaml was not loaded; nothing was saved." in str(excinfo.value)
    assert "line 24: items[1].max: must be greater than min" in str(excinfo.value)
    assert Instrument.objects.count() == before and AuditEvent.objects.count() == audited


def test_command_unknown_practice_and_missing_file(tmp_path, practice):
    with pytest.raises(CommandError, match="No practice has the slug 'nope'"):
        load(write(tmp_path, "ors.json", ORS_JSON), "--practice", "nope")
    with pytest.raises(CommandError, match="Cannot read"):
        load(tmp_path / "missing.json", "--practice", practice.slug)
    assert not Instrument.objects.filter(code="ors-like").exists()


def test_command_replace_inactive_retires_earlier_versions(tmp_path, practice):
    load(write(tmp_path, "v1.yaml", ORS_YAML), "--practice", practice.slug)
    load(
        write(tmp_path, "v2.yaml", ORS_YAML.replace("version: 1", "version: 2")), "--practice", practice.slug
    )
    assert set(
        Instrument.objects.filter(code="ors-like", is_active=True).values_list("version", flat=True)
    ) == {
        1,
        2,
    }
    output = load(
        write(tmp_path, "v3.yaml", ORS_YAML.replace("version: 1", "version: 3")),
        "--practice",
        practice.slug,
        "--replace-inactive",
    )
    assert "ors-like v1 is now inactive" in output and "ors-like v2 is now inactive" in output
    active = Instrument.objects.filter(practice=practice, code="ors-like", is_active=True)
    assert list(active.values_list("version", flat=True)) == [3]
    assert AuditEvent.objects.filter(action="instrument.deactivate").count() == 2


def test_instrument_load_is_all_or_nothing(practice, monkeypatch):
    """If anything fails after the create, the new version is rolled back too."""
    from cyclecare import services

    spec = parse_instrument_file(ORS_YAML, filename="ors.yaml")
    instrument_load(spec, practice=practice)

    def broken(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_record", broken)
    v2 = InstrumentSpec(**{**spec.__dict__, "version": 2})
    with pytest.raises(RuntimeError):
        instrument_load(v2, practice=practice, replace_inactive=True)
    assert list(Instrument.objects.filter(code="ors-like").values_list("version", "is_active")) == [(1, True)]


# THE ADMIN UPLOAD
# ------------------------------------------------------------------------------
def add_url() -> str:
    return reverse("admin:cyclecare_instrument_add")


@pytest.fixture
def operator_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def upload(client, name: str, text: str, **data):
    return client.post(add_url(), {"definition_file": SimpleUploadedFile(name, text.encode()), **data})


def test_admin_upload_creates_the_instrument(operator_client, practice):
    changelist = operator_client.get(reverse("admin:cyclecare_instrument_changelist"))
    assert "Upload definition" in changelist.content.decode()
    assert operator_client.get(add_url()).status_code == 200
    response = upload(operator_client, "cpq.yaml", CPQ_YAML, practice=practice.pk)
    instrument = Instrument.objects.get(practice=practice, code="cpq-like")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:cyclecare_instrument_change", args=[instrument.pk])
    assert len(instrument.definition["items"]) == 23


def test_admin_upload_without_a_practice_is_shipped(operator_client):
    upload(operator_client, "ors.json", ORS_JSON)
    assert Instrument.objects.get(code="ors-like").practice is None


def test_admin_upload_shows_the_line_and_creates_nothing(operator_client, practice):
    before = Instrument.objects.count()
    response = upload(operator_client, "ors.yaml", REVERSED_YAML, practice=practice.pk)
    assert response.status_code == 200
    message = "line 24: items[1].max: must be greater than min (10 ≥ 0 is a reversed range)."
    assert response.context["form"].errors["definition_file"] == [message]
    assert message in response.content.decode()
    assert "nothing was saved" in response.content.decode()
    assert Instrument.objects.count() == before


def test_admin_upload_refuses_a_duplicate_in_the_form(operator_client, practice):
    upload(operator_client, "ors.yaml", ORS_YAML, practice=practice.pk)
    response = upload(operator_client, "ors.yaml", ORS_YAML, practice=practice.pk)
    assert response.status_code == 200
    assert "is already loaded" in response.context["form"].errors["definition_file"][0]
    assert Instrument.objects.filter(code="ors-like").count() == 1


def test_admin_upload_can_retire_earlier_versions(operator_client, practice):
    upload(operator_client, "ors.yaml", ORS_YAML, practice=practice.pk)
    v2 = ORS_YAML.replace("version: 1", "version: 2")
    response = upload(operator_client, "ors.yaml", v2, practice=practice.pk, replace_inactive="on")
    assert response.status_code == 302
    versions = Instrument.objects.filter(code="ors-like").values_list("version", "is_active")
    assert set(versions) == {(1, False), (2, True)}
    page = operator_client.get(response["Location"])
    assert "Loaded ORS-like (placeholder wording) (ors-like v2). Now inactive: v1." in page.content.decode()


def test_admin_loaded_versions_are_read_only(operator_client, practice):
    upload(operator_client, "ors.yaml", ORS_YAML, practice=practice.pk)
    instrument = Instrument.objects.get(code="ors-like")
    change_url = reverse("admin:cyclecare_instrument_change", args=[instrument.pk])
    page = operator_client.get(change_url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert operator_client.post(change_url, {"name": "changed"}).status_code == 403
    instrument.refresh_from_db()
    assert instrument.name == "ORS-like (placeholder wording)"


def test_admin_upload_is_for_the_operator_only(client, practice):
    client.force_login(UserFactory(is_staff=True, is_superuser=False))
    assert client.get(add_url()).status_code == 403
    assert upload(client, "ors.yaml", ORS_YAML, practice=practice.pk).status_code == 403
    assert not Instrument.objects.filter(code="ors-like").exists()
