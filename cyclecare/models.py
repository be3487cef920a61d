"""The cycle domain: cycle maps, episodes, homework, occurrences, instruments, check-ins, flags."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinician.audit import AuditedQuerySet
from clinician.fields import EncryptedJSON, EncryptedText


class Move(models.TextChoices):
    PURSUE = "pursue", _("Pursue (moves toward)")
    WITHDRAW = "withdraw", _("Withdraw (moves away)")


class CycleMap(models.Model):
    """One version of a couple's cycle map. The highest version is the current map."""

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    couple = models.ForeignKey(
        "couples.Couple", on_delete=models.PROTECT, related_name="cycle_maps", db_index=False
    )
    version = models.PositiveIntegerField()
    summary = EncryptedText(help_text=_("The loop in the couple's own words."))
    created_by = models.ForeignKey("clinician.Clinician", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["couple_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["couple", "version"], name="cyclemap_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="cyclemap_version_positive"),
        ]

    def __str__(self) -> str:
        return f"Cycle map v{self.version} of couple #{self.couple_id}"


class CycleMapPosition(models.Model):
    """One partner's side of the loop in one map version."""

    cycle_map = models.ForeignKey(
        CycleMap, on_delete=models.CASCADE, related_name="positions", db_index=False
    )
    partner = models.ForeignKey("couples.Partner", on_delete=models.PROTECT, related_name="+")
    move = models.CharField(max_length=10, choices=Move.choices)
    trigger = EncryptedText()
    perception = EncryptedText()
    surface_emotion = EncryptedText(help_text=_("Secondary: anger, frustration, numbness…"))
    underlying_emotion = EncryptedText(help_text=_("Primary: hurt, fear, shame, sadness…"))
    move_detail = EncryptedText(help_text=_("How the partner pursues or withdraws."))
    longing = EncryptedText(help_text=_("The attachment longing or need."))

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["cycle_map_id", "partner__seat"]
        constraints = [
            models.UniqueConstraint(
                fields=["cycle_map", "partner"], name="cyclemap_one_position_per_partner"
            ),
        ]

    def __str__(self) -> str:
        return f"Partner #{self.partner_id} ({self.move}) in map #{self.cycle_map_id}"

    def audit_subject(self) -> tuple[int | None, int | None]:
        """Whose record this is, for the audit trail (clinician.audit.audit_subject)."""
        return self.cycle_map.couple_id, self.partner_id


