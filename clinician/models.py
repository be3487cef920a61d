"""Practices (the tenant), clinicians, therapy sessions, notes, addenda and the audit trail."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .fields import EncryptedJSON, EncryptedText
from .validators import validate_time_zone


class Practice(models.Model):
    """The tenant: every row of PHI belongs to exactly one practice."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="America/New_York", validators=[validate_time_zone])
    crisis_resources = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'Shown to a partner after a safety answer: [{"name": ..., "contact": ...}]. '
            "Empty: cyclecare's defaults (988 and the National Domestic Violence Hotline)."
        ),
    )
    # Defaults a new partner's reminders start from; each partner's own settings win.
    reminder_time = models.TimeField(
        default=datetime.time(19, 0),
        help_text=_("Local time of day a daily reminder is sent unless a partner chooses another."),
    )
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    sender_name = models.CharField(
        max_length=70,
        blank=True,
        help_text=_("The name partners see messages from. Empty: the practice's name."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="practice_quiet_hours_both_or_neither",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def message_sender_name(self) -> str:
        return self.sender_name or self.name


class Clinician(models.Model):
    """A user who works in a practice. The user model is the host site's own."""

    class Role(models.TextChoices):
        CLINICIAN = "clinician", _("Clinician")
        SUPERVISOR = "supervisor", _("Supervisor")
        PRACTICE_ADMIN = "practice_admin", _("Practice admin")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="clinician")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="clinicians")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CLINICIAN)
    display_name = models.CharField(max_length=120)
    credentials = models.CharField(max_length=60, blank=True, help_text=_("e.g. LMFT, PhD"))
    licence_number = models.CharField(max_length=60, blank=True)
    licence_jurisdiction = models.CharField(max_length=60, blank=True)
    is_prelicensed = models.BooleanField(
        default=False, help_text=_("Pre-licensed clinicians' notes need a supervisor's co-signature.")
    )
    supervisor = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supervisees"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(supervisor__isnull=True) | ~Q(supervisor=F("id")),
                name="clinician_not_own_supervisor",
            ),
            models.CheckConstraint(
                condition=Q(is_prelicensed=False) | Q(supervisor__isnull=False),
                name="clinician_prelicensed_has_supervisor",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name}, {self.credentials}" if self.credentials else self.display_name

    def clean(self) -> None:
        if self.supervisor_id:
            if self.supervisor_id == self.pk:
                raise ValidationError({"supervisor": _("A clinician cannot supervise themselves.")})
            if self.supervisor.practice_id != self.practice_id:
                raise ValidationError({"supervisor": _("The supervisor must work in the same practice.")})
            if self.supervisor.role != self.Role.SUPERVISOR:
                raise ValidationError({"supervisor": _("The supervisor must have the supervisor role.")})
        if self.is_prelicensed and not self.supervisor_id:
            raise ValidationError({"supervisor": _("A pre-licensed clinician needs a supervisor.")})


