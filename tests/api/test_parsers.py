"""The API's JSON parser (clinician.api.parsers): a body nested deeper than any real payload is a
problem-details 400 and one over DATA_UPLOAD_MAX_MEMORY_SIZE a 413, before json.loads sees it.
Python's json module recurses once per level, so a thousand ``[`` used to be a RecursionError:
a 500, even for a caller with no credentials."""

import io
import json
from types import SimpleNamespace

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

import cyclecare.plugin
from clinician.api.parsers import BoundedJSONParser, RequestBodyTooLarge, nesting_exceeds
from cyclecare.models import CycleEpisode, Instrument
from tests.api.conftest import assert_problem
from tests.factories import ClinicianFactory, couple_with_partners, integration_client

pytestmark = pytest.mark.django_db

EPISODES = "/api/v1/episodes/"
CHECKINS = "/api/v1/checkins/"


@pytest.fixture
def clinic():
    """A clinician's couple, the clinician signed in to the API, and an integration client
    (read, write) of the same practice."""
    clinician = ClinicianFactory()
    couple, a, b = couple_with_partners(clinician)
    signed_in = APIClient()
    signed_in.force_authenticate(user=clinician.user)
    return SimpleNamespace(
        couple=couple, a=a, b=b, clinician_api=signed_in, integration=integration_client(clinician.practice)
    )


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def episode(clinic, **fields) -> dict:
    return {
        "couple": clinic.couple.pk,
        "occurred_at": timezone.now().isoformat(),
        "intensity": 4,
        "pursuer": clinic.a.pk,
        "withdrawer": clinic.b.pk,
        **fields,
    }


# THROUGH THE API
# ------------------------------------------------------------------------------
@pytest.mark.parametrize("caller", ["anonymous", "integration"])
@pytest.mark.parametrize("path", [EPISODES, CHECKINS])
@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
def test_deeply_nested_json_is_a_400_problem(clinic, caller, path, depth):
    api = APIClient() if caller == "anonymous" else clinic.integration.api
    response = api.post(path, data=nested_arrays(depth), content_type="application/json")
    body = assert_problem(response, 400)
    assert body["type"] == "urn:cyclecare:problem:parse_error"
    assert "nested more than 64 levels" in body["detail"]
    assert not CycleEpisode.objects.exists()


def test_deeply_nested_objects_inside_a_real_payload_are_a_400_problem(clinic):
    deep = '{"a":' * 1_000 + "1" + "}" * 1_000
    payload = json.dumps(episode(clinic))[:-1] + f', "trigger": {deep}}}'
    response = clinic.integration.api.post(EPISODES, data=payload, content_type="application/json")
    assert_problem(response, 400)


def test_normal_payloads_are_still_accepted(clinic):
    response = clinic.clinician_api.post(EPISODES, episode(clinic, notes="Named the loop."), format="json")
    assert response.status_code == 201, response.content
    assert CycleEpisode.objects.get().notes == "Named the loop."
    csi4 = Instrument.objects.get(practice=None, code="csi-4")
    answers = {"csi1": 3, "csi12": 4, "csi19": 3, "csi22": 4}
    checkin = {"partner": clinic.a.pk, "instrument": csi4.pk, "answers": answers}
    response = clinic.integration.api.post(CHECKINS, checkin, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["total_score"] == 14


def test_brackets_inside_strings_are_text_not_nesting(clinic):
    """The scanner skips strings, escaped quotes included: a thousand '[' typed into a note nest
    nothing."""
    notes = "[" * 1_000 + ' she said \\"[[[\\" ' + "{" * 500
    response = clinic.clinician_api.post(EPISODES, episode(clinic, notes=notes), format="json")
    assert response.status_code == 201, response.content
    assert CycleEpisode.objects.get().notes == notes


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
@pytest.mark.parametrize("caller", ["anonymous", "integration"])
def test_a_body_over_the_upload_limit_is_a_413_problem(clinic, caller):
    api = APIClient() if caller == "anonymous" else clinic.integration.api
    response = api.post(EPISODES, episode(clinic, notes="x" * 20_000), format="json")
    body = assert_problem(response, 413)
    assert body["type"] == "urn:cyclecare:problem:too_large"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_the_token_endpoint_answers_an_oversized_body_with_a_413_problem(db):
    form = "grant_type=client_credentials&scope=" + "x" * 20_000
    response = APIClient().post("/o/token/", data=form, content_type="application/x-www-form-urlencoded")
    assert_problem(response, 413)


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=10)
def test_the_token_endpoint_answers_too_many_fields_with_a_400_problem(db):
    form = "&".join(f"field{n}=1" for n in range(20))
    response = APIClient().post("/o/token/", data=form, content_type="application/x-www-form-urlencoded")
    assert_problem(response, 400)


# THE PARSER ITSELF
# ------------------------------------------------------------------------------
def test_a_host_site_gets_the_bounded_parser():
    host_settings: dict = {}
    cyclecare.plugin.configure(host_settings)
    assert host_settings["REST_FRAMEWORK"]["DEFAULT_PARSER_CLASSES"] == [
        "clinician.api.parsers.BoundedJSONParser"
    ]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_the_parser_bounds_the_size_itself():
    """DRF before 3.17.2 (pyproject allows 3.15) hands the parser the request stream, unbounded."""
    with pytest.raises(RequestBodyTooLarge):
        BoundedJSONParser().parse(io.BytesIO(b'"' + b"x" * 200 + b'"'))
    assert BoundedJSONParser().parse(io.BytesIO(b'"' + b"x" * 90 + b'"')) == "x" * 90


def test_the_parser_refuses_what_json_refuses_as_a_parse_error():
    for body in (b"{not json", b"[NaN]", b"1" * 5_000, "[]".encode("utf-16")):
        with pytest.raises(ParseError):
            BoundedJSONParser().parse(io.BytesIO(body))
    with pytest.raises(ParseError):
        BoundedJSONParser().parse(io.BytesIO(b"[]"), parser_context={"encoding": "bz2_codec"})


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        (nested_arrays(64), False),
        (nested_arrays(65), True),
        ("[" * 100_000, True),  # never closed
        ('{"a":' * 65 + "1" + "}" * 65, True),
        ('{"a":' * 64 + "1" + "}" * 64, False),
        (json.dumps(["[" * 1_000, "{" * 1_000]), False),
        (json.dumps(['\\"' + "[" * 100, "]"]), False),  # an escaped quote does not end the string
        (json.dumps(["\\"]) + "[" * 100, True),  # an escaped backslash does: the rest is nesting
        ('"' + "[" * 100, False),  # an unterminated string (json.loads refuses it)
        ("]" + "[" * 100, False),  # json.loads stops at the first unmatched bracket
        ("[]" * 10_000, False),
    ],
)
def test_nesting_is_counted_outside_strings_only(text, too_deep):
    assert nesting_exceeds(text, 64) is too_deep