class CycleEpisode(models.Model):
    """One observation of the cycle: seen in session by the clinician, or self-reported."""

    class Source(models.TextChoices):
        SESSION = "session", _("Clinician, in session")
        SELF_REPORT = "self_report", _("Partner self-report")

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    couple = models.ForeignKey(
        "couples.Couple", on_delete=models.PROTECT, related_name="episodes", db_index=False
    )
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=12, choices=Source.choices)
    recorded_by_clinician = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reported_by = models.ForeignKey(
        "couples.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="reported_episodes"
    )
    session = models.ForeignKey(
        "couples.TherapySession",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="episodes",
        help_text=_("The session the episode was seen in."),
    )
    pursuer = models.ForeignKey(
        "couples.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawer = models.ForeignKey(
        "couples.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    intensity = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(10)], help_text=_("0 (barely) to 10 (most intense).")
    )
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    repair_attempted = models.BooleanField(default=False)
    repair_worked = models.BooleanField(null=True, blank=True)
    trigger = EncryptedText()
    notes = EncryptedText()
    shared_with_partner = models.BooleanField(
        default=False, help_text=_("A self-report is private to its author and the clinician unless shared.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.CheckConstraint(condition=Q(intensity__lte=10), name="episode_intensity_0_10"),
            models.CheckConstraint(
                condition=Q(pursuer__isnull=True) | Q(withdrawer__isnull=True) | ~Q(pursuer=F("withdrawer")),
                name="episode_pursuer_not_withdrawer",
            ),
            models.CheckConstraint(
                condition=Q(repair_worked__isnull=True) | Q(repair_attempted=True),
                name="episode_repair_worked_needs_attempt",
            ),
            models.CheckConstraint(
                condition=(Q(source="session") & Q(recorded_by_clinician__isnull=False))
                | (Q(source="self_report") & Q(reported_by__isnull=False)),
                name="episode_source_has_author",
            ),
        ]
        indexes = [models.Index(fields=["couple", "occurred_at"])]

    def __str__(self) -> str:
        return f"Episode #{self.pk} of couple #{self.couple_id} (intensity {self.intensity})"


class Instrument(models.Model):
    """A versioned measure held as data. Shipped ones have no practice; licensed ones do."""

    practice = models.ForeignKey(
        "clinician.Practice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="instruments",
        help_text=_("Empty for instruments cyclecare ships; set for a practice's licensed ones."),
    )
    code = models.SlugField(max_length=40)
    version = models.PositiveSmallIntegerField(default=1)
    name = models.CharField(max_length=120)
    definition = models.JSONField(help_text=_("Items, response types, scoring, cutoffs."))
    licence = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "version"],
                condition=Q(practice__isnull=True),
                name="instrument_shipped_code_version_unique",
            ),
            models.UniqueConstraint(
                fields=["practice", "code", "version"],
                condition=Q(practice__isnull=False),
                name="instrument_practice_code_version_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Assignment(models.Model):
    """Homework for one or both partners, scheduled in each partner's own local time."""

    class Kind(models.TextChoices):
        CHECK_IN = "check_in", _("Check-in")
        PRACTICE = "practice", _("Practice task")
        EPISODE_LOG = "episode_log", _("Episode log")

    class Schedule(models.TextChoices):
        DAILY = "daily", _("Daily at a time")
        WEEKDAYS = "weekdays", _("Chosen weekdays at a time")
        WEEKLY = "weekly", _("Weekly")
        BEFORE_SESSION = "before_session", _("Hours before the next session")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    couple = models.ForeignKey(
        "couples.Couple", on_delete=models.PROTECT, related_name="assignments", db_index=False
    )
    partners = models.ManyToManyField("couples.Partner", related_name="assignments")
    assigned_by = models.ForeignKey("clinician.Clinician", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    title = models.CharField(max_length=120)
    instructions = EncryptedText()
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="assignments"
    )
    schedule = models.CharField(max_length=16, choices=Schedule.choices)
    local_time = models.TimeField(null=True, blank=True)
    # Monday = bit 0 … Sunday = bit 6.
    weekdays = models.PositiveSmallIntegerField(default=0)
    hours_before_session = models.PositiveSmallIntegerField(null=True, blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="assignment_ends_after_start",
            ),
            models.CheckConstraint(condition=Q(weekdays__lte=127), name="assignment_weekdays_bitmask"),
            models.CheckConstraint(
                condition=(Q(schedule="daily") & Q(local_time__isnull=False))
                | (Q(schedule="weekdays") & Q(local_time__isnull=False) & Q(weekdays__gt=0))
                | (
                    Q(schedule="weekly")
                    & Q(local_time__isnull=False)
                    & Q(weekdays__in=[1, 2, 4, 8, 16, 32, 64])
                )
                | (
                    Q(schedule="before_session")
                    & Q(hours_before_session__gte=1)
                    & Q(hours_before_session__lte=168)
                ),
                name="assignment_schedule_complete",
            ),
            models.CheckConstraint(
                condition=~Q(kind="check_in") | Q(instrument__isnull=False),
                name="assignment_checkin_has_instrument",
            ),
        ]
        indexes = [models.Index(fields=["couple", "status"])]

    def __str__(self) -> str:
        return f"{self.title} (couple #{self.couple_id})"


