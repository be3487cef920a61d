from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from clinician.admin import PhiAdmin, ReadOnlyAdmin
from clinician.models import Practice

from . import instrument_files, selectors, services
from .disclosure import Reader, checkin_disclosed
from .models import (
    Assignment,
    CheckIn,
    CycleEpisode,
    CycleMap,
    CycleMapPosition,
    HomeworkTemplate,
    Instrument,
    Occurrence,
    RecordExport,
    RecordRelease,
    ReminderDelivery,
    RetentionPolicy,
    RetentionRun,
    WebhookDelivery,
    WebhookEndpoint,
)
from .reminders.selectors import reminder_deliveries_visible_to


class CycleMapPositionInline(admin.StackedInline):
    model = CycleMapPosition
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CycleMap)
class CycleMapAdmin(PhiAdmin):
    list_display = ("couple", "version", "created_by", "created_at")
    inlines = [CycleMapPositionInline]


@admin.register(CycleEpisode)
class CycleEpisodeAdmin(PhiAdmin):
    list_display = ("id", "couple", "occurred_at", "source", "intensity", "repair_attempted", "repair_worked")
    list_filter = ("source", "repair_attempted")
    date_hierarchy = "occurred_at"


class InstrumentUploadForm(forms.Form):
    """The operator's upload: a definition file checked by the same parser as ``load_instrument``."""

    definition_file = forms.FileField(
        label=_("Definition file"),
        help_text=_("JSON or YAML (.json, .yaml, .yml) with code, version, name, licence and definition."),
    )
    practice = forms.ModelChoiceField(
        queryset=Practice.objects.order_by("name"),
        required=False,
        empty_label=_("— none: shipped with cyclecare, offered to every practice —"),
        help_text=_("The practice that holds the licence. Licensed instruments always belong to one."),
    )
    replace_inactive = forms.BooleanField(
        label=_("Retire earlier versions"),
        required=False,
        help_text=_(
            "Mark earlier versions of this code inactive: they stay for the check-ins that used them, "
            "but are no longer offered for new assignments."
        ),
    )

    spec: instrument_files.InstrumentSpec

    def clean_definition_file(self):
        upload = self.cleaned_data["definition_file"]
        if upload.size > instrument_files.MAX_CHARS:
            raise forms.ValidationError(
                _("The file is larger than %(kb)s kB; a definition is far smaller."),
                params={"kb": instrument_files.MAX_CHARS // 1000},
            )
        text = instrument_files.decode_instrument_file(upload.read())
        self.spec = instrument_files.parse_instrument_file(text, filename=upload.name)
        return upload


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyAdmin):
    """Instruments are versioned data: the operator uploads a definition file (validated, with
    errors by line); a loaded version is read-only for good — a change is a new version."""

    list_display = ("name", "code", "version", "practice", "is_active")
    list_filter = ("is_active",)

    def has_add_permission(self, request, obj=None):
        # Instruments are not PHI, but what a practice may load is the operator's call.
        return request.user.is_superuser

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        posted = request.method == "POST"
        form = InstrumentUploadForm(request.POST, request.FILES) if posted else InstrumentUploadForm()
        if posted and form.is_valid():
            try:
                result = services.instrument_load(
                    form.spec,
                    practice=form.cleaned_data["practice"],
                    replace_inactive=form.cleaned_data["replace_inactive"],
                    actor=request.user,
                )
            except ValidationError as exc:
                form.add_error("definition_file", exc)
            else:
                instrument = result.instrument
                self.log_addition(request, instrument, [{"added": {}}])
                loaded = _("Loaded %(name)s (%(code)s v%(version)s).") % {
                    "name": instrument.name,
                    "code": instrument.code,
                    "version": instrument.version,
                }
                if result.deactivated:
                    retired = ", ".join(f"v{old.version}" for old in result.deactivated)
                    loaded += " " + _("Now inactive: %(versions)s.") % {"versions": retired}
                self.message_user(request, loaded, messages.SUCCESS)
                change_url = f"{self.admin_site.name}:cyclecare_instrument_change"
                return redirect(reverse(change_url, args=[instrument.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Upload an instrument definition"),
            "subtitle": None,
            "opts": self.opts,
            "form": form,
            "form_url": form_url,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/cyclecare/instrument/upload.html", context)


@admin.register(Assignment)
class AssignmentAdmin(PhiAdmin):
    """Homework is a clinical write (the treating clinician's pages): no actions here."""

    scoped = selectors.assignments_visible_to
    list_display = ("title", "couple", "kind", "schedule", "status", "starts_on", "ends_on")
    list_filter = ("status", "kind", "schedule", "practice", "assigned_by")
    list_select_related = ("couple",)
    search_fields = ("title", "couple__label")
    date_hierarchy = "starts_on"


@admin.register(Occurrence)
class OccurrenceAdmin(PhiAdmin):
    list_display = ("id", "assignment", "partner", "due_at", "status")
    list_filter = ("status",)
    date_hierarchy = "due_at"


@admin.register(CheckIn)
class CheckInAdmin(PhiAdmin):
    """The operator reads a check-in as any outsider does (``disclosure``): no safety answers,
    no safety screen's scores."""

    list_display = ("id", "partner", "instrument", "submitted_at", "disclosed_total", "shared_with_partner")
    list_filter = ("instrument",)
    date_hierarchy = "submitted_at"
    exclude = ("answers", "total_score", "subscale_scores")
    readonly_fields = ("disclosed_answers", "disclosed_total")

    @admin.display(description=_("answers"))
    def disclosed_answers(self, checkin: CheckIn) -> str:
        shown = checkin_disclosed(checkin, to=Reader.OUTSIDE)
        return ", ".join(f"{code}: {value}" for code, value in shown.answers.items()) or "—"

    @admin.display(description=_("total score"))
    def disclosed_total(self, checkin: CheckIn) -> object:
        total = checkin_disclosed(checkin, to=Reader.OUTSIDE).total_score
        return "—" if total is None else total


# SafetyFlag has no admin: a flag is a partner's safety answer, and it reaches the treating
# clinician alone (their caseload and couple pages); reports count flags, never show them.


@admin.register(HomeworkTemplate)
class HomeworkTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "code", "kind", "schedule", "practice", "is_active")
    list_filter = ("kind", "schedule", "is_active")


@admin.register(ReminderDelivery)
class ReminderDeliveryAdmin(PhiAdmin):
    scoped = reminder_deliveries_visible_to
    list_display = (
        "id",
        "couple",
        "partner",
        "channel",
        "kind",
        "status",
        "attempts",
        "sent_at",
        "opened_at",
    )
    list_filter = ("status", "channel", "kind", "practice")
    list_select_related = ("couple", "partner")
    search_fields = ("couple__label", "partner__display_name")
    date_hierarchy = "next_attempt_at"
    exclude = ("link",)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "practice", "url", "is_active", "created_at")
    # The signing secret is never shown again after creation.
    exclude = ("secret",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "endpoint", "event", "status", "attempts", "last_status_code", "delivered_at")
    list_filter = ("status", "event")


# A PARTNER'S RECORDS AND RETENTION (the operator's view; practices use their pages)
# ------------------------------------------------------------------------------
@admin.register(RecordRelease)
class RecordReleaseAdmin(PhiAdmin):
    list_display = ("id", "partner_id", "target_type", "target_id", "released_at", "withdrawn_at")
    list_filter = ("target_type",)


@admin.register(RecordExport)
class RecordExportAdmin(PhiAdmin):
    list_select_related = ("partner",)  # whose record each audited row is
    list_display = (
        "id",
        "partner_id",
        "created_at",
        "expires_at",
        "downloaded_at",
        "revoked_at",
        "purged_at",
    )
    # The prepared copy and the token's hash are never shown.
    exclude = ("contents", "token_sha256")


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ReadOnlyAdmin):
    list_display = ("practice", *RetentionPolicy.DEFAULTS, "updated_at")


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "practice", "ran_at", *RetentionRun.COUNTS)
