"""Reads for reminders and the homework library, scoped to the asking user."""

from django.db.models import Q, QuerySet

from clinician.permissions import Purpose, practice_id_of, row_scope

from ..models import HomeworkTemplate, ReminderDelivery


def reminder_deliveries_visible_to(
    *, user, purpose: Purpose = "administrative"
) -> QuerySet[ReminderDelivery]:
    """The reminder log: per occurrence, what was sent when, by which channel, whether it went
    out or why not, whether its link was opened and whether the check-in was completed.
    Administrative scope by default (a practice admin sees the practice's log, a clinician their
    caseload's); its reasons never name a safety flag, so the log reveals none."""
    return ReminderDelivery.objects.filter(row_scope(user, purpose=purpose)).select_related("occurrence")


def homework_templates_available_to(*, user) -> QuerySet[HomeworkTemplate]:
    """The library a clinician chooses from: what cyclecare ships plus their practice's own."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return HomeworkTemplate.objects.none()
    return HomeworkTemplate.objects.filter(
        Q(practice=None) | Q(practice_id=practice_id), is_active=True
    ).select_related("instrument")