class TherapySession(models.Model):
    """A scheduled or held session with a couple, jointly or with one partner."""

    class Kind(models.TextChoices):
        JOINT = "joint", _("Joint")
        INDIVIDUAL = "individual", _("Individual")

    class Modality(models.TextChoices):
        IN_PERSON = "in_person", _("In person")
        VIDEO = "video", _("Video")
        PHONE = "phone", _("Phone")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        HELD = "held", _("Held")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+", db_index=False)
    couple = models.ForeignKey(
        "couples.Couple", on_delete=models.PROTECT, related_name="sessions", db_index=False
    )
    clinician = models.ForeignKey(
        Clinician, on_delete=models.PROTECT, related_name="sessions", db_index=False
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.JOINT)
    partner = models.ForeignKey(
        "couples.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="individual_sessions",
        help_text=_("The partner seen, for an individual session."),
    )
    modality = models.CharField(max_length=12, choices=Modality.choices, default=Modality.IN_PERSON)
    starts_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=50)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    attendees = models.ManyToManyField("couples.Partner", blank=True, related_name="attended_sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="joint") & Q(partner__isnull=True))
                | (Q(kind="individual") & Q(partner__isnull=False)),
                name="session_individual_has_partner",
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=5) & Q(duration_minutes__lte=480),
                name="session_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["scheduled", "held", "cancelled", "no_show"]),
                name="session_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["practice", "starts_at"]),
            models.Index(fields=["couple", "starts_at"]),
            models.Index(fields=["clinician", "status", "starts_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} session #{self.pk} on {self.starts_at:%Y-%m-%d}"


class SessionNoteQuerySet(models.QuerySet):
    """Bulk writes cannot reach a signed note either."""

    def update(self, **kwargs):
        if self.filter(status=SessionNote.Status.SIGNED).exists():
            raise ValidationError(_("A signed note cannot be changed; add an addendum."), code="signed")
        return super().update(**kwargs)

    def delete(self):
        if self.filter(status=SessionNote.Status.SIGNED).exists():
            raise ValidationError(_("A signed note cannot be deleted."), code="signed")
        return super().delete()


class SessionNote(models.Model):
    """One note per held session: DAP, SOAP or BIRP sections plus the cycle section.

    Draft → signed. A signed note never changes again (guarded in save(), delete() and the
    queryset, below every view and the API); later information goes into an Addendum.
    """

    class Format(models.TextChoices):
        DAP = "dap", "DAP"
        SOAP = "soap", "SOAP"
        BIRP = "birp", "BIRP"

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SIGNED = "signed", _("Signed")

    class PartnerMove(models.TextChoices):
        PURSUE = "pursue", _("Pursue")
        WITHDRAW = "withdraw", _("Withdraw")
        MIXED = "mixed", _("Mixed")
        NOT_SEEN = "not_seen", _("Not seen")

    # Which encrypted sections each format uses, in the order they are written.
    SECTIONS = {
        Format.DAP: ("data", "assessment", "plan"),
        Format.SOAP: ("subjective", "objective", "assessment", "plan"),
        Format.BIRP: ("behavior", "intervention", "response", "plan"),
    }
    CYCLE_TEXT_FIELDS = (
        "partner_a_position",
        "partner_b_position",
        "interventions",
        "homework_assigned",
        "safety_review",
    )

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+", db_index=False)
    session = models.OneToOneField(TherapySession, on_delete=models.PROTECT, related_name="note")
    author = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="notes")
    format = models.CharField(max_length=4, choices=Format.choices, default=Format.DAP)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)

    # Note body (PHI, encrypted at rest).
    data = EncryptedText()
    subjective = EncryptedText()
    objective = EncryptedText()
    behavior = EncryptedText()
    intervention = EncryptedText()
    response = EncryptedText()
    assessment = EncryptedText()
    plan = EncryptedText()

    # Cycle section. Stage and step are structured (reports use them); the rest is PHI.
    eft_stage = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    eft_step = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(9)]
    )
    partner_a_move = models.CharField(max_length=10, choices=PartnerMove.choices, blank=True)
    partner_b_move = models.CharField(max_length=10, choices=PartnerMove.choices, blank=True)
    partner_a_position = EncryptedText()
    partner_b_position = EncryptedText()
    interventions = EncryptedText()
    homework_assigned = EncryptedText()
    safety_review = EncryptedText()

    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        Clinician, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_content_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SessionNoteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(status="draft") & Q(signed_at__isnull=True) & Q(signed_by__isnull=True))
                | (Q(status="signed") & Q(signed_at__isnull=False) & Q(signed_by__isnull=False)),
                name="note_signed_has_signer",
            ),
            models.CheckConstraint(
                condition=Q(eft_step__isnull=True) | Q(eft_step__gte=1, eft_step__lte=9),
                name="note_eft_step_range",
            ),
            models.CheckConstraint(
                condition=Q(eft_stage__isnull=True)
                | Q(eft_stage=1, eft_step__isnull=True)
                | Q(eft_stage=1, eft_step__lte=4)
                | Q(eft_stage=2, eft_step__isnull=True)
                | Q(eft_stage=2, eft_step__gte=5, eft_step__lte=7)
                | Q(eft_stage=3, eft_step__isnull=True)
                | Q(eft_stage=3, eft_step__gte=8),
                name="note_eft_step_in_stage",
            ),
        ]
        indexes = [models.Index(fields=["practice", "status"])]

    def __str__(self) -> str:
        return f"{self.get_format_display()} note for session #{self.session_id} ({self.status})"

    def save(self, *args, **kwargs):
        if self._signed_in_database():
            raise ValidationError(_("A signed note cannot be changed; add an addendum."), code="signed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self._signed_in_database():
            raise ValidationError(_("A signed note cannot be deleted."), code="signed")
        return super().delete(*args, **kwargs)

    @property
    def is_signed(self) -> bool:
        return self.status == self.Status.SIGNED

    @property
    def needs_cosignature(self) -> bool:
        return self.is_signed and self.signed_by.is_prelicensed and not hasattr(self, "cosignature")

    @property
    def record_partner(self):
        """Whose record the note is part of: the partner seen in an individual session, else
        None (a joint session's note is the couple's record)."""
        return self.session.partner if self.session.kind == TherapySession.Kind.INDIVIDUAL else None

    def section_values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.SECTIONS[self.format]}

    def _signed_in_database(self) -> bool:
        return (
            self.pk is not None
            and type(self)._base_manager.filter(pk=self.pk, status=self.Status.SIGNED).exists()
        )


