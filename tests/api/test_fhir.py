"""GET /api/v1/couples/{id}/fhir/: a FHIR R4 (R4B models) Bundle that validates, scoped like
every other read, without safety flags or note bodies, and audited."""

import datetime
import json
from decimal import Decimal

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from clinician.models import AuditEvent
from couples import services as couple_services
from cyclecare import services as cycle
from cyclecare.models import Instrument
from tests.factories import TherapySessionFactory, build_practice_world, held_session, integration_client

NOTE_SENTINEL = "NOTE-BODY-MUST-NOT-LEAVE"


def url(couple_id: int) -> str:
    return f"/api/v1/couples/{couple_id}/fhir/"


def signed_in(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user=user)
    return api


def integration_api(practice, scopes: str = "read") -> APIClient:
    """A real bearer token of an integration client bound to ``practice``."""
    return integration_client(practice, scopes, name="EHR").api


def resources(body: dict, resource_type: str) -> list[dict]:
    return [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == resource_type]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and {"type", "title", "detail"} <= set(body)
    return body


@pytest.fixture
def world(db):
    """Practice alpha's first couple with: two held sessions (one with a signed note whose body
    is a sentinel), a scheduled individual video session, the world's daily check-in (whose
    safety item was answered yes, raising a flag), a scored CSI-4 check-in and a paused
    practice assignment. Practice bravo exists beside it."""
    alpha, bravo = build_practice_world("alpha"), build_practice_world("bravo")
    treated = alpha.couples[0]
    user = alpha.clinician.user
    session = held_session(treated.couple, days_ago=8)
    note = couple_services.note_create(
        user=user, session=session, data=NOTE_SENTINEL, assessment=NOTE_SENTINEL, plan=NOTE_SENTINEL
    )
    couple_services.note_sign(user=user, note=note)
    upcoming = TherapySessionFactory(
        couple=treated.couple,
        kind="individual",
        partner=treated.a,
        modality="video",
        status="scheduled",
        starts_at=timezone.now() + datetime.timedelta(days=3),
    )
    csi4 = Instrument.objects.get(practice=None, code="csi-4")
    scored = cycle.checkin_submit(
        partner=treated.b, instrument=csi4, answers={"csi1": 4, "csi12": 3, "csi19": 3, "csi22": 4}
    )
    practice_task = cycle.assignment_create(
        user=user,
        couple=treated.couple,
        partners=[treated.a],
        kind="practice",
        title="Name the cycle out loud",
        schedule="weekdays",
        weekdays=0b0010101,
        local_time=datetime.time(19, 30),
        starts_on=timezone.localdate(),
    )
    cycle.assignment_set_status(user=user, assignment=practice_task, status="paused")
    treated.upcoming, treated.scored, treated.practice_task = upcoming, scored, practice_task
    return alpha, bravo, treated


