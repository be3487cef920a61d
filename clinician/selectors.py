"""Reads for practices, clinicians, sessions and notes — each scoped to the asking user."""

from django.db.models import QuerySet
from django.http import Http404

from .audit import audit_record
from .models import Addendum, Clinician, Practice, SessionNote, TherapySession
from .permissions import Purpose, is_integration, practice_id_of, row_scope


def practice_get_for(*, user) -> Practice:  # type: ignore[no-untyped-def]
    """The practice the user works in (an integration client: the practice it is bound to)."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        raise Http404
    return Practice.objects.get(pk=practice_id)


def practices_visible_to(*, user) -> QuerySet[Practice]:  # type: ignore[no-untyped-def]
    """The caller's own practice, as a queryset (lists)."""
    practice_id = practice_id_of(user)
    return Practice.objects.filter(pk=practice_id) if practice_id else Practice.objects.none()


def clinicians_visible_to(*, user) -> QuerySet[Clinician]:  # type: ignore[no-untyped-def]
    """Colleagues in the user's own practice."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return Clinician.objects.none()
    return Clinician.objects.filter(practice_id=practice_id).select_related("supervisor", "user")


def clinician_get_for(*, user, clinician_id: int) -> Clinician:  # type: ignore[no-untyped-def]
    return get_or_404(clinicians_visible_to(user=user), clinician_id)


def sessions_visible_to(*, user, purpose: Purpose = "administrative") -> QuerySet[TherapySession]:  # type: ignore[no-untyped-def]
    """Sessions of couples in scope. Schedules are administrative; a practice admin sees all."""
    return (
        TherapySession.objects.filter(row_scope(user, purpose=purpose))
        .select_related("couple", "clinician", "partner")
        .prefetch_related("attendees")
    )


def sessions_visible_to_clinically(*, user) -> QuerySet[TherapySession]:  # type: ignore[no-untyped-def]
    """Sessions whose notes the user may write or read (not a practice admin's whole schedule)."""
    return sessions_visible_to(user=user, purpose="clinical")


def session_get_for(*, user, session_id: int, purpose: Purpose = "administrative") -> TherapySession:  # type: ignore[no-untyped-def]
    return get_or_404(sessions_visible_to(user=user, purpose=purpose), session_id)


def notes_visible_to(*, user) -> QuerySet[SessionNote]:  # type: ignore[no-untyped-def]
    """Note bodies are clinical: the treating clinician and their supervisor, never admins as
    such; an integration client only with the ``notes:read`` scope."""
    if is_integration(user) and not user.has_scope("notes:read"):
        return SessionNote.objects.none()
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