class NoteCoSignature(models.Model):
    """A supervisor's co-signature of a pre-licensed clinician's signed note.

    Its own row, so that co-signing never writes to the signed note.
    """

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+")
    note = models.OneToOneField(SessionNote, on_delete=models.PROTECT, related_name="cosignature")
    supervisor = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="cosignatures")
    signed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Co-signature of note #{self.note_id} by {self.supervisor}"


class Addendum(models.Model):
    """Information added to a signed note. Append-only."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+")
    note = models.ForeignKey(SessionNote, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="addenda")
    body = EncryptedText(blank=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "addenda"

    def __str__(self) -> str:
        return f"Addendum #{self.pk} to note #{self.note_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and type(self)._base_manager.filter(pk=self.pk).exists():
            raise ValidationError(_("An addendum cannot be changed once written."), code="immutable")
        super().save(*args, **kwargs)


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValidationError("The audit trail is append-only.", code="append_only")

    def delete(self):
        raise ValidationError("The audit trail is append-only.", code="append_only")


class AuditEvent(models.Model):
    """Append-only record of who wrote or read what. Ids only, never PHI."""

    class ActorKind(models.TextChoices):
        USER = "user", _("User")
        PARTNER = "partner", _("Partner")
        INTEGRATION = "integration", _("Integration")
        SYSTEM = "system", _("System")

    practice = models.ForeignKey(
        Practice, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    actor_kind = models.CharField(max_length=12, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    changes = models.JSONField(default=list, blank=True, help_text="Names of changed fields only.")
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["practice", "occurred_at"]),
            models.Index(fields=["target_type", "target_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}#{self.target_id} by {self.actor_kind}:{self.actor_id}"

    # save() below only refuses updates, so clinician.writes may insert an event with others.
    gathered_inserts_ok = True

    def save(self, *args, **kwargs):
        # A row is only ever inserted. clinician.writes gives a new row its key before saving
        # it, with force_insert; without force_insert, a set key would make save() an UPDATE.
        if not self._state.adding or (self.pk is not None and not kwargs.get("force_insert")):
            raise ValidationError("The audit trail is append-only.", code="append_only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("The audit trail is append-only.", code="append_only")


# INTEGRATIONS
# ------------------------------------------------------------------------------
class IntegrationClient(models.Model):
    """Binds one django-oauth-toolkit Application (client credentials) to exactly one practice."""

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="integration_client",
    )
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="integration_clients")
    name = models.CharField(max_length=120)
    scopes = models.CharField(
        max_length=200, default="read", help_text="Space-separated scopes this client may be granted."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.practice})"


class IdempotencyRecord(models.Model):
    """The first response to a create with an Idempotency-Key, replayed for repeats."""

    principal = models.CharField(max_length=80, help_text="Who sent it: user:<id> or integration:<id>.")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    request_sha256 = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    # The response may carry PHI (the created object): encrypted like every other PHI column.
    response_body = EncryptedJSON()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_once_per_principal"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.principal}]"
