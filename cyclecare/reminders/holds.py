"""What a change to a couple or a partner does to their reminders, at once.

The couples floor publishes what happened (``clinician.events``) inside its own transaction;
this subscriber acts in that same transaction, so the change and its effect on reminders
commit together or not at all:

- ``couple.status_changed`` to paused or discharged: every pending reminder and nudge of the
  couple is cancelled now, with the one hold reason (``dispatch.ON_HOLD``), rather than when
  the dispatcher next meets it. Nothing is planned while the couple is on hold.
- back to active: no burst. Homework that fell due while the couple was on hold and was never
  reminded is cancelled (it was not due: adherence does not count it), its reminders stay
  unsent; future reminders held at the pause are armed again, and the couple is planned now.
- ``partner.schedule_changed`` (time zone, quiet hours, channel): the partner's future
  occurrences move to the same local time in the new zone (the planner's key is the local due
  date and time, so none is made twice), unsent reminders are re-timed for the new zone and
  quiet hours, and those of a channel the partner no longer uses are cancelled.
- ``consent.withdrawn`` (email or SMS): that channel's pending reminders of the partner are
  cancelled now. (The dispatcher re-checks consent at send time as well.)
"""

import datetime
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from clinician.writes import Writes
from couples.models import Consent, Couple, Partner

from ..models import Occurrence, ReminderDelivery
from . import dispatch, planner

Status = ReminderDelivery.Status
CHANNEL_OF_CONSENT = {
    Consent.Kind.EMAIL: ReminderDelivery.Channel.EMAIL,
    Consent.Kind.SMS: ReminderDelivery.Channel.SMS,
}
HELD_STATUSES = (Couple.Status.PAUSED, Couple.Status.DISCHARGED)
NOT_DUE_WHILE_HELD = "Due while reminders were on hold."
CHANNEL_CHANGED = "The partner's reminder channel changed."


def on_reminder_event(event: str, *, practice_id: int, data: dict[str, Any], writes: Writes) -> None:
    """The event-bus subscriber (registered in ``CyclecareConfig.ready``)."""
    if event == "couple.status_changed":
        if data["status"] in HELD_STATUSES:
            reminders_hold(couple_id=data["couple_id"])
        elif data["status"] == Couple.Status.ACTIVE:
            reminders_resume(couple_id=data["couple_id"])
    elif event == "partner.schedule_changed":
        reminders_replan_partner(partner_id=data["partner_id"])
    elif event == "consent.withdrawn" and data["kind"] in CHANNEL_OF_CONSENT:
        reminders_stop_channel(partner_id=data["partner_id"], channel=CHANNEL_OF_CONSENT[data["kind"]])


def reminders_hold(*, couple_id: int) -> int:
    """Cancel every pending reminder and nudge of the couple (it is on hold). Returns how many."""
    return ReminderDelivery.objects.filter(couple_id=couple_id, status=Status.PENDING).update(
        status=Status.CANCELLED, last_error=dispatch.ON_HOLD, enqueued_at=None
    )


def reminders_resume(*, couple_id: int, now: datetime.datetime | None = None) -> planner.PlanResult | None:
    """After a pause: arm again what is still ahead, plan now, and cancel what fell due on hold
    and was never reminded — so the partners get no catch-up burst. Nothing while the couple is
    still on hold for another reason (a safety flag)."""
    now = now or timezone.now()
    if planner.couples_on_hold([couple_id]):
        return None
    rearm = list(
        ReminderDelivery.objects.filter(
            couple_id=couple_id,
            kind=ReminderDelivery.Kind.REMINDER,
            status=Status.CANCELLED,
            last_error=dispatch.ON_HOLD,
            sent_at__isnull=True,
            occurrence__status=Occurrence.Status.PENDING,
            occurrence__due_at__gte=now,
            partner__is_active=True,
        ).select_related("occurrence", "partner")
    )
    for delivery in rearm:
        delivery.status, delivery.last_error, delivery.enqueued_at = Status.PENDING, "", None
        delivery.next_attempt_at = _send_time(delivery)
        delivery.save(update_fields=["status", "last_error", "enqueued_at", "next_attempt_at"])
    result = planner.plan_couple(couple_id=couple_id, now=now)
    reminded = ReminderDelivery.objects.filter(
        occurrence_id=OuterRef("pk"), status__in=(Status.SENT, Status.SENDING)
    )
    missed_on_hold = list(
        Occurrence.objects.filter(
            assignment__couple_id=couple_id, status=Occurrence.Status.PENDING, due_at__lt=now
        )
        .exclude(Exists(reminded))
        .values_list("pk", flat=True)
    )
    if missed_on_hold:
        Occurrence.objects.filter(pk__in=missed_on_hold, status=Occurrence.Status.PENDING).update(
            status=Occurrence.Status.CANCELLED
        )
        ReminderDelivery.objects.filter(occurrence_id__in=missed_on_hold, status=Status.PENDING).update(
            status=Status.CANCELLED, last_error=NOT_DUE_WHILE_HELD, enqueued_at=None
        )
    result.occurrences_cancelled += len(missed_on_hold)
    return result


def reminders_replan_partner(*, partner_id: int, now: datetime.datetime | None = None) -> int:
    """A partner's zone, quiet hours or channel changed: re-plan their couple now and re-time
    the partner's unsent reminders. Returns how many reminders were re-timed."""
    now = now or timezone.now()
    partner = Partner.objects.get(pk=partner_id)
    ReminderDelivery.objects.filter(partner_id=partner_id, status=Status.PENDING).exclude(
        channel=partner.preferred_channel
    ).update(status=Status.CANCELLED, last_error=CHANNEL_CHANGED, enqueued_at=None)
    planner.plan_couple(couple_id=partner.couple_id, now=now)
    # Untried reminders only: a retry keeps its back-off.
    unsent = list(
        ReminderDelivery.objects.filter(
            partner_id=partner_id,
            status=Status.PENDING,
            kind=ReminderDelivery.Kind.REMINDER,
            attempts=0,
        ).select_related("occurrence", "partner")
    )
    for delivery in unsent:
        delivery.next_attempt_at = _send_time(delivery)
        delivery.enqueued_at = None
    ReminderDelivery.objects.bulk_update(unsent, ["next_attempt_at", "enqueued_at"])
    return len(unsent)


def reminders_stop_channel(*, partner_id: int, channel: str) -> int:
    """Cancel a partner's pending reminders by one channel (its consent was withdrawn)."""
    pending = ReminderDelivery.objects.filter(partner_id=partner_id, channel=channel, status=Status.PENDING)
    return pending.update(status=Status.CANCELLED, last_error=dispatch.NO_CONSENT[channel], enqueued_at=None)


def _send_time(delivery: ReminderDelivery) -> datetime.datetime:
    partner = delivery.partner
    return planner.send_time(
        delivery.occurrence.due_at,
        partner_id=partner.pk,
        zone=partner.time_zone,
        quiet_start=partner.quiet_hours_start,
        quiet_end=partner.quiet_hours_end,
    )
