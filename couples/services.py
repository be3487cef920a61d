"""Writes for couples, partners and consents. Validated, transactional, audited."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinician.audit import audit_record
from clinician.models import Clinician
from clinician.permissions import (
    is_integration,
    require_clinician,
    require_couple_access,
)

from .models import Consent, Couple, Partner

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
    couple.status = status
    couple.discharged_on = timezone.localdate() if status == Couple.Status.DISCHARGED else None
    couple.full_clean()
    couple.save(update_fields=["status", "discharged_on", "updated_at"])
    audit_record(actor=user, action=f"couple.{status}", target=couple, changes=["status"])
    return couple


@transaction.atomic
def partner_add(*, user, couple: Couple, display_name: str, time_zone: str, **details: object) -> Partner:
    """Add a partner to a couple: at most two active partners, each in a seat (A or B)."""
    unknown = set(details) - set(PARTNER_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown partner field." for name in unknown})
    # Lock the couple so two concurrent adds cannot both take the last seat.
    couple = Couple.objects.select_for_update().get(pk=couple.pk)
    require_couple_access(user, couple)
    if couple.status == Couple.Status.SEPARATED:
        raise ValidationError(
            {"couple": ValidationError("This couple is separated; its record is closed.", code="separated")}
        )
    taken = set(couple.partners.filter(is_active=True).values_list("seat", flat=True))
    free = [seat for seat in Partner.Seat.values if seat not in taken]
    if couple.kind == Couple.Kind.INDIVIDUAL and couple.partners.exists():
        # Its one partner's shared items would reach whoever joined; a new couple is a new case.
        # (An individual case opened at intake takes its one partner here.)
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
    return partner


@transaction.atomic
def partner_update(*, user, partner: Partner, **changes: object) -> Partner:
    """Change a partner's contact details, zone, language, channel or quiet hours."""
    unknown = set(changes) - set(PARTNER_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    partner = Partner.objects.select_for_update(of=("self",)).select_related("couple").get(pk=partner.pk)
    require_couple_access(user, partner.couple)
    for name, value in changes.items():
        setattr(partner, name, value)
    _validate_partner(partner)
    partner.save(update_fields=[*changes, "updated_at"])
    audit_record(actor=user, action="partner.update", target=partner, changes=changes)
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
    return consent


def _validate_partner(partner: Partner) -> None:
    partner.full_clean(validate_constraints=False)
    if partner.preferred_channel == Partner.Channel.EMAIL and not partner.email:
        raise ValidationError({"email": "Email reminders need an email address."})
    if partner.preferred_channel == Partner.Channel.SMS and not partner.phone:
        raise ValidationError({"phone": "Text-message reminders need a phone number."})
    if (partner.quiet_hours_start is None) != (partner.quiet_hours_end is None):
        raise ValidationError({"quiet_hours_end": "Give both ends of the quiet hours, or neither."})
    partner.validate_constraints()
