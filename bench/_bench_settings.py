"""Settings for bench/api_bench.py: production settings, tuned only where a benchmark must be.

Kept from production: DEBUG off, the real middleware (security, CSP, sessions, CSRF, ...),
PostgreSQL from DATABASE_URL, Redis from REDIS_URL as the cache (so throttling counts in Redis)
and the Celery broker, persistent database connections. The load client sends
``X-Forwarded-Proto: https`` as the TLS proxy in front of production would, so the HTTPS
redirect and secure cookies stay on.

Changed for the benchmark: throwaway secrets (the real ones are required in production), a
throttle rate high enough not to cap the load, ``rest_framework.authtoken`` for the naive peer in
bench/_bench_urls.py, its own cache key prefix and Celery queue (so the bench leaves nothing in a
shared Redis that another process would read, and cleans up after itself).
"""

import os

# Production refuses to start without these; the benchmark's own throwaway values.
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("FIELD_ENCRYPTION_SALTS", "bench-only-field-encryption-salt")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

from config.settings.production import *  # noqa: E402, F403
from config.settings.production import CACHES, INSTALLED_APPS, REST_FRAMEWORK  # noqa: E402

ROOT_URLCONF = "bench._bench_urls"
INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken"]

# The throttle still runs (a Redis read and write per request, as in production); it just never
# refuses a benchmark request. Per second, not per minute: DRF's throttle keeps every request's
# time within its window in one cached list, so at a production rate (1200/min) that list holds
# at most 1200 entries, while a huge per-minute rate would let it grow to every request of the
# last minute (thousands here) and charge its (de)serialisation to the API under test.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["principal"] = "1000000/s"

CACHES["default"]["KEY_PREFIX"] = "cyclecare-bench"
CELERY_TASK_DEFAULT_QUEUE = "cyclecare-bench"
