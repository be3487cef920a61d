"""Intake: a new couple (or an individual case) with its partners and their consents, in one go.

``couple_intake`` checks everything first — each partner's details (E.164 mobile, IANA zone,
channel with its contact), one email per person, no third partner, no consent for a channel
without its contact — and then, in one transaction, opens the case (``couple_create``), adds the
partners (``partner_add``) and records the consents (``consent_record``: who, when, how), so a
refusal leaves nothing half-saved and sends nothing. Once saved, each partner who may be
welcomed gets a welcome (``cyclecare.welcome``), sent after the commit.

The form's one-time token guards against a double submit: the same token again returns the
case it made (``Intake``), never a second one.

Errors name the form's fields: ``label``, ``partners``, and ``a_<field>`` / ``b_<field>`` for
partner A's and B's details and consents (e.g. ``b_email``, ``a_consent_sms``).
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinician.permissions import require_clinician
from couples.models import Consent, Couple, Partner
from couples.services import consent_record, couple_create, partner_add

from .models import Intake
from .welcome import welcome_blockers, welcome_request

SEATS = ("a", "b")
DETAILS = (
    "pronouns",
    "email",
    "phone",
    "language",
    "preferred_channel",
    "quiet_hours_start",
    "quiet_hours_end",
)
CONTACT_OF_CONSENT = {Consent.Kind.EMAIL: "email", Consent.Kind.SMS: "phone"}


@dataclass(frozen=True)
class ConsentIntake:
    kind: str
    granted: bool
    method: str


@dataclass(frozen=True)
class PartnerIntake:
    display_name: str
    time_zone: str
    pronouns: str = ""
    email: str = ""
    phone: str = ""
    language: str = Partner.Language.ENGLISH
    preferred_channel: str = Partner.Channel.NONE
    quiet_hours_start: datetime.time | None = None
    quiet_hours_end: datetime.time | None = None
    consents: Sequence[ConsentIntake] = field(default_factory=tuple)

    def details(self) -> dict:
        return {name: getattr(self, name) for name in DETAILS}


@dataclass(frozen=True)
class IntakeResult:
    couple: Couple
    created: bool
    # Why a partner got no welcome, in the clinician's words (one line per such partner).
    not_welcomed: list[str]


def intake_validate(*, label: str, kind: str, partners: Sequence[PartnerIntake]) -> None:
    """Every rule of an intake, checked before anything is written: a ValidationError naming
    the form's fields, or None."""
    errors: dict[str, list] = {}

    def add(name: str, message: str, code: str) -> None:
        errors.setdefault(name, []).append(ValidationError(message, code=code))

    if not label.strip():
        add("label", "Give the case a label.", "required")
    wanted = 1 if kind == Couple.Kind.INDIVIDUAL else 2
    if kind not in Couple.Kind.values:
        add("kind", "Choose a couple or an individual case.", "invalid")
    elif len(partners) > 2:
        add("partners", "A couple has two partners; a third cannot be added.", "third_partner")
    elif len(partners) != wanted:
        message = (
            "An individual case has one partner."
            if kind == Couple.Kind.INDIVIDUAL
            else "A couple has two partners: give both."
        )
        add("partners", message, "partner_count")
    for seat, intake in zip(SEATS, partners, strict=False):
        candidate = Partner(
            seat=SEATS.index(seat) + 1,
            display_name=intake.display_name.strip(),
            time_zone=intake.time_zone,
            **intake.details(),
        )
        try:
            candidate.full_clean(exclude=["practice", "couple", "user"], validate_constraints=False)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                for message in messages:
                    add(f"{seat}_{name}", message, "invalid")
        if intake.preferred_channel == Partner.Channel.EMAIL and not intake.email:
            add(f"{seat}_email", "Email reminders need an email address.", "required")
        if intake.preferred_channel == Partner.Channel.SMS and not intake.phone:
            add(f"{seat}_phone", "Text-message reminders need a mobile number.", "required")
        if (intake.quiet_hours_start is None) != (intake.quiet_hours_end is None):
            add(f"{seat}_quiet_hours_end", "Give both ends of the quiet hours, or neither.", "required")
        kinds = [consent.kind for consent in intake.consents]
        for consent in intake.consents:
            name = f"{seat}_consent_{consent.kind}"
            if consent.kind not in Consent.Kind.values:
                add(f"{seat}_consents", f"Unknown consent {consent.kind!r}.", "invalid")
                continue
            if kinds.count(consent.kind) > 1:
                add(name, "Record each consent once.", "duplicate")
            if consent.method not in Consent.Method.values or consent.method == Consent.Method.ELECTRONIC:
                add(f"{seat}_consent_method", "Say how the consent was given.", "invalid")
            contact = CONTACT_OF_CONSENT.get(consent.kind)
            if consent.granted and contact and not getattr(intake, contact):
                message = (
                    "Email consent needs an email address."
                    if contact == "email"
                    else "Text-message consent needs a mobile number."
                )
                add(name, message, "no_contact")
            if consent.granted and consent.kind == Consent.Kind.SHARING and kind == Couple.Kind.INDIVIDUAL:
                add(name, "An individual case has no partner to share with.", "individual_case")
    emails = [intake.email.strip().lower() for intake in partners[:2] if intake.email.strip()]
    if len(emails) == 2 and emails[0] == emails[1]:
        add("b_email", "Each partner needs their own email address; this is partner A's.", "same_email")
    if errors:
        raise ValidationError(errors)


