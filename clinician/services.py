"""Writes for practices and clinicians. Validated, transactional, audited."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from .audit import audit_record
from .models import Clinician, Practice
from .permissions import acting_clinician


@transaction.atomic
def practice_create(*, name: str, slug: str, time_zone: str = "America/New_York") -> Practice:
    """Create a tenant. Operators do this (admin or a management command), not clinicians."""
    practice = Practice(name=name.strip(), slug=slug, time_zone=time_zone)
    practice.full_clean()
    practice.save()
    audit_record(actor=None, action="practice.create", target=practice)
    return practice


# CLINICIANS
# ------------------------------------------------------------------------------
# What clinician_update changes. A clinician's user and practice never change: their couples,
# sessions and notes are that practice's, so another practice is a new clinician record.
CLINICIAN_EDITABLE_FIELDS = (
    "display_name",
    "role",
    "credentials",
    "licence_number",
    "licence_jurisdiction",
    "is_prelicensed",
    "supervisor",
    "is_active",
)


def _require_clinician_manager(actor: AbstractBaseUser | None, practice_id: int, message: str) -> None:
    """The operator (an active superuser, in the admin) or this practice's admin."""
    if getattr(actor, "is_superuser", False) and actor.is_active:
        return
    acting = acting_clinician(actor)
    if acting is None or acting.role != Clinician.Role.PRACTICE_ADMIN or acting.practice_id != practice_id:
        raise ValidationError(message, code="forbidden")


def clinician_validate(*, clinician: Clinician) -> None:
    """The rules a clinician's record must meet, which clinician_create and clinician_update
    check before they write and a form may ask first (the admin's): the model's (the supervisor
    works in the same practice, has the supervisor role and is not the clinician; a pre-licensed
    clinician has one), that the supervisor is active, and that a clinician who supervises
    active clinicians stays an active supervisor — their supervisees' notes need someone who
    can co-sign them."""
    clinician.full_clean()
    if clinician.supervisor is not None and not clinician.supervisor.is_active:
        raise ValidationError(
            {
                "supervisor": ValidationError(
                    "This supervisor is no longer active.", code="inactive_supervisor"
                )
            }
        )
    if clinician.pk is None or (clinician.role == Clinician.Role.SUPERVISOR and clinician.is_active):
        return
    if Clinician.objects.filter(supervisor_id=clinician.pk, is_active=True).exists():
        field = "role" if clinician.role != Clinician.Role.SUPERVISOR else "is_active"
        raise ValidationError(
            {
                field: ValidationError(
                    "This clinician supervises active clinicians; give them another supervisor first.",
                    code="supervises_others",
                )
            }
        )


@transaction.atomic
def clinician_create(
    *,
    practice: Practice,
    user: AbstractBaseUser,
    display_name: str,
    role: str = Clinician.Role.CLINICIAN,
    credentials: str = "",
    licence_number: str = "",
    licence_jurisdiction: str = "",
    is_prelicensed: bool = False,
    supervisor: Clinician | None = None,
    actor: AbstractBaseUser | None = None,
) -> Clinician:
    """Give a user a role in a practice (the operator or the practice's admin; ``actor`` None:
    the system, e.g. the demo). A pre-licensed clinician needs a supervisor there (see
    clinician_validate)."""
    clinician = Clinician(
        practice=practice,
        user=user,
        display_name=display_name.strip(),
        role=role,
        credentials=credentials,
        licence_number=licence_number,
        licence_jurisdiction=licence_jurisdiction,
        is_prelicensed=is_prelicensed,
        supervisor=supervisor,
    )
    if actor is not None:
        _require_clinician_manager(actor, practice.pk, "Only this practice's admin can add clinicians.")
    clinician_validate(clinician=clinician)
    clinician.save()
    audit_record(actor=actor, action="clinician.create", target=clinician)
    return clinician


@transaction.atomic
def clinician_update(*, actor: AbstractBaseUser, clinician: Clinician, **changes: object) -> Clinician:
    """Change a clinician's name, role, credentials, licence, pre-licensed status, supervisor or
    whether they are active (the operator or the practice's admin); checked as a whole by
    clinician_validate, so a pre-licensed clinician and their new supervisor change together.
    The audit event names the fields changed, never their values."""
    unknown = set(changes) - set(CLINICIAN_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in sorted(unknown)})
    _require_clinician_manager(
        actor, clinician.practice_id, "Only this practice's admin can change clinicians."
    )
    clinician = Clinician.objects.select_for_update().get(pk=clinician.pk)
    for name, value in changes.items():
        if name == "display_name":
            value = str(value).strip()
        setattr(clinician, name, value)
    clinician_validate(clinician=clinician)
    if changes:
        clinician.save(update_fields=list(changes))
        audit_record(actor=actor, action="clinician.update", target=clinician, changes=changes)
    return clinician


@transaction.atomic
def clinician_set_supervisor(
    *, actor: AbstractBaseUser, clinician: Clinician, supervisor: Clinician | None
) -> Clinician:
    """Change who supervises a clinician (the operator or the practice's admin)."""
    _require_clinician_manager(
        actor, clinician.practice_id, "Only this practice's admin can change supervision."
    )
    clinician = Clinician.objects.select_for_update().get(pk=clinician.pk)
    clinician.supervisor = supervisor
    clinician_validate(clinician=clinician)
    clinician.save(update_fields=["supervisor"])
    audit_record(actor=actor, action="clinician.set_supervisor", target=clinician, changes=["supervisor"])
    return clinician
