"""Encrypted-at-rest fields for free-text PHI.

Built on django-fernet-encrypted-fields (Fernet, keys from SECRET_KEY[_FALLBACKS] × SALT_KEY,
so keys rotate). The library stores "" as NULL; these read it back as "" so code and templates
never see ``None`` for an empty note section.
"""

import json
from typing import Any

from encrypted_fields.fields import EncryptedTextField


class EncryptedText(EncryptedTextField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs["null"] = True
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("null", None)
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        value = super().from_db_value(value, expression, connection)
        return "" if value is None else value


class EncryptedJSON(EncryptedText):
    """Structured PHI (check-in answers): JSON, then encrypted as one opaque string."""

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return super().get_prep_value(json.dumps(value, sort_keys=True))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        value = super().from_db_value(value, expression, connection)
        return json.loads(value) if value else {}

    def to_python(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return value
        return super().to_python(value)
