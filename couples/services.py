"""Writes for couples, partners and consents, and for their clinical record: sessions, notes
(draft → signed → co-signed), addenda. Validated, transactional, audited."""

import datetime
import hashlib
import json
from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinician import events
from clinician.audit import audit_record
from clinician.conf import cyclecare_settings
from clinician.models import Clinician
from clinician.permissions import (
    acting_clinician,
    is_integration,
    require_clinician,
    require_couple_access,
    require_treating_access,
)

from .models import (
    Addendum,
    Consent,
    Couple,
    NoteCoSignature,
    Partner,
    PartnerErasure,
    SessionNote,
    TherapySession,
)

PARTNER_FIELDS = (
    "display_name",
    "pronouns",
    "email",
    "phone",
    "time_zone",
    "language",
    "preferred_channel",
    "quiet_hours_start",
    "quiet_hours_end",
)


# A change to any of these moves when (or by which channel) the partner's reminders go out:
# the cycle domain re-plans that partner's future reminders at once (``partner.schedule_changed``).
SCHEDULE_FIELDS = frozenset({"time_zone", "quiet_hours_start", "quiet_hours_end", "preferred_channel"})
# The contact detail a channel's consent needs.
CONSENT_CONTACT = {Consent.Kind.EMAIL: "email", Consent.Kind.SMS: "phone"}

NO_PARTNER_TO_SHARE_WITH = "An individual case has no partner to share with."


def sharing_allowed(couple: Couple) -> bool:
    """Whether a partner of this case may share with the other partner. Not in an individual
    case (a partner continuing alone after a separation): nobody is there to share with, and
    whoever a shared item reached later would not be the partner it was shared with. The one
    rule: every service that shares refuses through ``require_sharing_allowed``, and the
    partner pages ask it whether to offer sharing at all."""
    return couple.kind != Couple.Kind.INDIVIDUAL


def require_sharing_allowed(couple: Couple) -> None:
    """Refuse a share in a case that offers none, on the ``shared_with_partner`` field."""
    if not sharing_allowed(couple):
        raise ValidationError(
            {"shared_with_partner": ValidationError(NO_PARTNER_TO_SHARE_WITH, code="individual_case")}
        )


@transaction.atomic
def couple_create(
    *,
    user,
    label: str,
    primary_clinician: Clinician | None = None,
    started_on: datetime.date | None = None,
    eft_step: int | None = None,
    kind: str = Couple.Kind.COUPLE,
) -> Couple:
    """Open a couple's case (or, with ``kind=individual``, an individual case: one partner).
    The primary clinician defaults to the user; a practice admin or an integration client names
    one."""
    if is_integration(user):
        if primary_clinician is None:
            raise ValidationError({"primary_clinician": "Name the couple's treating clinician."})
        practice_id, may_assign, clinician = user.practice_id, True, None
    else:
        clinician = require_clinician(user)
        practice_id = clinician.practice_id
        may_assign = clinician.role == Clinician.Role.PRACTICE_ADMIN
    primary = primary_clinician or clinician
    if primary.practice_id != practice_id:
        raise ValidationError({"primary_clinician": "The clinician must work in your practice."})
    if primary != clinician and not may_assign:
        raise ValidationError({"primary_clinician": "Only a practice admin can assign another clinician."})
    if primary.role == Clinician.Role.PRACTICE_ADMIN and primary != clinician:
        raise ValidationError({"primary_clinician": "Choose a treating clinician."})
    if not primary.is_active:
        raise ValidationError({"primary_clinician": "This clinician is no longer active."})
    couple = Couple(
        practice_id=practice_id,
        primary_clinician=primary,
        label=label.strip(),
        started_on=started_on or timezone.localdate(),
        eft_step=eft_step,
        kind=kind,
    )
    couple.full_clean()
    couple.save()
    audit_record(actor=user, action="couple.create", target=couple)
    return couple


