"""The welcome: the first message a partner gets, with their own home link, in their language.

A welcome goes to a partner by each channel they have a contact for *and* a consent in force
for (an email address and email consent; a mobile and text-message consent); never otherwise,
and the clinician is told why (``welcome_blockers``). It is an outbox row like a reminder
(``WelcomeMessage``): written in the request's transaction, handed to Celery once that commits
(``cyclecare.queue``), claimed PENDING → SENDING and committed before the send, so a double task
sends nothing twice; a lost task is picked up by the minute dispatcher (``welcomes_enqueue_due``),
and a worker lost mid-send by its reconciler. What a partner receives carries no PHI: their
first name, the practice's name, the link and a stop link.

Per partner the clinician sees: sent, opened (the link was followed) and the first check-in.
"""

import datetime
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from clinician.audit import audit_record
from clinician.conf import cyclecare_settings
from clinician.permissions import Purpose, require_couple_access, row_scope
from couples.models import Consent, Couple, Partner
from couples.selectors import consent_in_force

from . import queue
from .models import CheckIn, PartnerLink, WelcomeMessage
from .partner_access import partner_link_issue
from .reminders import channels, messages

logger = logging.getLogger(__name__)

Status = WelcomeMessage.Status
Channel = WelcomeMessage.Channel
CONSENT_KIND = {Channel.EMAIL: Consent.Kind.EMAIL, Channel.SMS: Consent.Kind.SMS}
MAX_ERROR_LENGTH = WelcomeMessage._meta.get_field("last_error").max_length
STUCK_AFTER = datetime.timedelta(minutes=10)
REENQUEUE_AFTER = datetime.timedelta(minutes=2)
MAX_ATTEMPTS = 6

NO_CONTACT = {
    Channel.EMAIL: _("no email address on file"),
    Channel.SMS: _("no mobile number on file"),
}
NO_CONSENT = {
    Channel.EMAIL: _("no consent to email is recorded"),
    Channel.SMS: _("no consent to text messages is recorded"),
}


# WHO MAY BE WELCOMED, BY WHICH CHANNEL
# ------------------------------------------------------------------------------
def welcome_channels(partner: Partner, *, consented: set[tuple[int, str]] | None = None) -> list[str]:
    """The channels a welcome may go by now: a contact on file and that channel's consent in
    force. ``consented``: the (partner id, consent kind) pairs in force, read in one query for
    many partners (``consents_in_force``); read here when not given."""
    return [channel for channel in Channel.values if not _channel_blocker(partner, channel, consented)]


def _channel_blocker(partner: Partner, channel: str, consented: set[tuple[int, str]] | None = None) -> str:
    contact = partner.email if channel == Channel.EMAIL else partner.phone
    if not contact:
        return str(NO_CONTACT[channel])
    kind = CONSENT_KIND[channel]
    in_force = (
        (partner.pk, kind) in consented
        if consented is not None
        else consent_in_force(partner=partner, kind=kind)
    )
    if not in_force:
        return str(NO_CONSENT[channel])
    return ""


def welcome_blockers(partner: Partner, *, consented: set[tuple[int, str]] | None = None) -> str:
    """Why no welcome can go to this partner, in words for the clinician ("" when one can)."""
    if not partner.is_active:
        return str(_("This partner is no longer in treatment."))
    if partner.couple.status != Couple.Status.ACTIVE:
        return str(_("The case is not active, so no welcome is sent."))
    if welcome_channels(partner, consented=consented):
        return ""
    reasons = [_channel_blocker(partner, channel, consented) for channel in Channel.values]
    return str(_("No welcome for %(name)s: %(reasons)s.")) % {
        "name": partner.display_name,
        "reasons": "; ".join(reasons),
    }