class Occurrence(models.Model):
    """One due instance of an assignment for one partner: what a reminder and a check-in are for."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        COMPLETED = "completed", _("Completed")
        MISSED = "missed", _("Missed")
        CANCELLED = "cancelled", _("Cancelled")

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    assignment = models.ForeignKey(
        Assignment, on_delete=models.PROTECT, related_name="occurrences", db_index=False
    )
    partner = models.ForeignKey(
        "couples.Partner", on_delete=models.PROTECT, related_name="occurrences", db_index=False
    )
    # The partner's wall-clock due date and time (the identity), and the UTC instant it maps to.
    local_due_date = models.DateField()
    local_due_time = models.TimeField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "partner", "local_due_date", "local_due_time"],
                name="occurrence_once_per_local_due",
            ),
            models.CheckConstraint(
                condition=(Q(status="completed") & Q(completed_at__isnull=False))
                | (~Q(status="completed") & Q(completed_at__isnull=True)),
                name="occurrence_completed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["partner", "due_at"]),
            # The report rollups re-read one partner's occurrences of one day.
            models.Index(fields=["partner", "local_due_date"], name="occurrence_partner_day_idx"),
        ]

    def __str__(self) -> str:
        return f"Occurrence #{self.pk} of assignment #{self.assignment_id} due {self.due_at:%Y-%m-%d %H:%M}Z"


class CheckIn(models.Model):
    """A partner's answers to an instrument. Private to that partner and the clinician unless shared."""

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    couple = models.ForeignKey(
        "couples.Couple", on_delete=models.PROTECT, related_name="checkins", db_index=False
    )
    partner = models.ForeignKey(
        "couples.Partner", on_delete=models.PROTECT, related_name="checkins", db_index=False
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="checkins")
    occurrence = models.OneToOneField(
        Occurrence, on_delete=models.PROTECT, null=True, blank=True, related_name="checkin"
    )
    submitted_at = models.DateTimeField()
    answers = EncryptedJSON(help_text=_("Item code → answer, encrypted at rest."))
    # Scores stay numeric so trends and reports can aggregate them.
    total_score = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    subscale_scores = models.JSONField(default=dict, blank=True)
    shared_with_partner = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["partner", "submitted_at"]),
            models.Index(fields=["couple", "submitted_at"]),
            models.Index(fields=["practice", "submitted_at"]),
        ]

    def __str__(self) -> str:
        return f"Check-in #{self.pk} ({self.instrument.code}) by partner #{self.partner_id}"


class PartnerLink(models.Model):
    """A partner's way in without a password: an opaque, expiring token for one partner (and,
    for a check-in, one occurrence). Only a hash of the token is stored. Opening the link (GET)
    never uses it up — mail scanners prefetch links; a successful POST does."""

    class Purpose(models.TextChoices):
        CHECK_IN = "check_in", _("Check-in")
        HOME = "home", _("Partner home (history, episode log)")

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(
        "couples.Partner", on_delete=models.CASCADE, related_name="links", db_index=False
    )
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    occurrence = models.ForeignKey(
        Occurrence, on_delete=models.CASCADE, null=True, blank=True, related_name="links"
    )
    token_sha256 = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(purpose="check_in") & Q(occurrence__isnull=False))
                | (Q(purpose="home") & Q(occurrence__isnull=True)),
                name="partnerlink_checkin_has_occurrence",
            ),
        ]
        indexes = [models.Index(fields=["partner", "purpose"])]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} link for partner #{self.partner_id}"


