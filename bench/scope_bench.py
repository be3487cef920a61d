"""Foundation benchmark: seeding the demo, and the scoped selectors every page will stand on.

Runs against a throwaway database: SQLite under a temp dir, or PostgreSQL when DATABASE_URL is
set (a database named <name>_bench is created and dropped). Prints its figures; asserts nothing.

    python bench/scope_bench.py
"""

import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("CYCLECARE_VAR_DIR", tempfile.mkdtemp(prefix="cyclecare-bench-"))
os.environ.setdefault("DJANGO_DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

RUNS = 50


def timed(function, runs: int = RUNS) -> tuple[float, int]:
    """Median milliseconds over ``runs`` and the query count of one run."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as queries:
        function()
    return statistics.median(samples), len(queries)


def main() -> None:
    setup_test_environment()
    from django.test.utils import get_runner

    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        run()
    finally:
        runner.teardown_databases(old_config)


def run() -> None:
    from couples import selectors as couples_selectors
    from cyclecare import selectors as cycle_selectors

    engine = connection.vendor
    start = time.perf_counter()
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    seed_seconds = time.perf_counter() - start
    start = time.perf_counter()
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    reseed_seconds = time.perf_counter() - start
    print(f"database: {engine}")
    print(f"seed_demo: {seed_seconds:.2f} s first run, {reseed_seconds:.2f} s second run (no-op)")

    users = get_user_model().objects.filter(clinician__isnull=False).order_by("username")
    print(f"\n{'user':32} {'selector':36} {'rows':>5} {'median ms':>10} {'queries':>8}")
    for user in users:
        user = get_user_model().objects.get(pk=user.pk)
        cases = {
            "couples_visible_to": lambda u=user: list(couples_selectors.couples_visible_to(user=u)),
            "notes_visible_to (caseload)": lambda u=user: list(couples_selectors.notes_visible_to(user=u)),
            "checkins_visible_to (last 100)": lambda u=user: list(
                cycle_selectors.checkins_visible_to(user=u).order_by("-submitted_at")[:100]
            ),
            "safety_flags_visible_to (open)": lambda u=user: list(
                cycle_selectors.safety_flags_visible_to(user=u).filter(status="open")
            ),
        }
        for name, function in cases.items():
            rows = len(function())
            median, queries = timed(function)
            print(f"{user.username:32} {name:36} {rows:>5} {median:>10.2f} {queries:>8}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
