"""Reminders benchmark: sending throughput through Celery + Redis, and the planner's memory.

1. Send: builds ``--due`` reminders due now (couples of two partners spread over five zones,
   written with bulk SQL) and plans them; puts ``--due`` no-op tasks on the Redis queue and
   times one in-process Celery worker (solo pool) draining them; then enqueues the reminders
   and times the same worker configuration sending them. Reminders go in
   tasks of REMINDER_BATCH_SIZE to a local email backend that renders each message to bytes (what
   SMTP would send) and counts it. Prints tasks/s, reminders/s and their ratio (target ≥ 0.5×).
2. Memory: for each of ``--sizes`` assignments (two partners each, a daily check-in), runs the
   planner over the default 36 h window in a fresh process and prints its peak RSS growth over
   the process's baseline after Django setup (getrusage ru_maxrss, the mark reset there; see
   bench/_reminders_plan.py) and the time it took; up to 100k, also the time of a second run
   that finds everything planned (target: flat — the planner streams keyset chunks and keeps
   nothing between them). ``--tracemalloc`` adds the peak of Python
   allocations (5–10× slower).

Needs PostgreSQL (DATABASE_URL: a role that may create databases; the bench creates
``test_<name>``, migrates it and drops it) and Redis (REDIS_URL: give it a database of its own,
e.g. ``/5``: the bench purges the Celery queue there). Prints figures; asserts nothing. The
default sizes finish in a few minutes; the issue's full sizes (100k due; 10k, 100k and 1M
assignments) take most of an hour on two busy cores (the 1M planner run about 15 minutes, its
data 6):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cyclecare_remindbench \\
    REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/reminders_bench.py --due 100000 --sizes 10000,100000,1000000
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("CYCLECARE_VAR_DIR", tempfile.mkdtemp(prefix="cyclecare-bench-"))
os.environ.setdefault("DJANGO_DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.mail.backends.base import BaseEmailBackend  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import _reminders_data as data  # noqa: E402

SENT = {"emails": 0, "noop": 0}
SENT_LOCK = threading.Lock()
AGAIN_UP_TO = 100_000  # sizes whose planner also runs a second time (the steady state)


class CountingEmailBackend(BaseEmailBackend):
    """A local backend: renders each message to bytes (what SMTP would send) and counts it."""

    def send_messages(self, email_messages):
        for message in email_messages:
            message.message().as_bytes()
        with SENT_LOCK:
            SENT["emails"] += len(email_messages)
        return len(email_messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--due", type=int, default=10_000, help="reminders due now to send (0: skip)")
    parser.add_argument(
        "--sizes", default="10000,50000", help="assignment counts to plan, comma-separated ('': skip)"
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slow)")
    parser.add_argument("--profile", metavar="DIR", help="write a cProfile of each planner run here")
    args = parser.parse_args()
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        print("reminders_bench: needs DATABASE_URL (PostgreSQL) and REDIS_URL; skipped.")
        return
    setup_test_environment()
    from django.test.utils import get_runner

    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        if args.due:
            throughput(args.due)
        sizes = sorted(int(size) for size in args.sizes.split(",") if size.strip())
        if sizes:
            memory(sizes, traced=args.tracemalloc, profile=args.profile)
    finally:
        connection.close()
        runner.teardown_databases(old_config)


# THROUGHPUT
# ------------------------------------------------------------------------------
def throughput(due: int) -> None:
    from celery.contrib.testing.worker import start_worker

    from config.celery_app import app
    from cyclecare.models import ReminderDelivery
    from cyclecare.reminders import dispatch, planner

    settings.EMAIL_BACKEND = "__main__.CountingEmailBackend"
    settings.CYCLECARE = {**settings.CYCLECARE, "REMINDER_SPREAD_MINUTES": 1, "REMINDER_PLAN_HOURS": 1}

    @app.task(name="bench.noop")
    def noop() -> None:
        with SENT_LOCK:
            SENT["noop"] += 1

    for name in ("celery", "celery.app.trace", "celery.worker.strategy"):
        logging.getLogger(name).setLevel(logging.WARNING)  # not a line per task, for either rate
    app.control.purge()  # a queue left by an interrupted run would be counted as ours
    print(f"Reminders send (PostgreSQL, Redis at {os.environ['REDIS_URL']}, one solo worker)")
    couples = (due + 1) // 2
    made = data.make_assignments(couples, due_now=True)
    print(f"  data: {couples} couples, {2 * couples} partners, bulk SQL ({made:.1f} s)")
    started = time.perf_counter()
    result = planner.plan()
    elapsed = time.perf_counter() - started
    print(f"  planned {result.reminders_created} due reminders in {elapsed:.1f} s")
    total = ReminderDelivery.objects.filter(status="pending", next_attempt_at__lte=timezone.now()).count()

    # Each side's messages are all on the queue before its worker starts, so both rates are
    # the worker's alone (publishing 100k no-ops from this process would slow its worker thread).
    worker = partial(start_worker, app, pool="solo", perform_ping_check=False, shutdown_timeout=30)
    for _ in range(total):
        noop.delay()
    with worker(loglevel="WARNING"):
        started = time.perf_counter()
        wait(lambda: SENT["noop"] >= total, timeout=3600)
        noop_seconds = time.perf_counter() - started

    while dispatch.reminders_enqueue_due():  # outside a transaction: published at once
        pass
    with worker(loglevel="WARNING"):
        started = time.perf_counter()
        wait(lambda: SENT["emails"] >= total, timeout=3600)
        wait(lambda: ReminderDelivery.objects.filter(status="sent").count() >= total, timeout=60, poll=0.2)
        reminder_seconds = time.perf_counter() - started
    sent = ReminderDelivery.objects.filter(status="sent").count()
    noop_rate, reminder_rate = total / noop_seconds, total / reminder_seconds
    print(f"  no-op Celery task: {noop_rate:8.0f} tasks/s     ({total} tasks in {noop_seconds:.1f} s)")
    print(
        f"  reminders:         {reminder_rate:8.0f} reminders/s ({sent} sent and {SENT['emails']} emails "
        f"rendered in {reminder_seconds:.1f} s, {settings.CYCLECARE.get('REMINDER_BATCH_SIZE', 50)} per task)"
    )
    print(f"  ratio:             {reminder_rate / noop_rate:8.2f}× the no-op rate (target ≥ 0.5×)")
    data.clear_all()


def wait(condition, *, timeout: float, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("reminders_bench: timed out")
        time.sleep(poll)


# MEMORY
# ------------------------------------------------------------------------------
def memory(sizes: list[int], *, traced: bool, profile: str | None) -> None:
    data.clear_all()
    have = 0
    print("Planner peak memory (a fresh process per size; 36 h window, every partner due daily at 20:00)")
    for size in sizes:
        made = data.make_assignments(size - have, due_now=False)
        have = size
        data.clear_plans()
        command = [
            sys.executable,
            str(ROOT / "bench" / "_reminders_plan.py"),
            connection.settings_dict["NAME"],
        ]
        if size <= AGAIN_UP_TO:
            command.append("--again")
        if traced:
            command.append("--tracemalloc")
        if profile:
            Path(profile).mkdir(parents=True, exist_ok=True)
            command += ["--profile", str(Path(profile) / f"planner-{size}.prof")]
        connection.close()  # the child is the only client while it plans
        child = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if child.returncode:
            raise SystemExit(f"reminders_bench: the planner process failed:\n{child.stderr}")
        run = json.loads(child.stdout)
        traced_text = (
            f", Python peak {run['tracemalloc_peak'] / 2**20:.1f} MiB (tracemalloc)"
            if run["tracemalloc_peak"] is not None
            else ""
        )
        again = "" if run["again_seconds"] is None else f", a re-run {run['again_seconds']:.1f} s"
        print(
            f"  {size:>9} assignments: peak RSS +{run['peak_rss_growth'] / 2**20:6.1f} MiB"
            f"{'' if run['peak_reset'] else ' (over the import peak)'}{traced_text}; "
            f"{run['occurrences']} occurrences and {run['reminders']} reminders in {run['seconds']:.1f} s "
            f"({run['seconds'] / size * 100_000:.1f} s per 100k){again}; data {made:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
