"""What a partner receives. No PHI, by construction: the partner's first name at most, the
practice's name, what kind of homework it is (never its title or instructions, which a clinician
writes and may make personal), the link to it and a stop/pause link. Rendered in the partner's
language from templates under templates/cyclecare/email/ and templates/cyclecare/sms/."""

import datetime
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from clinician.conf import cyclecare_settings

from ..models import PartnerLink, ReminderDelivery

STOP_SALT = "cyclecare.reminders.stop"
# The partner pages (cyclecare/partner/urls.py, app "partner", mounted under cyclecare's
# namespace) and their paths, used as they are if the pages are not installed in this URLconf.
PARTNER_PAGES = {
    PartnerLink.Purpose.CHECK_IN: ("cyclecare:partner:checkin", "/p/c/{token}/"),
    PartnerLink.Purpose.HOME: ("cyclecare:partner:home-link", "/p/h/{token}/"),
}


@dataclass(frozen=True)
class EmailReminder:
    to: str
    from_email: str
    subject: str
    text: str
    html: str
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmsReminder:
    to: str
    body: str
    # The same on every attempt for one delivery: a provider that honours it sends once.
    idempotency_key: str


# LINKS
# ------------------------------------------------------------------------------
def _site_url() -> str:
    return cyclecare_settings.SITE_URL.rstrip("/")


def partner_page_url(*, purpose: str, token: str) -> str:
    """The absolute URL of the partner page a link opens: ``/p/c/<token>/`` for a check-in,
    ``/p/h/<token>/`` for the partner's home. The one place these URLs are built."""
    name, fallback = PARTNER_PAGES[purpose]
    try:
        path = reverse(name, kwargs={"token": token})
    except NoReverseMatch:
        path = fallback.format(token=token)
    return _site_url() + path


def stop_token_make(*, partner_id: int, channel: str) -> str:
    """A signed, timestamped token naming one partner and one channel (no login needed)."""
    return signing.dumps([partner_id, channel], salt=STOP_SALT)


def stop_token_read(token: str) -> tuple[int, str] | None:
    """(partner id, channel) of a genuine, unexpired stop token; None otherwise."""
    if not token or len(token) > 200:
        return None
    max_age = datetime.timedelta(days=cyclecare_settings.REMINDER_STOP_LINK_DAYS)
    try:
        partner_id, channel = signing.loads(token, salt=STOP_SALT, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(partner_id, int) or channel not in ReminderDelivery.Channel.values:
        return None
    return partner_id, channel


def stop_url(*, partner_id: int, channel: str) -> str:
    token = stop_token_make(partner_id=partner_id, channel=channel)
    return _site_url() + reverse("cyclecare:reminder-stop", kwargs={"token": token})


class Urls:
    """partner_page_url and stop_url for a batch of messages, resolving each route once."""

    PLACEHOLDER = "TOKEN0PLACEHOLDER0TOKEN"

    def __init__(self) -> None:
        self._pages = {
            purpose: partner_page_url(purpose=purpose, token=self.PLACEHOLDER) for purpose in PARTNER_PAGES
        }
        self._stop = _site_url() + reverse("cyclecare:reminder-stop", kwargs={"token": self.PLACEHOLDER})

    def page(self, *, purpose: str, token: str) -> str:
        return self._pages[purpose].replace(self.PLACEHOLDER, token)

    def stop(self, *, partner_id: int, channel: str) -> str:
        token = stop_token_make(partner_id=partner_id, channel=channel)
        return self._stop.replace(self.PLACEHOLDER, token)


# CONTENT
# ------------------------------------------------------------------------------
def first_name(display_name: str) -> str:
    """At most the first word of the partner's name."""
    words = (display_name or "").split()
    return words[0][:40] if words else ""


def _context(delivery: ReminderDelivery, *, action_url: str, stop: str) -> dict:
    return {
        "first_name": first_name(delivery.partner.display_name),
        "practice_name": delivery.partner.practice.name,
        "homework_kind": delivery.occurrence.assignment.kind,
        "is_nudge": delivery.kind == ReminderDelivery.Kind.NUDGE,
        "action_url": action_url,
        "stop_url": stop,
    }


def message_id(delivery_id: int, *, kind: str = "reminder") -> str:
    """Our Message-ID for a delivery (or a welcome: ``kind``): the same on every attempt, so a
    resend after a lost result can be recognised as the same message."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{kind}-{delivery_id}@{domain}>"


def partner_email(
    partner, *, subject: str, text: str, html: str, message_id: str, stop: str
) -> EmailReminder:
    """An email from the partner's practice (its sender name) with the one-click stop headers:
    every message a partner gets by email is built here."""
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return EmailReminder(
        to=partner.email,
        from_email=formataddr((partner.practice.message_sender_name[:70], sender)),
        subject=subject,
        text=text,
        html=html,
        message_id=message_id,
        headers={
            "List-Unsubscribe": f"<{stop}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )


def email_build(delivery: ReminderDelivery, *, action_url: str, urls: Urls | None = None) -> EmailReminder:
    stop = (urls or Urls()).stop(partner_id=delivery.partner_id, channel=ReminderDelivery.Channel.EMAIL)
    context = _context(delivery, action_url=action_url, stop=stop)
    with translation.override(delivery.partner.language):
        subject = " ".join(render_to_string("cyclecare/email/reminder_subject.txt", context).split())
        text = render_to_string("cyclecare/email/reminder.txt", context)
        html = render_to_string("cyclecare/email/reminder.html", context)
    return partner_email(
        delivery.partner, subject=subject, text=text, html=html, message_id=message_id(delivery.pk), stop=stop
    )


def sms_build(delivery: ReminderDelivery, *, action_url: str, urls: Urls | None = None) -> SmsReminder:
    stop = (urls or Urls()).stop(partner_id=delivery.partner_id, channel=ReminderDelivery.Channel.SMS)
    context = _context(delivery, action_url=action_url, stop=stop)
    with translation.override(delivery.partner.language):
        body = " ".join(render_to_string("cyclecare/sms/reminder.txt", context).split())
    return SmsReminder(
        to=delivery.partner.phone, body=body, idempotency_key=f"cyclecare-reminder-{delivery.pk}"
    )
