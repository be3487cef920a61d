"""Encrypted-at-rest fields for free-text PHI.

Built on django-fernet-encrypted-fields (Fernet, keys from SECRET_KEY[_FALLBACKS] × SALT_KEY,
so keys rotate). The library stores "" as NULL; these read it back as "" so code and templates
never see ``None`` for an empty note section.
"""

import base64
import functools
import json
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.conf import settings
from encrypted_fields.fields import EncryptedTextField


@functools.lru_cache(maxsize=8)
def _fernet(secrets: tuple[str, ...], salts: tuple[str, ...]) -> MultiFernet:
    """The library's key derivation (PBKDF2-SHA256, 100k rounds per secret × salt), done once per
    process for every field instead of once per field instance. Keyed by the settings' values,
    so a changed SECRET_KEY or SALT_KEY (rotation, override_settings) derives anew."""
    keys = []
    for secret in secrets:
        for salt in salts:
            kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt.encode(), iterations=100_000)
            keys.append(Fernet(base64.urlsafe_b64encode(kdf.derive(secret.encode()))))
    return MultiFernet(keys)


class EncryptedText(EncryptedTextField):
    @property
    def f(self) -> MultiFernet:
        salts = settings.SALT_KEY if isinstance(settings.SALT_KEY, list) else [settings.SALT_KEY]
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        return _fernet(tuple(secrets), tuple(salts))

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
