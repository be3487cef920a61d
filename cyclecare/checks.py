"""Start-up checks: cyclecare's settings and the encryption keys PHI depends on."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from clinician.conf import DEFAULTS, cyclecare_settings


@register(Tags.security)
def check_encryption_configured(app_configs, **kwargs):
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
def check_cyclecare_settings(app_configs, **kwargs):
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


@register(Tags.security)
def check_two_factor_configured(app_configs, **kwargs):
    """REQUIRE_2FA needs allauth's mfa app and the middleware that enforces it."""
    if not cyclecare_settings.REQUIRE_2FA:
        return []
    errors = []
    from django.apps import apps

    if not apps.is_installed("allauth.mfa"):
        errors.append(
            Error(
                'CYCLECARE["REQUIRE_2FA"] is on but allauth.mfa is not installed.',
                hint="Add cyclecare.plugin.INSTALLED_APPS to INSTALLED_APPS.",
                id="cyclecare.E005",
            )
        )
    if "clinician.middleware.RequireTwoFactorMiddleware" not in settings.MIDDLEWARE:
        errors.append(
            Error(
                'CYCLECARE["REQUIRE_2FA"] is on but RequireTwoFactorMiddleware is not in MIDDLEWARE.',
                hint="Call cyclecare.plugin.configure(globals()) after MIDDLEWARE in your settings.",
                id="cyclecare.E006",
            )
        )
    return errors


@register(Tags.security, deploy=True)
def check_two_factor_required_in_deployment(app_configs, **kwargs):
    if cyclecare_settings.REQUIRE_2FA:
        return []
    return [
        Warning(
            'CYCLECARE["REQUIRE_2FA"] is off: clinicians sign in with a password alone.',
            hint="Leave it on (the default) anywhere real client data is held.",
            id="cyclecare.W001",
        )
    ]
