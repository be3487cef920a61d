"""Template tags for the clinic's sign-in state."""

from django import template

from clinician.conf import cyclecare_settings

register = template.Library()


@register.simple_tag
def two_factor_required() -> bool:
    """``CYCLECARE["REQUIRE_2FA"]``: when off, clinician pages carry a banner saying so."""
    return bool(cyclecare_settings.REQUIRE_2FA)
