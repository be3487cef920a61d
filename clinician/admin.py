"""Admin: operators manage practices and clinicians here; PHI rows are read-only views.

Every write of clinical data goes through the services (validated and audited), so the admin
shows PHI models without add/change/delete; its actions call the services. A staff user who is a
practice admin sees only their own practice, and of PHI only what their pages show them for
administration (``ReadOnlyAdmin.scoped``); each PHI row shown is audited (``PhiAdmin``).
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.contrib import messages as django_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet

from . import services
from .audit import audit_record, audit_record_many
from .forms import add_service_errors
from .models import AuditEvent, Clinician, IntegrationClient, Practice
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
    """History and PHI: viewable, never written from the admin (the services write, validated
    and audited). The operator (superuser) sees every practice. A practice admin sees a model
    only if it names ``scoped``, the selector its own pages and API use, which is asked with
    ``purpose="administrative"``: administration (who is in care, schedules, reminder delivery),
    never clinical content, which stays on the treating clinician's pages."""

    #: The selector (``user=…, purpose=…`` → QuerySet) that scopes a practice admin's rows.
    scoped: Callable[..., QuerySet] | None = None

    def _scoped(self, request) -> QuerySet | None:
        selector = type(self).scoped
        if request.user.is_superuser or selector is None or not _is_practice_admin(request.user):
            return None
        return selector(user=request.user, purpose="administrative")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        scoped = self._scoped(request)
        return queryset.none() if scoped is None else queryset.filter(pk__in=scoped.values("pk"))

    def has_view_permission(self, request, obj=None):
        return may_view(request, type(self).scoped)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PhiAdmin(ReadOnlyAdmin):
    """A model whose rows are PHI: every row a list or a detail page shows is a read, appended to
    the audit trail as ``admin.view`` (one event per row, by id, never values). Row actions call
    the services, one row at a time, and report each refusal (``run_service``)."""

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            audit_record_many(actor=request.user, action="admin.view", targets=changelist.result_list)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        context = getattr(response, "context_data", {})
        shown = context.get("original")
        if shown is not None:
            # The row, and the rows its inlines show with it (a couple's partners, a note's addenda).
            inline_rows = [
                form.instance
                for inline in context.get("inline_admin_formsets", [])
                for form in inline.formset.forms
                if form.instance.pk is not None
            ]
            audit_record_many(actor=request.user, action="admin.view", targets=[shown, *inline_rows])
        return response

    def run_service(self, request, queryset, service, done: str, **arguments) -> None:
        """Call ``service(user=…, <model name>=row, **arguments)`` for each selected row, each in
        its own transaction: a refused row is reported and changes nothing; the others go on."""
        name = self.model._meta.model_name
        succeeded = 0
        for row in queryset:
            try:
                with transaction.atomic():
                    service(user=request.user, **{name: row}, **arguments)
            except (ValidationError, PermissionDenied) as refused:
                messages = getattr(refused, "messages", None) or [str(refused)]
                self.message_user(request, f"{row}: {' '.join(messages)}", level=django_messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, done.format(count=succeeded), level=django_messages.SUCCESS)


def may_view(request, scoped: Callable[..., QuerySet] | None) -> bool:
    """Whether the admin shows rows a ``scoped`` selector governs (an inline asks it too): the
    operator always; a practice admin where the model has a selector for them."""
    return request.user.is_superuser or (scoped is not None and _is_practice_admin(request.user))


def _is_practice_admin(user) -> bool:
    clinician = acting_clinician(user)
    return clinician is not None and clinician.role == Clinician.Role.PRACTICE_ADMIN


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