@transaction.atomic
def couple_update(*, user, couple: Couple, **changes: object) -> Couple:
    """Change the label, the EFT step or the primary clinician."""
    allowed = {"label", "eft_step", "primary_clinician"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    couple = Couple.objects.select_for_update().get(pk=couple.pk)
    clinician = require_couple_access(user, couple)
    new_primary = changes.get("primary_clinician")
    if new_primary is not None:
        if (
            new_primary.practice_id != couple.practice_id
            or new_primary.role == Clinician.Role.PRACTICE_ADMIN
            or not new_primary.is_active
        ):
            raise ValidationError({"primary_clinician": "Choose a treating clinician of this practice."})
        may_assign = clinician is None or clinician.role == Clinician.Role.PRACTICE_ADMIN
        if not may_assign and new_primary != couple.primary_clinician:
            raise ValidationError({"primary_clinician": "Only a practice admin can reassign a couple."})
    for name, value in changes.items():
        setattr(couple, name, value)
    couple.full_clean()
    couple.save(update_fields=[*changes, "updated_at"])
    audit_record(actor=user, action="couple.update", target=couple, changes=changes)
    return couple


@transaction.atomic
def couple_set_status(*, user, couple: Couple, status: str) -> Couple:
    """Pause, resume or discharge a couple."""
    if status not in Couple.Status.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    if status == Couple.Status.SEPARATED:
        raise ValidationError({"status": "Use the separation workflow: it moves each partner's records."})
    couple = Couple.objects.select_for_update().get(pk=couple.pk)
    require_couple_access(user, couple)
    if couple.status == Couple.Status.SEPARATED:
        raise ValidationError(
            {"status": ValidationError("This couple is separated; its record is closed.", code="separated")}
        )
    previous = couple.status
    couple.status = status
    couple.discharged_on = timezone.localdate() if status == Couple.Status.DISCHARGED else None
    couple.full_clean()
    couple.save(update_fields=["status", "discharged_on", "updated_at"])
    audit_record(actor=user, action=f"couple.{status}", target=couple, changes=["status"])
    if previous != status:
        # The cycle domain holds the couple's reminders at once, or re-plans them on resume.
        events.publish(
            "couple.status_changed",
            practice_id=couple.practice_id,
            data={"couple_id": couple.pk, "status": status, "previous": previous},
        )
    return couple


@transaction.atomic
def couple_transfer(*, user, couple: Couple, to_clinician: Clinician) -> Couple:
    """Hand a couple to another treating clinician of the same practice: access moves with the
    primary clinician (``couple_scope`` reads it), so the previous clinician loses the couple
    on their next request. The treating clinician, their supervisor or the practice admin may
    transfer; the receiver must be an active clinician or supervisor of the couple's practice."""
    couple = Couple.objects.select_for_update().get(pk=couple.pk)
    require_couple_access(user, couple)
    if couple.status == Couple.Status.SEPARATED:
        raise ValidationError(
            {"couple": ValidationError("This couple is separated; its record is closed.", code="separated")}
        )
    receiver = Clinician.objects.filter(pk=getattr(to_clinician, "pk", None)).first()
    if receiver is None or receiver.practice_id != couple.practice_id:
        raise ValidationError(
            {"to_clinician": ValidationError("Choose a clinician of this practice.", code="other_practice")}
        )
    if not receiver.is_active:
        raise ValidationError(
            {"to_clinician": ValidationError("This clinician is no longer active.", code="inactive")}
        )
    if receiver.role == Clinician.Role.PRACTICE_ADMIN:
        raise ValidationError(
            {"to_clinician": ValidationError("Choose a treating clinician.", code="not_treating")}
        )
    if receiver.pk == couple.primary_clinician_id:
        raise ValidationError(
            {"to_clinician": ValidationError("This clinician already treats the couple.", code="unchanged")}
        )
    couple.primary_clinician = receiver
    couple.save(update_fields=["primary_clinician", "updated_at"])
    audit_record(actor=user, action="couple.transfer", target=couple, changes=["primary_clinician"])
    # Sessions still to come are the receiver's to hold; past ones (and their notes) keep who
    # held them.
    upcoming = list(
        TherapySession.objects.select_for_update().filter(
            couple=couple, status=TherapySession.Status.SCHEDULED, starts_at__gte=timezone.now()
        )
    )
    for session in upcoming:
        session.clinician = receiver
        session.save(update_fields=["clinician"])
        audit_record(actor=user, action="session.update", target=session, changes=["clinician"])
    return couple


@transaction.atomic
def practice_quiet_hours(practice) -> dict:
    """The practice's default quiet hours, as a partner's fields (a new partner starts from them;
    none set: no quiet hours)."""
    return {"quiet_hours_start": practice.quiet_hours_start, "quiet_hours_end": practice.quiet_hours_end}


def partner_add(*, user, couple: Couple, display_name: str, time_zone: str, **details: object) -> Partner:
    """Add a partner to a couple: at most two active partners, each in a seat (A or B)."""
    unknown = set(details) - set(PARTNER_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown partner field." for name in unknown})
    # Lock the couple so two concurrent adds cannot both take the last seat.
    couple = Couple.objects.select_for_update().select_related("practice").get(pk=couple.pk)
    require_couple_access(user, couple)
    if couple.status == Couple.Status.SEPARATED:
        raise ValidationError(
            {"couple": ValidationError("This couple is separated; its record is closed.", code="separated")}
        )
    if "quiet_hours_start" not in details and "quiet_hours_end" not in details:
        # The practice's reminder defaults are where a new partner starts; their own win.
        details = {**details, **practice_quiet_hours(couple.practice)}
    taken = set(couple.partners.filter(is_active=True).values_list("seat", flat=True))
    free = [seat for seat in Partner.Seat.values if seat not in taken]
    if couple.kind == Couple.Kind.INDIVIDUAL and couple.continued_from_id is not None:
        # A partner continuing alone after a separation: items they shared before it moved with
        # them and would reach whoever joined; a new couple is a new case.
        raise ValidationError(
            {"couple": ValidationError("An individual case has one partner.", code="individual_case")}
        )
    if not free:
        raise ValidationError(
            {"couple": ValidationError("This couple already has two active partners.", code="third_partner")}
        )
    partner = Partner(
        practice_id=couple.practice_id,
        couple=couple,
        seat=free[0],
        display_name=display_name.strip(),
        time_zone=time_zone,
        **details,
    )
    _validate_partner(partner)
    partner.save()
    audit_record(actor=user, action="partner.add", target=partner)
    if couple.kind == Couple.Kind.INDIVIDUAL and taken:
        # An individual case opened at intake (never a continuation: refused above) takes its
        # one partner as it is, and becomes a couple when a second partner joins; nothing could
        # have been shared in it.
        couple.kind = Couple.Kind.COUPLE
        couple.save(update_fields=["kind", "updated_at"])
        audit_record(actor=user, action="couple.update", target=couple, changes=["kind"])
    return partner


@transaction.atomic
def partner_update(*, user, partner: Partner, **changes: object) -> Partner:
    """Change a partner's contact details, zone, language, channel or quiet hours."""
    unknown = set(changes) - set(PARTNER_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    partner = Partner.objects.select_for_update(of=("self",)).select_related("couple").get(pk=partner.pk)
    require_couple_access(user, partner.couple)
    if not partner.is_active:
        raise ValidationError({"partner": "This partner is no longer in treatment."})
    if partner_erasure_in_force(partner=partner) is not None:
        raise ValidationError({"partner": ERASED_NO_EDIT})
    before = {name: getattr(partner, name) for name in changes}
    for name, value in changes.items():
        setattr(partner, name, value.strip() if isinstance(value, str) else value)
    changed = [name for name in changes if getattr(partner, name) != before[name]]
    _validate_partner(partner)
    if not changed:
        return partner
    partner.save(update_fields=[*changed, "updated_at"])
    audit_record(actor=user, action="partner.update", target=partner, changes=changed)
    if SCHEDULE_FIELDS.intersection(changed):
        # The cycle domain re-plans this partner's future reminders in this transaction.
        events.publish(
            "partner.schedule_changed",
            practice_id=partner.practice_id,
            data={"partner_id": partner.pk, "couple_id": partner.couple_id},
        )
    return partner


@transaction.atomic
def partner_deactivate(*, user, partner: Partner) -> Partner:
    """A partner leaves the couple's treatment; their records stay, their seat frees."""
    partner = Partner.objects.select_for_update(of=("self",)).select_related("couple").get(pk=partner.pk)
    require_couple_access(user, partner.couple)
    if not partner.is_active:
        raise ValidationError({"partner": "This partner is already inactive."})
    partner.is_active = False
    partner.left_on = timezone.localdate()
    partner.save(update_fields=["is_active", "left_on", "updated_at"])
    audit_record(actor=user, action="partner.deactivate", target=partner, changes=["is_active"])
    return partner


@transaction.atomic
def consent_record(
    *,
    actor,
    partner: Partner,
    kind: str,
    granted: bool,
    method: str,
) -> Consent:
    """Record a consent decision, by the clinician (written/verbal) or the partner (electronic)."""
    recorded_by = None
    if isinstance(actor, Partner):
        if actor.pk != partner.pk:
            raise ValidationError({"partner": "A partner records only their own consent."})
        if method != Consent.Method.ELECTRONIC:
            raise ValidationError({"method": "A partner's own consent is recorded electronically."})
    else:
        recorded_by = require_couple_access(actor, partner.couple)
        # Recorded for the partner: the channel needs its contact detail first. (A partner's own
        # decision arrives by the channel itself, through a link it carried.)
        contact = CONSENT_CONTACT.get(kind)
        if granted and contact and not getattr(partner, contact):
            what = "an email address" if contact == "email" else "a mobile number"
            raise ValidationError(
                {"kind": ValidationError(f"Add {what} before recording this consent.", code="no_contact")}
            )
    consent = Consent(
        practice_id=partner.practice_id,
        partner=partner,
        kind=kind,
        granted=granted,
        method=method,
        recorded_by=recorded_by,
        recorded_at=timezone.now(),
    )
    consent.full_clean()
    consent.save()
    audit_record(actor=actor, action="consent.record", target=consent)
    if not granted and kind in CONSENT_CONTACT:
        # The cycle domain stops that channel's pending reminders at once.
        events.publish(
            "consent.withdrawn",
            practice_id=partner.practice_id,
            data={"partner_id": partner.pk, "kind": kind},
        )
    return consent


def _validate_partner(partner: Partner) -> None:
    partner.full_clean(validate_constraints=False)
    if partner.email and (
        Partner.objects.filter(couple_id=partner.couple_id, is_active=True, email__iexact=partner.email)
        .exclude(pk=partner.pk)
        .exists()
    ):
        same = ValidationError("The other partner already uses this email address.", code="same_email")
        raise ValidationError({"email": same})
    if partner.preferred_channel == Partner.Channel.EMAIL and not partner.email:
        raise ValidationError({"email": "Email reminders need an email address."})
    if partner.preferred_channel == Partner.Channel.SMS and not partner.phone:
        raise ValidationError({"phone": "Text-message reminders need a phone number."})
    if (partner.quiet_hours_start is None) != (partner.quiet_hours_end is None):
        raise ValidationError({"quiet_hours_end": "Give both ends of the quiet hours, or neither."})
    partner.validate_constraints()


# Sessions, notes and addenda: the couple's clinical record.

# Allow for clocks and slow forms: "in the past" means more than this before now.
SCHEDULING_GRACE = datetime.timedelta(minutes=5)


@transaction.atomic
def session_schedule(
    *,
    user: AbstractBaseUser,
    couple,
    starts_at: datetime.datetime,
    kind: str = TherapySession.Kind.JOINT,
    partner=None,
    modality: str = TherapySession.Modality.IN_PERSON,
    duration_minutes: int = 50,
    clinician: Clinician | None = None,
) -> TherapySession:
    """Book a session with a couple (joint) or one partner (individual), in the future."""
    acting = require_couple_access(user, couple)
    if couple.status == "discharged":
        raise ValidationError({"couple": "This couple has been discharged."})
    if couple.status == "separated":
        raise ValidationError({"couple": "This couple has separated; book sessions in a partner's own case."})
    if timezone.is_naive(starts_at):
        raise ValidationError({"starts_at": "Give the time with its time zone."})
    if starts_at < timezone.now() - SCHEDULING_GRACE:
        raise ValidationError(
            {"starts_at": ValidationError("A scheduled session must be in the future.", code="past")}
        )
    if kind == TherapySession.Kind.INDIVIDUAL:
        if partner is None or partner.couple_id != couple.pk or not partner.is_active:
            raise ValidationError({"partner": "Choose an active partner of this couple."})
    elif partner is not None:
        raise ValidationError({"partner": "A joint session is with both partners."})
    seen_by = clinician or couple.primary_clinician
    if seen_by.practice_id != couple.practice_id or seen_by.role == Clinician.Role.PRACTICE_ADMIN:
        raise ValidationError({"clinician": "Choose a treating clinician of this practice."})
    may_assign = acting is None or acting.role == Clinician.Role.PRACTICE_ADMIN
    if seen_by != couple.primary_clinician and not may_assign and seen_by != acting:
        raise ValidationError({"clinician": "Book sessions for yourself or the couple's clinician."})
    session = TherapySession(
        practice_id=couple.practice_id,
        couple=couple,
        clinician=seen_by,
        kind=kind,
        partner=partner,
        modality=modality,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
    )
    session.full_clean()
    session.save()
    audit_record(actor=user, action="session.schedule", target=session)
    return session


@transaction.atomic
def session_reschedule(
    *, user: AbstractBaseUser, session: TherapySession, starts_at: datetime.datetime
) -> TherapySession:
    """Move a scheduled session to another future time."""
    session = (
        TherapySession.objects.select_for_update(of=("self",)).select_related("couple").get(pk=session.pk)
    )
    require_couple_access(user, session.couple)
    if session.status != TherapySession.Status.SCHEDULED:
        raise ValidationError({"status": "Only a scheduled session can be moved."})
    if timezone.is_naive(starts_at):
        raise ValidationError({"starts_at": "Give the time with its time zone."})
    if starts_at < timezone.now() - SCHEDULING_GRACE:
        raise ValidationError(
            {"starts_at": ValidationError("A scheduled session must be in the future.", code="past")}
        )
    session.starts_at = starts_at
    session.full_clean()
    session.save(update_fields=["starts_at", "updated_at"])
    audit_record(actor=user, action="session.reschedule", target=session, changes=["starts_at"])
    return session


@transaction.atomic
def session_record_outcome(
    *,
    user: AbstractBaseUser,
    session: TherapySession,
    status: str,
    attendees: Iterable = (),
) -> TherapySession:
    """Mark a session held (with who attended), cancelled or a no-show."""
    session = (
        TherapySession.objects.select_for_update(of=("self",)).select_related("couple").get(pk=session.pk)
    )
    require_couple_access(user, session.couple)
    if status == TherapySession.Status.SCHEDULED or status not in TherapySession.Status.values:
        raise ValidationError({"status": "Choose held, cancelled or no-show."})
    if session.status != TherapySession.Status.SCHEDULED:
        raise ValidationError(
            {
                "status": ValidationError(
                    f"This session is already {session.get_status_display().lower()}.", code="invalid_state"
                )
            }
        )
    attendees = list(attendees)
    if status == TherapySession.Status.NO_SHOW and session.starts_at > timezone.now() + SCHEDULING_GRACE:
        raise ValidationError(
            {
                "status": ValidationError(
                    "A no-show can be recorded only once the session has started; cancel it instead.",
                    code="not_started",
                )
            }
        )
    if status == TherapySession.Status.HELD:
        if session.starts_at > timezone.now() + SCHEDULING_GRACE:
            raise ValidationError({"status": "A session cannot be held before it starts."})
        if not attendees:
            raise ValidationError({"attendees": "Record who attended."})
        allowed = (
            {session.partner_id}
            if session.partner_id
            else set(session.couple.partners.filter(is_active=True).values_list("pk", flat=True))
        )
        if any(p.pk not in allowed for p in attendees):
            raise ValidationError({"attendees": "Attendees must be partners seen in this session."})
    elif attendees:
        raise ValidationError({"attendees": "Only a held session has attendees."})
    session.status = status
    session.save(update_fields=["status", "updated_at"])
    session.attendees.set(attendees)
    audit_record(actor=user, action=f"session.{status}", target=session, changes=["status", "attendees"])
    return session


NOTE_EDITABLE_FIELDS = frozenset(
    {"format", "eft_stage", "eft_step", "partner_a_move", "partner_b_move"}
    | {name for sections in SessionNote.SECTIONS.values() for name in sections}
    | set(SessionNote.CYCLE_TEXT_FIELDS)
)


@transaction.atomic
def note_create(
    *,
    user: AbstractBaseUser,
    session: TherapySession,
    format: str = SessionNote.Format.DAP,
    **content: object,
) -> SessionNote:
    """Start the draft note of a held session. One note per session."""
    session = (
        TherapySession.objects.select_for_update(of=("self",)).select_related("couple").get(pk=session.pk)
    )
    author = require_treating_access(
        user, session.couple, field="session", message="Notes are written by the treating clinician."
    )
    if session.status != TherapySession.Status.HELD:
        raise ValidationError({"session": "Notes are written for held sessions."})
    if SessionNote.objects.filter(session=session).exists():
        raise ValidationError(
            {"session": ValidationError("This session already has a note.", code="duplicate")}
        )
    _reject_unknown(content)
    note = SessionNote(
        practice_id=session.practice_id, session=session, author=author, format=format, **content
    )
    note.full_clean()
    note.save()
    audit_record(actor=user, action="note.create", target=note, changes=content)
    return note


@transaction.atomic
def note_start(
    *, user: AbstractBaseUser, session: TherapySession, format: str = SessionNote.Format.DAP
) -> tuple[SessionNote, bool]:
    """The held session's note: its existing note, or a new empty draft (``created`` True).

    Idempotent — a repeated or concurrent start returns the one note, whoever's it is: the
    session row is locked first, and the note's one-to-one on the session backs that up.
    """
    session = TherapySession.objects.select_for_update(of=("self",)).get(pk=session.pk)
    existing = SessionNote.objects.filter(session=session).first()
    if existing is not None:
        return existing, False
    if format not in SessionNote.Format.values:
        raise ValidationError({"format": "Choose DAP, SOAP or BIRP."})
    return note_create(user=user, session=session, format=format), True


@transaction.atomic
def note_update_draft(*, user: AbstractBaseUser, note: SessionNote, **changes: object) -> SessionNote:
    """Autosave a draft. A signed note refuses every change (see SessionNote.save)."""
    _reject_unknown(changes)
    note = SessionNote.objects.select_for_update(of=("self",)).select_related("author").get(pk=note.pk)
    if note.is_signed:
        raise ValidationError(
            {
                "status": ValidationError(
                    "This note is signed and cannot be changed; add an addendum.", code="signed"
                )
            }
        )
    if acting_clinician(user) != note.author:
        raise ValidationError({"author": "Only the note's author can edit the draft."})
    for name, value in changes.items():
        setattr(note, name, value)
    note.full_clean()
    note.save(update_fields=[*changes, "updated_at"])
    audit_record(actor=user, action="note.update", target=note, changes=changes)
    return note


def note_content_digest(note: SessionNote) -> str:
    content = {name: getattr(note, name) for name in sorted(NOTE_EDITABLE_FIELDS)}
    content["session_id"] = note.session_id
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


@transaction.atomic
def note_sign(*, user: AbstractBaseUser, note: SessionNote) -> SessionNote:
    """Sign a complete draft: it is locked for ever (signer, time and a content digest kept)."""
    note = (
        SessionNote.objects.select_for_update(of=("self",))
        .select_related("author", "session")
        .get(pk=note.pk)
    )
    if note.is_signed:
        raise ValidationError({"status": ValidationError("This note is already signed.", code="signed")})
    signer = acting_clinician(user)
    if signer != note.author:
        raise ValidationError({"author": "Only the note's author can sign it."})
    empty = [name for name, value in note.section_values().items() if not value.strip()]
    if empty:
        raise ValidationError(
            {name: ValidationError("Write this section before signing.", code="empty") for name in empty}
        )
    # What is signed is what the format shows: text left in another format's sections (the
    # draft switched format) is dropped, so the digest and the printed note cover the same words.
    hidden = {
        name: ""
        for sections in SessionNote.SECTIONS.values()
        for name in sections
        if name not in SessionNote.SECTIONS[note.format] and getattr(note, name)
    }
    for name, value in hidden.items():
        setattr(note, name, value)
    note.status = SessionNote.Status.SIGNED
    note.signed_at = timezone.now()
    note.signed_by = signer
    note.signed_content_sha256 = note_content_digest(note)
    note.full_clean()
    # The only write that may turn a draft into a signed note; every later save is refused.
    SessionNote.objects.filter(pk=note.pk, status=SessionNote.Status.DRAFT).audited_by_caller().update(
        **hidden,
        status=note.status,
        signed_at=note.signed_at,
        signed_by=signer,
        signed_content_sha256=note.signed_content_sha256,
        updated_at=note.signed_at,
    )
    audit_record(actor=user, action="note.sign", target=note, changes=["status", *hidden])
    events.publish(
        "note.signed",
        practice_id=note.practice_id,
        data={
            "note_id": note.pk,
            "session_id": note.session_id,
            "couple_id": note.session.couple_id,
            "signed_at": note.signed_at,
        },
    )
    return note


@transaction.atomic
def note_cosign(*, user: AbstractBaseUser, note: SessionNote) -> NoteCoSignature:
    """A supervisor co-signs a pre-licensed clinician's signed note (the note itself is untouched)."""
    note = (
        SessionNote.objects.select_for_update(of=("self",))
        .select_related("author", "signed_by")
        .get(pk=note.pk)
    )
    supervisor = acting_clinician(user)
    if not note.is_signed:
        raise ValidationError({"status": "Only a signed note can be co-signed."})
    if not note.signed_by.is_prelicensed:
        raise ValidationError({"note": "This note does not need a co-signature."})
    if supervisor is None or note.signed_by.supervisor_id != supervisor.pk:
        raise ValidationError(
            {
                "supervisor": ValidationError(
                    "Only the author's supervisor can co-sign.", code="not_supervisor"
                )
            }
        )
    if NoteCoSignature.objects.filter(note=note).exists():
        raise ValidationError({"note": "This note is already co-signed."})
    cosignature = NoteCoSignature.objects.create(
        practice_id=note.practice_id, note=note, supervisor=supervisor, signed_at=timezone.now()
    )
    audit_record(actor=user, action="note.cosign", target=note)
    return cosignature


@transaction.atomic
def addendum_add(*, user: AbstractBaseUser, note: SessionNote, body: str) -> Addendum:
    """Add to a signed note. The treating clinician or their supervisor may write one."""
    note = SessionNote.objects.select_related("session__couple").get(pk=note.pk)
    author = require_treating_access(
        user,
        note.session.couple,
        field="note",
        message="Addenda are written by the treating clinician or supervisor.",
    )
    if not note.is_signed:
        raise ValidationError({"note": "Edit the draft instead; addenda follow signing."})
    if not body or not body.strip():
        raise ValidationError({"body": "Write the addendum."})
    addendum = Addendum(practice_id=note.practice_id, note=note, author=author, body=body.strip())
    addendum.full_clean()
    addendum.save()
    audit_record(actor=user, action="note.addendum", target=addendum)
    return addendum


def _reject_unknown(fields: dict) -> None:
    unknown = set(fields) - NOTE_EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "Not a field of a session note." for name in sorted(unknown)})


# ERASURE OF A PARTNER'S CONTACT DETAILS
# ------------------------------------------------------------------------------
# What an erasure blanks (the partner's contact details and how to reach them), and what it
# keeps: the clinical record (sessions, signed notes, check-ins, consents) and the audit trail,
# which the practice must retain (see the records notes). Quiet hours and the channel go with
# the contacts: without an address there is nothing to send and no hours to keep quiet.
ERASED_FIELDS = (
    "display_name",
    "pronouns",
    "email",
    "phone",
    "preferred_channel",
    "quiet_hours_start",
    "quiet_hours_end",
)
ERASED_NO_EDIT = "This partner's contact details were erased at their request; undo the erasure to edit them."
NOT_TREATING_ERASE = "Only the couple's treating clinician can erase or restore a partner's details."


def erased_name(partner: Partner) -> str:
    return f"Erased partner {partner.pk}"


def partner_erasure_in_force(*, partner: Partner) -> PartnerErasure | None:
    """The erasure of the partner that has not been undone, if any."""
    return PartnerErasure.objects.filter(partner=partner, undone_at__isnull=True).first()


def _details_of(partner: Partner) -> dict:
    details = {}
    for name in ERASED_FIELDS:
        value = getattr(partner, name)
        details[name] = value.isoformat() if isinstance(value, datetime.time) else value
    return details


@transaction.atomic
def partner_erase(*, user, partner: Partner) -> PartnerErasure:
    """Erase a partner's contact details at their request: the name becomes "Erased partner
    <id>", email, phone, pronouns and quiet hours are blanked and no channel is left, an
    account they sign in with is switched off. Publishes ``partner.erased`` (the cycle domain
    revokes every link of theirs and stops what was waiting to be sent, in this transaction).

    Kept: the clinical record and the audit trail. Undoable for ``ERASURE_UNDO_HOURS``: the
    details are kept encrypted on the erasure row until then (``partner_erasure_undo``), and
    purged after (``partner_erasures_purge``). Only the treating clinician (or their
    supervisor) may; audited as ``partner.erase`` with the names of the fields blanked."""
    partner = Partner.objects.select_for_update(of=("self",)).select_related("couple").get(pk=partner.pk)
    clinician = require_treating_access(user, partner.couple, field="partner", message=NOT_TREATING_ERASE)
    if partner_erasure_in_force(partner=partner) is not None:
        raise ValidationError(
            {"partner": ValidationError("This partner's details are already erased.", code="erased")}
        )
    now = timezone.now()
    details = _details_of(partner)
    account = partner.user
    if account is not None:
        details["account_active"] = account.is_active
    partner.display_name = erased_name(partner)
    partner.pronouns = partner.email = partner.phone = ""
    partner.quiet_hours_start = partner.quiet_hours_end = None
    partner.preferred_channel = Partner.Channel.NONE
    partner.save(update_fields=[*ERASED_FIELDS, "updated_at"])
    if account is not None and account.is_active:
        account.is_active = False
        account.save(update_fields=["is_active"])
    erasure = PartnerErasure(
        practice_id=partner.practice_id,
        partner=partner,
        erased_by=clinician,
        erased_at=now,
        undo_until=now + datetime.timedelta(hours=cyclecare_settings.ERASURE_UNDO_HOURS),
        erased_details=details,
    )
    erasure.full_clean()
    erasure.save()
    audit_record(actor=user, action="partner.erase", target=partner, changes=ERASED_FIELDS)
    events.publish(
        "partner.erased",
        practice_id=partner.practice_id,
        data={"partner_id": partner.pk, "couple_id": partner.couple_id},
    )
    return erasure


def erasure_undo_refusal(erasure: PartnerErasure, *, now: datetime.datetime | None = None) -> str:
    """Why ``erasure`` can no longer be undone, in words; "" while it can."""
    now = now or timezone.now()
    if erasure.undone_at is not None:
        return "This erasure was already undone."
    if erasure.purged_at is not None or erasure.undo_until <= now:
        return (
            "The erasure is final: it could be undone for "
            f"{cyclecare_settings.ERASURE_UNDO_HOURS} hours, until "
            f"{erasure.undo_until:%Y-%m-%d %H:%M} UTC, and the erased details are now deleted. "
            "Ask the partner for their details again and enter them on this page."
        )
    return ""


@transaction.atomic
def partner_erasure_undo(*, user, erasure: PartnerErasure) -> Partner:
    """Put back what ``partner_erase`` blanked, within the window; refused after it with the
    reason (``erasure_undo_refusal``). Links revoked by the erasure stay revoked (a new welcome
    gives the partner a new one); reminders are planned again for the restored channel.
    Audited as ``partner.erasure_undo``."""
    erasure = PartnerErasure.objects.select_for_update().get(pk=erasure.pk)
    partner = (
        Partner.objects.select_for_update(of=("self",)).select_related("couple").get(pk=erasure.partner_id)
    )
    clinician = require_treating_access(user, partner.couple, field="partner", message=NOT_TREATING_ERASE)
    refusal = erasure_undo_refusal(erasure)
    if refusal:
        raise ValidationError({"partner": ValidationError(refusal, code="window_closed")})
    details = dict(erasure.erased_details)
    for name in ERASED_FIELDS:
        value = details.get(name)
        if name.startswith("quiet_hours") and value:
            value = datetime.time.fromisoformat(value)
        setattr(partner, name, value)
    _validate_partner(partner)
    partner.save(update_fields=[*ERASED_FIELDS, "updated_at"])
    if partner.user_id and details.get("account_active"):
        partner.user.is_active = True
        partner.user.save(update_fields=["is_active"])
    erasure.undone_at = timezone.now()
    erasure.undone_by = clinician
    erasure.erased_details = None
    erasure.save(update_fields=["undone_at", "undone_by", "erased_details"])
    audit_record(actor=user, action="partner.erasure_undo", target=partner, changes=ERASED_FIELDS)
    events.publish(
        "partner.schedule_changed",
        practice_id=partner.practice_id,
        data={"partner_id": partner.pk, "couple_id": partner.couple_id},
    )
    return partner


def partner_erasures_purge(*, now: datetime.datetime | None = None, batch_size: int = 200) -> int:
    """Make final every erasure whose undo window has closed: delete its encrypted copy of the
    details. In batches, each row locked and re-checked (another worker may hold it); audited
    per erasure as ``partner.erasure_purge`` by the system. Returns how many were purged."""
    now = now or timezone.now()
    purged = 0
    while True:
        with transaction.atomic():
            due = list(
                PartnerErasure.objects.select_for_update(skip_locked=True)
                .filter(undone_at__isnull=True, purged_at__isnull=True, undo_until__lte=now)
                .order_by("undo_until", "pk")[:batch_size]
            )
            for erasure in due:
                erasure.erased_details = None
                erasure.purged_at = now
                erasure.save(update_fields=["erased_details", "purged_at"])
                audit_record(
                    actor=None, action="partner.erasure_purge", target=erasure, changes=["erased_details"]
                )
            purged += len(due)
        if len(due) < batch_size:
            return purged
