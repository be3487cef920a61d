"""Reads for practices, clinicians, sessions and notes — each scoped to the asking user."""

from django.apps import apps
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from .audit import audit_record
from .models import Addendum, Clinician, Practice, SessionNote, TherapySession
from .permissions import Purpose, acting_clinician, couple_scope, is_integration, practice_id_of, row_scope
from .services import COUPLES_IN_CARE


def practice_get_for(*, user) -> Practice:
    """The practice the user works in (an integration client: the practice it is bound to)."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        raise Http404
    return Practice.objects.get(pk=practice_id)


def practices_visible_to(*, user) -> QuerySet[Practice]:
    """The caller's own practice, as a queryset (lists)."""
    practice_id = practice_id_of(user)
    return Practice.objects.filter(pk=practice_id) if practice_id else Practice.objects.none()


def clinicians_visible_to(*, user) -> QuerySet[Clinician]:
    """Colleagues in the user's own practice."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return Clinician.objects.none()
    return Clinician.objects.filter(practice_id=practice_id).select_related("supervisor", "user")


def clinician_get_for(*, user, clinician_id: int) -> Clinician:
    return get_or_404(clinicians_visible_to(user=user), clinician_id)


def practice_roster_for(*, user) -> QuerySet[Clinician]:
    """Clinicians with ``caseload``, the couples each treats that are still in care (active or
    paused); active first, then by name. Whose: a practice admin's whole practice; a
    supervisor's own row and their supervisees'; a clinician's own (the caseload rule of
    ``cyclecare.reports``). The user's last sign-in and password state come with ``user``."""
    clinician = acting_clinician(user)
    if clinician is None:
        return Clinician.objects.none()
    whose = Q(practice_id=clinician.practice_id)
    if clinician.role != Clinician.Role.PRACTICE_ADMIN:
        mine = Q(pk=clinician.pk)
        if clinician.role == Clinician.Role.SUPERVISOR:
            mine |= Q(supervisor_id=clinician.pk)
        whose &= mine
    return (
        Clinician.objects.filter(whose)
        .select_related("user", "supervisor")
        .annotate(caseload=Count("couples", filter=Q(couples__status__in=COUPLES_IN_CARE)))
        .order_by("-is_active", "display_name", "pk")
    )


def practice_clinician_get(*, user, clinician_id: int) -> Clinician:
    """One clinician of ``practice_roster_for``; any other id is a 404."""
    return get_or_404(practice_roster_for(user=user), clinician_id)


def sessions_visible_to(*, user, purpose: Purpose = "administrative") -> QuerySet[TherapySession]:
    """Sessions of couples in scope. Schedules are administrative; a practice admin sees all."""
    return (
        TherapySession.objects.filter(row_scope(user, purpose=purpose))
        .select_related("couple", "clinician", "partner")
        .prefetch_related("attendees")
    )


def sessions_visible_to_clinically(*, user) -> QuerySet[TherapySession]:
    """Sessions whose notes the user may write or read (not a practice admin's whole schedule)."""
    return sessions_visible_to(user=user, purpose="clinical")


def session_get_for(*, user, session_id: int, purpose: Purpose = "administrative") -> TherapySession:
    return get_or_404(sessions_visible_to(user=user, purpose=purpose), session_id)


def notes_visible_to(*, user) -> QuerySet[SessionNote]:
    """Note bodies are clinical: the treating clinician and their supervisor, never admins as
    such; an integration client only with the ``notes:read`` scope."""
    if is_integration(user) and not user.has_scope("notes:read"):
        return SessionNote.objects.none()
    return SessionNote.objects.filter(row_scope(user, couple_prefix="session__couple__")).select_related(
        "session", "session__couple", "author", "signed_by"
    )


def note_get_for(*, user, note_id: int) -> SessionNote:
    """One note, and a read event in the audit trail."""
    note = get_or_404(notes_visible_to(user=user), note_id)
    audit_record(actor=user, action="note.read", target=note)
    return note


def notes_awaiting_cosignature(*, user) -> QuerySet[SessionNote]:
    """Signed notes of the user's pre-licensed supervisees that no one has co-signed yet, oldest
    first (a list of ids and dates: reading a body is note_get_for's, which audits it)."""
    clinician = acting_clinician(user)
    if clinician is None or clinician.role != Clinician.Role.SUPERVISOR:
        return SessionNote.objects.none()
    return (
        notes_visible_to(user=user)
        .filter(
            status=SessionNote.Status.SIGNED,
            signed_by__is_prelicensed=True,
            signed_by__supervisor=clinician,
            cosignature__isnull=True,
        )
        .select_related("session__partner")
        .order_by("signed_at", "pk")
    )


def notes_in_couple_record(*, user, couple_id: int) -> QuerySet[SessionNote]:
    """Notes that belong to the couple's joint record: joint sessions only. An individual
    session's note is that partner's record and never shows where the couple's record does.
    A couple outside the user's clinical scope is a 404, like every selector that takes an id."""
    get_or_404(apps.get_model("couples", "Couple").objects.filter(couple_scope(user)), couple_id)
    return notes_visible_to(user=user).filter(
        session__couple_id=couple_id, session__kind=TherapySession.Kind.JOINT
    )


def notes_in_partner_record(*, user, partner_id: int) -> QuerySet[SessionNote]:
    """One partner's record: the couple's joint notes plus that partner's own individual
    sessions — never the other partner's individual sessions. A partner outside the user's
    clinical scope is a 404."""
    get_or_404(apps.get_model("couples", "Partner").objects.filter(row_scope(user)), partner_id)
    return (
        notes_visible_to(user=user)
        .filter(
            Q(session__kind=TherapySession.Kind.JOINT, session__couple__partners=partner_id)
            | Q(session__kind=TherapySession.Kind.INDIVIDUAL, session__partner_id=partner_id)
        )
        .distinct()
    )


def addenda_for_note(*, user, note_id: int) -> QuerySet[Addendum]:
    note = get_or_404(notes_visible_to(user=user), note_id)
    return note.addenda.select_related("author")


def get_or_404(queryset: QuerySet, pk: object):
    """Out of scope and nonexistent look the same: 404, never 403."""
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
