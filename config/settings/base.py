"""Settings shared by every environment.

The environment is read once, here, with django-environ. With nothing set, cyclecare runs on
embedded defaults: SQLite and a filesystem Celery broker under ``var/``, email written to files.
``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF

import cyclecare.plugin as cyclecare_plugin

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Absolute whatever CYCLECARE_VAR_DIR says: a relative one is read from BASE_DIR, never from the
# directory a process happens to start in (web, worker and beat must find the same files).
VAR_DIR = BASE_DIR / environ.Env().str("CYCLECARE_VAR_DIR", default="var")

env = environ.Env()

# GENERAL
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# DATABASES
# ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cyclecare.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE avoids
    # "database is locked" upgrades inside write transactions.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Practice reports may read their rollups from a replica (cyclecare.reports.router).
if env.str("REPORTS_DATABASE_URL", default=""):
    DATABASES["reports"] = env.db("REPORTS_DATABASE_URL")
    DATABASES["reports"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
DATABASE_ROUTERS = ["cyclecare.reports.router.ReportsRouter"]

# URLS
# ------------------------------------------------------------------------------
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# APPS
# ------------------------------------------------------------------------------
DJANGO_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
]
THIRD_PARTY_APPS = [
    "csp",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
]
# Keep in step with cyclecare.plugin.INSTALLED_APPS (what a host site adds).
LOCAL_APPS = [
    "clinician",
    "couples",
    "cyclecare",
]
# Clinician sign-in. After LOCAL_APPS, so clinician's templates override allauth's.
AUTH_APPS = [
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "axes",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS + AUTH_APPS

# AUTHENTICATION
# ------------------------------------------------------------------------------
# Clinicians sign in through django-allauth (config/urls.py mounts it at /accounts/) with TOTP
# two-factor; django-axes locks out repeated failures. The backends, allauth's, axes' and the
# lockout settings come from cyclecare.plugin.configure() below, as a host site gets them;
# CYCLECARE["REQUIRE_2FA"] and ["SESSION_IDLE_MINUTES"] are the switches.
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "cyclecare:clinician:caseload"
# The client address axes and allauth's rate limits count by: the Nth address from the right of
# X-Forwarded-For, with N proxies of our own in front (production sets it); 0 trusts REMOTE_ADDR.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# MIDDLEWARE
# ------------------------------------------------------------------------------
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The audit context of each request (surface and address of every event); then signs out
    # idle sessions and deactivated clinicians, and sends a clinician without two-factor to enrol.
    "clinician.middleware.AuditContextMiddleware",
    "clinician.middleware.SessionIdleTimeoutMiddleware",
    "clinician.middleware.DeactivatedClinicianMiddleware",
    "clinician.middleware.RequireTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a lockout into its response.
    "axes.middleware.AxesMiddleware",
]

# STATIC
# ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"

# TEMPLATES
# ------------------------------------------------------------------------------
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    }
]

# SECURITY
# ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# ENCRYPTION AT REST
# ------------------------------------------------------------------------------
# django-fernet-encrypted-fields derives one Fernet key per (secret, salt) pair from
# SECRET_KEY + SECRET_KEY_FALLBACKS and SALT_KEY. The first pair encrypts; all decrypt.
# Rotate by putting a new salt first and running `manage.py rotate_phi_keys`.
SALT_KEY = env.list("FIELD_ENCRYPTION_SALTS", default=[])

# CACHES
# ------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    # Shared by the web and worker processes on one machine.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# EMAIL
# ------------------------------------------------------------------------------
# With no EMAIL_URL, mail is written to files in var/mail/. The default is not a filemail:// URL:
# django-environ drops a URL path's leading slash, which turned an absolute var/ path into one
# relative to the working directory. A relative path in EMAIL_URL is read from BASE_DIR for the
# same reason (filemail:////abs/path names an absolute one).
if "EMAIL_URL" in env:
    EMAIL_CONFIG = env.email_url("EMAIL_URL")
else:
    EMAIL_CONFIG = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(VAR_DIR / "mail"),
    }
if EMAIL_CONFIG["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend":
    EMAIL_CONFIG["EMAIL_FILE_PATH"] = str(BASE_DIR / EMAIL_CONFIG["EMAIL_FILE_PATH"])
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cyclecare <no-reply@localhost>")

# CELERY
# ------------------------------------------------------------------------------
# With REDIS_URL: Redis. Without: Kombu's filesystem transport under var/broker, which needs
# no server and is shared by the processes `make run` starts.
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost/"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if REDIS_URL
    else {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# LOGGING
# ------------------------------------------------------------------------------
# Log lines carry ids, never PHI. Every record is redacted as it is made (partner-link tokens,
# query strings: clinician.logging, installed by the clinician app), whichever logger makes it;
# the filter on the console also covers records that arrive already made.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "clinician.logging.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Naming "django" here drops the handlers Django's DEFAULT_LOGGING gives it: a second
        # console (with DEBUG on, printing every line twice) and mail_admins, whose mail renders
        # the request (its path holds a partner's token) and the traceback's local variables (PHI).
        # Its records go to the root's console like every other logger's.
        "django": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        # Failures and lockouts are warnings (usernames masked); skip its start-up banner.
        "axes": {"level": "WARNING"},
        # runserver's access lines (DEFAULT_LOGGING gives them a console of their own).
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# REST API AND OAUTH2
# ------------------------------------------------------------------------------
# cyclecare's API settings (DRF, drf-spectacular, django-oauth-toolkit) come from the plugin,
# the same way a host site gets them; this project only tunes the throttle from the env.
cyclecare_plugin.configure(globals())
REST_FRAMEWORK = globals()["REST_FRAMEWORK"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["principal"] = env.str("API_THROTTLE_RATE", default="1200/min")
# Request bodies above this are refused with 413 before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

# CYCLECARE
# ------------------------------------------------------------------------------
# Reminder texts: written to var/sms unless an SMS provider is configured.
CYCLECARE = {
    # The clinic's own address, for links in emails (a partner's check-in link, say).
    "SITE_URL": env.str("CYCLECARE_SITE_URL", default="http://127.0.0.1:8000"),
    "SMS_BACKEND": env.str("CYCLECARE_SMS_BACKEND", default="cyclecare.reminders.channels.FileSmsBackend"),
    "SMS_FILE_PATH": str(VAR_DIR / "sms"),
    "SMS_HTTP_URL": env.str("CYCLECARE_SMS_HTTP_URL", default=""),
    "SMS_HTTP_TOKEN": env.str("CYCLECARE_SMS_HTTP_TOKEN", default=""),
    "SMS_FROM": env.str("CYCLECARE_SMS_FROM", default=""),
    # Inbound texts ("STOP") at /r/sms/inbound/ need this bearer token; empty: the endpoint is off.
    "SMS_INBOUND_TOKEN": env.str("CYCLECARE_SMS_INBOUND_TOKEN", default=""),
    # De-identified exports: a private directory, never under STATIC_ROOT or a served MEDIA_ROOT.
    "EXPORT_DIR": str(VAR_DIR / "exports"),
    "EXPORT_PSEUDONYM_KEY": env.str("CYCLECARE_EXPORT_PSEUDONYM_KEY", default=""),
}
