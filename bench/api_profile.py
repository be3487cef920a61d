"""Profile ``POST /api/v1/checkins/`` in-process: where a check-in's time goes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/1 \\
        .venv/bin/python bench/api_profile.py [N] [--sort tottime|cumulative] [--limit 40]

Builds the same world as bench/api_bench.py in its own database (``API_PROFILE_DATABASE``,
default ``cyclecare_apiprofile``; a leftover one is dropped first), with the same settings
(bench/_bench_settings.py: production middleware, Redis cache and broker), gets a bearer token
from ``POST /o/token/``, warms up, then runs N check-ins (default 300) through Django's test
client under cProfile and prints the mean time per check-in, the time per check-in of the bare
and naive peers for comparison, and the top functions. Drops its database and its Redis keys
at the end. Prints figures; asserts nothing.
"""

import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("API_BENCH_DATABASE", os.environ.get("API_PROFILE_DATABASE", "cyclecare_apiprofile"))

from bench import api_bench  # noqa: E402


def main() -> None:
    args = sys.argv[1:]
    number = int(args[0]) if args and args[0].isdigit() else 300
    sort = args[args.index("--sort") + 1] if "--sort" in args else "tottime"
    limit = int(args[args.index("--limit") + 1]) if "--limit" in args else 40
    admin_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not admin_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        print("api_profile: needs DATABASE_URL (a PostgreSQL server) and REDIS_URL, as bench/api_bench.py")
        return
    admin_execute = api_bench.admin_execute
    admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{api_bench.BENCH_DB}" WITH (FORCE)')
    admin_execute(admin_url, f'CREATE DATABASE "{api_bench.BENCH_DB}"')
    os.environ.update(
        {
            "DATABASE_URL": api_bench.bench_database_url(admin_url),
            "DJANGO_SETTINGS_MODULE": api_bench.SETTINGS,
            "LOG_LEVEL": "WARNING",
        }
    )
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        call_command("migrate", verbosity=0)
        world = api_bench.build_world()
        client = Client(HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https")
        response = client.post(
            "/o/token/",
            {
                "grant_type": "client_credentials",
                "client_id": world.client_id,
                "client_secret": world.client_secret,
                "scope": "read write",
            },
            secure=True,
        )
        token = response.json()["access_token"]
        partners = world.partner_ids

        def post(path: str, index: int, **extra):
            body = {
                "partner": partners[index % len(partners)],
                "instrument": world.instrument_id,
                "answers": api_bench.ANSWERS,
            }
            response = client.post(path, body, content_type="application/json", secure=True, **extra)
            if response.status_code != 201:
                raise SystemExit(f"{path}: {response.status_code} {response.content[:200]!r}")

        peers = {
            "ours": ("/api/v1/checkins/", {"HTTP_AUTHORIZATION": f"Bearer {token}"}),
            "bare": ("/bench/bare/checkins/", {}),
            "naive": ("/bench/naive/checkins/", {"HTTP_AUTHORIZATION": f"Token {world.naive_token}"}),
        }
        for path, extra in peers.values():
            for index in range(50):
                post(path, index, **extra)
        # Interleaved, unprofiled: the figures to compare.
        spent = dict.fromkeys(peers, 0.0)
        for round_ in range(4):
            for name, (path, extra) in peers.items():
                started = time.perf_counter()
                for index in range(number // 4):
                    post(path, round_ * number + index, **extra)
                spent[name] += time.perf_counter() - started
        for name, seconds in spent.items():
            print(f"{name:6} {seconds / (number // 4 * 4) * 1000:7.2f} ms per check-in (in-process)")
        print(
            f"ours/bare {spent['bare'] / spent['ours']:.2f}   ours/naive {spent['naive'] / spent['ours']:.2f}"
        )

        path, extra = peers["ours"]
        # Each statement's round trip, by its first words (the time the database and the wire take).
        timings: dict[str, list[float]] = {}

        def timed(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                label = " ".join(sql.split()[:4])[:60]
                timings.setdefault(label, []).append(time.perf_counter() - started)

        with connection.execute_wrapper(timed):
            for index in range(number):
                post(path, index, **extra)
        print(f"\n{'statement (ours, per check-in)':62} {'count':>6} {'ms each':>8}")
        for label, spent_each in sorted(timings.items(), key=lambda item: -sum(item[1])):
            mean = sum(spent_each) / len(spent_each) * 1000
            print(f"{label:62} {len(spent_each) / number:6.2f} {mean:8.2f}")
        print()

        profile = cProfile.Profile()
        profile.enable()
        for index in range(number):
            post(path, index, **extra)
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats(sort).print_stats(limit)
        print(out.getvalue())
    finally:
        from django.db import connections

        connections.close_all()
        admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{api_bench.BENCH_DB}" WITH (FORCE)')
        print(f"cleaned up: {api_bench.redis_cleanup(redis_url)} Redis keys deleted")


if __name__ == "__main__":
    main()
