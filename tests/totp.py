"""TOTP codes for tests, computed from a secret the way an authenticator app does (RFC 6238)."""

import time

from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

PERIOD = 30


def totp_code(secret: str) -> str:
    """The code an app shows now; waits out the last seconds of a period so the code is still
    current when the server checks it."""
    left = PERIOD - time.time() % PERIOD
    if left < 3:
        time.sleep(left + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time() // PERIOD)))


def enrol(user) -> tuple[str, list[str]]:
    """Give ``user`` a TOTP authenticator and recovery codes; returns (secret, codes)."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    codes = RecoveryCodes.activate(user).get_unused_codes()
    return secret, codes
