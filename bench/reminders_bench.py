"""Reminders benchmark: sending throughput through Celery + Redis, and the planner's memory.

1. Plans ``--due`` reminders that are due now (partners spread over several zones), then
   dispatches them through Redis to an in-process Celery worker (solo pool) that sends them to
   a local email backend which renders each message and counts it; prints reminders/s beside
   the rate of a no-op Celery task on the same broker and worker (target: ≥ 0.5×).
2. Plans ``--sizes`` assignments (default 10k, 100k, 1M) and prints the planner's peak Python
   memory (tracemalloc) for each (target: flat — the planner streams chunks, it loads nothing).

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): a database named test_<name> is created
and dropped. Prints its figures; asserts nothing.

    python bench/reminders_bench.py [--due 100000] [--sizes 10000,100000,1000000]
"""

import argparse
import datetime
import os
import sys
import tempfile
import threading
import time
import tracemalloc
import zoneinfo
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

ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Pacific/Auckland"]
BATCH = 5000
SENT = {"emails": 0, "noop": 0}
SENT_LOCK = threading.Lock()


class CountingEmailBackend(BaseEmailBackend):
    """A local backend: renders each message to bytes (what SMTP would send) and counts it."""

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        for message in email_messages:
            message.message().as_bytes()
        with SENT_LOCK:
            SENT["emails"] += len(email_messages)
        return len(email_messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--due", type=int, default=100_000, help="reminders due now to send")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="assignment counts to plan")
    args = parser.parse_args()
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        print("reminders_bench: needs DATABASE_URL (PostgreSQL) and REDIS_URL; skipped.")
        return
    setup_test_environment()
    from django.test.utils import get_runner

    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        run(args.due, [int(size) for size in args.sizes.split(",") if size])
    finally:
        connection.close()
        runner.teardown_databases(old_config)


# DATA
# ------------------------------------------------------------------------------
def make_assignments(count: int, *, due_now: bool) -> None:
    """``count`` couples, each with two consenting partners and one daily check-in for both
    (so 2 × count reminders a day), inserted in batches. With ``due_now``, each partner's local
    time is a minute ago in their zone; otherwise 20:00."""
    from couples.models import Consent, Couple, Partner
    from cyclecare import services
    from cyclecare.models import Assignment
    from tests.factories import ClinicianFactory

    clinician = ClinicianFactory()
    instrument = next(i for i in services.instruments_install_shipped() if i.code == "cycle-checkin")
    through = Assignment.partners.through
    now = timezone.now()
    made = 0
    while made < count:
        size = min(BATCH, count - made)
        zones = [ZONES[(made + n) % len(ZONES)] for n in range(size)]
        local_times = [
            (now - datetime.timedelta(minutes=1))
            .astimezone(zoneinfo.ZoneInfo(z))
            .time()
            .replace(second=0, microsecond=0)
            if due_now
            else datetime.time(20)
            for z in zones
        ]
        couples = Couple.objects.bulk_create(
            Couple(
                practice_id=clinician.practice_id,
                primary_clinician=clinician,
                label=f"Bench {made + n}",
                started_on=now.date(),
            )
            for n in range(size)
        )
        partners = Partner.objects.bulk_create(
            Partner(
                practice_id=clinician.practice_id,
                couple=couple,
                seat=seat,
                display_name=f"Partner {couple.pk}-{seat}",
                email=f"p{couple.pk}-{seat}@bench.example",
                time_zone=zone,
            )
            for couple, zone in zip(couples, zones, strict=True)
            for seat in (1, 2)
        )
        Consent.objects.bulk_create(
            Consent(
                practice_id=clinician.practice_id,
                partner=partner,
                kind="email",
                granted=True,
                method="written",
                recorded_at=now,
            )
            for partner in partners
        )
        assignments = Assignment.objects.bulk_create(
            Assignment(
                practice_id=clinician.practice_id,
                couple=couple,
                assigned_by=clinician,
                kind="check_in",
                title="Daily check-in",
                instrument=instrument,
                schedule="daily",
                local_time=local_time,
                starts_on=now.date() - datetime.timedelta(days=1),
            )
            for couple, local_time in zip(couples, local_times, strict=True)
        )
        through.objects.bulk_create(
            through(assignment_id=assignment.pk, partner_id=partner.pk)
            for index, assignment in enumerate(assignments)
            for partner in partners[2 * index : 2 * index + 2]
        )
        made += size


def clear_plans() -> None:
    from cyclecare.models import Occurrence, PartnerLink, ReminderDelivery

    with connection.cursor() as cursor:
        for model in (ReminderDelivery, PartnerLink, Occurrence):
            cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")  # noqa: S608 (our own table names)


def clear_all() -> None:
    from couples.models import Consent, Couple, Partner
    from cyclecare.models import Assignment

    clear_plans()
    with connection.cursor() as cursor:
        for model in (Assignment.partners.through, Assignment, Consent, Partner, Couple):
            cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")  # noqa: S608


# THROUGHPUT
# ------------------------------------------------------------------------------
def run(due: int, sizes: list[int]) -> None:
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

    print(f"Reminders benchmark (PostgreSQL, Redis at {os.environ['REDIS_URL']}, one solo worker)")
    couples = (due + 1) // 2
    started = time.perf_counter()
    make_assignments(couples, due_now=True)
    print(f"  data: {couples} couples, {2 * couples} partners ({time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    result = planner.plan()
    elapsed = time.perf_counter() - started
    print(f"  planned {result.reminders_created} due reminders in {elapsed:.1f} s")
    total = ReminderDelivery.objects.filter(status="pending", next_attempt_at__lte=timezone.now()).count()

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
        started = time.perf_counter()
        for _ in range(total):
            noop.delay()
        wait(lambda: SENT["noop"] >= total, timeout=3600)
        noop_rate = total / (time.perf_counter() - started)

        started = time.perf_counter()
        while dispatch.reminders_enqueue_due():
            pass
        wait(lambda: ReminderDelivery.objects.filter(status="sent").count() >= total, timeout=3600, poll=0.5)
        reminder_rate = total / (time.perf_counter() - started)
    sent = ReminderDelivery.objects.filter(status="sent").count()
    print(f"  no-op Celery task:   {noop_rate:8.0f} tasks/s   ({total} tasks)")
    print(
        f"  reminders:           {reminder_rate:8.0f} reminders/s "
        f"({sent} sent, {SENT['emails']} emails rendered, up to 50 per task)"
    )
    print(f"  ratio:               {reminder_rate / noop_rate:8.2f}× the no-op rate (target ≥ 0.5×)")

    memory(sizes)


def wait(condition, *, timeout: float, poll: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("reminders_bench: timed out")
        time.sleep(poll)


# MEMORY
# ------------------------------------------------------------------------------
def memory(sizes: list[int]) -> None:
    from cyclecare.models import Assignment
    from cyclecare.reminders import planner

    settings.CYCLECARE = {**settings.CYCLECARE, "REMINDER_PLAN_HOURS": 36}
    clear_all()
    print("Planner peak memory (tracemalloc; default 36 h window, every partner due daily)")
    for size in sorted(sizes):
        have = Assignment.objects.count()
        started = time.perf_counter()
        make_assignments(size - have, due_now=False)
        made = time.perf_counter() - started
        clear_plans()
        tracemalloc.start()
        tracemalloc.reset_peak()
        started = time.perf_counter()
        result = planner.plan()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        started = time.perf_counter()
        planner.plan()  # the steady state: everything in the window exists already
        steady = time.perf_counter() - started
        print(
            f"  {size:>9} assignments: peak {peak / 2**20:6.1f} MiB, "
            f"{result.occurrences_created} occurrences and {result.reminders_created} reminders "
            f"in {elapsed:.1f} s under tracemalloc; a re-run {steady:.1f} s (data {made:.1f} s)"
        )


if __name__ == "__main__":
    main()
