"""Reads for practices, clinicians, sessions and notes — each scoped to the asking user."""

from django.db.models import QuerySet
from django.http import Http404

from .audit import audit_record
from .models import Addendum, Clinician, Practice, SessionNote, TherapySession
from .permissions import Purpose, acting_clinician, row_scope


def practice_get_for(*, user) -> Practice:  # type: ignore[no-untyped-def]
    """The practice the user works in."""
    clinician = acting_clinician(user)
    if clinician is None:
        raise Http404
    return clinician.practice


def clinicians_visible_to(*, user) -> QuerySet[Clinician]:  # type: ignore[no-untyped-def]
    """Colleagues in the user's own practice."""
    clinician = acting_clinician(user)
    if clinician is None:
        return Clinician.objects.none()
    return Clinician.objects.filter(practice_id=clinician.practice_id).select_related("supervisor")


def clinician_get_for(*, user, clinician_id: int) -> Clinician:  # type: ignore[no-untyped-def]
    return get_or_404(clinicians_visible_to(user=user), clinician_id)


def sessions_visible_to(*, user, purpose: Purpose = "administrative") -> QuerySet[TherapySession]:  # type: ignore[no-untyped-def]
    """Sessions of couples in scope. Schedules are administrative; a practice admin sees all."""
    return (
        TherapySession.objects.filter(row_scope(user, purpose=purpose))
        .select_related("couple", "clinician", "partner")
        .prefetch_related("attendees")
    )


def session_get_for(*, user, session_id: int, purpose: Purpose = "administrative") -> TherapySession:  # type: ignore[no-untyped-def]
    return get_or_404(sessions_visible_to(user=user, purpose=purpose), session_id)


def notes_visible_to(*, user) -> QuerySet[SessionNote]:  # type: ignore[no-untyped-def]
    """Note bodies are clinical: the treating clinician and their supervisor, never admins as such."""
    return SessionNote.objects.filter(row_scope(user, couple_prefix="session__couple__")).select_related(
        "session", "session__couple", "author", "signed_by"
    )


def note_get_for(*, user, note_id: int) -> SessionNote:  # type: ignore[no-untyped-def]
    """One note, and a read event in the audit trail."""
    note = get_or_404(notes_visible_to(user=user), note_id)
    audit_record(actor=user, action="note.read", target=note)
    return note


def addenda_for_note(*, user, note_id: int) -> QuerySet[Addendum]:  # type: ignore[no-untyped-def]
    note = get_or_404(notes_visible_to(user=user), note_id)
    return note.addenda.select_related("author")


def get_or_404(queryset: QuerySet, pk: object):  # type: ignore[no-untyped-def]
    """Out of scope and nonexistent look the same: 404, never 403."""
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
