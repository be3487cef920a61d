"""The dispatcher: claim due reminders, send them, record what happened.

Exactly once, as far as the far side allows. A reminder row is claimed — PENDING → SENDING,
committed — before anything leaves, so a second tick, a duplicated task message or a second
worker finds it taken (``select_for_update(skip_locked=True)`` plus the state check). The
result is recorded only over our own claim (status SENDING *and* the claim's time), so a late
result never overwrites what the reconciler decided meanwhile.

The one window no database can close is a worker killed after the provider accepted the
message and before SENT was committed. Results are committed in groups (RECORD_EVERY sends, or
RECORD_WITHIN, whichever comes first; one UPDATE each, and always before the task ends), so
that window holds at most one group. We choose **at least once** for both channels there: the
reconciler returns such a row to PENDING and it is sent again — because a reminder that silently
never arrives costs a check-in, and the resend carries the same identity so the far side can
drop it:

- email: the Message-ID (``<reminder-<id>@…>``) is fixed per row and recorded before the first
  send; mail systems that de-duplicate on Message-ID (Gmail among them) show one message.
- SMS: the HTTP provider gets ``Idempotency-Key: cyclecare-reminder-<id>`` on every attempt; a
  provider (or relay) that honours it sends one text.

Rows that cannot go out for a rule — homework ended, couple on hold, consent withdrawn, already
completed — become CANCELLED with a reason that never says *why* a couple is on hold (a reminder
log must not reveal a safety flag). Inside the partner's quiet hours a row waits (stays PENDING,
due at the end of the window). A transient failure backs off exponentially, capped, and gives
up (FAILED) after REMINDER_MAX_ATTEMPTS; a permanent one (invalid address or number) is FAILED
at once. Nothing is retried for ever.
"""

import datetime
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from clinician.conf import cyclecare_settings
from couples.models import Consent, Couple

from .. import queue
from ..models import Assignment, Occurrence, PartnerLink, ReminderDelivery
from ..partner_access import LinkRequest, partner_links_issue
from . import bulk, channels, messages, planner

logger = logging.getLogger(__name__)

Status = ReminderDelivery.Status
Channel = ReminderDelivery.Channel
# A stamped row whose task never ran (a broker that lost its queue) is enqueued again after this.
REENQUEUE_AFTER = datetime.timedelta(minutes=5)
RECLAIM_BATCH = 1000
# Results of sends are committed in groups (one UPDATE each) of this many, or sooner once the
# oldest waited this long: a worker killed meanwhile leaves at most that group to be resent.
RECORD_EVERY = 10
RECORD_WITHIN = datetime.timedelta(seconds=2)
MAX_ERROR_LENGTH = ReminderDelivery._meta.get_field("last_error").max_length
CONSENT_KIND = {Channel.EMAIL: Consent.Kind.EMAIL, Channel.SMS: Consent.Kind.SMS}
# Reasons a reminder is not sent. The hold reason is the same for a paused or discharged couple
# and a safety flag, so neither a message nor the log tells anyone a flag exists.
ON_HOLD = "Reminders are on hold for this couple."
NO_CONSENT = {
    Channel.EMAIL: "No email-reminder consent is in force.",
    Channel.SMS: "No text-message consent is in force.",
}


def backoff(attempts: int) -> datetime.timedelta:
    """Wait after ``attempts`` failed attempts: 1, 2, 4 … minutes, capped."""
    base = datetime.timedelta(seconds=cyclecare_settings.REMINDER_BACKOFF_SECONDS)
    cap = datetime.timedelta(seconds=cyclecare_settings.REMINDER_BACKOFF_CAP_SECONDS)
    return min(base * 2 ** max(attempts - 1, 0), cap)


