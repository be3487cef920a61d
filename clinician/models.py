"""Practices (the tenant), clinicians, therapy sessions, notes, addenda and the audit trail."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .fields import EncryptedJSON
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

    class Surface(models.TextChoices):
        """Through what the read or write came (clinician.audit.audit_context)."""

        PAGE = "page", _("Clinician page")
        PARTNER_PAGE = "partner_page", _("Partner page")
        API = "api", _("API")
        FHIR = "fhir", _("FHIR API")
        ADMIN = "admin", _("Django admin")
        EXPORT = "export", _("Export")
        TASK = "task", _("Background task")
        COMMAND = "command", _("Management command")

    practice = models.ForeignKey(
        Practice, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    actor_kind = models.CharField(max_length=12, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    changes = models.JSONField(default=list, blank=True, help_text="Names of changed fields only.")
    # Whose record it is: the couple and, for a partner's own rows, the partner (ids only; the
    # platform names no couples model). They make "who opened this partner's record?" one query.
    couple_id = models.BigIntegerField(null=True, blank=True)
    partner_id = models.BigIntegerField(null=True, blank=True)
    surface = models.CharField(max_length=16, choices=Surface.choices, blank=True)
    # The client's address as the web server saw it; empty outside a request.
    source = models.GenericIPAddressField(null=True, blank=True)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["practice", "occurred_at"]),
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["partner_id", "occurred_at"], name="clinician_audit_partner"),
            models.Index(fields=["couple_id", "occurred_at"], name="clinician_audit_couple"),
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
