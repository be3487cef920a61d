"""Production: every secret comes from the environment, or the process refuses to start."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CYCLECARE, DATABASES, SALT_KEY, SECRET_KEY, env

DEBUG = False

if not SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to at least 50 random characters.")
if not SALT_KEY:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_SALTS must be set (PHI is encrypted at rest).")
if not env.str("DATABASE_URL", default=""):
    raise ImproperlyConfigured("DATABASE_URL must be set in production.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured("Production runs on PostgreSQL; DATABASE_URL points at SQLite.")
if not env.str("REDIS_URL", default=""):
    raise ImproperlyConfigured("REDIS_URL must be set in production (Celery broker, cache).")
if not env.str("CYCLECARE_SITE_URL", default="").startswith("https://"):
    raise ImproperlyConfigured(
        "CYCLECARE_SITE_URL must be set to the clinic's https:// address (links in emails and texts)."
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)

# SECURITY
# ------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_AGE = 60 * 60 * 8
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# One reverse proxy (the TLS terminator SECURE_PROXY_SSL_HEADER trusts) by default: the client
# address axes and allauth count failures by is the last X-Forwarded-For entry it appends.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=1)

# CLINICIAN SIGN-IN
# ------------------------------------------------------------------------------
# Two-factor (TOTP) for every clinician and staff user, whatever the environment says.
CYCLECARE = {**CYCLECARE, "REQUIRE_2FA": True}

# STATIC
# ------------------------------------------------------------------------------
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
