"""FHIR R4 export of one couple's record as a Bundle of type ``collection``.

Built with ``fhir.resources`` 8's **R4B** models (``fhir.resources.R4B.*``): the package's top
level is R5, and R4B is wire-compatible with R4 for every resource used here (Patient, Group,
Encounter, QuestionnaireResponse, Observation, CarePlan, Bundle), so an R4 server reads the
result. Each resource is validated by constructing its model; the Bundle is returned as a
JSON-ready dict.

What the export maps:

- Partner → Patient: ``name.text`` from the display name, email and phone only when recorded
  (the preferred channel ranks first), the partner's language. No gender (cyclecare records
  none), and no extensions, so pronouns and time zone stay out.
- Couple → Group (``type`` person, ``actual`` true), its members the Patients; ``code`` says
  "Couple" or "Individual case" (a partner continuing after a separation), and a discharged or
  separated couple's Group is inactive.
- TherapySession → Encounter: scheduled → planned, held → finished, cancelled and no-show →
  cancelled (R4 Encounter has no no-show status); class ``AMB`` in person, ``VR`` by video or
  phone (v3 ActCode); the subject is the Group for a joint session and the Patient for an
  individual one; the clinician appears by display name only.
- CheckIn → QuestionnaireResponse (``questionnaire`` =
  ``urn:cyclecare:instrument:<code>|<version>``), one item per answered question, linkId = the
  item code. Item text is left out: a licensed instrument's wording is the licensor's.
- CheckIn.total_score → Observation (category survey, ``{score}`` quantity, subscales as
  components), derived from the QuestionnaireResponse.
- Assignment → CarePlan, not Task: an assignment is a standing plan for the couple with a
  schedule and a lifecycle (active / paused / ended ↔ CarePlan active / on-hold / completed);
  a Task is one unit of work for one performer — the shape of an Occurrence, not of homework.

Not exported, whoever asks: safety flags, the answers and scores only the treating clinician
sees (``cyclecare.disclosure``: safety items, a safety screen such as HITS), note bodies, addenda,
cycle maps, episodes and assignment instructions — clinical free text that stays in cyclecare.
Every read goes through the selectors scoped to the asking user, so scope is theirs to decide:
a practice admin who does not treat the couple gets its administrative record (the couple,
partners, sessions) and no check-ins or homework; an integration client gets its practice's.
"""

import datetime
import uuid
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.group import Group
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.resource import Resource

from clinician.audit import audit_record, record_label
from couples.models import Couple, Partner, TherapySession
from couples.selectors import couple_get_for, partners_visible_to, sessions_visible_to

from .disclosure import Disclosed, Reader, checkin_disclosed
from .models import Assignment, CheckIn
from .selectors import assignments_visible_to, checkins_visible_to

# Fixed forever: fullUrls must stay the same from one export to the next.
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:cyclecare:fhir")

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM = "http://unitsofmeasure.org"
BCP47 = "urn:ietf:bcp:47"

ENCOUNTER_STATUS = {
    TherapySession.Status.SCHEDULED: "planned",
    TherapySession.Status.HELD: "finished",
    TherapySession.Status.CANCELLED: "cancelled",
    TherapySession.Status.NO_SHOW: "cancelled",
}
ENCOUNTER_CLASS = {
    TherapySession.Modality.IN_PERSON: ("AMB", "ambulatory"),
    TherapySession.Modality.VIDEO: ("VR", "virtual"),
    TherapySession.Modality.PHONE: ("VR", "virtual"),
}
CAREPLAN_STATUS = {
    Assignment.Status.ACTIVE: "active",
    Assignment.Status.PAUSED: "on-hold",
    Assignment.Status.ENDED: "completed",
}
# CarePlan.activity.detail.status has its own value set.
ACTIVITY_STATUS = {
    Assignment.Status.ACTIVE: "in-progress",
    Assignment.Status.PAUSED: "on-hold",
    Assignment.Status.ENDED: "completed",
}
WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # bit 0 … bit 6