# REQUEST (in the clinician's transaction)
# ------------------------------------------------------------------------------
@transaction.atomic
def welcome_request(*, user, partner: Partner, refuse_if_none: bool = True) -> list[WelcomeMessage]:
    """Queue a welcome to ``partner`` by every channel it may go by (see ``welcome_channels``);
    sent by Celery once this commits. A channel with a welcome already on its way gets no
    second one. With no channel allowed: a validation error saying why (``refuse_if_none``), or
    nothing queued."""
    partner = Partner.objects.select_for_update(of=("self",)).select_related("couple").get(pk=partner.pk)
    clinician = require_couple_access(user, partner.couple)
    blocker = welcome_blockers(partner)
    if blocker:
        if refuse_if_none:
            raise ValidationError({"partner": ValidationError(blocker, code="no_welcome_channel")})
        return []
    in_flight = set(
        WelcomeMessage.objects.filter(
            partner=partner, status__in=[Status.PENDING, Status.SENDING]
        ).values_list("channel", flat=True)
    )
    now = timezone.now()
    queued = []
    for channel in welcome_channels(partner):
        if channel in in_flight:
            continue
        welcome = WelcomeMessage.objects.create(
            practice_id=partner.practice_id,
            couple_id=partner.couple_id,
            partner=partner,
            channel=channel,
            requested_by=clinician,
            next_attempt_at=now,
        )
        audit_record(actor=user, action="welcome.request", target=welcome)
        queued.append(welcome)
    if queued:
        ids = [welcome.pk for welcome in queued]
        transaction.on_commit(lambda: _enqueue(ids))
    return queued


def _enqueue(ids: list[int]) -> None:
    try:
        queue.task("welcome_send").delay(ids)
    except Exception as exc:  # a broker outage: the rows are PENDING, the dispatcher sends them
        logger.warning("welcome: could not enqueue %s welcomes (%s)", len(ids), type(exc).__name__)


# SEND (the Celery task)
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claimed:
    welcome_id: int
    claimed_at: datetime.datetime
    channel: str
    message: messages.EmailReminder | messages.SmsReminder


def welcomes_send(*, welcome_ids: list[int]) -> dict[str, int]:
    """Claim, re-check, send and record these welcomes. Safe to call twice with the same ids:
    a row is sent only by whoever claimed it."""
    outcome = {"sent": 0, "failed": 0, "retry": 0, "cancelled": 0, "skipped": 0}
    for welcome_id in welcome_ids:
        claimed = _claim(welcome_id, outcome)
        if claimed is None:
            continue
        try:
            if claimed.channel == Channel.EMAIL:
                provider_id = channels.email_send(claimed.message, connection=channels.email_connection())
            else:
                provider_id = channels.sms_send(claimed.message)
        except channels.SendError as exc:
            outcome[_record_failure(claimed, exc.reason, permanent=exc.permanent)] += 1
            continue
        except Exception as exc:
            logger.exception("welcome: %s failed unexpectedly", welcome_id)
            reason = f"Unexpected error ({type(exc).__name__})."
            outcome[_record_failure(claimed, reason, permanent=False)] += 1
            continue
        _record(claimed, status=Status.SENT, sent_at=timezone.now(), provider_message_id=provider_id[:200])
        outcome["sent"] += 1
    return outcome


