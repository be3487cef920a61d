"""Settings for bench/load_bench.py: bench/_bench_settings.py (production settings, tuned only
where a benchmark must be) with a cache key prefix and a Celery queue of its own, so it can run
beside api_bench on one Redis and deletes only what it wrote. Mail goes where ``EMAIL_URL``
says: the bench points it at a temporary directory (Django's file backend), where it counts
every reminder actually sent. The worker runs without remote control, so it declares no
``celery.pidbox`` binding in a Redis other processes share."""

from bench._bench_settings import *  # noqa: F403
from bench._bench_settings import CACHES

CACHES["default"]["KEY_PREFIX"] = "cyclecare-loadbench"
CELERY_TASK_DEFAULT_QUEUE = "cyclecare-loadbench"
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
