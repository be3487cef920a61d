"""The instruments cyclecare ships (cyclecare/instruments/*.json): every question and every answer
label in English and Spanish, the CSI wording as the authors publish it, the HITS licence as it
is, and the upgrade of a database that holds earlier versions."""

import copy
import json

import pytest

from clinician.models import AuditEvent
from cyclecare import selectors, services
from cyclecare.models import CheckIn, HomeworkTemplate, Instrument
from cyclecare.services import SHIPPED_INSTRUMENTS_DIR
from tests.factories import couple_with_partners

LANGUAGES = ("en", "es")
SHIPPED_FILES = sorted(SHIPPED_INSTRUMENTS_DIR.glob("*.json"))


def read(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def shipped(code: str) -> dict:
    return read(SHIPPED_INSTRUMENTS_DIR / f"{code}.json")


def missing_languages(label) -> list[str]:
    if not isinstance(label, dict):
        return list(LANGUAGES)
    return [language for language in LANGUAGES if not str(label.get(language) or "").strip()]


def wording_gaps(definition: dict) -> list[str]:
    """Every place a partner would read English only, or a bare number."""
    gaps = []
    for item in definition["items"]:
        code, kind = item["code"], item["type"]
        for key in ("text", "preamble"):
            if key in item or key == "text":
                gaps += [f"{code}.{key}: no {lang}" for lang in missing_languages(item.get(key))]
        for option in item.get("options", []):
            value = option["value"] if isinstance(option, dict) else option
            label = option.get("label") if isinstance(option, dict) else None
            gaps += [f"{code} option {value!r}: no {lang}" for lang in missing_languages(label)]
        anchors = item.get("anchors") or {}
        for value, label in anchors.items():
            gaps += [f"{code} value {value}: no {lang}" for lang in missing_languages(label)]
        if kind == "likert":
            values = {str(number) for number in range(item["min"], item["max"] + 1)}
            # A semantic differential labels its two poles only, as the published form does (the
            # CSI's INTERESTING 5 4 3 2 1 0 BORING); any other likert labels every value.
            poles = {str(item["min"]), str(item["max"])}
            if set(anchors) != poles:
                gaps += [f"{code} value {value}: no label" for value in sorted(values - set(anchors))]
    return gaps


# WORDING
# ------------------------------------------------------------------------------
def test_every_shipped_instrument_is_found():
    assert len(SHIPPED_FILES) >= 4  # csi-4, csi-16, hits, cycle-checkin at least


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.name)
def test_every_question_and_answer_label_is_in_english_and_spanish(path):
    assert wording_gaps(read(path)["definition"]) == []


def test_the_check_finds_bare_values_and_missing_spanish():
    """The check above would have caught HITS v1 (labels under an unread key) and English-only
    CSI items."""
    hits = copy.deepcopy(shipped("hits")["definition"])
    for item in hits["items"]:
        del item["anchors"]
    assert "hurt value 1: no label" in wording_gaps(hits)
    csi = copy.deepcopy(shipped("csi-4")["definition"])
    del csi["items"][0]["text"]["es"]
    del csi["items"][1]["anchors"]["3"]["es"]
    csi["items"][2]["anchors"].pop("2")
    assert wording_gaps(csi) == ["csi1.text: no es", "csi12 value 3: no es", "csi19 value 2: no label"]


# The CSI-32 form as Funk & Rogge (2007) publish it: item number → wording, and the response
# labels by score. The CSI-16 and CSI-4 take their items from it unchanged.
HAPPINESS = [
    "Extremely Unhappy",
    "Fairly Unhappy",
    "A Little Unhappy",
    "Happy",
    "Very Happy",
    "Extremely Happy",
    "Perfect",
]
HOW_OFTEN = ["Never", "Rarely", "Occasionally", "More often than not", "Most of the time", "All the time"]
TRUE = [
    "Not at all True",
    "A little True",
    "Somewhat True",
    "Mostly True",
    "Almost Completely True",
    "Completely True",
]
EXTENT = ["Not at all", "A little", "Somewhat", "Mostly", "Almost Completely", "Completely"]
CSI32 = {
    1: ("Please indicate the degree of happiness, all things considered, of your relationship.", HAPPINESS),
    5: (
        "In general, how often do you think that things between you and your partner are going well?",
        HOW_OFTEN,
    ),
    9: ("Our relationship is strong.", TRUE),
    11: ("My relationship with my partner makes me happy.", TRUE),
    12: ("I have a warm and comfortable relationship with my partner.", TRUE),
    17: ("I really feel like part of a team with my partner.", TRUE),
    19: ("How rewarding is your relationship with your partner?", EXTENT),
    20: ("How well does your partner meet your needs?", EXTENT),
    21: ("To what extent has your relationship met your original expectations?", EXTENT),
    22: ("In general, how satisfied are you with your relationship?", EXTENT),
    # Semantic differentials: the form prints LEFT … RIGHT; (score 0, score 5).
    26: ("Interesting – Boring", ("Boring", "Interesting")),
    27: ("Bad – Good", ("Bad", "Good")),
    28: ("Full – Empty", ("Empty", "Full")),
    30: ("Sturdy – Fragile", ("Fragile", "Sturdy")),
    31: ("Discouraging – Hopeful", ("Discouraging", "Hopeful")),
    32: ("Enjoyable – Miserable", ("Miserable", "Enjoyable")),
}
CSI_PREAMBLE = (
    "For each of the following items, select the answer that best describes how you feel about your "
    "relationship. Base your responses on your first impressions and immediate feelings about the item."
)