def couple_bundle(*, user, couple_id: int) -> dict[str, Any]:
    """The couple's record as a FHIR R4 ``collection`` Bundle (a JSON-ready dict), read through
    the selectors scoped to ``user``; Http404 if the couple is out of scope. The export is
    recorded in the audit trail as ``couple.fhir_export``."""
    couple = couple_get_for(user=user, couple_id=couple_id, purpose="administrative")
    partners = list(
        partners_visible_to(user=user, purpose="administrative")
        .filter(couple_id=couple.pk)
        .order_by("seat", "pk")
    )
    sessions = sessions_visible_to(user=user).filter(couple_id=couple.pk).order_by("starts_at", "pk")
    assignments = (
        assignments_visible_to(user=user)
        .filter(couple_id=couple.pk)
        .select_related("assigned_by", "instrument")
        .order_by("created_at", "pk")
    )
    checkins = (
        checkins_visible_to(user=user)
        .filter(couple_id=couple.pk)
        .select_related("occurrence")
        .order_by("submitted_at", "pk")
    )

    patient_refs = {partner.pk: _reference(partner, "Patient", partner.display_name) for partner in partners}
    group_ref = _reference(couple, "Group", couple.label)
    resources: list[Resource] = [_patient(partner) for partner in partners]
    resources.append(_group(couple, partners))
    for session in sessions:
        subject = patient_refs[session.partner_id] if session.partner_id else group_ref
        resources.append(_encounter(session, subject))
    careplan_refs = {}
    for assignment in assignments:
        careplan_refs[assignment.pk] = _reference(assignment, "CarePlan")
        resources.append(_careplan(assignment, group_ref, patient_refs))
    for checkin in checkins:
        patient = patient_refs[checkin.partner_id]
        based_on = careplan_refs.get(checkin.occurrence.assignment_id) if checkin.occurrence else None
        # An export leaves cyclecare, whoever asks for it: what an outsider may see, no more.
        shown = checkin_disclosed(checkin, to=Reader.OUTSIDE)
        resources.append(_questionnaire_response(checkin, shown, patient, based_on))
        if shown.total_score is not None:
            response = _reference(checkin, "QuestionnaireResponse")
            resources.append(_score_observation(checkin, shown, patient, response))

    bundle = Bundle(
        type="collection",
        timestamp=timezone.now(),
        entry=[{"fullUrl": f"urn:uuid:{resource.id}", "resource": resource} for resource in resources],
    )
    audit_record(actor=user, action="couple.fhir_export", target=couple)
    return bundle.model_dump(mode="json")


def partner_records_bundle(
    *, partner: Partner, sessions: list[TherapySession], checkins: list[tuple[CheckIn, Disclosed]]
) -> dict[str, Any]:
    """One partner's own records (``cyclecare.records``) as a FHIR R4 ``collection`` Bundle: their
    Patient, the Encounters of their sessions (each with the partner as subject, so no Group
    naming the other partner), and their check-ins as QuestionnaireResponses with score
    Observations, disclosed as the caller decided (``checkins`` pairs each with its
    ``Disclosed``). The caller has checked access and writes the audit event."""
    patient_ref = _reference(partner, "Patient", partner.display_name)
    resources: list[Resource] = [_patient(partner)]
    resources.extend(_encounter(session, patient_ref) for session in sessions)
    for checkin, shown in checkins:
        resources.append(_questionnaire_response(checkin, shown, patient_ref, None))
        if shown.total_score is not None:
            response = _reference(checkin, "QuestionnaireResponse")
            resources.append(_score_observation(checkin, shown, patient_ref, response))
    bundle = Bundle(
        type="collection",
        timestamp=timezone.now(),
        entry=[{"fullUrl": f"urn:uuid:{resource.id}", "resource": resource} for resource in resources],
    )
    return bundle.model_dump(mode="json")


