"""Local development: the embedded defaults `make run` uses."""

from .base import *  # noqa: F403
from .base import CYCLECARE, SECRET_KEY, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# Development-only fallbacks; production.py refuses to start without real values.
SECRET_KEY = SECRET_KEY or "local-only-insecure-secret-key-do-not-use-in-production-cyclecare"
SALT_KEY = env.list("FIELD_ENCRYPTION_SALTS", default=["local-only-field-encryption-salt"])
# The demo's logins (`make run` prints them) sign in with a password alone; every clinician page
# shows a banner saying two-factor is off. DJANGO_REQUIRE_2FA=true tries enrolment locally.
CYCLECARE = {**CYCLECARE, "REQUIRE_2FA": env.bool("DJANGO_REQUIRE_2FA", default=False)}
