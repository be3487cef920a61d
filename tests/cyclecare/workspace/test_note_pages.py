"""The note pages: start (idempotent), the draft editor and its autosave, sign, the lock on a
signed note (form, autosave and API), addenda, the supervisor's co-signature and queue, the
print view, scope, whose record an individual session's note is, and the audit trail."""

import pytest
from django.urls import reverse
from django.utils.html import escape
from rest_framework.test import APIClient

from clinician.models import AuditEvent
from couples import services
from couples.models import Addendum, NoteCoSignature, SessionNote
from tests.factories import ClinicianFactory, TherapySessionFactory, couple_with_partners, held_session

pytestmark = pytest.mark.django_db

DAP = {"data": "Both named Sunday's fight.", "assessment": "Cycle active; step 2.", "plan": "Map the cycle."}


def url(name: str, **kwargs) -> str:
    return reverse(f"cyclecare:clinician:{name}", kwargs=kwargs)


def editor_post(note: SessionNote, **changes) -> dict:
    """What the editor's form submits: every field, as the browser sends it."""
    data = {
        "action": "save",
        "format": note.format,
        **{
            name: getattr(note, name) or "" for sections in SessionNote.SECTIONS.values() for name in sections
        },
        **{name: getattr(note, name) or "" for name in SessionNote.CYCLE_TEXT_FIELDS},
        "eft_stage": note.eft_stage or "",
        "eft_step": note.eft_step or "",
        "partner_a_move": note.partner_a_move,
        "partner_b_move": note.partner_b_move,
    }
    data.update(changes)
    return data


@pytest.fixture
def world(client):
    supervisor = ClinicianFactory(role="supervisor", display_name="Dr Sup")
    clinician = ClinicianFactory(
        practice=supervisor.practice, supervisor=supervisor, display_name="Dr Okafor"
    )
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", names=("Ana", "Ben"))
    session = held_session(couple)
    client.force_login(clinician.user)
    return clinician, couple, a, b, session


def draft_of(world, **content) -> SessionNote:
    clinician, couple, a, b, session = world
    note, _ = services.note_start(user=clinician.user, session=session)
    if content:
        note = services.note_update_draft(user=clinician.user, note=note, **content)
    return note


def signed_of(world) -> SessionNote:
    clinician = world[0]
    return services.note_sign(user=clinician.user, note=draft_of(world, **DAP))


# START AND EDIT
# ------------------------------------------------------------------------------
def test_start_page_then_one_draft_however_often_it_is_posted(client, world):
    clinician, couple, a, b, session = world
    page = client.get(url("note_edit", session_id=session.pk))
    assert page.status_code == 200 and "Start the note" in page.content.decode()
    assert not SessionNote.objects.exists()  # opening the page creates nothing
    first = client.post(url("note_edit", session_id=session.pk), {"action": "start", "format": "soap"})
    second = client.post(url("note_edit", session_id=session.pk), {"action": "start", "format": "birp"})
    assert first.status_code == second.status_code == 302
    note = SessionNote.objects.get()
    assert note.format == "soap" and note.author == clinician
    assert AuditEvent.objects.filter(action="note.create").count() == 1


def test_a_note_cannot_be_started_for_a_session_not_held(client, world):
    clinician, couple, a, b, session = world
    scheduled = TherapySessionFactory(couple=couple)
    page = client.get(url("note_edit", session_id=scheduled.pk)).content.decode()
    assert "Notes are written for held sessions." in page
    response = client.post(url("note_edit", session_id=scheduled.pk), {"action": "start", "format": "dap"})
    assert response.status_code == 400
    assert not SessionNote.objects.exists()


