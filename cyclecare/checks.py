"""Start-up checks: cyclecare's settings and the encryption keys PHI depends on."""

from django.conf import settings
from django.core.checks import Error, Tags, register

from .conf import DEFAULTS, cyclecare_settings


@register(Tags.security)
def check_encryption_configured(app_configs, **kwargs):  # type: ignore[no-untyped-def]
    salts = getattr(settings, "SALT_KEY", None)
    if not salts:
        return [
            Error(
                "SALT_KEY is not set: cyclecare encrypts PHI at rest and needs it.",
                hint="Set SALT_KEY to a list of random strings (the first encrypts; all decrypt).",
                id="cyclecare.E001",
            )
        ]
    return []


@register()
def check_cyclecare_settings(app_configs, **kwargs):  # type: ignore[no-untyped-def]
    errors = []
    configured = getattr(settings, "CYCLECARE", {})
    if not isinstance(configured, dict):
        return [Error("CYCLECARE must be a dict.", id="cyclecare.E002")]
    for key in cyclecare_settings.unknown_keys():
        errors.append(
            Error(
                f"Unknown key {key!r} in CYCLECARE.",
                hint=f"Known keys: {', '.join(DEFAULTS)}.",
                id="cyclecare.E003",
            )
        )
    for key, default in DEFAULTS.items():
        if key in configured and not isinstance(configured[key], type(default)):
            errors.append(
                Error(
                    f"CYCLECARE[{key!r}] must be a {type(default).__name__}.",
                    id="cyclecare.E004",
                )
            )
    return errors