def _claim(welcome_id: int, outcome: dict[str, int]) -> _Claimed | None:
    now = timezone.now()
    with transaction.atomic():
        welcome = (
            WelcomeMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("partner__practice", "partner__couple")
            .filter(pk=welcome_id, status=Status.PENDING)
            .first()
        )
        if welcome is None:
            outcome["skipped"] += 1
            return None
        partner = welcome.partner
        # Every rule again at the send: consent withdrawn, contact removed, case closed since.
        reason = (
            _("The partner is no longer in treatment.")
            if not partner.is_active
            else _("The case is not active.")
            if partner.couple.status != Couple.Status.ACTIVE
            else _channel_blocker(partner, welcome.channel)
        )
        if reason:
            welcome.status, welcome.last_error = Status.CANCELLED, str(reason)[:MAX_ERROR_LENGTH]
            welcome.save(update_fields=["status", "last_error"])
            outcome["cancelled"] += 1
            return None
        # A fresh link per attempt: only its hash is stored, so it cannot be sent again.
        link, token = partner_link_issue(partner=partner, purpose=PartnerLink.Purpose.HOME)
        home_url = messages.partner_page_url(purpose=PartnerLink.Purpose.HOME, token=token)
        message = _build(welcome, home_url=home_url)
        welcome.status, welcome.claimed_at, welcome.link = Status.SENDING, now, link
        welcome.attempts += 1
        if welcome.channel == Channel.EMAIL:
            welcome.provider_message_id = message.message_id
        welcome.save(update_fields=["status", "claimed_at", "link", "attempts", "provider_message_id"])
    return _Claimed(welcome.pk, now, welcome.channel, message)


def _build(welcome: WelcomeMessage, *, home_url: str):
    partner = welcome.partner
    stop = messages.stop_url(partner_id=partner.pk, channel=welcome.channel)
    context = {
        "first_name": messages.first_name(partner.display_name),
        "practice_name": partner.practice.name,
        "action_url": home_url,
        "stop_url": stop,
        "link_days": cyclecare_settings.HOME_LINK_HOURS // 24,
    }
    with translation.override(partner.language):
        if welcome.channel == Channel.SMS:
            body = " ".join(render_to_string("cyclecare/sms/welcome.txt", context).split())
            return messages.SmsReminder(
                to=partner.phone, body=body, idempotency_key=f"cyclecare-welcome-{welcome.pk}"
            )
        subject = " ".join(render_to_string("cyclecare/email/welcome_subject.txt", context).split())
        text = render_to_string("cyclecare/email/welcome.txt", context)
        html = render_to_string("cyclecare/email/welcome.html", context)
    return messages.partner_email(
        partner,
        subject=subject,
        text=text,
        html=html,
        message_id=messages.message_id(welcome.pk, kind="welcome"),
        stop=stop,
    )


def _record(claimed: _Claimed, **changes: object) -> bool:
    """Write a result over our own claim only: if the reconciler took the row back, it stands."""
    return bool(
        WelcomeMessage.objects.filter(
            pk=claimed.welcome_id, status=Status.SENDING, claimed_at=claimed.claimed_at
        ).update(**changes)
    )


def _record_failure(claimed: _Claimed, reason: str, *, permanent: bool) -> str:
    attempts = WelcomeMessage.objects.filter(pk=claimed.welcome_id).values_list("attempts", flat=True).first()
    if permanent or (attempts or 0) >= MAX_ATTEMPTS:
        _record(claimed, status=Status.FAILED, last_error=reason[:MAX_ERROR_LENGTH])
        return "failed"
    wait = datetime.timedelta(minutes=2 ** max((attempts or 1) - 1, 0))
    _record(
        claimed,
        status=Status.PENDING,
        next_attempt_at=timezone.now() + wait,
        last_error=reason[:MAX_ERROR_LENGTH],
    )
    return "retry"


# THE MINUTE DISPATCHER (lost tasks, retries, lost workers)
# ------------------------------------------------------------------------------
def welcomes_enqueue_due(*, now: datetime.datetime | None = None) -> int:
    """Return welcomes stuck in SENDING to PENDING, then enqueue the PENDING ones that are due
    and were not just queued by their request (a broker outage, a retry's backoff over)."""
    now = now or timezone.now()
    WelcomeMessage.objects.filter(status=Status.SENDING, claimed_at__lt=now - STUCK_AFTER).update(
        status=Status.PENDING, next_attempt_at=now, last_error="No result was recorded (worker lost)."
    )
    due = list(
        WelcomeMessage.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .exclude(attempts=0, created_at__gt=now - REENQUEUE_AFTER)
        .values_list("pk", flat=True)[:1000]
    )
    if due:
        _enqueue(due)
    return len(due)


