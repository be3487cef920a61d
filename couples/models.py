"""Couples, their partners, each partner's recorded consents, and the couple's clinical record:
sessions, their notes (signed → locked), co-signatures and addenda."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from clinician.audit import AuditedQuerySet
from clinician.fields import EncryptedJSON, EncryptedText
from clinician.validators import validate_time_zone

phone_validator = RegexValidator(
    r"^\+[1-9]\d{6,14}$", _("Enter the number in international form, e.g. +15551234567.")
)


class Couple(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        DISCHARGED = "discharged", _("Discharged")
        # Terminal, set only by cyclecare.separation.couple_separate: the joint record is closed.
        SEPARATED = "separated", _("Separated")

    class Kind(models.TextChoices):
        COUPLE = "couple", _("Couple")
        # One partner continuing alone after a separation (continued_from names the couple).
        INDIVIDUAL = "individual", _("Individual")

    class SeparationReason(models.TextChoices):
        """Why a couple's joint work ended — codes only, so no free-text PHI is needed."""

        RELATIONSHIP_ENDED = "relationship_ended", _("The relationship ended")
        INDIVIDUAL_WORK = "individual_work", _("Individual work is indicated")
        SAFETY = "safety", _("Joint sessions are not safe now")
        PARTNER_WITHDREW = "partner_withdrew", _("A partner withdrew from joint work")
        OTHER = "other", _("Another reason, recorded in the clinical notes")

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="couples", db_index=False
    )
    primary_clinician = models.ForeignKey(
        "clinician.Clinician",
        on_delete=models.PROTECT,
        related_name="couples",
        db_index=False,
    )
    label = models.CharField(
        max_length=120, help_text=_("How the clinic refers to the couple, e.g. “Rivera & Chen”.")
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    eft_step = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(9)],
        help_text=_("Current EFT step (1–9); the stage follows from it."),
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.COUPLE)
    continued_from = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="continuations",
        help_text=_("For an individual case: the couple whose separation opened it."),
    )
    started_on = models.DateField()
    discharged_on = models.DateField(null=True, blank=True)
    separated_on = models.DateField(null=True, blank=True)
    separation_reason = models.CharField(max_length=20, choices=SeparationReason.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["label"]
        constraints = [
            models.CheckConstraint(
                condition=Q(eft_step__isnull=True) | Q(eft_step__gte=1, eft_step__lte=9),
                name="couple_eft_step_range",
            ),
            models.CheckConstraint(
                condition=Q(status="discharged", discharged_on__isnull=False)
                | (~Q(status="discharged") & Q(discharged_on__isnull=True)),
                name="couple_discharged_has_date",
            ),
            models.CheckConstraint(
                condition=Q(status="separated", separated_on__isnull=False) & ~Q(separation_reason="")
                | (~Q(status="separated") & Q(separated_on__isnull=True, separation_reason="")),
                name="couple_separated_has_date_and_reason",
            ),
            models.CheckConstraint(
                condition=Q(continued_from__isnull=True) | Q(kind="individual"),
                name="couple_continuation_is_individual",
            ),
            models.CheckConstraint(
                condition=Q(kind="couple") | ~Q(status="separated"),
                name="couple_only_a_couple_separates",
            ),
        ]
        indexes = [
            models.Index(fields=["practice", "status"]),
            models.Index(fields=["primary_clinician", "status"]),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def eft_stage(self) -> int | None:
        """1 de-escalation (steps 1–4), 2 restructuring (5–7), 3 consolidation (8–9)."""
        if self.eft_step is None:
            return None
        return 1 if self.eft_step <= 4 else 2 if self.eft_step <= 7 else 3


class Partner(models.Model):
    """One person of a couple. No gendered fields; names and pronouns are the partner's own."""

    class Seat(models.IntegerChoices):
        A = 1, "A"
        B = 2, "B"

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("Text message")
        NONE = "none", _("No reminders")

    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        SPANISH = "es", "Español"

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    couple = models.ForeignKey(Couple, on_delete=models.PROTECT, related_name="partners")
    # The seat keeps at most two active partners per couple in the database itself.
    seat = models.PositiveSmallIntegerField(choices=Seat.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="partner_profile",
        help_text=_("Optional account; partners normally use reminder links."),
    )
    display_name = models.CharField(max_length=120)
    pronouns = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=16, blank=True, validators=[phone_validator])
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.ENGLISH)
    preferred_channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    left_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["couple_id", "seat"]
        constraints = [
            models.UniqueConstraint(
                fields=["couple", "seat"],
                condition=Q(is_active=True),
                name="partner_one_active_per_seat",
            ),
            models.CheckConstraint(condition=Q(seat__in=[1, 2]), name="partner_seat_a_or_b"),
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="partner_quiet_hours_both_or_neither",
            ),
            models.CheckConstraint(
                condition=~Q(preferred_channel="email") | ~Q(email=""),
                name="partner_email_channel_has_email",
            ),
            models.CheckConstraint(
                condition=~Q(preferred_channel="sms") | ~Q(phone=""),
                name="partner_sms_channel_has_phone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} (partner {self.get_seat_display()})"


class Consent(models.Model):
    """One recorded consent decision. The latest row per (partner, kind) is in force."""

    class Kind(models.TextChoices):
        TREATMENT = "treatment", _("Treatment")
        EMAIL = "email", _("Email reminders")
        SMS = "sms", _("Text-message reminders")
        SHARING = "sharing", _("Sharing with partner")

    class Method(models.TextChoices):
        # How the clinician took the decision: face to face in a session, by word outside one
        # (the phone), or on a signed form; a partner's own decision on a page is electronic.
        IN_SESSION = "in_session", _("In session")
        WRITTEN = "written", _("Written")
        VERBAL = "verbal", _("Verbal, documented by clinician")
        ELECTRONIC = "electronic", _("Electronic, by the partner")

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="consents", db_index=False)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    granted = models.BooleanField()
    method = models.CharField(max_length=12, choices=Method.choices)
    recorded_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField()

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["partner", "kind", "-recorded_at"])]

    def __str__(self) -> str:
        verb = "granted" if self.granted else "withdrew"
        return f"Partner #{self.partner_id} {verb} {self.get_kind_display()} consent"

    def audit_subject(self) -> tuple[int | None, int | None]:
        """Whose record this is, for the audit trail (clinician.audit.audit_subject)."""
        return self.partner.couple_id, self.partner_id


