"""De-identified export benchmark: memory stays flat however many check-ins an export writes.

Builds, in a throwaway PostgreSQL database (DATABASE_URL must be set; a database named
test_<name> is created and dropped), one practice with 500 couples and their CSI-4 check-ins,
loaded with COPY in steps (one encrypted answers value reused: the export decrypts each row as
it would any other). After each step it runs the export job (``report_export_build``, the
Celery task's service) over every check-in twice — timed, then under tracemalloc — and prints
rows, seconds, rows per second, the peak of Python allocations during the export and the
process's peak RSS. Flat means the allocation peak does not grow with the rows. Asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cyclecare_export_bench \\
        python bench/export_bench.py [--steps 100000,1000000]
"""

import argparse
import datetime
import io
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("CYCLECARE_VAR_DIR", tempfile.mkdtemp(prefix="cyclecare-export-bench-"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import get_runner, override_settings, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

COUPLES = 500
ANSWERS = {"csi1": 4, "csi12": 3, "csi19": 4, "csi22": 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="100000,1000000", help="check-in totals to export at")
    parser.add_argument("--profile", action="store_true", help="profile one export instead")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server: the benchmark loads with COPY.")
    setup_test_environment()
    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        with override_settings(
            CYCLECARE={**settings.CYCLECARE, "EXPORT_DIR": tempfile.mkdtemp(prefix="cyclecare-exports-")}
        ):
            run([int(step) for step in args.steps.split(",")], profile=args.profile)
    finally:
        runner.teardown_databases(old_config)


def load(practice, couples, instrument, count: int, start: datetime.datetime) -> None:
    """``count`` more check-ins with COPY, spread over the couples and two years."""
    from cyclecare.models import CheckIn

    field = CheckIn._meta.get_field("answers")
    answers = field.get_db_prep_value(ANSWERS, connection)
    columns = (
        "practice_id, couple_id, partner_id, instrument_id, submitted_at, answers, total_score, "
        "subscale_scores, shared_with_partner, created_at"
    )
    now = timezone.now().isoformat()
    with connection.cursor() as cursor, cursor.connection.cursor() as raw:
        with raw.copy(f"COPY cyclecare_checkin ({columns}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for n in range(count):
                couple_id, partner_ids = couples[n % len(couples)]
                moment = start + datetime.timedelta(minutes=(n * 7) % (730 * 24 * 60))
                buffer.write(
                    f"{practice.pk}\t{couple_id}\t{partner_ids[n % 2]}\t{instrument.pk}\t"
                    f"{moment.isoformat()}\t{answers}\t14\t{{}}\tf\t{now}\n"
                )
                if n % 50_000 == 49_999:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        cursor.execute("ANALYZE cyclecare_checkin")


def run(steps: list[int], profile: bool = False) -> None:
    from clinician.models import Clinician
    from cyclecare.models import ReportExport
    from cyclecare.reports.export import report_export_build
    from tests.factories import ClinicianFactory, PracticeFactory, couple_with_partners, shipped_instruments

    print(f"database: {connection.vendor}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    csi4 = shipped_instruments()["csi-4"]
    practice = PracticeFactory(name="Bench practice")
    admin = ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN)
    clinician = ClinicianFactory(practice=practice)
    couples = []
    for _ in range(COUPLES):
        couple, a, b = couple_with_partners(clinician)
        couples.append((couple.pk, (a.pk, b.pk)))
    start = timezone.now() - datetime.timedelta(days=731)
    period = {
        "from": (start.date() - datetime.timedelta(days=1)).isoformat(),
        "to": timezone.now().date().isoformat(),
    }

    print(f"\n{'check-ins':>10} {'seconds':>8} {'rows/s':>8} {'alloc peak MiB':>15} {'peak RSS MiB':>13}")
    loaded = 0
    for total in steps:
        began = time.perf_counter()
        load(practice, couples, csi4, total - loaded, start)
        loaded = total
        print(f"  (loaded {total:,} in {time.perf_counter() - began:.1f} s)")
        export = ReportExport.objects.create(practice=practice, requested_by=admin, filters=period)
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            report_export_build(export_id=export.pk)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            return
        began = time.perf_counter()
        status = report_export_build(export_id=export.pk)
        seconds = time.perf_counter() - began
        # Again under tracemalloc (slower): the peak of Python allocations while exporting.
        traced = ReportExport.objects.create(practice=practice, requested_by=admin, filters=period)
        tracemalloc.start()
        report_export_build(export_id=traced.pk)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        export.refresh_from_db()
        if status != "done":
            raise SystemExit(f"export failed: {export.error}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{export.rows_written:>10,} {seconds:>8.1f} {export.rows_written / seconds:>8,.0f} "
            f"{peak / 2**20:>15.1f} {rss:>13.1f}"
        )


if __name__ == "__main__":
    main()