# WHAT THE CLINICIAN SEES
# ------------------------------------------------------------------------------
def welcome_messages_visible_to(*, user, purpose: Purpose = "administrative") -> QuerySet[WelcomeMessage]:
    """The welcome log: each welcome, by which channel, sent or not and why (our reason, never
    PHI), opened. Scoped like the reminder log."""
    return WelcomeMessage.objects.filter(row_scope(user, purpose=purpose)).select_related("partner")


def welcome_link_opened(*, link: PartnerLink) -> int:
    """Stamp the welcome that carried this link as opened (the partner page's GET of a valid
    home link calls it). The first open only counts."""
    return WelcomeMessage.objects.filter(link=link, opened_at__isnull=True).update(opened_at=timezone.now())


@dataclass(frozen=True)
class WelcomeStatus:
    partner: Partner
    sent_at: datetime.datetime | None
    opened_at: datetime.datetime | None
    first_checkin_at: datetime.datetime | None
    pending: bool
    failed: bool
    blocker: str


def partners_with_welcome(partners: QuerySet[Partner]) -> QuerySet[Partner]:
    """``partners`` annotated with what ``welcome_status_for`` shows — the first welcome sent and
    opened, one on its way, the last one's status, the first check-in and the email and SMS
    consents in force — as subqueries of the one partner query (the couple page prefetches its
    partners with it, so the welcome costs no query of its own)."""
    welcomes = WelcomeMessage.objects.filter(partner_id=OuterRef("pk"))

    def latest_consent(kind: str) -> Subquery:
        return Subquery(
            Consent.objects.filter(partner_id=OuterRef("pk"), kind=kind)
            .order_by("-recorded_at", "-id")
            .values("granted")[:1]
        )

    return partners.annotate(
        welcome_sent_at=Subquery(
            welcomes.filter(sent_at__isnull=False).order_by("sent_at").values("sent_at")[:1]
        ),
        welcome_opened_at=Subquery(
            welcomes.filter(opened_at__isnull=False).order_by("opened_at").values("opened_at")[:1]
        ),
        welcome_pending=Exists(welcomes.filter(status__in=[Status.PENDING, Status.SENDING])),
        welcome_last_status=Subquery(welcomes.order_by("-created_at", "-id").values("status")[:1]),
        first_checkin_at=Subquery(
            CheckIn.objects.filter(partner_id=OuterRef("pk"))
            .order_by("submitted_at")
            .values("submitted_at")[:1]
        ),
        email_consent=latest_consent(Consent.Kind.EMAIL),
        sms_consent=latest_consent(Consent.Kind.SMS),
    )


def welcome_status_for(*, partners: list[Partner]) -> list[WelcomeStatus]:
    """Per partner: when a welcome was first sent, first opened, the first check-in, whether
    one is on its way or the last one failed, and why none can be sent. The partners come
    from ``partners_with_welcome`` (over a scoped selector's queryset); others are read again
    with it (one query)."""
    if any(not hasattr(partner, "welcome_pending") for partner in partners):
        ids = [partner.pk for partner in partners]
        annotated = {
            p.pk: p
            for p in partners_with_welcome(Partner.objects.filter(pk__in=ids).select_related("couple"))
        }
        partners = [annotated[partner.pk] for partner in partners]
    result = []
    for partner in partners:
        consented = {
            (partner.pk, kind)
            for kind, granted in (
                (Consent.Kind.EMAIL, partner.email_consent),
                (Consent.Kind.SMS, partner.sms_consent),
            )
            if granted
        }
        result.append(
            WelcomeStatus(
                partner=partner,
                sent_at=partner.welcome_sent_at,
                opened_at=partner.welcome_opened_at,
                first_checkin_at=partner.first_checkin_at,
                pending=partner.welcome_pending,
                failed=partner.welcome_last_status == Status.FAILED,
                blocker=welcome_blockers(partner, consented=consented),
            )
        )
    return result