class SafetyFlag(models.Model):
    """Raised by a partner's private safety answer. Visible to the clinician only."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    class Source(models.TextChoices):
        CHECK_IN = "check_in", _("Check-in safety item")
        SCREEN = "screen", _("Screening instrument")
        CLINICIAN = "clinician", _("Raised by clinician")

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    couple = models.ForeignKey(
        "couples.Couple", on_delete=models.PROTECT, related_name="safety_flags", db_index=False
    )
    partner = models.ForeignKey("couples.Partner", on_delete=models.PROTECT, related_name="safety_flags")
    checkin = models.ForeignKey(
        CheckIn, on_delete=models.PROTECT, null=True, blank=True, related_name="safety_flags"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    raised_at = models.DateTimeField()
    clinician_notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = EncryptedText()

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open")
                | Q(status="acknowledged", acknowledged_at__isnull=False)
                | Q(status="resolved", resolved_at__isnull=False),
                name="safetyflag_status_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["practice", "status"]),
            models.Index(fields=["couple", "status"]),
            models.Index(fields=["clinician_notified_at", "raised_at"]),
        ]

    def __str__(self) -> str:
        return f"Safety flag #{self.pk} ({self.status}) for couple #{self.couple_id}"


# INTEGRATIONS
# ------------------------------------------------------------------------------
class WebhookEvent(models.TextChoices):
    CHECKIN_COMPLETED = "checkin.completed", "checkin.completed"
    NOTE_SIGNED = "note.signed", "note.signed"
    EPISODE_RECORDED = "episode.recorded", "episode.recorded"
    ASSIGNMENT_MISSED = "assignment.missed", "assignment.missed"


class WebhookEndpoint(models.Model):
    """A practice's HTTPS endpoint for events; deliveries are signed with its own secret."""

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event names this endpoint receives.")
    secret = EncryptedText(blank=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Webhook #{self.pk} for practice #{self.practice_id}"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row and its delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    event_id = models.UUIDField()
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField(help_text="Ids and codes only, never free-text PHI.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once_per_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} → endpoint #{self.endpoint_id} ({self.status})"


# HOMEWORK LIBRARY AND REMINDERS
# ------------------------------------------------------------------------------
class HomeworkTemplate(models.Model):
    """Homework a clinician assigns in two clicks: what it is, the instructions a partner reads,
    and a default schedule. Shipped templates have no practice; a practice writes its own."""

    practice = models.ForeignKey(
        "clinician.Practice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="homework_templates",
        help_text=_("Empty for the templates cyclecare ships; set for a practice's own."),
    )
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    summary = models.CharField(max_length=300, blank=True, help_text=_("For the clinician choosing it."))
    kind = models.CharField(max_length=12, choices=Assignment.Kind.choices)
    instructions = models.TextField(help_text=_("What the partner reads, in plain words."))
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="homework_templates"
    )
    schedule = models.CharField(max_length=16, choices=Assignment.Schedule.choices)
    local_time = models.TimeField(null=True, blank=True)
    weekdays = models.PositiveSmallIntegerField(default=0)
    hours_before_session = models.PositiveSmallIntegerField(null=True, blank=True)
    for_both_partners = models.BooleanField(
        default=True, help_text=_("Assigned to both partners unless the clinician picks one.")
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(practice__isnull=True),
                name="homeworktemplate_shipped_code_unique",
            ),
            models.UniqueConstraint(
                fields=["practice", "code"],
                condition=Q(practice__isnull=False),
                name="homeworktemplate_practice_code_unique",
            ),
            models.CheckConstraint(
                condition=~Q(kind="check_in") | Q(instrument__isnull=False),
                name="homeworktemplate_checkin_has_instrument",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ReminderDelivery(models.Model):
    """One reminder (or nudge) for one occurrence by one channel: the outbox row and its log.

    PENDING → SENDING (claimed and committed before the send) → SENT / FAILED; CANCELLED when a
    rule stopped it before it went out (homework stopped, no consent, already completed)."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("Text message")

    class Kind(models.TextChoices):
        REMINDER = "reminder", _("Reminder")
        NUDGE = "nudge", _("Nudge")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Not sent")

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    couple = models.ForeignKey("couples.Couple", on_delete=models.PROTECT, related_name="+")
    occurrence = models.ForeignKey(
        Occurrence, on_delete=models.PROTECT, related_name="reminder_deliveries", db_index=False
    )
    partner = models.ForeignKey(
        "couples.Partner",
        on_delete=models.PROTECT,
        related_name="reminder_deliveries",
        db_index=False,
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.REMINDER)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When it may go out: the due time moved past quiet hours, plus the partner's spread offset;
    # after a transient failure, the next try.
    next_attempt_at = models.DateTimeField()
    # Set when the dispatcher put it on the queue (cleared when a claim or the reconciler acts),
    # so a backlog is not enqueued twice by consecutive ticks.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Email: our Message-ID, recorded before the send; SMS: the provider's message id.
    provider_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=200, blank=True, help_text=_("Why, in our words; never PHI."))
    link = models.ForeignKey(
        PartnerLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="reminder_deliveries"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["occurrence", "channel", "kind"], name="reminderdelivery_once_per_occurrence_channel"
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="reminderdelivery_sent_has_time"
            ),
        ]
        indexes = [
            # The dispatcher: due pending rows; the reconciler: stuck sending rows.
            models.Index(fields=["status", "next_attempt_at"], name="reminder_due_idx"),
            models.Index(fields=["status", "claimed_at"], name="reminder_claimed_idx"),
            models.Index(fields=["practice", "created_at"], name="reminder_practice_idx"),
            models.Index(fields=["partner", "created_at"], name="reminder_partner_idx"),
            # The report rollups find links opened since their last refresh.
            models.Index(
                fields=["opened_at"], condition=Q(opened_at__isnull=False), name="reminder_opened_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.channel} for occurrence #{self.occurrence_id} ({self.status})"


class Intake(models.Model):
    """The one couple an intake form made. Its token is the form's one-time nonce: a repeated
    POST of the same form (a double click, a reload, a retried request) finds this row and
    returns the couple it made instead of opening a second case. Unique per practice in the
    database, so two concurrent POSTs cannot both create."""

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    couple = models.OneToOneField("couples.Couple", on_delete=models.PROTECT, related_name="intake")
    token = models.CharField(max_length=64)
    recorded_by = models.ForeignKey("clinician.Clinician", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["practice", "token"], name="intake_token_once")]

    def __str__(self) -> str:
        return f"Intake of couple #{self.couple_id}"


class WelcomeMessage(models.Model):
    """One welcome to one partner by one channel, with their home link: the outbox row and its
    log. PENDING → SENDING (claimed and committed before the send) → SENT / FAILED, as
    reminders do; a resend is a new row. Opened is stamped when the partner follows the link
    the message carried (a mail scanner's GET counts too)."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("Text message")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Not sent")

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    couple = models.ForeignKey("couples.Couple", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(
        "couples.Partner", on_delete=models.PROTECT, related_name="welcome_messages", db_index=False
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=200, blank=True, help_text=_("Why, in our words; never PHI."))
    link = models.ForeignKey(
        PartnerLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="welcome_messages"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="welcome_sent_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="welcome_due_idx"),
            models.Index(fields=["partner", "created_at"], name="welcome_partner_idx"),
        ]

    def __str__(self) -> str:
        return f"Welcome by {self.channel} to partner #{self.partner_id} ({self.status})"


class ReportExport(models.Model):
    """A de-identified check-in export one practice admin asked for: its filters, its progress
    and its files. PENDING → RUNNING → DONE / FAILED. The files live in a private directory
    (``CYCLECARE["EXPORT_DIR"]``, never served as media); the download works for the person who
    asked until ``expires_at``, and each one is counted and audited."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to start")
        RUNNING = "running", _("Running")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    filters = models.JSONField(help_text=_("The report filters as query parameters (from, to, …)."))
    leaving_practice = models.BooleanField(
        default=False, help_text=_("Small cells read “< 5” and small groups' rows are left out.")
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(
        default=0, help_text=_("Check-in rows in the file (fewer than done when small groups are left out).")
    )
    checkins_file = models.CharField(max_length=200, blank=True)
    summary_file = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=200, blank=True, help_text=_("Why, in our words; never PHI."))
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rows_done__lte=F("rows_total")), name="report_export_progress_bounded"
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(finished_at__isnull=False, expires_at__isnull=False),
                name="report_export_done_has_times",
            ),
        ]
        indexes = [
            models.Index(fields=["requested_by", "created_at"], name="report_export_owner_idx"),
        ]

    def __str__(self) -> str:
        return f"Report export #{self.pk} ({self.status})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, self.rows_done * 100 // self.rows_total)


# A PARTNER'S OWN RECORDS, ERASURE AND RETENTION
# ------------------------------------------------------------------------------
class RecordRelease(models.Model):
    """An item of the couple's joint record that the treating clinician released, item by
    item, into one partner's own records (``cyclecare.records``). Without a release a
    joint-session note never reaches a partner's copy. Withdrawing keeps the row."""

    class TargetType(models.TextChoices):
        # The audit trail's name for a session note (clinician.audit.record_label).
        SESSION_NOTE = "clinician.sessionnote", _("Joint-session note")

    practice = models.ForeignKey("clinician.Practice", on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(
        "couples.Partner", on_delete=models.PROTECT, related_name="record_releases", db_index=False
    )
    target_type = models.CharField(max_length=64, choices=TargetType.choices)
    target_id = models.PositiveBigIntegerField()
    released_by = models.ForeignKey("clinician.Clinician", on_delete=models.PROTECT, related_name="+")
    released_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-released_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "target_type", "target_id"],
                condition=Q(withdrawn_at__isnull=True),
                name="recordrelease_once_in_force",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True, withdrawn_by__isnull=True)
                | Q(withdrawn_at__isnull=False, withdrawn_by__isnull=False),
                name="recordrelease_withdrawn_has_who",
            ),
        ]
        indexes = [models.Index(fields=["partner", "target_type", "target_id"])]

    def __str__(self) -> str:
        return f"Release of {self.target_type}#{self.target_id} to partner #{self.partner_id}"


class RecordExport(models.Model):
    """One prepared copy of a partner's own records and its download link: single use and
    expiring. Only the token's SHA-256 is stored (as for PartnerLink). The copy is kept
    encrypted until it is downloaded, revoked or past the practice's retention, then purged."""

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    partner = models.ForeignKey(
        "couples.Partner", on_delete=models.PROTECT, related_name="record_exports", db_index=False
    )
    prepared_by = models.ForeignKey("clinician.Clinician", on_delete=models.PROTECT, related_name="+")
    token_sha256 = models.CharField(max_length=64, unique=True)
    contents = EncryptedJSON(help_text=_("The prepared records (JSON and FHIR), encrypted at rest."))
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    downloaded_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    objects = AuditedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")), name="recordexport_expires_later"
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "created_at"]),
            models.Index(fields=["practice", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"Records export #{self.pk} for partner #{self.partner_id}"

    def audit_subject(self) -> tuple[int | None, int | None]:
        """Whose record this is, for the audit trail (clinician.audit.audit_subject)."""
        return self.partner.couple_id, self.partner_id


class RetentionPolicy(models.Model):
    """How long a practice keeps what no law asks it to keep. Enforced by the retention task
    (``cyclecare.retention``); a practice without a row has the defaults below."""

    DEFAULTS = {
        "draft_note_days": 365,
        "delivery_log_days": 365,
        "webhook_log_days": 90,
        "used_link_days": 30,
        "export_file_days": 7,
    }
    MAX_DAYS = 3650

    practice = models.OneToOneField(
        "clinician.Practice", on_delete=models.PROTECT, related_name="retention_policy"
    )
    draft_note_days = models.PositiveIntegerField(
        default=DEFAULTS["draft_note_days"],
        validators=[MinValueValidator(30), MaxValueValidator(MAX_DAYS)],
        help_text=_("Unsigned draft notes not edited for this many days are deleted."),
    )
    delivery_log_days = models.PositiveIntegerField(
        default=DEFAULTS["delivery_log_days"],
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)],
        help_text=_("Finished reminder and welcome deliveries are deleted after this many days."),
    )
    webhook_log_days = models.PositiveIntegerField(
        default=DEFAULTS["webhook_log_days"],
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)],
        help_text=_("Delivered or failed webhook deliveries are deleted after this many days."),
    )
    used_link_days = models.PositiveIntegerField(
        default=DEFAULTS["used_link_days"],
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)],
        help_text=_("Partner links used or expired this many days ago are deleted."),
    )
    export_file_days = models.PositiveIntegerField(
        default=DEFAULTS["export_file_days"],
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)],
        help_text=_("Prepared records not downloaded are purged this many days after they were prepared."),
    )
    updated_by = models.ForeignKey(
        "clinician.Clinician", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retention policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(draft_note_days__gte=30)
                & Q(delivery_log_days__gte=1)
                & Q(webhook_log_days__gte=1)
                & Q(used_link_days__gte=1)
                & Q(export_file_days__gte=1),
                name="retentionpolicy_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Retention policy of practice #{self.practice_id}"


class RetentionRun(models.Model):
    """What one run of the retention task removed for one practice: counts only, no PHI."""

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    ran_at = models.DateTimeField()
    draft_notes = models.PositiveIntegerField(default=0)
    reminder_deliveries = models.PositiveIntegerField(default=0)
    welcome_messages = models.PositiveIntegerField(default=0)
    webhook_deliveries = models.PositiveIntegerField(default=0)
    partner_links = models.PositiveIntegerField(default=0)
    record_exports = models.PositiveIntegerField(default=0)

    COUNTS = (
        "draft_notes",
        "reminder_deliveries",
        "welcome_messages",
        "webhook_deliveries",
        "partner_links",
        "record_exports",
    )

    class Meta:
        ordering = ["-ran_at", "-id"]
        indexes = [models.Index(fields=["practice", "ran_at"])]

    def __str__(self) -> str:
        return f"Retention run #{self.pk} of practice #{self.practice_id}"


# REPORT ROLLUPS
# ------------------------------------------------------------------------------
# Derived tables the practice reports read instead of the raw rows (cyclecare.reports.rollups
# keeps them; the rule for what a refresh re-reads is written there). Counts, sums and ids only:
# no answer, note or name is ever copied here. Each table can be rebuilt from the raw rows.
class ReportRollup(models.Model):
    """One rollup's bookkeeping: when it was last refreshed and how far it has read."""

    class Name(models.TextChoices):
        ACTIVITY = "activity", _("Homework and reminders")
        SCORES = "scores", _("Partner scores")

    name = models.CharField(max_length=20, choices=Name.choices, primary_key=True)
    fresh_at = models.DateTimeField(null=True, blank=True, help_text=_("When the last refresh started."))
    rebuilt_at = models.DateTimeField(null=True, blank=True, help_text=_("When it was last rebuilt in full."))
    # Source → the highest id (or instant, ISO) every row up to which has been folded in.
    watermarks = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} rollup (fresh at {self.fresh_at})"


