"""Channels: email through Django's email backends, SMS through a provider interface.

A send returns the provider's message id or raises ``SendError``: ``PermanentSendError`` when
trying again cannot help (an invalid address, a refused recipient), ``TransientSendError``
otherwise. Errors carry a reason in our own words — never the address, the number or the
provider's text, which can echo either.

SMS backends (``CYCLECARE["SMS_BACKEND"]``, a dotted path):

- ``ConsoleSmsBackend`` prints each text (development);
- ``FileSmsBackend`` writes each text as a file in ``CYCLECARE["SMS_FILE_PATH"]`` (development,
  ``var/sms`` in this project);
- ``LocmemSmsBackend`` keeps them in ``LocmemSmsBackend.outbox`` (tests);
- ``HttpSmsBackend`` POSTs ``{"to", "body", "from"}`` as JSON to ``SMS_HTTP_URL`` with
  ``Authorization: Bearer <SMS_HTTP_TOKEN>`` and ``Idempotency-Key`` (the same on every attempt
  for one reminder), and reads ``{"id": …}`` back. Point it at a provider that honours the key,
  or at a small relay that does, to make a resend after a lost answer a no-op.
"""

import json
import re
import secrets
import smtplib
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.module_loading import import_string

from clinician.conf import cyclecare_settings

from .messages import EmailReminder, SmsReminder

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
USER_AGENT = "cyclecare-reminders/1"
# Answers that mean "this number/message is wrong", not "try later".
SMS_PERMANENT_STATUSES = frozenset({400, 404, 410, 422})


class SendError(Exception):
    permanent = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentSendError(SendError):
    permanent = True


class TransientSendError(SendError):
    permanent = False


# EMAIL
# ------------------------------------------------------------------------------
class ReminderEmail(EmailMultiAlternatives):
    """A reminder's email. It picks its own MIME boundary — random, 128 bits — because the
    standard library's generator, left to pick one, compiles a fresh regular expression for
    every message to prove its boundary absent from the text: a quarter of a reminder's sending
    time (bench/reminders_bench.py)."""

    def message(self, *args, **kwargs):
        msg = super().message(*args, **kwargs)
        if msg.is_multipart():
            msg.set_boundary(f"===============cyclecare{secrets.token_hex(16)}==")
        return msg


def email_connection():
    """A connection of the site's email backend, reused for a batch of reminders (with a
    timeout for SMTP, so a hung server cannot hold a worker)."""
    if settings.EMAIL_BACKEND == SMTP_BACKEND:
        return get_connection(timeout=cyclecare_settings.REMINDER_SEND_TIMEOUT_SECONDS)
    return get_connection()


def email_send(message: EmailReminder, *, connection=None) -> str:
    """Send one reminder email (HTML and plain text). Returns the provider's message id where
    the backend reports one (django-anymail), else our Message-ID."""
    try:
        validate_email(message.to)
    except ValidationError:
        raise PermanentSendError("The email address is not valid.") from None
    email = ReminderEmail(
        subject=message.subject,
        body=message.text,
        from_email=message.from_email,
        to=[message.to],
        connection=connection,
        headers={"Message-ID": message.message_id, **message.headers},
    )
    email.attach_alternative(message.html, "text/html")
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise PermanentSendError(f"The mail server refused the address ({codes[0]}).") from None
        raise TransientSendError(
            f"The mail server deferred the address ({codes[0] if codes else '?'})."
        ) from None
    except smtplib.SMTPDataError as exc:
        if exc.smtp_code >= 500:
            raise PermanentSendError(f"The mail server refused the message ({exc.smtp_code}).") from None
        raise TransientSendError(f"The mail server deferred the message ({exc.smtp_code}).") from None
    except smtplib.SMTPResponseException as exc:
        # Sender refused, authentication, greeting: our side's setup, worth retrying (then FAILED).
        raise TransientSendError(f"The mail server answered {exc.smtp_code}; will retry.") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientSendError(f"The mail server could not be reached ({type(exc).__name__}).") from None
    except Exception as exc:
        # django-anymail and other API backends: recipients refused is permanent, the rest not.
        if type(exc).__name__ == "AnymailRecipientsRefused":
            raise PermanentSendError("The email provider refused the address.") from None
        if type(exc).__module__.startswith("anymail"):
            raise TransientSendError(f"The email provider failed ({type(exc).__name__}).") from None
        raise
    status = getattr(email, "anymail_status", None)
    return (getattr(status, "message_id", None) or message.message_id)[:200]


# SMS
# ------------------------------------------------------------------------------
class BaseSmsBackend:
    """Send one text; return the provider's message id or raise SendError."""

    def send(self, message: SmsReminder) -> str:
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    def send(self, message: SmsReminder) -> str:
        sys.stdout.write(f"SMS to {message.to} [{message.idempotency_key}]\n{message.body}\n{'-' * 40}\n")
        sys.stdout.flush()
        return f"console:{message.idempotency_key}"


class FileSmsBackend(BaseSmsBackend):
    """One file per text in SMS_FILE_PATH. Writing the same key twice overwrites: one text."""

    def send(self, message: SmsReminder) -> str:
        folder = cyclecare_settings.SMS_FILE_PATH
        if not folder:
            raise TransientSendError("SMS_FILE_PATH is not set.")
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        record = {"to": message.to, "body": message.body, "idempotency_key": message.idempotency_key}
        record["written_at"] = timezone.now().isoformat()
        (path / f"{message.idempotency_key}.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        return f"file:{message.idempotency_key}"


class LocmemSmsBackend(BaseSmsBackend):
    """For tests: texts are appended to ``LocmemSmsBackend.outbox``."""

    outbox: list[SmsReminder] = []
    _lock = threading.Lock()

    def send(self, message: SmsReminder) -> str:
        with self._lock:
            type(self).outbox.append(message)
            return f"locmem:{len(type(self).outbox)}"


class HttpSmsBackend(BaseSmsBackend):
    """JSON over HTTPS to a provider (or relay) with a bearer token and an Idempotency-Key."""

    def send(self, message: SmsReminder) -> str:
        url = cyclecare_settings.SMS_HTTP_URL
        if not url.startswith(("https://", "http://")):
            raise TransientSendError("SMS_HTTP_URL is not set.")
        body = json.dumps(
            {"to": message.to, "body": message.body, "from": cyclecare_settings.SMS_FROM or None}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 (the operator's configured URL)
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
                "Authorization": f"Bearer {cyclecare_settings.SMS_HTTP_TOKEN}",
                "Idempotency-Key": message.idempotency_key,
            },
        )
        timeout = cyclecare_settings.REMINDER_SEND_TIMEOUT_SECONDS
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                raw = response.read(65536)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in SMS_PERMANENT_STATUSES:
                raise PermanentSendError(f"The SMS provider refused the text (HTTP {exc.code}).") from None
            raise TransientSendError(f"The SMS provider answered HTTP {exc.code}; will retry.") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TransientSendError(
                f"The SMS provider could not be reached ({type(exc).__name__})."
            ) from None
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        provider_id = answer.get("id") or answer.get("message_id") if isinstance(answer, dict) else None
        return str(provider_id or message.idempotency_key)[:200]


def sms_backend() -> BaseSmsBackend:
    return import_string(cyclecare_settings.SMS_BACKEND)()


def sms_send(message: SmsReminder, *, backend: BaseSmsBackend | None = None) -> str:
    """Send one reminder text through the configured backend."""
    if not E164.match(message.to or ""):
        raise PermanentSendError("The phone number is not valid.")
    return (backend or sms_backend()).send(message)
