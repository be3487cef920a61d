"""API benchmark: check-in creation and the couples list, over HTTP, against gunicorn + PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/1 \\
        .venv/bin/python bench/api_bench.py

DATABASE_URL names a server and a role that may create databases: the bench creates its own
database ``cyclecare_apibench`` there (``API_BENCH_DATABASE`` names another, so two benches can
share a server; a leftover one is dropped first), migrates it, seeds the demo plus a large
practice (~200 couples with four weeks of daily check-ins), starts gunicorn (two sync workers on
127.0.0.1) with bench/_bench_settings.py (production settings: DEBUG off, the real
middleware, Redis cache and broker), and drives it from a few client threads over keep-alive
http.client connections. Scenarios run in interleaved slices, so drift on the machine hits all
of them alike:

- ours: ``POST /api/v1/checkins/`` as an integration client (OAuth2 bearer token with ``write``),
  which authenticates, scopes, validates, scores, audits and writes the webhook outbox; once
  without and once with an ``Idempotency-Key``;
- bare: a plain Django view doing the same INSERT from the same JSON (the framework's limit);
- naive: a tutorial DRF ``CreateAPIView`` + ``ModelSerializer`` with ``TokenAuthentication``;
- ``GET /api/v1/couples/`` (a page of 50 of the large practice's couples).

It prints requests per second, p50/p95 latency, the ratios to the bare view, and the SQL
queries per request (counted in-process). Then it stops gunicorn, drops the database and deletes
the keys it wrote to Redis. Prints figures; asserts nothing. Without DATABASE_URL (PostgreSQL)
and REDIS_URL it explains and exits.
"""

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# API_BENCH_DATABASE names another database, for two benches on one server at once.
BENCH_DB = os.environ.get("API_BENCH_DATABASE", "cyclecare_apibench")
SETTINGS = "bench._bench_settings"
THREADS = 4  # two per gunicorn worker: one request in flight while the other is parsed
WORKERS = 2
WARMUP_SECONDS = 2.0
MEASURE_SECONDS = 8.0  # per scenario, in SLICES interleaved slices
SLICES = 4
BIG_PRACTICE_COUPLES = 200
CHECKIN_DAYS = 28
HEADERS = {"X-Forwarded-Proto": "https", "Accept": "application/json"}
ANSWERS = {
    "cycle_showed_up": True,
    "my_move": "away",
    "intensity": 6,
    "minutes": 20,
    "repair_tried": True,
    "repair_worked": False,
    "connection": 5,
    "felt_unsafe": False,
}


# DATABASE AND SERVICES
# ------------------------------------------------------------------------------
def bench_database_url(admin_url: str) -> str:
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def admin_execute(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql)


