"""The broker is real: a task goes through Redis to a worker and back."""

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

pytestmark = pytest.mark.redis


def test_task_round_trip_through_redis(redis_url):
    app = Celery("cyclecare-broker-check", broker=redis_url, backend=redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)

    @app.task(name="broker_check.add")
    def add(x: int, y: int) -> int:
        return x + y

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert add.delay(2, 3).get(timeout=20) == 5


def test_project_app_reaches_redis_broker(redis_url, settings):
    from config.celery_app import app

    with app.connection_for_write(redis_url) as connection:
        connection.ensure_connection(max_retries=1, timeout=3)
        assert connection.connected
