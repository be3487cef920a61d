from django.contrib import admin

from clinician.admin import ReadOnlyAdmin

from .models import Addendum, Consent, Couple, NoteCoSignature, Partner, SessionNote, TherapySession


class PartnerInline(admin.TabularInline):
    model = Partner
    extra = 0
    fields = ("seat", "display_name", "pronouns", "time_zone", "preferred_channel", "is_active")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Couple)
class CoupleAdmin(ReadOnlyAdmin):
    list_display = ("label", "practice", "primary_clinician", "status", "eft_step", "started_on")
    list_filter = ("status", "practice")
    search_fields = ("label",)
    inlines = [PartnerInline]


@admin.register(Partner)
class PartnerAdmin(ReadOnlyAdmin):
    list_display = (
        "display_name",
        "couple",
        "seat",
        "time_zone",
        "language",
        "preferred_channel",
        "is_active",
    )
    list_filter = ("is_active", "preferred_channel", "language")


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ("partner", "kind", "granted", "method", "recorded_at")
    list_filter = ("kind", "granted")


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
