"""Session notes: draft → signed (locked for ever) → addenda; co-signature by the supervisor."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InternalError, connection, transaction

from couples import services
from couples.models import Addendum, NoteCoSignature, SessionNote
from tests.factories import ClinicianFactory, couple_with_partners, held_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft():
    supervisor = ClinicianFactory(role="supervisor")
    author = ClinicianFactory(practice=supervisor.practice, supervisor=supervisor, is_prelicensed=True)
    couple, a, b = couple_with_partners(author)
    session = held_session(couple)
    note = services.note_create(user=author.user, session=session, format="soap")
    return note


def fill(note):
    return services.note_update_draft(
        user=note.author.user,
        note=note,
        subjective="Both describe Sunday's fight as 'the usual'.",
        objective="A leaned in, raised voice; B turned away, short answers.",
        assessment="Pursue–withdraw cycle active; stage 1 step 2.",
        plan="Map the cycle; daily check-in.",
        eft_stage=1,
        eft_step=2,
        partner_a_move="pursue",
        partner_b_move="withdraw",
    )


def test_signing_an_empty_note_is_refused_naming_each_section(draft):
    with pytest.raises(ValidationError) as excinfo:
        services.note_sign(user=draft.author.user, note=draft)
    assert set(excinfo.value.error_dict) == {"subjective", "objective", "assessment", "plan"}
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_signed_note_is_locked_for_ever(draft):
    note = services.note_sign(user=draft.author.user, note=fill(draft))
    assert note.signed_content_sha256 and note.signed_by == draft.author
    with pytest.raises(ValidationError):
        services.note_update_draft(user=draft.author.user, note=note, plan="changed")
    note = SessionNote.objects.get(pk=note.pk)
    note.plan = "changed behind the service's back"
    with pytest.raises(ValidationError):
        note.save()
    with pytest.raises(ValidationError):
        SessionNote.objects.filter(pk=note.pk).update(plan="bulk change")
    with pytest.raises(ValidationError):
        note.delete()
    with pytest.raises(ValidationError):
        services.note_sign(user=draft.author.user, note=note)
    assert SessionNote.objects.get(pk=note.pk).plan == "Map the cycle; daily check-in."


def test_database_refuses_changing_a_signed_note(postgres, draft):
    note = services.note_sign(user=draft.author.user, note=fill(draft))
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE clinician_sessionnote SET format = 'dap' WHERE id = %s", [note.pk])
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinician_sessionnote WHERE id = %s", [note.pk])
    # A draft is still editable in SQL (the trigger guards signed rows only).
    other = fill(services.note_create(user=draft.author.user, session=held_session(draft.session.couple)))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE clinician_sessionnote SET format = 'dap' WHERE id = %s", [other.pk])


def test_only_the_author_edits_and_signs(draft):
    colleague = ClinicianFactory(practice=draft.practice)
    with pytest.raises(ValidationError):
        services.note_update_draft(user=colleague.user, note=draft, plan="x")
    with pytest.raises(ValidationError):
        services.note_sign(user=colleague.user, note=fill(draft))


def test_unknown_note_field_is_named(draft):
    with pytest.raises(ValidationError) as excinfo:
        services.note_update_draft(user=draft.author.user, note=draft, body="x")
    assert "body" in excinfo.value.error_dict


def test_stage_and_step_must_agree(draft):
    with pytest.raises(ValidationError):
        services.note_update_draft(user=draft.author.user, note=draft, eft_stage=1, eft_step=6)


def test_note_needs_a_held_session(draft):
    couple = draft.session.couple
    from tests.factories import TherapySessionFactory

    scheduled = TherapySessionFactory(couple=couple)
    with pytest.raises(ValidationError) as excinfo:
        services.note_create(user=draft.author.user, session=scheduled)
    assert "session" in excinfo.value.error_dict
    with pytest.raises(ValidationError):
        services.note_create(user=draft.author.user, session=draft.session)


def test_cosignature_by_the_supervisor_only(draft):
    note = services.note_sign(user=draft.author.user, note=fill(draft))
    assert note.needs_cosignature
    other_supervisor = ClinicianFactory(practice=draft.practice, role="supervisor")
    with pytest.raises(ValidationError) as excinfo:
        services.note_cosign(user=other_supervisor.user, note=note)
    assert excinfo.value.error_dict["supervisor"][0].code == "not_supervisor"
    with pytest.raises(ValidationError):
        services.note_cosign(user=draft.author.user, note=note)
    cosignature = services.note_cosign(user=draft.author.supervisor.user, note=note)
    assert cosignature.supervisor == draft.author.supervisor
    with pytest.raises(ValidationError):
        services.note_cosign(user=draft.author.supervisor.user, note=note)
    assert NoteCoSignature.objects.count() == 1
    note.refresh_from_db()
    assert not note.needs_cosignature


def test_draft_cannot_be_cosigned(draft):
    with pytest.raises(ValidationError):
        services.note_cosign(user=draft.author.supervisor.user, note=draft)


def test_addenda_follow_signing_and_never_change(draft):
    with pytest.raises(ValidationError):
        services.addendum_add(user=draft.author.user, note=draft, body="too early")
    note = services.note_sign(user=draft.author.user, note=fill(draft))
    with pytest.raises(ValidationError) as excinfo:
        services.addendum_add(user=draft.author.user, note=note, body="   ")
    assert "body" in excinfo.value.error_dict
    addendum = services.addendum_add(user=draft.author.user, note=note, body="B called to add context.")
    addendum.body = "rewritten"
    with pytest.raises(ValidationError):
        addendum.save()
    assert Addendum.objects.get(pk=addendum.pk).body == "B called to add context."
    # The supervisor may add one too; a colleague may not.
    services.addendum_add(user=draft.author.supervisor.user, note=note, body="Reviewed in supervision.")
    with pytest.raises(ValidationError):
        services.addendum_add(user=ClinicianFactory(practice=draft.practice).user, note=note, body="x")


def test_database_refuses_changing_an_addendum(postgres, draft):
    note = services.note_sign(user=draft.author.user, note=fill(draft))
    addendum = services.addendum_add(user=draft.author.user, note=note, body="context")
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE clinician_addendum SET author_id = author_id WHERE id = %s", [addendum.pk])


def test_note_start_returns_the_one_note_of_the_session(draft):
    again, created = services.note_start(user=draft.author.user, session=draft.session, format="birp")
    assert not created and again.pk == draft.pk and again.format == "soap"
    fresh = held_session(draft.session.couple)
    note, created = services.note_start(user=draft.author.user, session=fresh, format="birp")
    assert created and note.format == "birp" and note.status == "draft"
    with pytest.raises(ValidationError):
        services.note_start(user=draft.author.user, session=held_session(draft.session.couple), format="xyz")


def test_signing_drops_text_left_in_another_formats_sections(draft):
    note = services.note_update_draft(user=draft.author.user, note=fill(draft), data="from a DAP try")
    note = services.note_sign(user=draft.author.user, note=note)
    stored = SessionNote.objects.get(pk=note.pk)
    assert stored.data == "" and stored.subjective
    assert stored.signed_content_sha256 == services.note_content_digest(stored)


def test_cosignature_queue_lists_the_supervisors_unsigned_notes_only(draft):
    from couples import selectors

    supervisor = draft.author.supervisor
    assert not selectors.notes_awaiting_cosignature(user=supervisor.user).exists()  # a draft
    note = services.note_sign(user=draft.author.user, note=fill(draft))
    assert list(selectors.notes_awaiting_cosignature(user=supervisor.user)) == [note]
    assert not selectors.notes_awaiting_cosignature(user=draft.author.user).exists()
    other = ClinicianFactory(practice=draft.practice, role="supervisor")
    assert not selectors.notes_awaiting_cosignature(user=other.user).exists()
    services.note_cosign(user=supervisor.user, note=note)
    assert not selectors.notes_awaiting_cosignature(user=supervisor.user).exists()
