from django.contrib import admin

from clinician.admin import ReadOnlyAdmin

from .models import (
    Assignment,
    CheckIn,
    CycleEpisode,
    CycleMap,
    CycleMapPosition,
    Instrument,
    Occurrence,
    SafetyFlag,
)


class CycleMapPositionInline(admin.StackedInline):
    model = CycleMapPosition
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(CycleMap)
class CycleMapAdmin(ReadOnlyAdmin):
    list_display = ("couple", "version", "created_by", "created_at")
    inlines = [CycleMapPositionInline]


@admin.register(CycleEpisode)
class CycleEpisodeAdmin(ReadOnlyAdmin):
    list_display = ("id", "couple", "occurred_at", "source", "intensity", "repair_attempted", "repair_worked")
    list_filter = ("source", "repair_attempted")
    date_hierarchy = "occurred_at"


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyAdmin):
    list_display = ("name", "code", "version", "practice", "is_active")
    list_filter = ("is_active",)


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ("title", "couple", "kind", "schedule", "status", "starts_on", "ends_on")
    list_filter = ("status", "kind", "schedule")


@admin.register(Occurrence)
class OccurrenceAdmin(ReadOnlyAdmin):
    list_display = ("id", "assignment", "partner", "due_at", "status")
    list_filter = ("status",)
    date_hierarchy = "due_at"


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyAdmin):
    list_display = ("id", "partner", "instrument", "submitted_at", "total_score", "shared_with_partner")
    list_filter = ("instrument",)
    date_hierarchy = "submitted_at"


@admin.register(SafetyFlag)
class SafetyFlagAdmin(ReadOnlyAdmin):
    list_display = ("id", "couple", "partner", "source", "status", "raised_at", "clinician_notified_at")
    list_filter = ("status", "source")
