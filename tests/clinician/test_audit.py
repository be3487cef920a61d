import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InternalError, connection, transaction

from clinician.models import AuditEvent
from couples import selectors, services
from tests.factories import couple_with_partners, held_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def note():
    couple, a, b = couple_with_partners()
    user = couple.primary_clinician.user
    return services.note_create(user=user, session=held_session(couple), data="Hidden detail", assessment="a")


def test_writes_and_reads_are_audited_without_phi(note):
    user = note.author.user
    services.note_update_draft(user=user, note=note, plan="Private plan text")
    selectors.note_get_for(user=user, note_id=note.pk)
    events = list(AuditEvent.objects.filter(target_type="clinician.sessionnote", target_id=str(note.pk)))
    actions = [e.action for e in events]
    assert {"note.create", "note.update", "note.read"} <= set(actions)
    update = next(e for e in events if e.action == "note.update")
    assert update.changes == ["plan"] and update.actor_id == str(user.pk)
    assert update.practice_id == note.practice_id
    dump = " ".join(str(vars(e)) for e in AuditEvent.objects.all())
    for phi in ("Hidden detail", "Private plan text", note.session.couple.label):
        assert phi not in dump


def test_audit_trail_is_append_only(note):
    event = AuditEvent.objects.first()
    event.action = "tampered"
    with pytest.raises(ValidationError):
        event.save()
    with pytest.raises(ValidationError):
        event.delete()
    with pytest.raises(ValidationError):
        AuditEvent.objects.all().delete()
    with pytest.raises(ValidationError):
        AuditEvent.objects.update(action="x")


def test_database_keeps_the_audit_trail_append_only(postgres, note):
    event = AuditEvent.objects.first()
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE clinician_auditevent SET action = 'x' WHERE id = %s", [event.pk])
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinician_auditevent WHERE id = %s", [event.pk])
