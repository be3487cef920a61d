"""Writes for practices and clinicians. Validated, transactional, audited."""

from allauth.account import app_settings as account_settings
from allauth.account.models import EmailAddress
from allauth.account.utils import user_email, user_pk_to_url_str, user_username
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from .audit import audit_record
from .conf import cyclecare_settings
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


# What practice_update changes: what a practice admin sets on the practice page.
PRACTICE_EDITABLE_FIELDS = (
    "name",
    "time_zone",
    "crisis_resources",
    "reminder_time",
    "quiet_hours_start",
    "quiet_hours_end",
    "sender_name",
)


def _validate_crisis_resources(resources: object) -> None:
    if not isinstance(resources, list) or not all(
        isinstance(entry, dict)
        and set(entry) == {"name", "contact"}
        and all(isinstance(value, str) and value.strip() for value in entry.values())
        for entry in resources
    ):
        raise ValidationError(
            {"crisis_resources": "Give each crisis resource a name and how to reach it."}, code="invalid"
        )


@transaction.atomic
def practice_update(*, actor: AbstractBaseUser, practice: Practice, **changes: object) -> Practice:
    """Change the practice's settings (the operator or the practice's admin): its name, time
    zone, crisis resources, reminder defaults (a local time and quiet hours, both ends or
    neither) and the sender name partners see. The audit event names the fields changed."""
    unknown = set(changes) - set(PRACTICE_EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in sorted(unknown)})
    _require_clinician_manager(actor, practice.pk, "Only this practice's admin can change its settings.")
    practice = Practice.objects.select_for_update().get(pk=practice.pk)
    if "crisis_resources" in changes:
        _validate_crisis_resources(changes["crisis_resources"])
    changed = []
    for name, value in changes.items():
        if isinstance(value, str):
            value = value.strip()
        if getattr(practice, name) != value:
            setattr(practice, name, value)
            changed.append(name)
    if (practice.quiet_hours_start is None) != (practice.quiet_hours_end is None):
        raise ValidationError(
            {"quiet_hours_end": "Give quiet hours a start and an end, or neither."}, code="quiet_hours"
        )
    if practice.quiet_hours_start is not None and practice.quiet_hours_start == practice.quiet_hours_end:
        raise ValidationError({"quiet_hours_end": "Quiet hours must end at another time than they start."})
    practice.full_clean()
    if changed:
        practice.save(update_fields=changed)
        audit_record(actor=actor, action="practice.update", target=practice, changes=changed)
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
    deactivating = clinician.is_active and changes.get("is_active") is False
    for name, value in changes.items():
        if name == "display_name":
            value = str(value).strip()
        setattr(clinician, name, value)
    clinician_validate(clinician=clinician)
    if deactivating:
        # The admin's "active" box leaves by the same door as clinician_deactivate.
        clinician_validate_departure(clinician=clinician, actor=actor)
    if changes:
        clinician.save(update_fields=list(changes))
        audit_record(actor=actor, action="clinician.update", target=clinician, changes=changes)
    if deactivating:
        _end_access(actor, clinician)
    return clinician


def clinician_role_change(
    *, actor: AbstractBaseUser, clinician: Clinician, role: str, supervisor: Clinician | None
) -> Clinician:
    """Change a clinician's role and supervisor together (the practice page's edit form): one
    check by clinician_validate, one audit event naming what changed."""
    changes: dict[str, object] = {}
    if role != clinician.role:
        changes["role"] = role
    if supervisor != clinician.supervisor:
        changes["supervisor"] = supervisor
    return clinician_update(actor=actor, clinician=clinician, **changes)


# INVITATIONS
# ------------------------------------------------------------------------------
# An invitation is allauth's password-reset link for an account with no usable password yet:
# allauth's token generator makes it (a hash over the user's password, last sign-in and email,
# so setting a password spends every link sent before), PASSWORD_RESET_TIMEOUT ends it, and
# allauth's own "set a new password" page takes it. Nothing of it is stored here.
def clinician_invitation_url(*, clinician: Clinician) -> str:
    """A fresh invitation link for a clinician who has not set a password yet."""
    user = clinician.user
    token = account_settings.PASSWORD_RESET_TOKEN_GENERATOR().make_token(user)
    path = reverse(
        "account_reset_password_from_key", kwargs={"uidb36": user_pk_to_url_str(user), "key": token}
    )
    return cyclecare_settings.SITE_URL.rstrip("/") + path


def clinician_invitation_pending(clinician: Clinician) -> bool:
    """Invited and not yet enrolled: no password set."""
    return not clinician.user.has_usable_password()


def _send_invitation(*, clinician_id: int, invited_by: str) -> None:
    clinician = Clinician.objects.select_related("practice", "user").get(pk=clinician_id)
    context = {
        "practice_name": clinician.practice.name,
        "display_name": clinician.display_name,
        "invited_by": invited_by,
        "invitation_url": clinician_invitation_url(clinician=clinician),
        "expires_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
        "username": user_username(clinician.user),
    }
    send_mail(
        subject=render_to_string("clinician/email/invitation_subject.txt", context).strip(),
        message=render_to_string("clinician/email/invitation_message.txt", context),
        from_email=None,
        recipient_list=[user_email(clinician.user)],
    )