def test_editor_saves_the_draft_without_javascript(client, world):
    note = draft_of(world)
    response = client.post(
        url("note_edit", session_id=note.session_id),
        editor_post(
            note,
            data="Line one\r\nline two",
            assessment="A",
            plan="P",
            eft_stage="1",
            eft_step="2",
            partner_a_move="pursue",
            partner_b_move="withdraw",
            partner_a_position="Ana pushes for talk.",
            homework_assigned="Daily check-in.",
            safety_review="No concerns raised.",
        ),
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.data == "Line one\nline two"  # CRLF from the browser stored as LF
    assert (note.eft_stage, note.eft_step, note.partner_a_move) == (1, 2, "pursue")
    assert note.safety_review == "No concerns raised."
    page = client.get(url("note_edit", session_id=note.session_id)).content.decode()
    assert "Ana: move" in page and "Ben: position" in page
    assert 'data-format="dap"' in page and 'data-autosave-url="' in page
    assert "workspace/notes.js" in page and "<script>" not in page and 'style="' not in page


def test_a_partial_post_never_blanks_what_it_did_not_send(client, world):
    note = draft_of(world, **DAP)
    response = client.post(
        url("note_edit", session_id=note.session_id), {"action": "save", "plan": "New plan"}
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.data == DAP["data"] and note.plan == "New plan"


def test_stage_and_step_that_disagree_are_refused_with_a_message(client, world):
    note = draft_of(world, **DAP)
    response = client.post(
        url("note_edit", session_id=note.session_id), editor_post(note, eft_stage="1", eft_step="6")
    )
    assert response.status_code == 400
    note.refresh_from_db()
    assert note.eft_stage is None and note.eft_step is None


# AUTOSAVE
# ------------------------------------------------------------------------------
def test_autosave_returns_saved_at_json(client, world):
    note = draft_of(world)
    response = client.post(url("note_autosave", note_id=note.pk), editor_post(note, data="Typed so far"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"saved_at", "saved_label"} and len(body["saved_label"]) == 5
    note.refresh_from_db()
    assert note.data == "Typed so far"
    # An unchanged form writes nothing (no audit event).
    before = AuditEvent.objects.filter(action="note.update").count()
    assert client.post(url("note_autosave", note_id=note.pk), editor_post(note)).status_code == 200
    assert AuditEvent.objects.filter(action="note.update").count() == before
    # Autosave is a write, audited as one; it does not add read events.
    assert not AuditEvent.objects.filter(action="note.read").exists()


def test_autosave_refuses_invalid_input_with_400_json(client, world):
    note = draft_of(world)
    response = client.post(url("note_autosave", note_id=note.pk), editor_post(note, format="xyz"))
    assert response.status_code == 400 and "format" in response.json()["errors"]
    response = client.post(
        url("note_autosave", note_id=note.pk), editor_post(note, eft_stage="3", eft_step="1")
    )
    assert response.status_code == 400 and response.json()["detail"]
    note.refresh_from_db()
    assert note.format == "dap" and note.eft_stage is None


def test_autosave_needs_post_and_the_csrf_token(world):
    from django.test import Client

    note = draft_of(world)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world[0].user)
    assert strict.get(url("note_autosave", note_id=note.pk)).status_code == 405
    assert strict.post(url("note_autosave", note_id=note.pk), editor_post(note, data="x")).status_code == 403
    note.refresh_from_db()
    assert note.data == ""


def test_only_the_author_edits_a_draft(client, world):
    note = draft_of(world, **DAP)
    supervisor = world[0].supervisor
    client.force_login(supervisor.user)
    response = client.post(url("note_autosave", note_id=note.pk), editor_post(note, data="sup edit"))
    assert response.status_code == 400
    response = client.get(url("note_edit", session_id=note.session_id))
    assert response.status_code == 302 and response["Location"] == url("note", note_id=note.pk)
    response = client.post(url("note_sign", note_id=note.pk), follow=True)
    assert (
        response.status_code == 400
        and "Only the note&#x27;s author can sign it." in response.content.decode()
    )
    note.refresh_from_db()
    assert note.data == DAP["data"] and note.status == "draft"


# SIGN AND THE LOCK
# ------------------------------------------------------------------------------
def test_signing_an_empty_note_is_refused_and_names_each_section(client, world):
    note = draft_of(world)
    response = client.post(url("note_sign", note_id=note.pk), editor_post(note, action="sign"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "The note was not signed (the draft is saved)." in html
    # Data, assessment and plan: each in the summary and beside its field.
    assert html.count("Write this section before signing.") == 6
    assert all(f'id="id_{name}-error"' in html for name in ("data", "assessment", "plan"))
    note.refresh_from_db()
    assert note.status == "draft" and note.signed_at is None
    assert not AuditEvent.objects.filter(action="note.sign").exists()


def test_save_and_sign_from_the_editor_signs_what_is_on_screen(client, world):
    clinician = world[0]
    note = draft_of(world)
    response = client.post(url("note_sign", note_id=note.pk), editor_post(note, action="sign", **DAP))
    assert response.status_code == 302 and response["Location"] == url("note", note_id=note.pk)
    note.refresh_from_db()
    assert note.status == "signed" and note.signed_by == clinician and note.signed_at
    assert note.data == DAP["data"]
    page = client.get(url("note", note_id=note.pk)).content.decode()
    assert "Electronically signed by Dr Okafor" in page and note.signed_content_sha256 in page


def test_a_signed_note_refuses_edits_through_the_form(client, world):
    note = signed_of(world)
    editor = client.get(url("note_edit", session_id=note.session_id))
    assert editor.status_code == 302 and editor["Location"] == url("note", note_id=note.pk)
    response = client.post(
        url("note_edit", session_id=note.session_id), editor_post(note, plan="Rewritten"), follow=True
    )
    assert "This note is signed and cannot be changed; add an addendum instead." in response.content.decode()
    assert SessionNote.objects.get(pk=note.pk).plan == DAP["plan"]
    # The read view has no editable field for the note's content.
    page = client.get(url("note", note_id=note.pk)).content.decode()
    assert 'name="plan"' not in page and 'name="data"' not in page


def test_a_signed_note_refuses_autosave_with_409_json(client, world):
    note = signed_of(world)
    response = client.post(url("note_autosave", note_id=note.pk), editor_post(note, plan="Rewritten"))
    assert response.status_code == 409
    assert "signed" in response.json()["detail"]
    assert SessionNote.objects.get(pk=note.pk).plan == DAP["plan"]


def test_a_signed_note_refuses_the_api_patch(world):
    note = signed_of(world)
    api = APIClient()
    api.force_authenticate(world[0].user)
    response = api.patch(f"/api/v1/notes/{note.pk}/", {"plan": "Rewritten"}, format="json")
    assert response.status_code == 409
    assert SessionNote.objects.get(pk=note.pk).plan == DAP["plan"]


def test_signing_twice_is_refused_with_a_message(client, world):
    note = signed_of(world)
    signed_at = note.signed_at
    response = client.post(url("note_sign", note_id=note.pk), follow=True)
    assert "This note is already signed." in response.content.decode()
    assert SessionNote.objects.get(pk=note.pk).signed_at == signed_at


# ADDENDA
# ------------------------------------------------------------------------------
def test_addendum_after_signing(client, world):
    note = signed_of(world)
    response = client.post(url("note_addendum", note_id=note.pk), {"body": "Ben called with context."})
    assert response.status_code == 302
    addendum = Addendum.objects.get()
    assert addendum.author == world[0] and addendum.body == "Ben called with context."
    assert "Ben called with context." in client.get(url("note", note_id=note.pk)).content.decode()


def test_an_empty_addendum_and_an_addendum_to_a_draft_are_refused(client, world):
    note = draft_of(world, **DAP)
    response = client.post(url("note_addendum", note_id=note.pk), {"body": "too early"})
    assert response.status_code == 400
    assert "Edit the draft instead; addenda follow signing." in response.content.decode()
    note = services.note_sign(user=world[0].user, note=note)
    response = client.post(url("note_addendum", note_id=note.pk), {"body": "   "})
    assert response.status_code == 400 and "Write the addendum." in response.content.decode()
    assert not Addendum.objects.exists()


# CO-SIGNATURE
# ------------------------------------------------------------------------------
@pytest.fixture
def prelicensed_signed(world):
    clinician = world[0]
    associate = ClinicianFactory(
        practice=clinician.practice,
        supervisor=clinician.supervisor,
        is_prelicensed=True,
        display_name="Assoc",
    )
    couple, a, b = couple_with_partners(associate, label="Moreno & Li")
    note, _ = services.note_start(user=associate.user, session=held_session(couple))
    note = services.note_update_draft(user=associate.user, note=note, **DAP)
    return services.note_sign(user=associate.user, note=note)


def test_supervisor_sees_the_queue_and_co_signs(client, prelicensed_signed):
    note = prelicensed_signed
    supervisor = note.author.supervisor
    client.force_login(note.author.user)
    assert url("cosign_queue") not in client.get(url("caseload")).content.decode()
    client.force_login(supervisor.user)
    # The supervisor reaches the queue from every page's navigation.
    assert f'href="{url("cosign_queue")}"' in client.get(url("caseload")).content.decode()
    queue = client.get(url("cosign_queue"))
    assert [n.pk for n in queue.context["notes"]] == [note.pk]
    page = client.get(url("note", note_id=note.pk)).content.decode()
    assert "Co-sign as supervisor" in page and "Awaiting co-signature by Dr Sup" in page
    assert client.post(url("note_cosign", note_id=note.pk)).status_code == 302
    cosignature = NoteCoSignature.objects.get(note=note)
    assert cosignature.supervisor == supervisor
    assert not client.get(url("cosign_queue")).context["notes"]
    page = client.get(url("note", note_id=note.pk)).content.decode()
    assert "Co-signed by supervisor Dr Sup" in page and "Co-sign as supervisor" not in page
    # Co-signing twice is refused.
    response = client.post(url("note_cosign", note_id=note.pk))
    assert response.status_code == 400 and "This note is already co-signed." in response.content.decode()
    assert NoteCoSignature.objects.count() == 1


def test_co_signature_by_someone_not_the_supervisor_is_refused(client, prelicensed_signed):
    note = prelicensed_signed
    # The author cannot co-sign their own note.
    client.force_login(note.author.user)
    response = client.post(url("note_cosign", note_id=note.pk))
    assert response.status_code == 400
    assert "Only the author&#x27;s supervisor can co-sign." in response.content.decode()
    assert "Co-sign as supervisor" not in client.get(url("note", note_id=note.pk)).content.decode()
    # Another supervisor of the practice does not even see the note.
    other = ClinicianFactory(practice=note.practice, role="supervisor")
    client.force_login(other.user)
    assert client.post(url("note_cosign", note_id=note.pk)).status_code == 404
    assert not client.get(url("cosign_queue")).context["notes"]
    assert not NoteCoSignature.objects.exists()


def test_a_licensed_clinicians_note_needs_no_co_signature(client, world):
    note = signed_of(world)
    client.force_login(world[0].supervisor.user)
    response = client.post(url("note_cosign", note_id=note.pk))
    assert (
        response.status_code == 400 and "This note does not need a co-signature." in response.content.decode()
    )
    assert not NoteCoSignature.objects.exists()


# PRINT
# ------------------------------------------------------------------------------
def test_print_view_of_a_signed_note(client, prelicensed_signed):
    note = prelicensed_signed
    supervisor = note.author.supervisor
    services.note_cosign(user=supervisor.user, note=note)
    services.addendum_add(user=supervisor.user, note=note, body="Reviewed in supervision.")
    client.force_login(supervisor.user)
    response = client.get(url("note_print", note_id=note.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "workspace/print.css" in html
    assert note.signed_content_sha256 in html
    assert "Electronically signed by Assoc" in html and "Co-signed by supervisor Dr Sup" in html
    assert "Reviewed in supervision." in html and escape(DAP["data"]) in html
    assert "Moreno &amp; Li (joint session)" in html


def test_a_draft_is_not_printable(client, world):
    note = draft_of(world, **DAP)
    response = client.get(url("note_print", note_id=note.pk), follow=True)
    assert "Only a signed note can be printed." in response.content.decode()


# SCOPE, RECORD AND AUDIT
# ------------------------------------------------------------------------------
def test_another_clinicians_note_is_a_404_everywhere(client, world):
    stranger = ClinicianFactory(practice=world[0].practice)
    couple, a, b = couple_with_partners(stranger)
    session = held_session(couple)
    note, _ = services.note_start(user=stranger.user, session=session)
    note = services.note_update_draft(user=stranger.user, note=note, **DAP)
    assert client.get(url("note_edit", session_id=session.pk)).status_code == 404
    assert (
        client.post(url("note_edit", session_id=session.pk), {"action": "start", "format": "dap"}).status_code
        == 404
    )
    for name in ("note", "note_print"):
        assert client.get(url(name, note_id=note.pk)).status_code == 404
    for name in ("note_autosave", "note_sign", "note_addendum", "note_cosign"):
        assert (
            client.post(url(name, note_id=note.pk), editor_post(note, data="x", body="x")).status_code == 404
        )
    note.refresh_from_db()
    assert note.data == DAP["data"] and note.status == "draft" and not note.addenda.exists()


def test_a_practice_admin_does_not_read_notes(client, world):
    note = signed_of(world)
    admin = ClinicianFactory(practice=world[0].practice, role="practice_admin")
    client.force_login(admin.user)
    assert client.get(url("note", note_id=note.pk)).status_code == 404
    assert client.get(url("note_edit", session_id=note.session_id)).status_code == 404


def test_an_individual_sessions_note_says_whose_record_it_is(client, world):
    clinician, couple, a, b, _ = world
    session = held_session(couple, kind="individual", partner=a)
    session.attendees.set([a])
    note, _ = services.note_start(user=clinician.user, session=session)
    services.note_update_draft(
        user=clinician.user, note=note, data="Ana's own disclosure", assessment="x", plan="y"
    )
    for page_url in (url("note", note_id=note.pk), url("note_edit", session_id=session.pk)):
        page = client.get(page_url).content.decode()
        assert "Ana's record" in page and "not shared with Ben" in page
    # The couple's session list shows that the session exists, never what the note says.
    listing = client.get(url("sessions", couple_id=couple.pk)).content.decode()
    assert "Individual · Ana" in listing and "Ana's own disclosure" not in listing
    # The records as selectors give them: joint notes for the couple, own individual notes per partner.
    from couples import selectors

    joint, _ = services.note_start(user=clinician.user, session=world[4])
    assert list(selectors.notes_in_couple_record(user=clinician.user, couple_id=couple.pk)) == [joint]
    assert set(selectors.notes_in_partner_record(user=clinician.user, partner_id=a.pk)) == {joint, note}
    assert list(selectors.notes_in_partner_record(user=clinician.user, partner_id=b.pk)) == [joint]


def test_opening_a_note_is_audited_once_per_read(client, world):
    note = signed_of(world)
    client.get(url("note", note_id=note.pk))
    client.get(url("note_print", note_id=note.pk))
    reads = AuditEvent.objects.filter(action="note.read", target_id=str(note.pk))
    assert reads.count() == 2 and {e.actor_id for e in reads} == {str(world[0].user.pk)}
