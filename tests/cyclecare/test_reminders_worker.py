"""Reminders through a real broker and a real Celery worker (a subprocess) on the PostgreSQL test
database: sent once through Redis; a broker outage while the dispatcher runs delays the reminder
but neither loses nor doubles it; a worker SIGKILLed mid-send leaves one text at the provider.

Each test runs its own redis-server on a free port (so it can stop it, and no other test's
queue is touched) and needs REDIS_URL (the `redis_url` gate) and PostgreSQL."""

import datetime
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import current_app
from django.db import connection
from django.utils import timezone

from cyclecare import tasks
from cyclecare.models import ReminderDelivery
from cyclecare.reminders import dispatch, planner
from tests.conftest import service_missing
from tests.cyclecare.fake_providers import sms_provider
from tests.cyclecare.reminder_world import assign, world

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
Status = ReminderDelivery.Status
WORKER = """
import json, sys
import django
django.setup()
from django.conf import settings
settings.CYCLECARE.update(json.loads(sys.argv[1]))
from config.celery_app import app
app.conf.task_always_eager = False
app.worker_main(["worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "-n", "reminders-test@%h"])
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout: float = 20.0, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message or condition}")


class Broker:
    """A redis-server of our own that the test can stop and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        def answers() -> bool:
            try:
                return redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
            except redis.RedisError:
                return False

        wait_for(answers, timeout=10, message="redis-server to start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def broker(redis_url, tmp_path):
    if shutil.which("redis-server") is None:
        service_missing("this test starts its own redis-server, which is not installed")
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@contextmanager
def publishing_to(url: str):
    """This test process enqueues to ``url`` for real (not eagerly) while inside."""
    app = current_app._get_current_object()
    saved = (app.conf.broker_url, app.conf.task_always_eager)

    def reset_pools() -> None:
        # Kombu keeps pools per broker URL; dropping the app's references makes it look again.
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url, app.conf.task_always_eager = url, False
    reset_pools()
    try:
        yield
    finally:
        reset_pools()
        app.conf.broker_url, app.conf.task_always_eager = saved


@pytest.fixture
def provider():
    seen, stop = sms_provider()
    yield seen
    stop()


@pytest.fixture
def start_worker(postgres, broker, provider, tmp_path):
    """start_worker() → a `celery worker` subprocess on the test database and our broker."""
    import json

    db = connection.settings_dict
    database_url = "postgres://{}:{}@{}:{}/{}".format(
        quote(db["USER"] or "", safe=""),
        quote(db["PASSWORD"] or "", safe=""),
        db["HOST"] or "127.0.0.1",
        db["PORT"] or 5432,
        quote(db["NAME"], safe=""),
    )
    overrides = {
        "SMS_BACKEND": "cyclecare.reminders.channels.HttpSmsBackend",
        "SMS_HTTP_URL": provider.url,
        "SMS_HTTP_TOKEN": "worker-test-token",
        "REMINDER_SPREAD_MINUTES": 1,
    }
    workers: list[tuple[subprocess.Popen, Path]] = []

    def start() -> subprocess.Popen:
        log = tmp_path / f"worker-{len(workers)}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url,
            "REDIS_URL": broker.url,
        }
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(overrides)],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        workers.append((process, log))
        try:
            wait_for(lambda: "ready." in log.read_text(), timeout=25, message="the worker to be ready")
        except AssertionError:
            process.kill()
            raise AssertionError(log.read_text()[-3000:]) from None
        return process

    yield start
    for process, _ in workers:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def due(settings):
    """A reminder by text for partner A, due two minutes ago, planned now."""
    settings.CYCLECARE = {**settings.CYCLECARE, "REMINDER_SPREAD_MINUTES": 1}
    w = world(zone_a="UTC", channel_a="sms")
    due_at = timezone.now() - datetime.timedelta(minutes=2)
    assign(
        w,
        partners=[w.a],
        local_time=due_at.time().replace(second=0, microsecond=0),
        starts_on=due_at.date() - datetime.timedelta(days=1),
    )
    planner.plan()
    reminder = ReminderDelivery.objects.get(next_attempt_at__lte=timezone.now())
    return reminder


def status_of(reminder: ReminderDelivery) -> str:
    return ReminderDelivery.objects.values_list("status", flat=True).get(pk=reminder.pk)


def test_a_due_reminder_is_sent_once_through_redis_and_a_real_worker(due, broker, provider, start_worker):
    start_worker()
    with publishing_to(broker.url):
        assert tasks.reminders_dispatch() == 1
        assert tasks.reminders_dispatch() == 0  # a second beat in the same minute
        tasks.reminders_send.delay([due.pk])  # and a duplicated task message
        wait_for(lambda: status_of(due) == Status.SENT, message="the reminder to be sent")
        import redis

        wait_for(lambda: redis.Redis.from_url(broker.url).llen("celery") == 0, message="the queue to drain")
        time.sleep(0.5)
    assert len(provider.requests) == 1 and len(provider.texts) == 1
    assert provider.requests[0].headers["Idempotency-Key"] == f"cyclecare-reminder-{due.pk}"
    due.refresh_from_db()
    assert (due.attempts, due.provider_message_id) == (1, "SM0001")


def test_broker_down_when_the_dispatcher_runs_then_sent_once_after_it_returns(
    due, broker, provider, start_worker
):
    broker.stop()
    with publishing_to(broker.url):
        started = time.monotonic()
        tasks.reminders_dispatch()  # the enqueue fails; the tick itself does not
        assert time.monotonic() - started < 15
    due.refresh_from_db()
    assert (due.status, due.enqueued_at, due.attempts) == (Status.PENDING, None, 0)
    assert provider.requests == []

    broker.start()
    start_worker()
    with publishing_to(broker.url):
        assert tasks.reminders_dispatch() == 1
        wait_for(lambda: status_of(due) == Status.SENT, message="the reminder to be sent")
        tasks.reminders_dispatch()
        time.sleep(0.5)
    assert len(provider.requests) == 1 and len(provider.texts) == 1


def test_a_worker_killed_mid_send_leaves_one_text(due, broker, provider, start_worker, settings):
    provider.hold.clear()  # the provider records the text, then stalls before answering
    first = start_worker()
    with publishing_to(broker.url):
        assert tasks.reminders_dispatch() == 1
        assert provider.received.wait(timeout=20), "the worker never reached the provider"
        assert status_of(due) == Status.SENDING
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        provider.hold.set()

        # The reconciler (stuck after 0 minutes here) returns the row; a new worker sends it again
        # with the same Idempotency-Key, and the provider sends nothing twice.
        settings.CYCLECARE = {**settings.CYCLECARE, "REMINDER_STUCK_AFTER_MINUTES": 0}
        assert dispatch.reminders_reclaim_stuck() == 1
        start_worker()
        assert tasks.reminders_dispatch() == 1
        wait_for(lambda: status_of(due) == Status.SENT, message="the reminder to be sent again")
    due.refresh_from_db()
    assert len(provider.requests) == 2 and {r.key for r in provider.requests} == {
        f"cyclecare-reminder-{due.pk}"
    }
    assert len(provider.texts) == 1 and due.provider_message_id == "SM0001" and due.attempts == 2
