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
os.environ.setdefault("CYCLECARE_SITE_URL", "https://cyclecare.bench.invalid")

from config.settings.production import *  # noqa: E402, F403
from config.settings.production import CACHES, INSTALLED_APPS, REST_FRAMEWORK  # noqa: E402

ROOT_URLCONF = "bench._bench_urls"
INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken"]

# The throttle still runs (one pipelined increment in Redis per request, as in production); it
# just never refuses a benchmark request. The naive peer's requests go through the same throttle
# (the project's DRF default), so it pays the same round trip.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["principal"] = "1000000/s"

CACHES["default"]["KEY_PREFIX"] = "cyclecare-bench"
CELERY_TASK_DEFAULT_QUEUE = "cyclecare-bench"
