"""Admin: operators manage practices and clinicians here; PHI rows are read-only views.

Every write of clinical data goes through the services (validated and audited), so the admin
shows PHI models without add/change/delete. A staff user who is a practice admin manages only their
own practice; PHI is visible here to the operator (superuser) alone.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction

from . import services
from .audit import audit_record
from .forms import add_service_errors
from .models import (
    Addendum,
    AuditEvent,
    Clinician,
    IntegrationClient,
    NoteCoSignature,
    Practice,
    SessionNote,
    TherapySession,
)
from .permissions import acting_clinician


class PracticeScopedAdmin(admin.ModelAdmin):
    """A practice admin may look at their own practice here; only the operator writes, because
    the admin's forms cannot keep a foreign key inside one practice."""

    practice_lookup = "practice_id"

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        clinician = acting_clinician(request.user)
        if clinician is None:
            return queryset.none()
        return queryset.filter(**{self.practice_lookup: clinician.practice_id})


class ReadOnlyAdmin(admin.ModelAdmin):
    """PHI and history: viewable by the operator (superuser), never written from the admin.
    Clinicians read PHI through their own pages, which apply clinical scope."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.none()

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Practice)
class PracticeAdmin(PracticeScopedAdmin):
    practice_lookup = "pk"
    list_display = ("name", "slug", "time_zone", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(
                actor=request.user,
                action="practice.update" if change else "practice.create",
                target=obj,
                changes=form.changed_data,
            )


class ClinicianAdminForm(forms.ModelForm):
    """Checked by the services' own rules (``services.clinician_validate``) once the model's
    are met, so their errors show on the form and ``save_model``, which calls the services,
    does not fail on them. (Who may write is the admin's permission, the operator's alone,
    and the services check it again.)"""

    class Meta:
        model = Clinician
        fields = [
            "user",
            "practice",
            "role",
            "display_name",
            "credentials",
            "licence_number",
            "licence_jurisdiction",
            "is_prelicensed",
            "supervisor",
            "is_active",
        ]

    def _post_clean(self) -> None:
        # The instance holds the submitted values only from here on (ModelForm builds it after
        # clean()); the model's own errors are reported once, by the ModelForm.
        super()._post_clean()
        if self.errors:
            return
        try:
            services.clinician_validate(clinician=self.instance)
            if self.instance.pk and "is_active" in self.changed_data and not self.instance.is_active:
                services.clinician_validate_departure(clinician=self.instance)
        except ValidationError as exc:
            add_service_errors(self, exc)


@admin.register(Clinician)
class ClinicianAdmin(PracticeScopedAdmin):
    """Clinicians are created and changed through the services (validated and audited there).
    A clinician's user and practice are fixed once created; a new clinician starts active."""

    form = ClinicianAdminForm
    list_display = ("display_name", "practice", "role", "is_prelicensed", "supervisor", "is_active")
    list_filter = ("role", "is_prelicensed", "is_active")
    search_fields = ("display_name", "user__email")
    autocomplete_fields = ("user",)
    raw_id_fields = ("supervisor",)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return ("user", "practice") if obj is not None else ()

    def get_exclude(self, request, obj=None):
        return ("is_active",) if obj is None else ()

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            services.clinician_update(actor=request.user, clinician=obj, **changes)
            return
        data = form.cleaned_data
        created = services.clinician_create(
            actor=request.user,
            practice=data["practice"],
            user=data["user"],
            display_name=data["display_name"],
            role=data["role"],
            credentials=data["credentials"],
            licence_number=data["licence_number"],
            licence_jurisdiction=data["licence_jurisdiction"],
            is_prelicensed=data["is_prelicensed"],
            supervisor=data["supervisor"],
        )
        # The admin goes on with ``obj`` (its change-log entry, the redirect to its page).
        obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db


@admin.register(TherapySession)
class TherapySessionAdmin(ReadOnlyAdmin):
    list_display = ("id", "couple", "clinician", "kind", "modality", "starts_at", "status")
    list_filter = ("status", "kind", "modality")
    date_hierarchy = "starts_at"


class AddendumInline(admin.TabularInline):
    model = Addendum
    extra = 0
    fields = ("author", "created_at", "body")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SessionNote)
class SessionNoteAdmin(ReadOnlyAdmin):
    list_display = ("id", "session", "author", "format", "status", "signed_at")
    list_filter = ("status", "format")
    inlines = [AddendumInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("session", "author")


@admin.register(NoteCoSignature)
class NoteCoSignatureAdmin(ReadOnlyAdmin):
    list_display = ("note", "supervisor", "signed_at")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "action", "actor_kind", "actor_id", "target_type", "target_id")
    list_filter = ("actor_kind", "action")
    search_fields = ("target_id", "actor_id")
    date_hierarchy = "occurred_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(IntegrationClient)
class IntegrationClientAdmin(ReadOnlyAdmin):
    """Created with `manage.py create_integration_client` (the secret is shown once, there)."""

    list_display = ("name", "practice", "scopes", "is_active", "created_at")
    list_filter = ("is_active",)