def consents_in_force(partner_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(partner id, consent kind) pairs whose latest recorded decision grants it — the rule of
    couples.selectors.consent_in_force, for a batch of partners in one query."""
    latest: dict[tuple[int, str], bool] = {}
    for partner_id, kind, granted in (
        Consent.objects.filter(partner_id__in=set(partner_ids), kind__in=CONSENT_KIND.values())
        .order_by("partner_id", "kind", "-recorded_at", "-id")
        .values_list("partner_id", "kind", "granted")
    ):
        latest.setdefault((partner_id, kind), granted)
    return {key for key, granted in latest.items() if granted}


# ENQUEUE (the dispatcher tick)
# ------------------------------------------------------------------------------
def reminders_enqueue_due(*, now: datetime.datetime | None = None, limit: int | None = None) -> int:
    """Stamp due PENDING reminders as enqueued and, once that commits, put their ids on the
    queue in batches. If the broker is down, the stamps are cleared and the next tick retries."""
    now = now or timezone.now()
    limit = limit or cyclecare_settings.REMINDER_DISPATCH_LIMIT
    with transaction.atomic():
        ids = list(
            ReminderDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, next_attempt_at__lte=now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - REENQUEUE_AFTER))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        for start in range(0, len(ids), 10_000):
            ReminderDelivery.objects.filter(pk__in=ids[start : start + 10_000]).update(enqueued_at=now)
        if ids:
            transaction.on_commit(partial(_enqueue, ids))
    return len(ids)


def _enqueue(ids: list[int]) -> None:
    reminders_send = queue.task("reminders_send")
    size = cyclecare_settings.REMINDER_BATCH_SIZE
    done = 0
    try:
        for start in range(0, len(ids), size):
            reminders_send.delay(ids[start : start + size])
            done = start + size
    except (BrokerError, ConnectionError) as exc:
        left = ids[done:]
        logger.warning(
            "reminders: broker unavailable (%s); %s reminders wait for the next tick",
            type(exc).__name__,
            len(left),
        )
        for start in range(0, len(left), 10_000):
            ReminderDelivery.objects.filter(
                pk__in=left[start : start + 10_000], status=Status.PENDING
            ).update(enqueued_at=None)


# SEND
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    claimed_at: datetime.datetime
    attempts: int
    channel: str
    message: messages.EmailReminder | messages.SmsReminder


def reminders_send(*, delivery_ids: Iterable[int], now: datetime.datetime | None = None) -> Counter:
    """Claim these reminders (those still due and PENDING; others are skipped), re-check every
    rule, send the rest, record each result. Safe to call twice with the same ids."""
    claimed, outcome = _claim(list(delivery_ids), now=now or timezone.now())
    connection = None
    sent: list[ReminderDelivery] = []  # sent, not yet recorded
    try:
        for item in claimed:
            if sent and (len(sent) >= RECORD_EVERY or timezone.now() - sent[0].sent_at > RECORD_WITHIN):
                _record_sent(sent)
                sent = []
            try:
                if item.channel == Channel.EMAIL:
                    if connection is None:
                        connection = channels.email_connection()
                    provider_id = channels.email_send(item.message, connection=connection)
                else:
                    provider_id = channels.sms_send(item.message)
            except channels.SendError as exc:
                if connection is not None and not exc.permanent:
                    connection.close()  # a broken SMTP session must not poison the next send
                    connection = None
                outcome[_record_failure(item, exc.reason, permanent=exc.permanent)] += 1
            except Exception as exc:
                logger.exception("reminders: delivery %s failed unexpectedly", item.delivery_id)
                outcome[
                    _record_failure(item, f"Unexpected error ({type(exc).__name__}).", permanent=False)
                ] += 1
            else:
                sent.append(
                    ReminderDelivery(
                        pk=item.delivery_id,
                        claimed_at=item.claimed_at,
                        status=Status.SENT,
                        sent_at=timezone.now(),
                        provider_message_id=provider_id,
                        last_error="",
                    )
                )
                outcome["sent"] += 1
    finally:
        if connection is not None:
            connection.close()
        _record_sent(sent)  # also when the task is stopped mid-batch (a time limit)
    return outcome


def _claim(ids: list[int], *, now: datetime.datetime) -> tuple[list[_Claimed], Counter]:
    outcome: Counter = Counter()
    claimed: list[_Claimed] = []
    if not ids:
        return claimed, outcome
    with transaction.atomic():
        rows = list(
            ReminderDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("occurrence__assignment", "partner__practice", "couple")
            .filter(pk__in=ids, status=Status.PENDING, next_attempt_at__lte=now)
            .order_by("pk")
        )
        outcome["skipped"] = len(set(ids)) - len(rows)
        if not rows:
            return claimed, outcome
        held = planner.couples_on_hold({row.couple_id for row in rows})
        consented = consents_in_force({row.partner_id for row in rows})
        urls = messages.Urls()
        sending: list[ReminderDelivery] = []
        ready: list[ReminderDelivery] = []
        for delivery in rows:
            reason = _stop_reason(delivery, held=held, consented=consented)
            if reason:
                delivery.status, delivery.last_error, delivery.enqueued_at = Status.CANCELLED, reason, None
                delivery.save(update_fields=["status", "last_error", "enqueued_at"])
                outcome["cancelled"] += 1
                continue
            partner = delivery.partner
            quiet_end = planner.quiet_hours_end(
                now, partner.time_zone, partner.quiet_hours_start, partner.quiet_hours_end
            )
            if quiet_end is not None:
                delivery.next_attempt_at = quiet_end + planner.spread_offset(partner.pk)
                delivery.enqueued_at = None
                delivery.save(update_fields=["next_attempt_at", "enqueued_at"])
                outcome["deferred"] += 1
                continue
            address_problem = _address_problem(delivery)
            if address_problem:
                delivery.status, delivery.last_error, delivery.enqueued_at = (
                    Status.FAILED,
                    address_problem,
                    None,
                )
                delivery.attempts += 1
                delivery.save(update_fields=["status", "last_error", "enqueued_at", "attempts"])
                outcome["failed"] += 1
                continue
            ready.append(delivery)
        # One INSERT for the batch's links (the rows were just loaded together, consistent).
        links = partner_links_issue([_link_request(delivery) for delivery in ready])
        for delivery, (link, token) in zip(ready, links, strict=True):
            try:
                message = _build(delivery, link=link, token=token, urls=urls)
            except Exception as exc:
                logger.exception("reminders: cannot build the message for delivery %s", delivery.pk)
                delivery.attempts += 1
                _retry_or_fail(delivery, f"The message could not be built ({type(exc).__name__}).", now=now)
                delivery.save(
                    update_fields=["attempts", "status", "next_attempt_at", "last_error", "enqueued_at"]
                )
                outcome[delivery.status] += 1
                continue
            delivery.status = Status.SENDING
            delivery.claimed_at = now
            delivery.attempts += 1
            delivery.enqueued_at = None
            delivery.link = link
            if delivery.channel == Channel.EMAIL:
                delivery.provider_message_id = message.message_id
            sending.append(delivery)
            claimed.append(_Claimed(delivery.pk, now, delivery.attempts, delivery.channel, message))
        bulk.rows_update(
            sending, ["status", "claimed_at", "attempts", "enqueued_at", "link", "provider_message_id"]
        )
    # Committed: other workers now skip these rows while we are on the network.
    return claimed, outcome


def _stop_reason(delivery: ReminderDelivery, *, held: set[int], consented: set[tuple[int, str]]) -> str:
    occurrence = delivery.occurrence
    partner = delivery.partner
    if occurrence.status == Occurrence.Status.COMPLETED:
        return "The homework was already done."
    if occurrence.status != Occurrence.Status.PENDING:
        return "The homework is no longer due."
    if occurrence.assignment.status != Assignment.Status.ACTIVE:
        return "The homework is paused or ended."
    if delivery.couple_id in held or delivery.couple.status != Couple.Status.ACTIVE:
        return ON_HOLD
    if not partner.is_active:
        return "The partner is no longer in treatment."
    if partner.preferred_channel != delivery.channel:
        return "The partner's reminder channel changed."
    if (partner.pk, CONSENT_KIND[delivery.channel]) not in consented:
        return NO_CONSENT[delivery.channel]
    return ""


def _address_problem(delivery: ReminderDelivery) -> str:
    partner = delivery.partner
    if delivery.channel == Channel.EMAIL and not partner.email:
        return "No email address on file."
    if delivery.channel == Channel.SMS and not partner.phone:
        return "No phone number on file."
    return ""


def _link_request(delivery: ReminderDelivery) -> LinkRequest:
    """A fresh link per attempt (only its hash is stored, so it cannot be re-sent): a check-in
    link for that occurrence, or the partner's home link for other homework."""
    occurrence = delivery.occurrence
    if occurrence.assignment.kind == Assignment.Kind.CHECK_IN and occurrence.assignment.instrument_id:
        return LinkRequest(
            partner=delivery.partner, purpose=PartnerLink.Purpose.CHECK_IN, occurrence=occurrence
        )
    return LinkRequest(partner=delivery.partner, purpose=PartnerLink.Purpose.HOME)


def _build(delivery: ReminderDelivery, *, link: PartnerLink, token: str, urls: messages.Urls):
    url = urls.page(purpose=link.purpose, token=token)
    if delivery.channel == Channel.EMAIL:
        return messages.email_build(delivery, action_url=url, urls=urls)
    return messages.sms_build(delivery, action_url=url, urls=urls)


def _retry_or_fail(delivery: ReminderDelivery, reason: str, *, now: datetime.datetime) -> None:
    if delivery.attempts >= cyclecare_settings.REMINDER_MAX_ATTEMPTS:
        delivery.status = Status.FAILED
        delivery.last_error = f"Gave up after {delivery.attempts} attempts. {reason}"[:MAX_ERROR_LENGTH]
    else:
        delivery.status = Status.PENDING
        delivery.next_attempt_at = now + backoff(delivery.attempts)
        delivery.last_error = reason[:MAX_ERROR_LENGTH]
    delivery.enqueued_at = None


def _record(item: _Claimed, **changes: object) -> bool:
    """Write a result over our own claim only: if the reconciler took the row back meanwhile,
    its decision stands."""
    return bool(
        ReminderDelivery.objects.filter(
            pk=item.delivery_id, status=Status.SENDING, claimed_at=item.claimed_at
        ).update(**changes)
    )


def _record_sent(sent: list[ReminderDelivery]) -> int:
    """_record(status=SENT, …) for a group of results in one statement, over each row's own
    claim only."""
    return bulk.rows_update(
        sent,
        ["status", "sent_at", "provider_message_id", "last_error"],
        match=("claimed_at",),
        only_if={"status": Status.SENDING},
    )


def _record_failure(item: _Claimed, reason: str, *, permanent: bool) -> str:
    if permanent:
        _record(item, status=Status.FAILED, last_error=reason[:MAX_ERROR_LENGTH])
        return Status.FAILED
    delivery = ReminderDelivery(pk=item.delivery_id, attempts=item.attempts)
    _retry_or_fail(delivery, reason, now=timezone.now())
    changes = {"status": delivery.status, "last_error": delivery.last_error, "enqueued_at": None}
    if delivery.status == Status.PENDING:
        changes["next_attempt_at"] = delivery.next_attempt_at
    _record(item, **changes)
    return delivery.status if delivery.status == Status.FAILED else "retry"


# RECONCILER
# ------------------------------------------------------------------------------
@transaction.atomic
def reminders_reclaim_stuck(*, now: datetime.datetime | None = None) -> int:
    """Rows left in SENDING longer than REMINDER_STUCK_AFTER_MINUTES (their worker died, and a
    send task's hard time limit is far shorter) go back to PENDING, due now — at least once, see
    the module's docstring — or to FAILED once out of attempts, so a reminder that kills its
    worker cannot loop for ever. The attempt was counted when it was claimed."""
    now = now or timezone.now()
    stuck_before = now - datetime.timedelta(minutes=cyclecare_settings.REMINDER_STUCK_AFTER_MINUTES)
    rows = list(
        ReminderDelivery.objects.select_for_update(skip_locked=True).filter(
            status=Status.SENDING, claimed_at__lt=stuck_before
        )[:RECLAIM_BATCH]
    )
    for delivery in rows:
        reason = "No result was recorded for the last attempt (worker lost)."
        if delivery.attempts >= cyclecare_settings.REMINDER_MAX_ATTEMPTS:
            delivery.status = Status.FAILED
            delivery.last_error = f"Gave up after {delivery.attempts} attempts. {reason}"[:MAX_ERROR_LENGTH]
        else:
            delivery.status = Status.PENDING
            delivery.next_attempt_at = now
            delivery.last_error = reason
        delivery.enqueued_at = None
        delivery.save(update_fields=["status", "next_attempt_at", "last_error", "enqueued_at"])
    if rows:
        logger.warning("reminders: %s reminders were stuck in sending and were reconciled", len(rows))
    return len(rows)


# LINK OPENS
# ------------------------------------------------------------------------------
def reminder_link_opened(*, link: PartnerLink) -> int:
    """Record that the partner opened the link a reminder carried (call it from the partner
    page's GET of a valid link). Mail scanners may also open links, so this is "opened", not
    "read". Returns how many reminder rows were stamped (the first open only counts)."""
    rows = ReminderDelivery.objects.filter(link=link)
    if link.occurrence_id is not None and not rows.exists():
        # A link from an earlier attempt of the same reminder: stamp what was sent for it.
        rows = ReminderDelivery.objects.filter(
            occurrence_id=link.occurrence_id, partner_id=link.partner_id, status=Status.SENT
        )
    return rows.filter(opened_at__isnull=True).update(opened_at=timezone.now())
