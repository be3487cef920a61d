"""Test settings: the database and Redis come from DATABASE_URL / REDIS_URL when set."""

from .base import *  # noqa: F403
from .base import CYCLECARE, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="test-only-secret-key-for-cyclecare-suite-0123456789")
SALT_KEY = ["test-only-field-encryption-salt"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Unit tests run tasks in-process; tests/test_celery_redis.py talks to the real broker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = env.str("REDIS_URL", default="memory://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
# Reminder texts stay in memory (cyclecare.reminders.channels.LocmemSmsBackend.outbox).
# Two-factor enforcement is off by default here (tests sign users in with force_login); the tests
# of enforcement turn it on with override_settings.
CYCLECARE = {
    **CYCLECARE,
    "SMS_BACKEND": "cyclecare.reminders.channels.LocmemSmsBackend",
    "REQUIRE_2FA": False,
}
