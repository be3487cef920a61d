"""A partner's own records (cyclecare.records): what is theirs and nothing else, released
joint-session notes item by item (audited), three formats, and a single-use, expiring link."""

import datetime
import io
import json
import zipfile
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from clinician.models import AuditEvent, Clinician
from couples import services as couple_services
from couples.models import Consent
from couples.selectors import note_get_for
from cyclecare import records, services
from cyclecare.models import RecordExport, RecordRelease
from tests.factories import (
    ClinicianFactory,
    UserFactory,
    couple_with_partners,
    held_session,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db

JOINT_NOTE_TEXT = "Joint session: both partners named the cycle"
OTHER_JOINT_TEXT = "Joint session two: unreleased assessment"
A_INDIVIDUAL_TEXT = "Individual session with A: grief work"
B_INDIVIDUAL_TEXT = "Individual session with B: never for A"
A_DRAFT_TEXT = "A's draft, unsigned"


def _note(user, session, text: str, *, sign: bool = True):
    note = couple_services.note_create(user=user, session=session, data=text, assessment="a", plan="p")
    if sign:
        note = couple_services.note_sign(user=user, note=note)
    return note


@pytest.fixture
def case():
    clinician = ClinicianFactory(display_name="Dr Okafor")
    couple, a, b = couple_with_partners(clinician, names=("Alex", "Sam"))
    user = clinician.user
    checkin = shipped_instrument()
    own = services.checkin_submit(
        partner=a, instrument=checkin, answers={"cycle_showed_up": True, "connection": 7, "felt_unsafe": True}
    )
    b_private = services.checkin_submit(
        partner=b, instrument=checkin, answers={"cycle_showed_up": False, "connection": 2}
    )
    b_shared = services.checkin_submit(
        partner=b,
        instrument=checkin,
        answers={"cycle_showed_up": True, "connection": 4, "felt_unsafe": True},
        shared_with_partner=True,
    )
    joint = held_session(couple, days_ago=5)
    joint_two = held_session(couple, days_ago=4)
    a_alone = held_session(couple, days_ago=3, kind="individual", partner=a)
    b_alone = held_session(couple, days_ago=2, kind="individual", partner=b)
    a_draft_session = held_session(couple, days_ago=1, kind="individual", partner=a)
    joint_note = _note(user, joint, JOINT_NOTE_TEXT)
    joint_two_note = _note(user, joint_two, OTHER_JOINT_TEXT)
    a_note = _note(user, a_alone, A_INDIVIDUAL_TEXT)
    couple_services.addendum_add(user=user, note=a_note, body="A's addendum")
    b_note = _note(user, b_alone, B_INDIVIDUAL_TEXT)
    _note(user, a_draft_session, A_DRAFT_TEXT, sign=False)
    a_episode = services.episode_record(
        actor=a, couple=couple, occurred_at=timezone.now(), intensity=6, trigger="A's own trigger words"
    )
    b_episode = services.episode_record(
        actor=b, couple=couple, occurred_at=timezone.now(), intensity=3, trigger="B's private trigger"
    )
    b_shared_episode = services.episode_record(
        actor=b,
        couple=couple,
        occurred_at=timezone.now(),
        intensity=4,
        trigger="B shared, but the words stay B's",
        shared_with_partner=True,
    )
    couple_services.consent_record(actor=user, partner=a, kind="treatment", granted=True, method="written")
    couple_services.consent_record(actor=user, partner=b, kind="treatment", granted=True, method="verbal")
    return SimpleNamespace(**locals())


def _text(document) -> str:
    return json.dumps(document)


def test_segmentation_keeps_what_is_not_theirs_out(case):
    gathered = records.partner_records_gather(partner=case.a)
    document, text = gathered.document, _text(gathered.document)

    assert {c["id"] for c in document["checkins"]} == {case.own.pk}
    answers = {a["item"]: a["answer"] for a in document["checkins"][0]["answers"]}
    assert answers["connection"] == 7 and "felt_unsafe" not in answers  # a safety answer: clinician only
    shared = document["shared_with_you"]["checkins"]
    assert [c["id"] for c in shared] == [case.b_shared.pk]
    assert "felt_unsafe" not in {a["item"] for a in shared[0]["answers"]}
    assert case.b_private.pk not in {c["id"] for c in document["checkins"] + shared}

    notes = {n["id"] for n in document["notes"]}
    assert notes == {case.a_note.pk}
    assert A_INDIVIDUAL_TEXT in text and "A's addendum" in text
    for absent in (JOINT_NOTE_TEXT, OTHER_JOINT_TEXT, B_INDIVIDUAL_TEXT, A_DRAFT_TEXT):
        assert absent not in text
    assert "B's private trigger" not in text and "B shared, but the words stay B's" not in text
    assert "A's own trigger words" in text
    assert {e["id"] for e in document["episodes"]} == {case.a_episode.pk}
    assert [e["id"] for e in document["shared_with_you"]["episodes"]] == [case.b_shared_episode.pk]
    assert [c["method"] for c in document["consents"]] == [Consent.Method.WRITTEN]
    assert document["partner"]["email"] == case.a.email and case.b.email not in text
    assert case.b_alone.pk not in {s["id"] for s in document["sessions"]}


def test_a_released_joint_note_appears_and_the_release_is_audited(case):
    release = records.record_release(user=case.user, partner=case.a, note=case.joint_note)
    text = _text(records.partner_records_gather(partner=case.a).document)
    assert JOINT_NOTE_TEXT in text and OTHER_JOINT_TEXT not in text
    # Released to A only: B's records do not gain it.
    assert JOINT_NOTE_TEXT not in _text(records.partner_records_gather(partner=case.b).document)
    assert AuditEvent.objects.filter(
        action="record.release", target_type="cyclecare.recordrelease", target_id=str(release.pk)
    ).exists()

    records.record_release_withdraw(user=case.user, release=release)
    assert JOINT_NOTE_TEXT not in _text(records.partner_records_gather(partner=case.a).document)
    assert AuditEvent.objects.filter(action="record.release_withdraw", target_id=str(release.pk)).exists()


def test_releases_set_releases_and_withdraws_item_by_item(case):
    records.record_releases_set(
        user=case.user, partner=case.a, note_ids=[case.joint_note.pk, case.joint_two_note.pk]
    )
    records.record_releases_set(user=case.user, partner=case.a, note_ids=[case.joint_two_note.pk])
    in_force = set(records.releases_in_force(partner=case.a).values_list("target_id", flat=True))
    assert in_force == {case.joint_two_note.pk}
    assert AuditEvent.objects.filter(action="record.release").count() == 2
    assert AuditEvent.objects.filter(action="record.release_withdraw").count() == 1


@pytest.mark.parametrize("which", ["individual", "draft", "other_couple"])
def test_only_signed_joint_notes_of_the_couple_can_be_released(case, which):
    if which == "individual":
        note = case.b_note
    elif which == "draft":
        note = case.joint_note.__class__.objects.get(status="draft")
    else:
        other, _, _ = couple_with_partners(case.clinician)
        note = _note(case.user, held_session(other), "other couple")
    with pytest.raises(ValidationError):
        records.record_release(user=case.user, partner=case.a, note=note)
    assert not RecordRelease.objects.exists()


def test_only_the_treating_clinician_prepares_or_releases(case):
    colleague = ClinicianFactory(practice=case.couple.practice)
    admin = ClinicianFactory(practice=case.couple.practice, role=Clinician.Role.PRACTICE_ADMIN)
    stranger = ClinicianFactory()
    for outsider in (colleague, stranger):
        with pytest.raises(Http404):
            records.records_prepare(user=outsider.user, partner_id=case.a.pk)
    with pytest.raises(Http404):
        records.records_prepare(user=admin.user, partner_id=case.a.pk)
    with pytest.raises(ValidationError):
        records.record_release(user=admin.user, partner=case.a, note=case.joint_note)
    assert not RecordExport.objects.exists() and not RecordRelease.objects.exists()


def test_formats_json_fhir_and_pdf(case):
    export, token = records.records_prepare(
        user=case.user, partner_id=case.a.pk, note_ids=[case.joint_note.pk]
    )
    assert AuditEvent.objects.filter(action="record.prepare", target_id=str(export.pk)).exists()
    assert token not in export.token_sha256 and len(export.token_sha256) == 64

    _, archive = records.record_export_download(token=token)
    files = zipfile.ZipFile(io.BytesIO(archive))
    assert sorted(files.namelist()) == ["records.fhir.json", "records.json", "records.pdf"]
    document = json.loads(files.read("records.json"))
    assert document["format"] == records.FORMAT and JOINT_NOTE_TEXT in _text(document)

    body = json.loads(files.read("records.fhir.json"))
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection"
    kinds = [entry["resource"]["resourceType"] for entry in body["entry"]]
    (patient,) = [e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patient["identifier"][0]["value"] == str(case.a.pk)
    assert "Group" not in kinds
    responses = [
        e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ]
    assert [r["identifier"]["value"] for r in responses] == [str(case.own.pk)]
    assert "felt_unsafe" not in json.dumps(responses)
    urls = {entry["fullUrl"] for entry in body["entry"]}
    for entry in body["entry"]:
        subject = entry["resource"].get("subject")
        if subject:
            assert subject["reference"] in urls
    encounters = {
        e["resource"]["identifier"][0]["value"]
        for e in body["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    }
    assert str(case.b_alone.pk) not in encounters and str(case.a_alone.pk) in encounters

    pdf = files.read("records.pdf")
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")


def test_the_link_is_single_use_and_the_download_is_audited(case):
    export, token = records.records_prepare(user=case.user, partner_id=case.a.pk)
    assert records.record_export_resolve(token=token).state == records.ExportState.READY
    records.record_export_download(token=token)
    event = AuditEvent.objects.get(action="record.download")
    assert (event.actor_kind, event.actor_id, event.target_id) == ("partner", str(case.a.pk), str(export.pk))
    export.refresh_from_db()
    assert export.downloaded_at is not None and export.contents == {}
    assert records.record_export_resolve(token=token).state == records.ExportState.USED
    with pytest.raises(ValidationError) as refused:
        records.record_export_download(token=token)
    assert refused.value.code == "used"
    assert AuditEvent.objects.filter(action="record.download").count() == 1


def test_an_expired_or_unknown_link_opens_nothing(case):
    export, token = records.records_prepare(user=case.user, partner_id=case.a.pk)
    RecordExport.objects.filter(pk=export.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=5),
        expires_at=timezone.now() - datetime.timedelta(seconds=1),
    )
    assert records.record_export_resolve(token=token).state == records.ExportState.EXPIRED
    with pytest.raises(ValidationError):
        records.record_export_download(token=token)
    for bad in ("", "x" * 101, token[:-1] + ("A" if token[-1] != "A" else "B")):
        assert records.record_export_resolve(token=bad).state == records.ExportState.INVALID
    assert not AuditEvent.objects.filter(action="record.download").exists()


def test_access_report_lists_reads_of_their_rows_and_not_of_the_other_partners(case):
    note_get_for(user=case.user, note_id=case.a_note.pk)
    note_get_for(user=case.user, note_id=case.b_note.pk)
    note_get_for(user=case.user, note_id=case.joint_note.pk)
    couple_services.partner_update(user=case.user, partner=case.a, pronouns="they/them")

    report = records.partner_access_report(
        partner=case.a, targets=records.partner_records_gather(partner=case.a).targets
    )
    seen = {(row["action"], row["record_id"]) for row in report}
    assert ("note.read", str(case.a_note.pk)) in seen
    assert ("partner.update", str(case.a.pk)) in seen
    assert ("note.read", str(case.b_note.pk)) not in seen
    assert ("note.read", str(case.joint_note.pk)) not in seen  # not released: not in A's records
    assert {row["who"] for row in report if row["action"] == "note.read"} == {"Dr Okafor"}


def test_the_operator_sees_exports_and_erasures_in_the_admin_without_their_contents(case, client):
    export, _ = records.records_prepare(user=case.user, partner_id=case.a.pk)
    erasure = couple_services.partner_erase(user=case.user, partner=case.b)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for model, row, hidden in (
        ("cyclecare/recordexport", export, A_INDIVIDUAL_TEXT),
        ("couples/partnererasure", erasure, "Sam"),
    ):
        listing = client.get(f"/admin/{model}/")
        detail = client.get(f"/admin/{model}/{row.pk}/change/")
        assert listing.status_code == detail.status_code == 200
        assert hidden not in listing.text and hidden not in detail.text
        assert AuditEvent.objects.filter(action="admin.view", target_id=str(row.pk)).exists()
    # A practice admin's admin shows them nothing of these.
    admin = ClinicianFactory(practice=case.couple.practice, role=Clinician.Role.PRACTICE_ADMIN)
    admin.user.is_staff = True
    admin.user.save(update_fields=["is_staff"])
    client.force_login(admin.user)
    assert client.get("/admin/cyclecare/recordexport/").status_code in (403, 404)
