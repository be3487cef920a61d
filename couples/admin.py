"""The admin of couples, partners, consents and their clinical record: PHI, read-only, each row
shown audited (``clinician.admin.PhiAdmin``). A practice admin finds their practice's couples,
partners, consents and sessions here through the selectors their pages use; note bodies and
addenda stay the operator's. Actions call the services."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from clinician.admin import PhiAdmin, may_view

from . import selectors, services
from .models import (
    Addendum,
    Consent,
    Couple,
    NoteCoSignature,
    Partner,
    PartnerErasure,
    SessionNote,
    TherapySession,
)


class PartnerInline(admin.TabularInline):
    model = Partner
    extra = 0
    fields = ("seat", "display_name", "pronouns", "time_zone", "preferred_channel", "is_active")
    readonly_fields = fields
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return may_view(request, selectors.partners_visible_to)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Couple)
class CoupleAdmin(PhiAdmin):
    scoped = selectors.couples_visible_to
    list_display = ("label", "practice", "primary_clinician", "status", "kind", "eft_step", "started_on")
    list_filter = ("status", "kind", "practice", "primary_clinician", "eft_step")
    list_select_related = ("practice", "primary_clinician")
    search_fields = ("label", "partners__display_name", "partners__email")
    date_hierarchy = "started_on"
    inlines = [PartnerInline]
    actions = ["pause", "resume", "discharge"]

    @admin.action(description=_("Pause the selected couples (reminders stop)"))
    def pause(self, request, queryset):
        self.run_service(
            request, queryset, services.couple_set_status, _("{count} paused."), status=Couple.Status.PAUSED
        )

    @admin.action(description=_("Resume the selected couples"))
    def resume(self, request, queryset):
        self.run_service(
            request, queryset, services.couple_set_status, _("{count} resumed."), status=Couple.Status.ACTIVE
        )

    @admin.action(description=_("Discharge the selected couples"))
    def discharge(self, request, queryset):
        self.run_service(
            request,
            queryset,
            services.couple_set_status,
            _("{count} discharged."),
            status=Couple.Status.DISCHARGED,
        )


@admin.register(Partner)
class PartnerAdmin(PhiAdmin):
    scoped = selectors.partners_visible_to
    list_display = (
        "display_name",
        "couple",
        "seat",
        "time_zone",
        "language",
        "preferred_channel",
        "is_active",
    )
    list_filter = ("is_active", "preferred_channel", "language", "couple__practice", "couple__status")
    list_select_related = ("couple",)
    search_fields = ("display_name", "email", "phone", "couple__label")
    actions = ["deactivate"]

    @admin.action(description=_("Deactivate the selected partners (no more reminders or links)"))
    def deactivate(self, request, queryset):
        self.run_service(request, queryset, services.partner_deactivate, _("{count} deactivated."))


@admin.register(Consent)
class ConsentAdmin(PhiAdmin):
    list_display = ("partner", "kind", "granted", "method", "recorded_at")
    list_filter = ("kind", "granted", "method")
    list_select_related = ("partner",)
    search_fields = ("partner__display_name", "partner__couple__label")
    date_hierarchy = "recorded_at"


@admin.register(TherapySession)
class TherapySessionAdmin(PhiAdmin):
    scoped = selectors.sessions_visible_to
    list_display = ("id", "couple", "clinician", "kind", "modality", "starts_at", "status")
    list_filter = ("status", "kind", "modality", "clinician", "practice")
    list_select_related = ("couple", "clinician")
    search_fields = ("couple__label", "partner__display_name")
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
class SessionNoteAdmin(PhiAdmin):
    list_display = ("id", "session", "author", "format", "status", "signed_at")
    list_filter = ("status", "format", "author")
    search_fields = ("session__couple__label",)
    inlines = [AddendumInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("session", "author")


@admin.register(NoteCoSignature)
class NoteCoSignatureAdmin(PhiAdmin):
    list_display = ("note", "supervisor", "signed_at")
    # Each row shown is audited with whose record it is (the note's session): read with the row.
    list_select_related = ("note__session", "supervisor")


@admin.register(PartnerErasure)
class PartnerErasureAdmin(PhiAdmin):
    """Erasures, for the operator: when and by whom, never the erased details."""

    list_display = ("id", "partner_id", "erased_at", "undo_until", "undone_at", "purged_at")
    list_select_related = ("partner",)  # whose record each audited row is
    exclude = ("erased_details",)