def couple_intake(
    *,
    user,
    label: str,
    partners: Sequence[PartnerIntake],
    kind: str = Couple.Kind.COUPLE,
    intake_token: str = "",
    started_on: datetime.date | None = None,
) -> IntakeResult:
    """Open a case with its partners and their consents, then welcome each partner who may be
    welcomed — all or nothing. The same ``intake_token`` again (a double submit) returns the
    case it made and changes nothing."""
    clinician = require_clinician(user)
    if intake_token:
        done = _intake_made(clinician=clinician, token=intake_token)
        if done is not None:
            return done
    intake_validate(label=label, kind=kind, partners=partners)
    try:
        with transaction.atomic():
            couple = couple_create(user=user, label=label, started_on=started_on, kind=kind)
            not_welcomed = []
            for seat, intake in zip(SEATS, partners, strict=False):
                try:
                    partner = partner_add(
                        user=user,
                        couple=couple,
                        display_name=intake.display_name,
                        time_zone=intake.time_zone,
                        **intake.details(),
                    )
                except ValidationError as exc:
                    raise _on_seat(exc, seat) from None
                for consent in intake.consents:
                    consent_record(
                        actor=user,
                        partner=partner,
                        kind=consent.kind,
                        granted=consent.granted,
                        method=consent.method,
                    )
                if not welcome_request(user=user, partner=partner, refuse_if_none=False):
                    not_welcomed.append(welcome_blockers(partner))
            if intake_token:
                Intake.objects.create(
                    practice_id=couple.practice_id, couple=couple, token=intake_token, recorded_by=clinician
                )
    except IntegrityError:
        # A concurrent POST of the same form won the token: return what it made.
        done = _intake_made(clinician=clinician, token=intake_token) if intake_token else None
        if done is None:
            raise
        return done
    return IntakeResult(
        couple=couple, created=True, not_welcomed=[reason for reason in not_welcomed if reason]
    )


def _intake_made(*, clinician, token: str) -> IntakeResult | None:
    intake = (
        Intake.objects.select_related("couple")
        .filter(practice_id=clinician.practice_id, token=token, recorded_by=clinician)
        .first()
    )
    if intake is None:
        return None
    return IntakeResult(couple=intake.couple, created=False, not_welcomed=[])


def _on_seat(exc: ValidationError, seat: str) -> ValidationError:
    """A partner service's error, put on that partner's fields."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {
            (f"{seat}_{name}" if name in (*DETAILS, "display_name", "time_zone") else name): errors
            for name, errors in exc.error_dict.items()
        }
    )