class EngagementDay(models.Model):
    """One partner's homework on one of their calendar days (the occurrences' local due date),
    as of the last refresh: due (due time passed, not cancelled), completed, missed, still
    pending, not yet due, cancelled; and how long after the first reminder went out a
    completed one was done (a sum and a histogram, for the mean and the median)."""

    # Upper bounds (minutes) of the reminder-to-completion bins; the last bin is open-ended.
    MINUTE_BINS = (15, 60, 240, 720, 1440, 2880, 10080)

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    couple = models.ForeignKey("couples.Couple", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey("couples.Partner", on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    due = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    missed = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0)
    upcoming = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    reminded_completions = models.PositiveIntegerField(
        default=0, help_text=_("Completed occurrences done after a reminder went out.")
    )
    reminder_minutes = models.BigIntegerField(
        default=0, help_text=_("Sum of minutes from reminder to completion.")
    )
    within_15m = models.PositiveIntegerField(default=0)
    within_1h = models.PositiveIntegerField(default=0)
    within_4h = models.PositiveIntegerField(default=0)
    within_12h = models.PositiveIntegerField(default=0)
    within_1d = models.PositiveIntegerField(default=0)
    within_2d = models.PositiveIntegerField(default=0)
    within_1w = models.PositiveIntegerField(default=0)
    later = models.PositiveIntegerField(default=0)
    # Something in this bucket can still change without a new row: a pending or not-yet-due
    # occurrence, or a reminder not yet sent. Every refresh re-reads open buckets.
    open = models.BooleanField(default=False)

    BIN_FIELDS = (
        "within_15m",
        "within_1h",
        "within_4h",
        "within_12h",
        "within_1d",
        "within_2d",
        "within_1w",
        "later",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "day"], name="engagementday_once")]
        indexes = [
            models.Index(fields=["practice", "day"], name="engagementday_practice_idx"),
            models.Index(fields=["day"], condition=Q(open=True), name="engagementday_open_idx"),
        ]

    def __str__(self) -> str:
        return f"Engagement of partner #{self.partner_id} on {self.day}"