class TherapySession(models.Model):
    """A scheduled or held session with a couple, jointly or with one partner."""

    # Its name in the audit trail and FHIR ids from before it moved here (clinician.audit.record_label).
    record_label = "clinician.TherapySession"

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

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    couple = models.ForeignKey(Couple, on_delete=models.PROTECT, related_name="sessions", db_index=False)
    clinician = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, related_name="sessions", db_index=False
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.JOINT)
    partner = models.ForeignKey(
        Partner,
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
    attendees = models.ManyToManyField(Partner, blank=True, related_name="attended_sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        db_table = "clinician_therapysession"  # moved from clinician; the table stays (DECISIONS 48)
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


class SessionNoteQuerySet(AuditedQuerySet):
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

    # Its name in the audit trail and FHIR ids from before it moved here (clinician.audit.record_label).
    record_label = "clinician.SessionNote"

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

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    session = models.OneToOneField(TherapySession, on_delete=models.PROTECT, related_name="note")
    author = models.ForeignKey("clinician.Clinician", on_delete=models.PROTECT, related_name="notes")
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
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_content_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SessionNoteQuerySet.as_manager()

    class Meta:
        db_table = "clinician_sessionnote"  # moved from clinician; the table stays (DECISIONS 48)
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

    def audit_subject(self) -> tuple[int | None, int | None]:
        """Whose record this is, for the audit trail (clinician.audit.audit_subject)."""
        return self.session.couple_id, self.session.partner_id


class NoteCoSignature(models.Model):
    """A supervisor's co-signature of a pre-licensed clinician's signed note.

    Its own row, so that co-signing never writes to the signed note.
    """

    # Its name in the audit trail and FHIR ids from before it moved here (clinician.audit.record_label).
    record_label = "clinician.NoteCoSignature"

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    note = models.OneToOneField(SessionNote, on_delete=models.PROTECT, related_name="cosignature")
    supervisor = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, related_name="cosignatures"
    )
    signed_at = models.DateTimeField()

    objects = AuditedQuerySet.as_manager()

    class Meta:
        db_table = "clinician_notecosignature"  # moved from clinician; the table stays (DECISIONS 48)

    def __str__(self) -> str:
        return f"Co-signature of note #{self.note_id} by {self.supervisor}"

    def audit_subject(self) -> tuple[int | None, int | None]:
        """Whose record this is, for the audit trail (clinician.audit.audit_subject)."""
        return self.note.audit_subject()


class Addendum(models.Model):
    """Information added to a signed note. Append-only."""

    # Its name in the audit trail and FHIR ids from before it moved here (clinician.audit.record_label).
    record_label = "clinician.Addendum"

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    note = models.ForeignKey(SessionNote, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey("clinician.Clinician", on_delete=models.PROTECT, related_name="addenda")
    body = EncryptedText(blank=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        db_table = "clinician_addendum"  # moved from clinician; the table stays (DECISIONS 48)
        ordering = ["created_at"]
        verbose_name_plural = "addenda"

    def __str__(self) -> str:
        return f"Addendum #{self.pk} to note #{self.note_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and type(self)._base_manager.filter(pk=self.pk).exists():
            raise ValidationError(_("An addendum cannot be changed once written."), code="immutable")
        super().save(*args, **kwargs)

    def audit_subject(self) -> tuple[int | None, int | None]:
        """Whose record this is, for the audit trail (clinician.audit.audit_subject)."""
        return self.note.audit_subject()


class PartnerErasure(models.Model):
    """A partner's request to erase their contact details, carried out (``couples.services.
    partner_erase``). The details erased are kept here, encrypted, until ``undo_until`` so that
    a mistaken erasure can be undone; then the purge clears them for good. The clinical record
    is not erased (see the records notes: signed notes, check-ins and the audit trail stay)."""

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="erasures")
    erased_by = models.ForeignKey("clinician.Clinician", on_delete=models.PROTECT, related_name="+")
    erased_at = models.DateTimeField()
    undo_until = models.DateTimeField()
    # The contact details as they were (field → value), encrypted; emptied by the purge.
    erased_details = EncryptedJSON()
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    purged_at = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-erased_at", "-id"]
        constraints = [
            # One erasure in force per partner: undone ones may precede it.
            models.UniqueConstraint(
                fields=["partner"], condition=Q(undone_at__isnull=True), name="partnererasure_one_in_force"
            ),
            models.CheckConstraint(
                condition=Q(undone_at__isnull=True) | Q(purged_at__isnull=True),
                name="partnererasure_undone_or_purged",
            ),
            models.CheckConstraint(
                condition=Q(undo_until__gt=models.F("erased_at")), name="partnererasure_window"
            ),
        ]
        indexes = [models.Index(fields=["purged_at", "undo_until"])]

    def __str__(self) -> str:
        return f"Erasure #{self.pk} of partner #{self.partner_id}"

    @property
    def in_force(self) -> bool:
        return self.undone_at is None

    def audit_subject(self) -> tuple[int | None, int | None]:
        """Whose record this is, for the audit trail (clinician.audit.audit_subject)."""
        return self.partner.couple_id, self.partner_id
