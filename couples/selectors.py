"""Reads for couples, partners and consents, and their clinical record (sessions, notes,
addenda) — scoped to the asking user."""

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from clinician.audit import audit_record
from clinician.models import Clinician
from clinician.permissions import Purpose, acting_clinician, couple_scope, is_integration, row_scope
from clinician.selectors import get_or_404

from .models import Addendum, Consent, Couple, Partner, PartnerErasure, SessionNote, TherapySession


def couples_visible_to(*, user, purpose: Purpose = "clinical") -> QuerySet[Couple]:
    """The couples the user treats or supervises (a practice admin: all, for administration)."""
    active_partners = Prefetch(
        "partners",
        queryset=Partner.objects.filter(is_active=True).order_by("seat"),
        to_attr="active_partners",
    )
    return (
        Couple.objects.filter(couple_scope(user, purpose=purpose))
        .select_related("primary_clinician")
        .prefetch_related(active_partners)
    )


def couple_get_for(*, user, couple_id: int, purpose: Purpose = "clinical") -> Couple:
    return get_or_404(couples_visible_to(user=user, purpose=purpose), couple_id)


def partners_visible_to(*, user, purpose: Purpose = "clinical") -> QuerySet[Partner]:
    return Partner.objects.filter(row_scope(user, purpose=purpose)).select_related("couple")


def partner_get_for(*, user, partner_id: int, purpose: Purpose = "clinical") -> Partner:
    return get_or_404(partners_visible_to(user=user, purpose=purpose), partner_id)


def partners_reachable() -> QuerySet[Partner]:
    """Partners a link or a partner session may still open: active, and not erased (an erasure
    in force ends their links and sessions: ``couples.services.partner_erase``)."""
    erased = PartnerErasure.objects.filter(partner=OuterRef("pk"), undone_at__isnull=True)
    return Partner.objects.filter(is_active=True).exclude(Exists(erased))


def consents_visible_to(*, user) -> QuerySet[Consent]:
    return Consent.objects.filter(row_scope(user, couple_prefix="partner__couple__")).select_related(
        "partner"
    )


def consent_in_force(*, partner: Partner, kind: str) -> bool:
    """Whether the partner's latest recorded decision for ``kind`` grants it (none recorded: no)."""
    latest = partner.consents.filter(kind=kind).order_by("-recorded_at", "-id").first()
    return bool(latest and latest.granted)


def partner_other(*, partner: Partner) -> Partner | None:
    """The other active partner of the couple, if there is one."""
    return Partner.objects.filter(couple_id=partner.couple_id, is_active=True).exclude(pk=partner.pk).first()


def consents_of_partner(*, user, partner_id: int, purpose: Purpose = "clinical") -> QuerySet[Consent]:
    """One partner's recorded consent decisions, latest first, in the given scope (consents_visible_to
    is clinical only; a practice admin who records consents administratively must also read them).
    A partner out of scope is a 404, like every selector that takes an id."""
    partner = partner_get_for(user=user, partner_id=partner_id, purpose=purpose)
    return partner.consents.select_related("partner").order_by("-recorded_at", "-id")


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
    get_or_404(Couple.objects.filter(couple_scope(user)), couple_id)
    return notes_visible_to(user=user).filter(
        session__couple_id=couple_id, session__kind=TherapySession.Kind.JOINT
    )


def notes_in_partner_record(*, user, partner_id: int) -> QuerySet[SessionNote]:
    """One partner's record: the couple's joint notes plus that partner's own individual
    sessions — never the other partner's individual sessions. A partner outside the user's
    clinical scope is a 404."""
    get_or_404(Partner.objects.filter(row_scope(user)), partner_id)
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