@transaction.atomic
def clinician_invite(
    *,
    actor: AbstractBaseUser,
    practice: Practice,
    email: str,
    display_name: str,
    role: str = Clinician.Role.CLINICIAN,
    supervisor: Clinician | None = None,
    is_prelicensed: bool = False,
    credentials: str = "",
    licence_number: str = "",
    licence_jurisdiction: str = "",
) -> Clinician:
    """Invite a colleague by email (this practice's admin or the operator): an account with no
    usable password, its email verified (the practice vouches for it, so allauth asks nothing
    more of it), a clinician record, and once committed an email with a single-use, expiring
    link to allauth's set-password page. Two-factor enrolment follows at their first sign-in
    (clinician.middleware.RequireTwoFactorMiddleware), before any other page."""
    _require_clinician_manager(actor, practice.pk, "Only this practice's admin can invite clinicians.")
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}, code="invalid_email") from None
    User = get_user_model()
    taken = (
        EmailAddress.objects.filter(email__iexact=email).exists()
        or User._default_manager.filter(
            Q(**{f"{User.USERNAME_FIELD}__iexact": email})
            | Q(**({f"{User.EMAIL_FIELD}__iexact": email} if User.EMAIL_FIELD else {}))
        ).exists()
    )
    if taken:
        raise ValidationError(
            {"email": ValidationError("Someone already has an account with this email.", code="duplicate")}
        )
    user = User()
    user_username(user, email)
    user_email(user, email)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    clinician = clinician_create(
        practice=practice,
        user=user,
        display_name=display_name,
        role=role,
        credentials=credentials,
        licence_number=licence_number,
        licence_jurisdiction=licence_jurisdiction,
        is_prelicensed=is_prelicensed,
        supervisor=supervisor,
        actor=actor,
    )
    audit_record(actor=actor, action="clinician.invite", target=clinician)
    invited_by = _display_name_of(actor)
    transaction.on_commit(lambda: _send_invitation(clinician_id=clinician.pk, invited_by=invited_by))
    return clinician


@transaction.atomic
def clinician_invite_resend(*, actor: AbstractBaseUser, clinician: Clinician) -> Clinician:
    """Send a pending invitation again, with a fresh expiry (earlier links stay valid until
    theirs, and all die once a password is set)."""
    _require_clinician_manager(
        actor, clinician.practice_id, "Only this practice's admin can invite clinicians."
    )
    clinician = Clinician.objects.select_for_update().select_related("user").get(pk=clinician.pk)
    if not clinician.is_active:
        raise ValidationError("This clinician has been deactivated.", code="inactive")
    if not clinician_invitation_pending(clinician):
        raise ValidationError("This clinician has already set a password.", code="enrolled")
    audit_record(actor=actor, action="clinician.invite_resend", target=clinician)
    invited_by = _display_name_of(actor)
    transaction.on_commit(lambda: _send_invitation(clinician_id=clinician.pk, invited_by=invited_by))
    return clinician


def _display_name_of(actor: AbstractBaseUser) -> str:
    acting = acting_clinician(actor)
    return acting.display_name if acting else "cyclecare"


# DEACTIVATION
# ------------------------------------------------------------------------------
# Couples a clinician still treats: statuses of couples.Couple that are not closed (the
# platform names the couple row's own reverse relation, never imports couples).
COUPLES_IN_CARE = ("active", "paused")


def clinician_couples_in_care(clinician: Clinician) -> int:
    return clinician.couples.filter(status__in=COUPLES_IN_CARE).count()


def clinician_validate_departure(*, clinician: Clinician, actor: AbstractBaseUser | None = None) -> None:
    """What deactivating a clinician asks besides clinician_validate: they treat no couple
    still in care (active or paused) — a couple is never left without a clinician — and they
    are not the one deactivating (an admin cannot lock themselves out)."""
    acting = acting_clinician(actor) if actor is not None else None
    if acting is not None and acting.pk == clinician.pk:
        raise ValidationError({"is_active": ValidationError("You cannot deactivate yourself.", code="self")})
    in_care = clinician_couples_in_care(clinician)
    if in_care:
        raise ValidationError(
            {
                "is_active": ValidationError(
                    "%(name)s still treats %(count)d couple(s); transfer them to another clinician first.",
                    code="couples_in_care",
                    params={"name": clinician.display_name, "count": in_care},
                )
            }
        )


def _end_access(actor: AbstractBaseUser, clinician: Clinician) -> int:
    """Revoke every OAuth2 token and grant the clinician's user owns (refresh tokens revoked,
    access tokens and grants deleted, as django-oauth-toolkit revokes). Their browser
    sessions end on their next request (clinician.middleware.DeactivatedClinicianMiddleware)."""
    user_id = clinician.user_id
    revoked = 0
    for refresh in get_refresh_token_model().objects.filter(user_id=user_id, revoked__isnull=True):
        refresh.revoke()
        revoked += 1
    revoked += get_access_token_model().objects.filter(user_id=user_id).delete()[0]
    get_grant_model().objects.filter(user_id=user_id).delete()
    if revoked:
        audit_record(actor=actor, action="clinician.tokens_revoke", target=clinician)
    return revoked


@transaction.atomic
def clinician_deactivate(*, actor: AbstractBaseUser, clinician: Clinician) -> Clinician:
    """End a clinician's access (this practice's admin or the operator): refused while they
    still treat couples (transfer them first), supervise active clinicians, or are the actor.
    Their API tokens are revoked now and their sessions signed out on their next request;
    their records stay, as the practice's."""
    _require_clinician_manager(
        actor, clinician.practice_id, "Only this practice's admin can deactivate clinicians."
    )
    clinician = Clinician.objects.select_for_update().get(pk=clinician.pk)
    if not clinician.is_active:
        raise ValidationError(
            {"is_active": ValidationError("This clinician is already deactivated.", code="inactive")}
        )
    clinician.is_active = False
    clinician_validate(clinician=clinician)
    clinician_validate_departure(clinician=clinician, actor=actor)
    clinician.save(update_fields=["is_active"])
    audit_record(actor=actor, action="clinician.deactivate", target=clinician, changes=["is_active"])
    _end_access(actor, clinician)
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