@pytest.mark.parametrize("code", ["csi-4", "csi-16"])
def test_csi_items_and_labels_are_worded_as_published(code):
    for item in shipped(code)["definition"]["items"]:
        text, labels = CSI32[int(item["code"].removeprefix("csi"))]
        english = {int(value): label["en"] for value, label in item["anchors"].items()}
        assert item["text"]["en"] == text, item["code"]
        if isinstance(labels, tuple):  # the two poles, at 0 and 5
            assert english == {0: labels[0], 5: labels[1]}, item["code"]
        else:
            assert english == dict(enumerate(labels)), item["code"]
    preambles = [
        item["preamble"]["en"] for item in shipped(code)["definition"]["items"] if "preamble" in item
    ]
    assert preambles == ([CSI_PREAMBLE] if code == "csi-16" else [])


def test_each_instrument_names_its_source_and_hits_is_not_called_public_domain():
    for code in ("csi-4", "csi-16"):
        assert "Funk, J. L., & Rogge, R. D. (2007)" in shipped(code)["definition"]["source"]
        assert "21(4), 572–583" in shipped(code)["definition"]["source"]
    hits = shipped("hits")
    assert "Family Medicine, 30(7), 508–512" in hits["definition"]["source"]
    assert hits["licence"].startswith("© Kevin M. Sherin; not public domain.")
    assert "commercial use needs the author's permission" in hits["licence"]
    assert "cyclecare's own" in shipped("cycle-checkin")["licence"]


# INSTALLING AND UPGRADING
# ------------------------------------------------------------------------------
def test_the_database_holds_the_current_version_of_each_file(db):
    """What the partner page reads is the database's definition, not the file's."""
    for path in SHIPPED_FILES:
        spec = read(path)
        current = Instrument.objects.get(practice=None, code=spec["code"], is_active=True)
        assert (current.version, current.definition, current.licence) == (
            spec["version"],
            spec["definition"],
            spec["licence"],
        )


def _database_as_before_version_2() -> dict[str, Instrument]:
    """Version 1 of every shipped instrument, loaded the way it was (HITS v1 carried its labels
    under 'anchors_all', which today's validator refuses), and the library pointing at it."""
    HomeworkTemplate.objects.filter(practice=None).delete()
    Instrument.objects.filter(practice=None).delete()
    first = {}
    for path in SHIPPED_FILES:
        spec = read(path)
        definition = copy.deepcopy(spec["definition"])
        if spec["code"] == "hits":
            definition["anchors_all"] = definition["items"][0]["anchors"]
            for item in definition["items"]:
                del item["anchors"]
        first[spec["code"]] = Instrument.objects.create(
            code=spec["code"], version=1, name=spec["name"], definition=definition, licence="v1"
        )
    return first


def test_installing_upgrades_version_1_and_is_idempotent(db, monkeypatch):
    first = _database_as_before_version_2()
    with monkeypatch.context() as patched:
        patched.setattr(services, "instruments_install_shipped", lambda: list(first.values()))
        services.homework_templates_install_shipped()
    assert HomeworkTemplate.objects.get(code="weekly-csi-4").instrument == first["csi-4"]
    couple, a, _ = couple_with_partners()
    answers = {"csi1": 3, "csi12": 3, "csi19": 3, "csi22": 3}
    old_checkin = services.checkin_submit(partner=a, instrument=first["csi-4"], answers=answers)

    library = {template.code: template for template in services.homework_templates_install_shipped()}
    current = {i.code: i for i in Instrument.objects.filter(practice=None, is_active=True)}

    upgraded = {read(path)["code"] for path in SHIPPED_FILES if read(path)["version"] > 1}
    assert {"csi-4", "csi-16", "hits"} <= upgraded
    for code, old in first.items():
        old.refresh_from_db()
        assert current[code].version == shipped(code)["version"] and current[code].is_active
        assert old.is_active is (code not in upgraded), code
    assert AuditEvent.objects.filter(action="instrument.deactivate").count() == len(upgraded)
    # The library offers the current version; a check-in keeps the version it was made with.
    assert library["weekly-csi-4"].instrument == current["csi-4"]
    assert HomeworkTemplate.objects.get(code="weekly-csi-4").instrument == current["csi-4"]
    assert CheckIn.objects.get(pk=old_checkin.pk).instrument == first["csi-4"]
    offered = selectors.instruments_available_to(user=couple.primary_clinician.user)
    assert {(i.code, i.version) for i in offered.filter(practice=None)} == {
        (code, instrument.version) for code, instrument in current.items()
    }

    def counts() -> tuple[int, int, int]:
        return Instrument.objects.count(), HomeworkTemplate.objects.count(), AuditEvent.objects.count()

    before = counts()
    again = {i.code: i for i in services.instruments_install_shipped()}
    services.homework_templates_install_shipped()
    assert counts() == before
    assert again == current
