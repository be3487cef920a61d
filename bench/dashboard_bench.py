"""Clinician dashboard benchmark: the caseload and the couple page on a heavy history.

Builds, in a throwaway database (SQLite under a temp dir, or PostgreSQL when DATABASE_URL is
set — a database named <name>_bench is created and dropped):
- one couple with two years of daily check-ins from both partners (and their occurrences), a
  weekly CSI-4 from each, weekly sessions with notes, about three episodes a week and safety flags;
- 39 more couples with eight weeks of the same, so the caseload has 40.

Then renders both pages in-process with Django's test client (the whole middleware stack, the
templates, the SQL) many times and prints the median and p95 server time and the SQL query
count of one render. Targets: ≤ 10 queries and a median under 60 ms. Asserts nothing.

    python bench/dashboard_bench.py [--runs 200]
"""

import argparse
import os
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
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings, setup_test_environment  # noqa: E402

COUPLES = 40
HEAVY_DAYS = 730
LIGHT_DAYS = 56


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="renders per page (default 200)")
    parser.add_argument("--days", type=int, default=HEAVY_DAYS, help="the heavy couple's history in days")
    args = parser.parse_args()
    setup_test_environment()
    # setup_test_environment instruments every template render so the test client can capture
    # contexts; a server does not pay that, so the benchmark renders with the real method.
    from django.template import Template
    from django.test.utils import _TestState, get_runner

    Template._render = _TestState.saved_data.template_render

    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        run(args.runs, args.days)
    finally:
        runner.teardown_databases(old_config)


def build(days: int):
    from cyclecare.models import CheckIn, CycleEpisode, Occurrence
    from tests.cyclecare.workspace.history import build_history
    from tests.factories import ClinicianFactory, couple_with_partners

    clinician = ClinicianFactory(display_name="Dr Bench")
    start = time.perf_counter()
    heavy, a, b = couple_with_partners(clinician, label="Couple 00 (two years)")
    build_history(heavy, a, b, days=days, seed=1)
    for n in range(1, COUPLES):
        couple, pa, pb = couple_with_partners(clinician, label=f"Couple {n:02d}")
        build_history(couple, pa, pb, days=LIGHT_DAYS, seed=n + 1)
    seconds = time.perf_counter() - start
    if connection.vendor == "postgresql":
        # What autovacuum does after a bulk load in a running database; without statistics the
        # planner guesses row counts and walks the practice's rows instead of a partner's index.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"data: {COUPLES} couples in {seconds:.1f} s — {CheckIn.objects.count():,} check-ins, "
        f"{Occurrence.objects.count():,} occurrences, {CycleEpisode.objects.count():,} episodes; "
        f"the heavy couple: {CheckIn.objects.filter(couple=heavy).count():,} check-ins, "
        f"{heavy.sessions.count()} sessions, {heavy.episodes.count():,} episodes"
    )
    return clinician, heavy


def measure(client, path: str, runs: int) -> dict:
    response = client.get(path)  # warm: the session's last-seen stamp, template loading
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    query_count = len(queries)
    samples, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    samples.sort()
    cpu.sort()
    return {
        "median": statistics.median(samples),
        "p95": samples[int(len(samples) * 0.95) - 1],
        "cpu_median": statistics.median(cpu),
        "cpu_p95": cpu[int(len(cpu) * 0.95) - 1],
        "queries": query_count,
        "kib": len(response.content) / 1024,
    }


def run(runs: int, days: int) -> None:
    from django.test import Client
    from django.urls import reverse

    print(f"database: {connection.vendor}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    clinician, heavy = build(days)
    client = Client()
    client.force_login(clinician.user)
    pages = {
        "caseload (40 couples)": reverse("cyclecare:clinician:caseload"),
        "couple page (two years)": reverse("cyclecare:clinician:couple", args=[heavy.pk]),
        "couple page, earlier weeks": reverse("cyclecare:clinician:couple", args=[heavy.pk])
        + "?before=2025-06-02",
    }
    print(
        f"\n{'page':30} {'median ms':>10} {'p95 ms':>8} {'CPU median':>11} {'CPU p95':>8} {'queries':>8}"
        f" {'HTML KiB':>9}   ({runs} renders each)"
    )
    # A reference on the same (possibly shared) machine: the same middleware and base template,
    # a clinician with no couples.
    from tests.factories import ClinicianFactory

    idle = Client()
    idle.force_login(ClinicianFactory(practice=clinician.practice, display_name="Dr Idle").user)
    report("reference: an empty caseload", measure(idle, pages["caseload (40 couples)"], runs))
    for name, path in pages.items():
        report(name, measure(client, path, runs))

    # Production enforces two-factor: its middleware checks the user's authenticator per request.
    from allauth.mfa.models import Authenticator

    from clinician.conf import cyclecare_settings

    Authenticator.objects.create(user=clinician.user, type=Authenticator.Type.TOTP, data={"secret": "bench"})
    with override_settings(CYCLECARE={**getattr(settings, "CYCLECARE", {}), "REQUIRE_2FA": True}):
        if not cyclecare_settings.REQUIRE_2FA:
            raise SystemExit("REQUIRE_2FA did not switch on")
        print("\nwith REQUIRE_2FA on (production), the clinician enrolled:")
        for name, path in list(pages.items())[:2]:
            report(name, measure(client, path, max(runs // 4, 20)))


def report(name: str, figures: dict) -> None:
    print(
        f"{name:30} {figures['median']:>10.1f} {figures['p95']:>8.1f} {figures['cpu_median']:>11.1f} "
        f"{figures['cpu_p95']:>8.1f} {figures['queries']:>8} {figures['kib']:>9.0f}"
    )


if __name__ == "__main__":
    main()
