"""The plugin's tunables, read by all three apps: ``settings.CYCLECARE = {...}`` over these
defaults, read lazily. They live in the platform because every floor reads them.

The pattern of DRF's ``api_settings``, written small: unknown keys are rejected (see checks.py),
and values are read at access time so ``override_settings`` works in tests.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Absolute base URL used in emails (links back to the clinic's site).
    "SITE_URL": "http://127.0.0.1:8000",
    # A safety flag whose clinician email has not gone out after this many seconds is retried
    # by the periodic reconciler.
    "SAFETY_NOTIFY_RETRY_AFTER_SECONDS": 60,
    # Shown to a partner after a positive safety answer, unless the practice sets its own.
    "DEFAULT_CRISIS_RESOURCES": [
        {"name": "988 Suicide & Crisis Lifeline", "contact": "Call or text 988"},
        {"name": "National Domestic Violence Hotline", "contact": "1-800-799-7233 or text START to 88788"},
    ],
    # How long a reminder's check-in link works, and a partner's home link.
    "CHECKIN_LINK_HOURS": 72,
    "HOME_LINK_HOURS": 24 * 14,
    # How long the single-use link to a partner's prepared records works.
    "RECORDS_LINK_HOURS": 72,
    # How long an erasure of a partner's contact details can be undone before it is final.
    "ERASURE_UNDO_HOURS": 24,
    # Record an audit event when a clinician opens a note, check-in or safety flag.
    "AUDIT_READS": True,
    # A pending occurrence this many hours past due is marked missed (assignment.missed).
    "MISSED_AFTER_HOURS": 24,
    # Webhook deliveries: give up (FAILED) after this many attempts; plain http:// endpoints on
    # 127.0.0.1/localhost are accepted only with DEBUG or this switch (tests, local receivers).
    "WEBHOOK_MAX_ATTEMPTS": 8,
    "WEBHOOK_ALLOW_HTTP": False,
    # Reminders (cyclecare/reminders/). The planner materialises occurrences and their
    # reminders this many hours ahead (and this many minutes back, for homework just assigned
    # or resumed), so a planner or broker outage shorter than the window loses nothing.
    "REMINDER_PLAN_HOURS": 36,
    "REMINDER_PLAN_LOOKBACK_MINUTES": 30,
    # Each partner's reminders go out 0..N-1 minutes after the due time (a stable per-partner
    # offset) so an evening's burst is spread; 1 sends on the minute.
    "REMINDER_SPREAD_MINUTES": 5,
    # Transient failures: retried after 1, 2, 4 … minutes (capped), then FAILED.
    "REMINDER_MAX_ATTEMPTS": 6,
    "REMINDER_BACKOFF_SECONDS": 60,
    "REMINDER_BACKOFF_CAP_SECONDS": 30 * 60,
    # A claimed reminder with no result after this long (its worker died) is reconciled.
    "REMINDER_STUCK_AFTER_MINUTES": 10,
    # Ids per send task, and at most this many due reminders enqueued per dispatcher tick.
    "REMINDER_BATCH_SIZE": 50,
    "REMINDER_DISPATCH_LIMIT": 50_000,
    # A network send gives up after this many seconds (SMTP and the SMS provider).
    "REMINDER_SEND_TIMEOUT_SECONDS": 20,
    # How long the stop/pause link in every message works.
    "REMINDER_STOP_LINK_DAYS": 365,
    # Nudge the partner who has not done joint homework this many hours after the other did.
    "NUDGE_AFTER_HOURS": 3,
    # SMS: a dotted path to a backend (cyclecare.reminders.channels: ConsoleSmsBackend,
    # FileSmsBackend writing to SMS_FILE_PATH, LocmemSmsBackend for tests, HttpSmsBackend
    # posting JSON to SMS_HTTP_URL with a bearer SMS_HTTP_TOKEN and an Idempotency-Key).
    "SMS_BACKEND": "cyclecare.reminders.channels.ConsoleSmsBackend",
    "SMS_FILE_PATH": "",
    "SMS_HTTP_URL": "",
    "SMS_HTTP_TOKEN": "",
    "SMS_FROM": "",
    # Inbound texts (a partner's "STOP"): the provider or relay POSTs them to /r/sms/inbound/
    # with "Authorization: Bearer <SMS_INBOUND_TOKEN>". Empty: the endpoint is off (404).
    "SMS_INBOUND_TOKEN": "",
    # Clinician sign-in. Every signed-in clinician and staff user must have a TOTP authenticator:
    # one without is sent to enrol before any other page. Off only for the local demo (a banner
    # on every clinician page says so).
    "REQUIRE_2FA": True,
    # A clinician or staff session unused for this many minutes is signed out (0: never).
    "SESSION_IDLE_MINUTES": 30,
    # De-identified check-in exports (cyclecare.reports.export). Files go to EXPORT_DIR, a
    # private directory never served as media (empty: "cyclecare-exports" in the system's
    # temporary directory); a download link works this many hours after the file is ready.
    "EXPORT_DIR": "",
    "EXPORT_LINK_HOURS": 24,
    # An export of at most this many check-ins is written in the request; a larger one runs as
    # a Celery job with a progress bar, which records its progress every EXPORT_PROGRESS_EVERY rows.
    "EXPORT_IN_REQUEST_MAX_ROWS": 5000,
    "EXPORT_PROGRESS_EVERY": 1000,
    # The key of the pseudonymous ids (an HMAC per practice); empty: derived from SECRET_KEY.
    # Changing it (or SECRET_KEY, when empty) changes every id in later exports.
    "EXPORT_PSEUDONYM_KEY": "",
    # Practice reports (cyclecare.reports). The rollups' id watermarks trail the newest rows by
    # this many minutes, so a row committed a little after a higher id is still folded in.
    "ROLLUP_SETTLE_MINUTES": 10,
    # A report query running longer than this is cancelled (PostgreSQL; 0: no limit).
    "REPORT_STATEMENT_TIMEOUT_MS": 15_000,
    # Uneven engagement: a couple whose partners' homework completion rates differ by at least
    # this many percentage points (each partner with at least UNEVEN_ENGAGEMENT_MIN_DUE due).
    "UNEVEN_ENGAGEMENT_GAP_POINTS": 30,
    "UNEVEN_ENGAGEMENT_MIN_DUE": 3,
}


class CyclecareSettings:
    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown cyclecare setting {name!r}.")
        return getattr(settings, "CYCLECARE", {}).get(name, DEFAULTS[name])

    def unknown_keys(self) -> list[str]:
        return sorted(set(getattr(settings, "CYCLECARE", {})) - set(DEFAULTS))


cyclecare_settings = CyclecareSettings()