# REFERENCES
# ------------------------------------------------------------------------------
def _uuid(obj: models.Model, suffix: str = "") -> uuid.UUID:
    """A stable id from the model label and primary key; ``suffix`` names a row's second
    resource (a check-in's score)."""
    name = f"{record_label(type(obj))}:{obj.pk}"
    return uuid.uuid5(UUID_NAMESPACE, f"{name}:{suffix}" if suffix else name)


def _reference(obj: models.Model, resource_type: str, display: str = "") -> dict:
    reference = {"reference": f"urn:uuid:{_uuid(obj)}", "type": resource_type}
    if display:
        reference["display"] = display
    return reference


def _identifier(obj: models.Model) -> list[dict]:
    """The row's id in cyclecare's REST API, so an integration can match the two."""
    return [{"system": f"urn:cyclecare:{record_label(type(obj)).lower()}", "value": str(obj.pk)}]


def _quantity(value: Decimal | float | int) -> dict:
    return {"value": Decimal(str(value)), "unit": "{score}", "system": UCUM, "code": "{score}"}


# RESOURCES
# ------------------------------------------------------------------------------
def _patient(partner: Partner) -> Patient:
    telecom = []
    prefers_sms = partner.preferred_channel == Partner.Channel.SMS
    if partner.email:
        telecom.append({"system": "email", "value": partner.email, "rank": 2 if prefers_sms else 1})
    if partner.phone:
        telecom.append({"system": "phone", "value": partner.phone, "rank": 1 if prefers_sms else 2})
    language = Partner.Language(partner.language)
    return Patient(
        id=str(_uuid(partner)),
        identifier=_identifier(partner),
        active=partner.is_active,
        name=[{"text": partner.display_name}],
        telecom=telecom or None,
        communication=[
            {
                "language": {
                    "coding": [{"system": BCP47, "code": language.value, "display": language.label}],
                    "text": language.label,
                },
                "preferred": True,
            }
        ],
    )


def _group(couple: Couple, partners: list[Partner]) -> Group:
    members = [
        {"entity": _reference(partner, "Patient", partner.display_name), "inactive": not partner.is_active}
        for partner in partners
    ]
    return Group(
        id=str(_uuid(couple)),
        identifier=_identifier(couple),
        # A separated couple's record is closed like a discharged one's.
        active=couple.status not in (Couple.Status.DISCHARGED, Couple.Status.SEPARATED),
        code={"text": "Individual case" if couple.kind == Couple.Kind.INDIVIDUAL else "Couple"},
        type="person",
        actual=True,
        name=couple.label,
        quantity=sum(partner.is_active for partner in partners),
        member=members or None,
    )


def _encounter(session: TherapySession, subject: dict) -> Encounter:
    code, display = ENCOUNTER_CLASS[session.modality]
    starts_at = session.starts_at
    return Encounter(
        id=str(_uuid(session)),
        identifier=_identifier(session),
        status=ENCOUNTER_STATUS[session.status],
        class_fhir={"system": ACT_CODE, "code": code, "display": display},
        type=[{"text": f"{session.get_kind_display()} session ({session.get_modality_display()})"}],
        subject=subject,
        participant=[{"individual": {"display": session.clinician.display_name}}],
        period={"start": starts_at, "end": starts_at + datetime.timedelta(minutes=session.duration_minutes)},
        length={"value": session.duration_minutes, "unit": "min", "system": UCUM, "code": "min"},
    )


def _questionnaire_canonical(checkin_or_assignment: CheckIn | Assignment) -> str:
    instrument = checkin_or_assignment.instrument
    return f"urn:cyclecare:instrument:{instrument.code}|{instrument.version}"


def _questionnaire_response(
    checkin: CheckIn, shown: Disclosed, patient: dict, based_on: dict | None
) -> QuestionnaireResponse:
    items = []
    for item in checkin.instrument.definition["items"]:
        code = item["code"]
        if code not in shown.answers:
            continue
        answer = _answer(checkin.instrument.code, item, shown.answers[code])
        if answer is not None:
            items.append({"linkId": code, "answer": [answer]})
    return QuestionnaireResponse(
        id=str(_uuid(checkin)),
        identifier=_identifier(checkin)[0],
        basedOn=[based_on] if based_on else None,
        questionnaire=_questionnaire_canonical(checkin),
        status="completed",
        subject=patient,
        authored=checkin.submitted_at,
        author=patient,
        source=patient,
        item=items or None,
    )