def test_treating_clinician_gets_a_bundle_that_validates(world) -> None:
    alpha, _, treated = world
    response = signed_in(alpha.clinician.user).get(url(treated.couple.pk))

    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection" and bundle.timestamp is not None
    for entry in body["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"

    patients = resources(body, "Patient")
    by_partner = {p["identifier"][0]["value"]: p for p in patients}
    assert set(by_partner) == {str(treated.a.pk), str(treated.b.pk)}
    for partner in (treated.a, treated.b):
        patient = by_partner[str(partner.pk)]
        assert patient["name"] == [{"text": partner.display_name}]
        assert patient["telecom"] == [{"system": "email", "value": partner.email, "rank": 1}]
        assert patient["communication"][0]["language"]["coding"][0]["code"] == "en"
        assert "gender" not in patient and "extension" not in patient

    (group,) = resources(body, "Group")
    assert group["type"] == "person" and group["actual"] is True
    assert group["name"] == treated.couple.label
    patient_urls = {f"urn:uuid:{p['id']}" for p in patients}
    assert {m["entity"]["reference"] for m in group["member"]} == patient_urls

    encounters = {e["identifier"][0]["value"]: e for e in resources(body, "Encounter")}
    assert len(encounters) == treated.couple.sessions.count() == 3
    joint = encounters[str(treated.session.pk)]
    assert joint["status"] == "finished" and joint["class"]["code"] == "AMB"
    assert joint["subject"]["reference"] == f"urn:uuid:{group['id']}"
    assert joint["participant"] == [{"individual": {"display": alpha.clinician.display_name}}]
    upcoming = encounters[str(treated.upcoming.pk)]
    assert upcoming["status"] == "planned" and upcoming["class"]["code"] == "VR"
    assert upcoming["subject"]["type"] == "Patient"
    assert upcoming["subject"]["display"] == treated.a.display_name

    responses = {q["identifier"]["value"]: q for q in resources(body, "QuestionnaireResponse")}
    assert set(responses) == {str(treated.checkin.pk), str(treated.scored.pk)}
    daily = responses[str(treated.checkin.pk)]
    assert daily["status"] == "completed"
    assert daily["questionnaire"] == "urn:cyclecare:instrument:cycle-checkin|1"
    answers = {item["linkId"]: item["answer"][0] for item in daily["item"]}
    assert answers == {"cycle_showed_up": {"valueBoolean": True}, "connection": {"valueInteger": 6}}
    assert daily["basedOn"][0]["type"] == "CarePlan"

    # One Observation per scored check-in: the daily check-in has no total.
    (score,) = resources(body, "Observation")
    assert score["status"] == "final"
    assert Decimal(str(score["valueQuantity"]["value"])) == treated.scored.total_score == Decimal("14")
    assert score["valueQuantity"]["unit"] == "{score}"
    assert score["code"]["text"] == "Couples Satisfaction Index (CSI-4) total"
    csi = responses[str(treated.scored.pk)]
    assert score["derivedFrom"] == [{"reference": f"urn:uuid:{csi['id']}", "type": "QuestionnaireResponse"}]
    assert score["subject"]["reference"] == csi["subject"]["reference"]

    plans = {p["identifier"][0]["value"]: p for p in resources(body, "CarePlan")}
    assert set(plans) == {str(treated.assignment.pk), str(treated.practice_task.pk)}
    daily_plan = plans[str(treated.assignment.pk)]
    assert (daily_plan["status"], daily_plan["intent"]) == ("active", "plan")
    assert daily_plan["activity"][0]["detail"]["description"] == "Daily check-in"
    assert daily_plan["subject"]["reference"] == f"urn:uuid:{group['id']}"
    paused = plans[str(treated.practice_task.pk)]
    assert paused["status"] == "on-hold"
    repeat = paused["activity"][0]["detail"]["scheduledTiming"]["repeat"]
    assert repeat == {"dayOfWeek": ["mon", "wed", "fri"], "timeOfDay": ["19:30:00"]}


def test_a_separated_couple_and_the_individual_case_that_continues_it(world) -> None:
    from couples.models import Couple
    from cyclecare.separation import couple_separate

    alpha, _, treated = world
    couple_separate(
        user=alpha.clinician.user,
        couple=treated.couple,
        continuing=[treated.a],
        separation_reason=Couple.SeparationReason.RELATIONSHIP_ENDED,
    )
    api = signed_in(alpha.clinician.user)
    (closed,) = resources(api.get(url(treated.couple.pk)).json(), "Group")
    assert closed["active"] is False and closed["code"] == {"text": "Couple"}
    individual = Couple.objects.get(continued_from=treated.couple)
    body = api.get(url(individual.pk)).json()
    Bundle.model_validate(body)
    (group,) = resources(body, "Group")
    assert group["active"] is True and group["code"] == {"text": "Individual case"}
    assert group["quantity"] == 1 and len(group["member"]) == 1
    (patient,) = resources(body, "Patient")
    assert patient["identifier"][0]["value"] == str(treated.a.pk)


def test_every_reference_resolves_inside_the_bundle(world) -> None:
    alpha, _, treated = world
    body = signed_in(alpha.clinician.user).get(url(treated.couple.pk)).json()
    types = {entry["fullUrl"]: entry["resource"]["resourceType"] for entry in body["entry"]}
    assert len(types) == len(body["entry"]), "fullUrls are unique"

    def references(node):
        if isinstance(node, dict):
            if "reference" in node:
                yield node
            for value in node.values():
                yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    found = list(references(body["entry"]))
    assert found
    for reference in found:
        assert types[reference["reference"]] == reference["type"]


def test_nothing_clinician_only_is_exported(world) -> None:
    alpha, _, treated = world
    assert treated.flag.checkin_id == treated.checkin.pk  # the world's check-in raised a flag
    response = signed_in(alpha.clinician.user).get(url(treated.couple.pk), HTTP_ACCEPT="application/json")

    assert response["Content-Type"].startswith("application/json")
    text = response.content.decode()
    assert NOTE_SENTINEL not in text
    assert "later" not in text  # the addendum
    assert "felt_unsafe" not in text and "afety" not in text
    assert '"gender"' not in text
    assert {e["resource"]["resourceType"] for e in response.json()["entry"]} == {
        "Patient",
        "Group",
        "Encounter",
        "QuestionnaireResponse",
        "Observation",
        "CarePlan",
    }


def test_full_urls_are_stable_between_exports(world) -> None:
    alpha, _, treated = world
    api = signed_in(alpha.clinician.user)
    first, second = (api.get(url(treated.couple.pk)).json() for _ in range(2))
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def test_export_is_audited(world) -> None:
    alpha, _, treated = world
    user = alpha.clinician.user
    assert signed_in(user).get(url(treated.couple.pk)).status_code == 200
    event = AuditEvent.objects.get(action="couple.fhir_export")
    assert (event.actor_kind, event.actor_id) == ("user", str(user.pk))
    assert (event.target_type, event.target_id) == ("couples.couple", str(treated.couple.pk))
    assert event.practice_id == alpha.practice.pk


def test_another_practices_couple_is_404(world) -> None:
    alpha, bravo, _ = world
    response = signed_in(alpha.clinician.user).get(url(bravo.couples[0].couple.pk))
    assert_problem(response, 404)
    assert_problem(signed_in(alpha.clinician.user).get(url(999_999)), 404)
    assert not AuditEvent.objects.filter(action="couple.fhir_export").exists()


def test_a_colleague_who_does_not_treat_the_couple_gets_404(world) -> None:
    alpha, _, treated = world
    assert_problem(signed_in(alpha.outsider.user).get(url(treated.couple.pk)), 404)


def test_supervisor_sees_the_clinical_record(world) -> None:
    alpha, _, treated = world
    body = signed_in(alpha.supervisor.user).get(url(treated.couple.pk)).json()
    assert len(resources(body, "QuestionnaireResponse")) == 2


def test_practice_admin_gets_the_administrative_record_only(world) -> None:
    alpha, _, treated = world
    response = signed_in(alpha.admin.user).get(url(treated.couple.pk))

    assert response.status_code == 200
    body = response.json()
    Bundle.model_validate(body)
    kinds = [e["resource"]["resourceType"] for e in body["entry"]]
    assert kinds.count("Patient") == 2 and kinds.count("Group") == 1 and kinds.count("Encounter") == 3
    assert not {"QuestionnaireResponse", "Observation", "CarePlan"} & set(kinds)


def test_integration_client_of_the_practice_gets_the_bundle(world) -> None:
    alpha, _, treated = world
    response = integration_api(alpha.practice).get(url(treated.couple.pk))

    assert response.status_code == 200, response.content[:300]
    body = response.json()
    Bundle.model_validate(body)
    assert len(resources(body, "QuestionnaireResponse")) == 2
    assert "felt_unsafe" not in json.dumps(body) and NOTE_SENTINEL not in json.dumps(body)
    event = AuditEvent.objects.get(action="couple.fhir_export")
    assert event.actor_kind == "integration"


def test_integration_client_of_another_practice_gets_404(world) -> None:
    _, bravo, treated = world
    assert_problem(integration_api(bravo.practice).get(url(treated.couple.pk)), 404)


def test_unauthenticated_and_unsupported_requests(world) -> None:
    alpha, _, treated = world
    assert_problem(APIClient().get(url(treated.couple.pk)), 401)
    api = signed_in(alpha.clinician.user)
    assert_problem(api.post(url(treated.couple.pk), {}, format="json"), 405)
    assert_problem(api.get(url(treated.couple.pk), HTTP_ACCEPT="application/xml"), 406)


def test_fhir_path_does_not_shadow_the_couple_detail_route(world) -> None:
    alpha, _, treated = world
    response = signed_in(alpha.clinician.user).get(f"/api/v1/couples/{treated.couple.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == treated.couple.pk


def test_answers_are_typed_by_item_and_subscales_become_components(world) -> None:
    alpha, _, treated = world
    licensed = cycle.instrument_create(
        practice=alpha.practice,
        code="practice-scale",
        name="Practice scale",
        definition={
            "items": [
                {"code": "vas1", "type": "vas", "min": 0, "max": 10},
                {"code": "vas2", "type": "vas", "min": 0, "max": 10},
                {"code": "mood", "type": "choice", "options": ["calm", "tense"]},
                {"code": "words", "type": "text", "required": False},
            ],
            "total": {"items": ["vas1", "vas2"]},
            "subscales": {"first": {"items": ["vas1"]}},
        },
    )
    checkin = cycle.checkin_submit(
        partner=treated.a,
        instrument=licensed,
        answers={"vas1": "7.5", "vas2": 2, "mood": "tense", "words": "We paused and came back."},
    )
    daily = cycle.checkin_submit(
        partner=treated.b,
        instrument=Instrument.objects.get(practice=None, code="cycle-checkin"),
        answers={"cycle_showed_up": True, "my_move": "away", "connection": 3},
    )
    body = signed_in(alpha.clinician.user).get(url(treated.couple.pk)).json()
    Bundle.model_validate(body)

    (response,) = [
        q for q in resources(body, "QuestionnaireResponse") if q["identifier"]["value"] == str(checkin.pk)
    ]
    assert response["questionnaire"] == "urn:cyclecare:instrument:practice-scale|1"
    answers = {item["linkId"]: item["answer"][0] for item in response["item"]}
    assert answers == {
        "vas1": {"valueDecimal": 7.5},
        "vas2": {"valueDecimal": 2.0},
        "mood": {"valueCoding": {"system": "urn:cyclecare:instrument:practice-scale:mood", "code": "tense"}},
        "words": {"valueString": "We paused and came back."},
    }
    (labelled,) = [
        q for q in resources(body, "QuestionnaireResponse") if q["identifier"]["value"] == str(daily.pk)
    ]
    assert labelled["item"][1] == {
        "linkId": "my_move",
        "answer": [
            {
                "valueCoding": {
                    "system": "urn:cyclecare:instrument:cycle-checkin:my_move",
                    "code": "away",
                    "display": "I moved away from my partner",
                }
            }
        ],
    }
    (score,) = [
        o
        for o in resources(body, "Observation")
        if o["derivedFrom"][0]["reference"] == f"urn:uuid:{response['id']}"
    ]
    assert score["valueQuantity"]["value"] == 9.5
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in score["component"]] == [
        ("first", 7.5)
    ]
