"""cyclecare's tunables: ``settings.CYCLECARE = {...}`` over these defaults, read lazily.

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
    # Record an audit event when a clinician opens a note, check-in or safety flag.
    "AUDIT_READS": True,
    # A pending occurrence this many hours past due is marked missed (assignment.missed).
    "MISSED_AFTER_HOURS": 24,
    # Webhook deliveries: give up (FAILED) after this many attempts; plain http:// endpoints on
    # 127.0.0.1/localhost are accepted only with DEBUG or this switch (tests, local receivers).
    "WEBHOOK_MAX_ATTEMPTS": 8,
    "WEBHOOK_ALLOW_HTTP": False,
}


class CyclecareSettings:
    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown cyclecare setting {name!r}.")
        return getattr(settings, "CYCLECARE", {}).get(name, DEFAULTS[name])

    def unknown_keys(self) -> list[str]:
        return sorted(set(getattr(settings, "CYCLECARE", {})) - set(DEFAULTS))


cyclecare_settings = CyclecareSettings()
