import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    """An IANA zone name that this machine's tz database knows (e.g. "America/Chicago")."""
    if not value or value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not an IANA time zone (for example America/Chicago)."),
            code="invalid_time_zone",
            params={"value": value},
        )