class DeliveryDay(models.Model):
    """Reminder rows for one partner's occurrences due on one day, counted by channel, kind,
    status, the reason it failed or was held (a code, never the provider's text), whether the
    link was opened and whether the occurrence was completed."""

    class Reason(models.TextChoices):
        NONE = "", _("—")
        ON_HOLD = "on_hold", _("On hold (couple paused or discharged, or a safety hold)")
        DUE_WHILE_HELD = "due_while_held", _("Due while on hold")
        NO_CONSENT = "no_consent", _("No consent for the channel")
        CHANNEL_CHANGED = "channel_changed", _("Partner changed channel")
        SESSION_MOVED = "session_moved", _("Session moved or cancelled")
        ALREADY_DONE = "already_done", _("Completed before it went out")
        STOPPED = "stopped", _("Homework stopped or partner inactive")
        RETRIES_EXHAUSTED = "retries_exhausted", _("Gave up after retries")
        REJECTED = "rejected", _("Rejected by the provider")
        OTHER = "other", _("Other")

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    couple = models.ForeignKey("couples.Couple", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey("couples.Partner", on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    channel = models.CharField(max_length=8, choices=ReminderDelivery.Channel.choices)
    kind = models.CharField(max_length=8, choices=ReminderDelivery.Kind.choices)
    status = models.CharField(max_length=10, choices=ReminderDelivery.Status.choices)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    opened = models.BooleanField(default=False)
    completed = models.BooleanField(default=False)
    deliveries = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "day", "channel", "kind", "status", "reason", "opened", "completed"],
                name="deliveryday_once",
            )
        ]
        indexes = [models.Index(fields=["practice", "day"], name="deliveryday_practice_idx")]

    def __str__(self) -> str:
        return f"{self.deliveries} {self.kind} {self.status} for partner #{self.partner_id} on {self.day}"


class PartnerScoreDay(models.Model):
    """A partner's scored check-ins on one instrument code on one practice-calendar day: how
    many, and the first and last total that day. Only scores outsiders may see (see
    cyclecare.disclosure.scored_checkins_for_outsiders) are copied here."""

    practice = models.ForeignKey(
        "clinician.Practice", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    couple = models.ForeignKey("couples.Couple", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey("couples.Partner", on_delete=models.CASCADE, related_name="+", db_index=False)
    instrument_code = models.SlugField(max_length=40)
    day = models.DateField()
    scores = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()
    first_total = models.DecimalField(max_digits=7, decimal_places=2)
    latest_at = models.DateTimeField()
    latest_total = models.DecimalField(max_digits=7, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "instrument_code", "day"], name="partnerscoreday_once")
        ]
        indexes = [models.Index(fields=["practice", "day"], name="partnerscoreday_practice_idx")]

    def __str__(self) -> str:
        return f"{self.scores} {self.instrument_code} scores of partner #{self.partner_id} on {self.day}"
