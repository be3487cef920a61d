"""One planner run in a fresh process, for bench/reminders_bench.py's memory figures.

    _reminders_plan.py DB_NAME [--again] [--tracemalloc] [--profile FILE]

Sets Django up against database DB_NAME (on DATABASE_URL's server), hands freed heap back to
the system (malloc_trim) and resets the kernel's peak RSS mark (``/proc/self/clear_refs``:
Django's import-time peak would otherwise hide the planner's), takes that peak (VmHWM, what
getrusage's ru_maxrss reports, without the parent's RSS at fork that exec records) as the
baseline, runs ``planner.plan()`` (writing the 36 h window) and, with ``--again``, once
more (the steady state: everything exists), and prints one JSON line: the peak RSS growth over
the baseline, each run's seconds and counts, and with ``--tracemalloc`` the peak of Python
allocations (slow: 5–10×).
"""

import ctypes
import gc
import json
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DJANGO_DEBUG", "false")

import django  # noqa: E402


def peak_rss() -> int:
    """The process's peak RSS in bytes: VmHWM, which clear_refs resets. (getrusage's ru_maxrss
    is the same mark but never below the parent's RSS when it forked us: exec records that.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def reset_peak_rss() -> bool:
    """Return freed heap to the system, then lower the peak RSS mark to the current RSS
    (Linux ≥ 4.0); False where that is refused."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main() -> None:
    name = sys.argv[1]
    traced = "--tracemalloc" in sys.argv
    profile = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    django.setup()
    from django.db import connection

    connection.settings_dict["NAME"] = name
    from cyclecare.models import Assignment
    from cyclecare.reminders import planner

    Assignment.objects.exists()  # connected, the ORM's caches warm
    reset = reset_peak_rss()
    baseline = peak_rss()
    if traced:
        tracemalloc.start()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    first = planner.plan()
    first_seconds = time.perf_counter() - started
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    traced_peak = tracemalloc.get_traced_memory()[1] if traced else None
    if traced:
        tracemalloc.stop()
    again, again_seconds = None, None
    if "--again" in sys.argv:
        started = time.perf_counter()
        again = planner.plan()
        again_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "baseline_rss": baseline,
                "peak_reset": reset,
                "peak_rss_growth": peak_rss() - baseline,
                "tracemalloc_peak": traced_peak,
                "assignments": first.assignments,
                "occurrences": first.occurrences_created,
                "reminders": first.reminders_created,
                "seconds": first_seconds,
                "again_seconds": again_seconds,
                "again_created": again and again.occurrences_created + again.reminders_created,
            }
        )
    )


if __name__ == "__main__":
    main()
