"""Couples, their partners, and each partner's recorded consents."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["partner", "kind", "-recorded_at"])]

    def __str__(self) -> str:
        verb = "granted" if self.granted else "withdrew"
        return f"Partner #{self.partner_id} {verb} {self.get_kind_display()} consent"
