"""Free-text PHI is ciphertext in the database, and keys rotate."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from clinician.management.commands.rotate_phi_keys import encrypted_columns
from couples import services
from couples.models import Addendum, SessionNote
from tests.factories import couple_with_partners, held_session

pytestmark = pytest.mark.django_db
SECRET = "Partner A disclosed an affair from 2019"


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (test constants)
        return cursor.fetchone()[0]


def reset_key_caches() -> None:
    for _model, fields in encrypted_columns():
        for field in fields:
            field.__dict__.pop("keys", None)
            field.__dict__.pop("f", None)


@pytest.fixture
def signed_note():
    couple, a, b = couple_with_partners()
    user = couple.primary_clinician.user
    note = services.note_create(
        user=user, session=held_session(couple), data=SECRET, assessment="x", plan="y"
    )
    note = services.note_sign(user=user, note=note)
    services.addendum_add(user=user, note=note, body=SECRET)
    yield note
    reset_key_caches()


def test_phi_is_ciphertext_at_rest(signed_note):
    stored = raw("clinician_sessionnote", "data", signed_note.pk)
    assert SECRET not in stored and stored.startswith("gAAAA")
    assert SessionNote.objects.get(pk=signed_note.pk).data == SECRET
    addendum = Addendum.objects.get(note=signed_note)
    assert SECRET not in raw("clinician_addendum", "body", addendum.pk)
    # An empty section leaks nothing and reads back as "".
    assert raw("clinician_sessionnote", "objective", signed_note.pk) is None
    assert SessionNote.objects.get(pk=signed_note.pk).objective == ""


def test_every_free_text_phi_column_is_encrypted():
    columns = {
        f"{model._meta.label}.{field.name}" for model, fields in encrypted_columns() for field in fields
    }
    for expected in (
        "couples.SessionNote.data",
        "couples.SessionNote.plan",
        "couples.SessionNote.safety_review",
        "couples.Addendum.body",
        "cyclecare.CycleEpisode.notes",
        "cyclecare.CycleEpisode.trigger",
        "cyclecare.CheckIn.answers",
        "cyclecare.CycleMapPosition.longing",
        "cyclecare.SafetyFlag.resolution_note",
        "cyclecare.Assignment.instructions",
    ):
        assert expected in columns


def test_rotation_re_encrypts_signed_notes_and_addenda(signed_note, settings):
    old_salts = list(settings.SALT_KEY)
    before = raw("clinician_sessionnote", "data", signed_note.pk)
    with override_settings(SALT_KEY=["new-salt-2026", *old_salts]):
        reset_key_caches()
        call_command("rotate_phi_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    after = raw("clinician_sessionnote", "data", signed_note.pk)
    assert after != before
    # Only the new key is configured now, and everything still reads.
    with override_settings(SALT_KEY=["new-salt-2026"]):
        reset_key_caches()
        assert SessionNote.objects.get(pk=signed_note.pk).data == SECRET
        assert Addendum.objects.get(note=signed_note).body == SECRET
        call_command("rotate_phi_keys", "--check", stdout=open("/dev/null", "w"))  # noqa: SIM115
    # The note is still signed with the same digest.
    note = SessionNote.objects.get(pk=signed_note.pk)
    assert note.status == "signed" and note.signed_content_sha256 == signed_note.signed_content_sha256


def test_rotation_refuses_when_a_value_does_not_decrypt(signed_note):
    with override_settings(SALT_KEY=["an-unrelated-salt"]):
        reset_key_caches()
        with pytest.raises(CommandError, match="do not decrypt"):
            call_command("rotate_phi_keys")
    reset_key_caches()
    assert SessionNote.objects.get(pk=signed_note.pk).data == SECRET