def _answer(instrument_code: str, item: dict, value: Any) -> dict | None:
    """One answer typed by the item's response type (see cyclecare.scoring.ITEM_TYPES)."""
    kind = item["type"]
    if kind == "yes_no":
        return {"valueBoolean": bool(value)}
    if kind in ("likert", "slider"):
        return {"valueInteger": int(value)}
    if kind == "vas":
        return {"valueDecimal": Decimal(str(value))}
    if kind == "choice":
        coding = {"system": f"urn:cyclecare:instrument:{instrument_code}:{item['code']}", "code": str(value)}
        for option in item.get("options", []):
            if isinstance(option, dict) and option.get("value") == value:
                label = option.get("label")
                display = label.get("en") if isinstance(label, dict) else label
                if display:
                    coding["display"] = str(display)
        return {"valueCoding": coding}
    if kind == "text":
        return {"valueString": str(value)} if str(value) else None
    return None


def _score_observation(checkin: CheckIn, shown: Disclosed, patient: dict, response: dict) -> Observation:
    instrument = checkin.instrument
    system = f"urn:cyclecare:instrument:{instrument.code}"
    components = [
        {
            "code": {"coding": [{"system": system, "code": name}], "text": f"{instrument.name} {name}"},
            "valueQuantity": _quantity(value),
        }
        for name, value in sorted(shown.subscale_scores.items())
        if value is not None
    ]
    return Observation(
        id=str(_uuid(checkin, "total")),
        status="final",
        category=[{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
        code={
            "coding": [{"system": system, "code": "total", "display": f"{instrument.name} total"}],
            "text": f"{instrument.name} total",
        },
        subject=patient,
        effectiveDateTime=checkin.submitted_at,
        valueQuantity=_quantity(shown.total_score),
        derivedFrom=[response],
        component=components or None,
    )


def _careplan(assignment: Assignment, group: dict, patients: dict[int, dict]) -> CarePlan:
    detail: dict[str, Any] = {
        "status": ACTIVITY_STATUS[assignment.status],
        "description": assignment.title,
        "performer": [patients[p.pk] for p in assignment.partners.all() if p.pk in patients] or None,
        **_schedule(assignment),
    }
    if assignment.instrument_id:
        detail["instantiatesCanonical"] = [_questionnaire_canonical(assignment)]
    return CarePlan(
        id=str(_uuid(assignment)),
        identifier=_identifier(assignment),
        status=CAREPLAN_STATUS[assignment.status],
        intent="plan",
        title=assignment.title,
        subject=group,
        period={"start": assignment.starts_on, "end": assignment.ends_on},
        created=assignment.created_at,
        author={"display": assignment.assigned_by.display_name},
        activity=[{"detail": detail}],
    )


def _schedule(assignment: Assignment) -> dict:
    """The homework's schedule. Times of day are each partner's own local time."""
    if assignment.schedule == Assignment.Schedule.BEFORE_SESSION:
        hours = assignment.hours_before_session
        return {"scheduledString": f"{hours} hour{'s' if hours != 1 else ''} before each session"}
    repeat: dict[str, Any] = {"timeOfDay": [assignment.local_time]}
    if assignment.schedule == Assignment.Schedule.DAILY:
        repeat.update(frequency=1, period=1, periodUnit="d")
    else:
        repeat["dayOfWeek"] = [
            code for bit, code in enumerate(WEEKDAY_CODES) if assignment.weekdays & (1 << bit)
        ]
        if assignment.schedule == Assignment.Schedule.WEEKLY:
            repeat.update(frequency=1, period=1, periodUnit="wk")
    return {"scheduledTiming": {"repeat": repeat}}
