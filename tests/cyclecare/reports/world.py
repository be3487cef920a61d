"""A small practice with homework, reminders and scores, and random changes to it: what the
rollup tests fold, refresh and compare."""

import datetime
import random
from decimal import Decimal
from types import SimpleNamespace

from django.utils import timezone

from clinician.models import Clinician
from cyclecare.models import CheckIn, Occurrence, ReminderDelivery
from cyclecare.reminders import dispatch, holds
from tests.factories import (
    AssignmentFactory,
    ClinicianFactory,
    OccurrenceFactory,
    PracticeFactory,
    ReminderDeliveryFactory,
    couple_with_partners,
    shipped_instrument,
)

Status = Occurrence.Status
Sent = ReminderDelivery.Status


def build_world() -> SimpleNamespace:
    """Practice A: an admin, a supervisor, Casey (supervised) with two couples, Dana with one.
    Practice B: Blake with one couple."""
    practice = PracticeFactory(time_zone="America/Chicago")
    admin = ClinicianFactory(
        practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name="Avery Admin"
    )
    supervisor = ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR, display_name="Sam Super")
    casey = ClinicianFactory(practice=practice, supervisor=supervisor, display_name="Casey One")
    dana = ClinicianFactory(practice=practice, display_name="Dana Two")
    other = PracticeFactory(time_zone="America/Chicago")
    blake = ClinicianFactory(practice=other, display_name="Blake Bravo")
    couples = [couple_with_partners(casey), couple_with_partners(casey), couple_with_partners(dana)]
    couples.append(couple_with_partners(blake))
    assignments = {couple.pk: AssignmentFactory(couple=couple) for couple, _, _ in couples}
    return SimpleNamespace(
        practice=practice,
        admin=admin,
        supervisor=supervisor,
        casey=casey,
        dana=dana,
        other=other,
        blake=blake,
        couples=couples,
        assignments=assignments,
        instrument=shipped_instrument("csi-4"),
    )


def add_occurrence(world, rng: random.Random, now: datetime.datetime) -> Occurrence:
    couple, a, b = rng.choice(world.couples)
    partner = rng.choice((a, b))
    due_at = now + datetime.timedelta(hours=rng.randint(-24 * 20, 30), minutes=rng.randint(0, 59))
    status = Status.PENDING if due_at > now else rng.choice(list(Status.values))
    occurrence = OccurrenceFactory(
        assignment=world.assignments[couple.pk],
        partner=partner,
        due_at=due_at,
        local_due_date=due_at.date(),
        local_due_time=due_at.time().replace(second=0, microsecond=rng.randint(0, 999_999)),
        status=status,
    )
    if rng.random() < 0.8:
        add_delivery(occurrence, rng)
    if status == Status.COMPLETED:
        add_checkin(world, occurrence, rng)
    return occurrence


def add_delivery(occurrence: Occurrence, rng: random.Random) -> ReminderDelivery | None:
    used = set(occurrence.reminder_deliveries.values_list("channel", flat=True))
    free = [channel for channel in ReminderDelivery.Channel.values if channel not in used]
    if not free:
        return None
    status = rng.choice(list(Sent.values))
    fields = {"status": status, "channel": rng.choice(free)}
    if status == Sent.SENT:
        fields["sent_at"] = occurrence.due_at + datetime.timedelta(minutes=rng.randint(0, 30))
        if rng.random() < 0.5:
            fields["opened_at"] = fields["sent_at"] + datetime.timedelta(minutes=rng.randint(1, 90))
    elif status == Sent.FAILED:
        fields["last_error"] = rng.choice(("Gave up after 6 attempts. Timeout.", "Mailbox does not exist."))
    elif status == Sent.CANCELLED:
        fields["last_error"] = rng.choice(
            (dispatch.ON_HOLD, holds.CHANNEL_CHANGED, dispatch.NO_CONSENT["sms"])
        )
    return ReminderDeliveryFactory(occurrence=occurrence, **fields)


def add_checkin(world, occurrence: Occurrence | None, rng: random.Random, partner=None, at=None) -> CheckIn:
    partner = partner or occurrence.partner
    at = at or (occurrence.completed_at if occurrence else timezone.now())
    return CheckIn.objects.create(
        practice_id=partner.couple.practice_id,
        couple_id=partner.couple_id,
        partner=partner,
        instrument=world.instrument,
        occurrence=occurrence,
        submitted_at=at,
        answers={},
        total_score=Decimal(rng.randint(0, 21)),
    )


def change_something(world, rng: random.Random, now: datetime.datetime) -> None:
    """One change of the kinds the product makes: a new occurrence, a pending occurrence that is
    completed (with its check-in), missed or cancelled, a missed one completed late, a reminder
    sent, failed, held or re-armed, a link opened, a check-in without homework."""
    choice = rng.randrange(8)
    pending = Occurrence.objects.filter(status=Status.PENDING).order_by("?").first()
    if choice == 0 or pending is None:
        add_occurrence(world, rng, now)
    elif choice == 1:
        pending.status, pending.completed_at = (
            Status.COMPLETED,
            min(now, pending.due_at + datetime.timedelta(hours=2)),
        )
        pending.save(update_fields=["status", "completed_at"])
        add_checkin(world, pending, rng)
    elif choice == 2:
        Occurrence.objects.filter(pk=pending.pk).update(status=rng.choice((Status.MISSED, Status.CANCELLED)))
    elif choice == 3:
        missed = Occurrence.objects.filter(status=Status.MISSED).first()
        if missed is not None:
            missed.status, missed.completed_at = Status.COMPLETED, now - datetime.timedelta(minutes=5)
            missed.save(update_fields=["status", "completed_at"])
            add_checkin(world, missed, rng)
    elif choice == 4:
        waiting = ReminderDelivery.objects.filter(status__in=(Sent.PENDING, Sent.SENDING)).first()
        if waiting is not None:
            outcome = rng.choice((Sent.SENT, Sent.FAILED, Sent.CANCELLED))
            ReminderDelivery.objects.filter(pk=waiting.pk).update(
                status=outcome,
                sent_at=now - datetime.timedelta(minutes=3) if outcome == Sent.SENT else None,
                last_error=dispatch.ON_HOLD if outcome == Sent.CANCELLED else "",
            )
    elif choice == 5:
        sent = ReminderDelivery.objects.filter(status=Sent.SENT, opened_at__isnull=True).first()
        if sent is not None:
            ReminderDelivery.objects.filter(pk=sent.pk).update(opened_at=now - datetime.timedelta(minutes=1))
    elif choice == 6:
        # A hold lifted: a held reminder of a pending occurrence goes back to pending.
        held = ReminderDelivery.objects.filter(
            status=Sent.CANCELLED, last_error=dispatch.ON_HOLD, occurrence__status=Status.PENDING
        ).first()
        if held is not None:
            ReminderDelivery.objects.filter(pk=held.pk).update(status=Sent.PENDING, last_error="")
        else:
            add_delivery(pending, rng)
    else:
        couple, a, b = rng.choice(world.couples)
        add_checkin(
            world,
            None,
            rng,
            partner=rng.choice((a, b)),
            at=now - datetime.timedelta(hours=rng.randint(0, 500)),
        )