def redis_cleanup(redis_url: str) -> int:
    """Delete what this bench wrote: its cache keys and its Celery queue (bench_settings)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [
        *client.scan_iter(match="cyclecare-bench*", count=1000),
        *client.scan_iter(match="_kombu.binding.cyclecare-bench*", count=1000),
    ]
    if keys:
        client.delete(*keys)
    return len(keys)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            status, _ = request(port, "GET", "/healthz")
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    stop(process)
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={**HEADERS, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# DATA
# ------------------------------------------------------------------------------
@dataclass
class World:
    instrument_id: int
    partner_ids: list[int]
    client_id: str
    client_secret: str
    naive_token: str
    counts: dict[str, int] = field(default_factory=dict)


def build_world() -> World:
    """The demo (two practices, realistic history), then a large practice of our own making."""
    import datetime
    import io

    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from clinician.models import Clinician
    from couples.models import Couple, Partner
    from cyclecare import scoring
    from cyclecare.models import CheckIn, Instrument, WebhookEndpoint

    call_command("seed_demo", stdout=io.StringIO())
    clinician = Clinician.objects.select_related("practice").get(user__username="clinician@northstar.example")
    practice = clinician.practice
    treating = list(
        Clinician.objects.filter(practice=practice, role__in=["clinician", "supervisor"], is_active=True)
    )
    instrument = Instrument.objects.get(code="cycle-checkin", practice=None)
    scores = scoring.score(instrument.definition, scoring.clean_answers(instrument.definition, ANSWERS))
    today = timezone.now()
    with transaction.atomic():
        couples = Couple.objects.bulk_create(
            Couple(
                practice=practice,
                primary_clinician=treating[index % len(treating)],
                label=f"Bench couple {index:03d}",
                eft_step=1 + index % 9,
                started_on=today.date() - datetime.timedelta(days=60),
            )
            for index in range(BIG_PRACTICE_COUPLES)
        )
        partners = Partner.objects.bulk_create(
            Partner(
                practice=practice,
                couple=couple,
                seat=seat,
                display_name=f"Partner {couple.pk}-{seat}",
                email=f"partner-{couple.pk}-{seat}@bench.example",
                time_zone="America/Chicago",
            )
            for couple in couples
            for seat in (1, 2)
        )
        CheckIn.objects.bulk_create(
            (
                CheckIn(
                    practice=practice,
                    couple_id=partner.couple_id,
                    partner=partner,
                    instrument=instrument,
                    submitted_at=today - datetime.timedelta(days=day, hours=3),
                    answers=ANSWERS,
                    total_score=scores["total"],
                    subscale_scores=scores["subscales"],
                )
                for partner in partners
                for day in range(1, CHECKIN_DAYS + 1)
            ),
            batch_size=2000,
        )
        # The outbox has somewhere to write: one endpoint subscribed to check-ins.
        WebhookEndpoint.objects.create(
            practice=practice,
            url="https://hooks.bench.invalid/cyclecare",
            events=["checkin.completed"],
            secret="bench-only-webhook-secret",  # noqa: S106
        )
    out = io.StringIO()
    call_command(
        "create_integration_client", practice=practice.slug, name="Bench", scopes="read,write", stdout=out
    )
    credentials = json.loads(out.getvalue().strip().splitlines()[-1])
    naive_token = Token.objects.create(user=clinician.user).key
    return World(
        instrument_id=instrument.pk,
        partner_ids=[partner.pk for partner in partners],
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
        naive_token=naive_token,
        counts={
            "couples in the practice": Couple.objects.filter(practice=practice).count(),
            "check-ins in the practice": CheckIn.objects.filter(practice=practice).count(),
            "check-ins in the database": CheckIn.objects.count(),
        },
    )


def bearer_token(port: int, world: World) -> str:
    body = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": world.client_id,
            "client_secret": world.client_secret,
            "scope": "read write",
        }
    ).encode()
    status, content = request(
        port, "POST", "/o/token/", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if status != 200:
        raise SystemExit(f"/o/token/ answered {status}: {content[:200]!r}")
    return json.loads(content)["access_token"]


# SCENARIOS
# ------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    expect: int
    world: World
    idempotency_key: bool = False
    creates: bool = True
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    error_sample: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def next_request(self) -> tuple[bytes | None, dict[str, str]]:
        headers = {**HEADERS, **self.headers}
        if not self.creates:
            return None, headers
        with self._lock:
            partner = self.world.partner_ids[self._next % len(self.world.partner_ids)]
            self._next += 1
        body = {"partner": partner, "instrument": self.world.instrument_id, "answers": ANSWERS}
        headers["Content-Type"] = "application/json"
        if self.idempotency_key:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return json.dumps(body).encode(), headers


def drive(port: int, scenario: Scenario, seconds: float, record: bool) -> None:
    """THREADS client threads, each on its own keep-alive connection, for ``seconds``."""
    deadline = time.perf_counter() + seconds
    results: list[tuple[list[float], int, str]] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, errors, sample = [], 0, ""
        while time.perf_counter() < deadline:
            body, headers = scenario.next_request()
            started = time.perf_counter()
            connection.request(scenario.method, scenario.path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != scenario.expect:
                errors += 1
                sample = sample or f"{response.status} {content[:200]!r}"
        connection.close()
        results.append((latencies, errors, sample))

    threads = [threading.Thread(target=client) for _ in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if record:
        scenario.seconds += time.perf_counter() - started
        for latencies, errors, sample in results:
            scenario.latencies.extend(latencies)
            scenario.errors += errors
            scenario.error_sample = scenario.error_sample or sample


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# QUERY COUNTS (in-process, same code and database)
# ------------------------------------------------------------------------------
def query_counts(world: World, token: str) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    counts = {}

    def count(label: str, expect: int, call) -> None:
        call()  # warm: first-use work (encryption keys, caches) is not per request
        with CaptureQueriesContext(connection) as queries:
            response = call()
        if response.status_code != expect:
            raise SystemExit(f"{label}: {response.status_code} {response.content[:200]!r}")
        counts[label] = len(queries)

    def checkin(path: str, **extra):
        body = {"partner": world.partner_ids[0], "instrument": world.instrument_id, "answers": ANSWERS}
        return lambda: client.post(path, body, content_type="application/json", secure=True, **extra)

    count("POST /api/v1/checkins/ (ours)", 201, checkin("/api/v1/checkins/", **bearer))
    count(
        "POST /api/v1/checkins/ (ours, Idempotency-Key)",
        201,
        lambda: checkin("/api/v1/checkins/", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex, **bearer)(),
    )
    count("POST bare view", 201, checkin("/bench/bare/checkins/"))
    count(
        "POST naive DRF view",
        201,
        checkin("/bench/naive/checkins/", HTTP_AUTHORIZATION=f"Token {world.naive_token}"),
    )
    for size in (10, 50, 200):
        count(
            f"GET /api/v1/couples/?page_size={size}",
            200,
            lambda size=size: client.get(f"/api/v1/couples/?page_size={size}", secure=True, **bearer),
        )
    return counts


# MAIN
# ------------------------------------------------------------------------------
def main() -> None:
    admin_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not admin_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        print("api_bench: needs DATABASE_URL (a PostgreSQL server; the bench creates its own database)")
        print("and REDIS_URL, e.g.")
        print(
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres "
            "REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/api_bench.py"
        )
        return
    database_url = bench_database_url(admin_url)
    admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    admin_execute(admin_url, f'CREATE DATABASE "{BENCH_DB}"')
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    gunicorn = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        migrated = time.perf_counter() - started
        world = build_world()
        built = time.perf_counter() - started - migrated
        connections.close_all()
        print(f"database: PostgreSQL {BENCH_DB} (migrated in {migrated:.1f} s, data built in {built:.1f} s)")
        for name, number in world.counts.items():
            print(f"  {name}: {number}")

        port = free_port()
        gunicorn = start_gunicorn(port, env)
        token = bearer_token(port, world)
        print(f"gunicorn: {WORKERS} sync workers on 127.0.0.1:{port}; {THREADS} client threads")

        bearer = {"Authorization": f"Bearer {token}"}
        scenarios = [
            Scenario("ours   POST /api/v1/checkins/", "POST", "/api/v1/checkins/", bearer, 201, world),
            Scenario(
                "ours   POST /api/v1/checkins/ + Idempotency-Key",
                "POST",
                "/api/v1/checkins/",
                bearer,
                201,
                world,
                idempotency_key=True,
            ),
            Scenario(
                "bare   POST (Django view, same INSERT)", "POST", "/bench/bare/checkins/", {}, 201, world
            ),
            Scenario(
                "naive  POST (DRF CreateAPIView + Token)",
                "POST",
                "/bench/naive/checkins/",
                {"Authorization": f"Token {world.naive_token}"},
                201,
                world,
            ),
            Scenario(
                f"ours   GET /api/v1/couples/ (50 of {world.counts['couples in the practice']})",
                "GET",
                "/api/v1/couples/",
                bearer,
                200,
                world,
                creates=False,
            ),
        ]
        for scenario in scenarios:
            drive(port, scenario, WARMUP_SECONDS, record=False)
        for _ in range(SLICES):
            for scenario in scenarios:
                drive(port, scenario, MEASURE_SECONDS / SLICES, record=True)

        print(f"\n{'scenario':48} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
        rates = {}
        for scenario in scenarios:
            rate = len(scenario.latencies) / scenario.seconds
            rates[scenario.name] = rate
            p50 = statistics.median(scenario.latencies) * 1000
            p95 = percentile(scenario.latencies, 0.95) * 1000
            print(f"{scenario.name:48} {rate:8.1f} {p50:8.2f} {p95:8.2f} {scenario.errors:7d}")
            if scenario.errors:
                print(f"  first error: {scenario.error_sample}")
        ours, ours_key, bare, naive = (rates[s.name] for s in scenarios[:4])
        print(f"\nours / bare:                   {ours / bare:.2f}  (target >= 0.60)")
        print(f"ours + Idempotency-Key / bare: {ours_key / bare:.2f}")
        print(f"naive / bare:                  {naive / bare:.2f}")
        print(f"ours / naive:                  {ours / naive:.2f}  (target > 1)")

        print(f"\n{'SQL queries per request (in-process)':48} {'queries':>8}")
        for label, number in query_counts(world, token).items():
            print(f"{label:48} {number:8d}")
    finally:
        if gunicorn is not None:
            stop(gunicorn)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - Django may not have been set up
            pass
        admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        removed = redis_cleanup(redis_url)
        print(f"\ncleaned up: gunicorn stopped, database {BENCH_DB} dropped, {removed} Redis keys deleted")


if __name__ == "__main__":
    main()
