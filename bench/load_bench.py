"""Load bench: partners submitting check-ins, clinicians browsing and reminders going out, all at
once, with locust against gunicorn + PostgreSQL + Redis + a Celery worker on this machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/1 \\
        .venv/bin/python bench/load_bench.py

DATABASE_URL names a server and a role that may create databases: the bench creates its own
database ``cyclecare_loadbench`` there (``LOAD_BENCH_DATABASE`` names another; a leftover one is
dropped first), migrates it and seeds the demo plus, in the demo's first practice,
LOAD_BENCH_CLINICIANS clinicians (default 20) treating LOAD_BENCH_PARTNERS / 2 couples (default
200 partners) with two weeks of check-ins each, a daily check-in assigned, email consent, and
per partner LOAD_BENCH_LINKS check-in occurrences with a link each (a link is single-use) plus
two occurrences whose email reminders fall due, spread over the run.

Then it starts gunicorn (bench/api_bench.py's helpers: two sync workers;
bench/_load_settings.py: production settings, its own cache prefix and Celery queue, mail to
files in a temporary directory) and a Celery worker (prefork, two processes) on that queue, and
runs locust headless
(bench/_load_locustfile.py) for LOAD_BENCH_SECONDS (default 60): every partner opens their next
link and submits the check-in, every clinician opens the caseload and their couples' pages, each
with 1–3 s between actions. Meanwhile the bench plays the beat: every DISPATCH_EVERY seconds it
queues the reminder dispatcher twice at once (two overlapping ticks, the case the claim must
survive). After the run it lets the worker finish what is due, then prints throughput and
p50/p95/p99 per request type, how long after falling due the reminders went out, and asserts:

- check-ins stored during the run == successful submits (302 to the thanks page; the page's
  success answer is a redirect, no 2xx) == links used;
- zero 5xx (and zero connection errors) on every request type;
- zero duplicate reminders: every reminder due is sent once (one email per Message-ID in the
  mail directory, no two emails for one occurrence and channel, as many emails as SENT rows).

Last it stops the worker and gunicorn, drops the database and deletes the Redis keys it wrote
(its cache prefix and queue). Without DATABASE_URL (PostgreSQL) and REDIS_URL it explains and
exits.
"""

import datetime
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_bench import WORKERS, admin_execute, free_port, start_gunicorn, stop  # noqa: E402

BENCH_DB = os.environ.get("LOAD_BENCH_DATABASE", "cyclecare_loadbench")
SETTINGS = "bench._load_settings"
PARTNERS = int(os.environ.get("LOAD_BENCH_PARTNERS", "200"))
CLINICIANS = int(os.environ.get("LOAD_BENCH_CLINICIANS", "20"))
SECONDS = int(os.environ.get("LOAD_BENCH_SECONDS", "60"))
# Links per partner: a partner waits 1–3 s between check-ins, so 60 s needs at most ~30.
LINKS = int(os.environ.get("LOAD_BENCH_LINKS", str(max(4, SECONDS // 2 + 2))))
REMINDERS_PER_PARTNER = 2
DISPATCH_EVERY = 5.0
DRAIN_SECONDS = 90
HISTORY_DAYS = 14
SPAWN_RATE = 50
# The cache keys and the queue, and kombu's bindings of the queue (``_kombu.binding.<queue>``
# and, in newer kombu, ``_kombu.binding_permanent.<queue>``).
REDIS_PATTERNS = ("cyclecare-loadbench*", "_kombu.binding*.cyclecare-loadbench*")
ANSWERS = {"cycle_showed_up": True, "my_move": "toward", "connection": 7}
SUBMIT = "partner POST /p/c/<token>/"
MESSAGE_ID = re.compile(r"^Message-ID: <reminder-(\d+)@", re.MULTILINE)


# DATABASE AND SERVICES
# ------------------------------------------------------------------------------
def database_url(admin_url: str) -> str:
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def redis_cleanup(redis_url: str) -> int:
    """Delete what this bench wrote: its cache keys and its Celery queue (bench/_load_settings.py)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [key for pattern in REDIS_PATTERNS for key in client.scan_iter(match=pattern, count=1000)]
    if keys:
        client.delete(*keys)
    return len(keys)


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "--quiet",  # no banner
        "-A",
        "config",
        "worker",
        "-Q",
        "cyclecare-loadbench",
        "--pool",
        "prefork",
        "--concurrency",
        "2",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "WARNING",
    ]
    return subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603


def stop_worker(process: subprocess.Popen) -> None:
    """A warm shutdown (SIGTERM: finish the tasks in hand), then a kill if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# DATA
# ------------------------------------------------------------------------------
@dataclass
class World:
    partner_links: list[list[str]]
    clinicians: list[dict]
    link_occurrence_ids: list[int]
    reminder_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)


def build_world() -> World:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from django.utils.module_loading import import_string

    from clinician.middleware import TWO_FACTOR_SESSION_KEY
    from clinician.models import Clinician, Practice
    from couples.models import Consent, Couple, Partner
    from cyclecare import scoring
    from cyclecare.models import Assignment, CheckIn, Instrument, Occurrence, PartnerLink, ReminderDelivery
    from cyclecare.partner_access import LinkRequest, partner_links_issue

    call_command("seed_demo", stdout=io.StringIO())
    practice = Practice.objects.order_by("pk").first()
    instrument = Instrument.objects.get(code="cycle-checkin", practice=None, is_active=True)
    scores = scoring.score(instrument.definition, scoring.clean_answers(instrument.definition, ANSWERS))
    now = timezone.now()
    today = timezone.localdate()
    users = get_user_model()
    with transaction.atomic():
        clinicians = []
        for index in range(CLINICIANS):
            user = users(
                username=f"loadbench-{index:03d}@bench.example", email=f"loadbench-{index:03d}@bench.example"
            )
            user.set_unusable_password()
            user.save()
            clinicians.append(
                Clinician.objects.create(
                    user=user, practice=practice, display_name=f"Load Clinician {index:03d}"
                )
            )
        couples = Couple.objects.bulk_create(
            Couple(
                practice=practice,
                primary_clinician=clinicians[index % CLINICIANS],
                label=f"Load couple {index:03d}",
                eft_step=1 + index % 9,
                started_on=today - datetime.timedelta(days=60),
            )
            for index in range((PARTNERS + 1) // 2)
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
        )[:PARTNERS]
        Consent.objects.bulk_create(
            Consent(
                practice=practice,
                partner=partner,
                kind=Consent.Kind.EMAIL,
                granted=True,
                method=Consent.Method.WRITTEN,
                recorded_at=now,
            )
            for partner in partners
        )
        assignments = {
            couple.pk: Assignment.objects.create(
                practice=practice,
                couple=couple,
                assigned_by=couple.primary_clinician,
                kind=Assignment.Kind.CHECK_IN,
                title="Daily check-in",
                instrument=instrument,
                schedule=Assignment.Schedule.DAILY,
                local_time=datetime.time(20),
                starts_on=today - datetime.timedelta(days=HISTORY_DAYS),
            )
            for couple in couples
        }
        Assignment.partners.through.objects.bulk_create(
            Assignment.partners.through(
                assignment_id=assignments[partner.couple_id].pk, partner_id=partner.pk
            )
            for partner in partners
        )
        CheckIn.objects.bulk_create(
            (
                CheckIn(
                    practice=practice,
                    couple_id=partner.couple_id,
                    partner=partner,
                    instrument=instrument,
                    submitted_at=now - datetime.timedelta(days=day, hours=3),
                    answers=ANSWERS,
                    total_score=scores["total"],
                    subscale_scores=scores["subscales"],
                )
                for partner in partners
                for day in range(1, HISTORY_DAYS + 1)
            ),
            batch_size=2000,
        )
        # Today's occurrences, one a minute from midnight: LINKS per partner for the check-ins
        # the partners submit, then REMINDERS_PER_PARTNER whose reminders go out during the run.
        occurrences = Occurrence.objects.bulk_create(
            (
                Occurrence(
                    practice=practice,
                    assignment=assignments[partner.couple_id],
                    partner=partner,
                    local_due_date=today,
                    local_due_time=datetime.time(minute // 60, minute % 60),
                    due_at=now - datetime.timedelta(hours=1),
                )
                for partner in partners
                for minute in range(LINKS + REMINDERS_PER_PARTNER)
            ),
            batch_size=5000,
        )
        per_partner = LINKS + REMINDERS_PER_PARTNER
        link_occurrences = [o for i, o in enumerate(occurrences) if i % per_partner < LINKS]
        reminder_occurrences = [o for i, o in enumerate(occurrences) if i % per_partner >= LINKS]
        partner_by_pk = {partner.pk: partner for partner in partners}
        issued = partner_links_issue(
            [
                LinkRequest(
                    partner=partner_by_pk[o.partner_id], purpose=PartnerLink.Purpose.CHECK_IN, occurrence=o
                )
                for o in link_occurrences
            ]
        )
        partner_links: dict[int, list[str]] = {partner.pk: [] for partner in partners}
        for link, token in issued:
            partner_links[link.partner_id].append(token)
        # Due far ahead for now; spread over the run when it starts (schedule_reminders).
        reminders = ReminderDelivery.objects.bulk_create(
            ReminderDelivery(
                practice=practice,
                couple_id=partner_by_pk[o.partner_id].couple_id,
                occurrence=o,
                partner=partner_by_pk[o.partner_id],
                channel=ReminderDelivery.Channel.EMAIL,
                next_attempt_at=now + datetime.timedelta(days=1),
            )
            for o in reminder_occurrences
        )
    # Signed-in clinician sessions, as allauth leaves them after password and TOTP (the
    # two-factor middleware's "seen" mark is what a passed TOTP step sets), so the bench drives
    # the pages rather than the sign-in.
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    # The backend that authenticates a password (allauth's), not axes', which only refuses.
    backend = next(
        (path for path in settings.AUTHENTICATION_BACKENDS if path.startswith("allauth.")),
        settings.AUTHENTICATION_BACKENDS[-1],
    )
    plan_clinicians = []
    for clinician in clinicians:
        session = store()
        session[SESSION_KEY] = str(clinician.user.pk)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = clinician.user.get_session_auth_hash()
        session[TWO_FACTOR_SESSION_KEY] = clinician.user.pk
        session.create()
        plan_clinicians.append(
            {
                "cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
                "couples": [couple.pk for couple in couples if couple.primary_clinician_id == clinician.pk],
            }
        )
    return World(
        partner_links=[partner_links[partner.pk] for partner in partners],
        clinicians=plan_clinicians,
        link_occurrence_ids=[o.pk for o in link_occurrences],
        reminder_ids=[r.pk for r in reminders],
        counts={
            "clinicians (load)": CLINICIANS,
            "couples (load)": len(couples),
            "partners (load)": len(partners),
            "check-in links (single-use)": len(issued),
            "reminders due during the run": len(reminders),
            "check-ins in the database": CheckIn.objects.count(),
        },
    )


def schedule_reminders(world: World, seconds: float) -> None:
    """Spread the reminders' due times evenly over the run, from now."""
    from django.db import connection
    from django.utils import timezone

    from cyclecare.models import ReminderDelivery

    step = seconds / max(1, len(world.reminder_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ReminderDelivery._meta.db_table} SET next_attempt_at = "  # noqa: S608
            "%s + make_interval(secs => %s * (array_position(%s::bigint[], id) - 1)) WHERE id = ANY(%s)",
            [timezone.now(), step, world.reminder_ids, world.reminder_ids],
        )


def dispatch_ticks() -> None:
    """Two dispatcher ticks at once on the worker: the overlap a slow beat or two beats cause."""
    from cyclecare.tasks import reminders_dispatch

    reminders_dispatch.delay()
    reminders_dispatch.delay()


def reminders_settled(world: World) -> bool:
    from cyclecare.models import ReminderDelivery

    open_rows = ReminderDelivery.objects.filter(
        pk__in=world.reminder_ids,
        status__in=[ReminderDelivery.Status.PENDING, ReminderDelivery.Status.SENDING],
    )
    return not open_rows.exists()


# RESULTS
# ------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def print_figures(result: dict) -> float:
    seconds = max(1e-6, result["stopped"] - result["started"])
    print(f"\n{'request':42} {'count':>7} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    total = 0
    for name in sorted(result["requests"]):
        entry = result["requests"][name]
        latencies = entry["latencies_ms"]
        total += len(latencies)
        statuses = ", ".join(f"{code}: {number}" for code, number in sorted(entry["statuses"].items()))
        print(
            f"{name:42} {len(latencies):7d} {len(latencies) / seconds:7.1f} "
            f"{statistics.median(latencies):8.0f} {percentile(latencies, 0.95):8.0f} "
            f"{percentile(latencies, 0.99):8.0f}  {statuses}"
        )
    print(f"{'all':42} {total:7d} {total / seconds:7.1f}   (over {seconds:.1f} s, ramp-up included)")
    for error in result["errors"]:
        print(f"  error: {error}")
    return seconds


def mail_message_ids(mail_dir: Path) -> Counter:
    """How many emails carry each reminder delivery's Message-ID (the file backend writes every
    message it sends, whichever worker process sent it)."""
    found: Counter = Counter()
    for path in mail_dir.glob("*"):
        found.update(int(number) for number in MESSAGE_ID.findall(path.read_text(errors="replace")))
    return found


def check(world: World, result: dict, mail_dir: Path, checkins_before: int) -> list[str]:
    """The assertions, as (failed) sentences; prints what it found."""
    from django.db.models import Count

    from cyclecare.models import CheckIn, PartnerLink, ReminderDelivery

    failures = []
    requests = result["requests"]
    stored = CheckIn.objects.count() - checkins_before
    via_links = CheckIn.objects.filter(occurrence_id__in=world.link_occurrence_ids).count()
    used = PartnerLink.objects.filter(
        occurrence_id__in=world.link_occurrence_ids, used_at__isnull=False
    ).count()
    print(f"\ncheck-ins stored during the run: {stored} (through the links: {via_links}); links used: {used}")
    submit_statuses = requests.get(SUBMIT, {"statuses": {}})["statuses"]
    refused = {code: number for code, number in submit_statuses.items() if code != "302"}
    submits_ok = submit_statuses.get("302", 0)
    print(f"successful submits (302 to thanks): {submits_ok}")
    if not submits_ok:
        failures.append("no check-in was submitted")
    if refused:
        failures.append(f"submits not accepted, by status: {refused}")
    if not stored == via_links == used == submits_ok:
        failures.append(
            f"stored check-ins {stored} / via links {via_links} / links used {used} != submits {submits_ok}"
        )
    server_errors = {
        name: sum(n for code, n in entry["statuses"].items() if code.startswith("5") or code == "0")
        for name, entry in requests.items()
    }
    print(f"5xx or no answer: {sum(server_errors.values())}")
    for name, number in server_errors.items():
        if number:
            failures.append(f"{name}: {number} responses 5xx or no answer")

    statuses = Counter(
        ReminderDelivery.objects.filter(pk__in=world.reminder_ids).values_list("status", flat=True)
    )
    sent_ids = set(
        ReminderDelivery.objects.filter(
            pk__in=world.reminder_ids, status=ReminderDelivery.Status.SENT
        ).values_list("pk", flat=True)
    )
    emails = mail_message_ids(mail_dir)
    ours = {pk: number for pk, number in emails.items() if pk in set(world.reminder_ids)}
    doubled = {pk: number for pk, number in ours.items() if number > 1}
    per_occurrence = (
        ReminderDelivery.objects.filter(pk__in=ours)
        .values("occurrence_id", "channel")
        .annotate(rows=Count("pk"))
        .filter(rows__gt=1)
    )
    print(f"reminders: {dict(statuses)}; emails written: {sum(ours.values())} for {len(ours)} deliveries")
    sent_and_due = ReminderDelivery.objects.filter(pk__in=sent_ids).values_list("sent_at", "next_attempt_at")
    lags = [(sent_at - due).total_seconds() for sent_at, due in sent_and_due]
    if lags:
        print(
            f"reminder sent after falling due (s): p50 {statistics.median(lags):.1f}, "
            f"p95 {percentile(lags, 0.95):.1f}, max {max(lags):.1f} "
            f"(dispatcher ticks every {DISPATCH_EVERY:.0f} s)"
        )
    if doubled:
        failures.append(f"{len(doubled)} reminders emailed more than once: {list(doubled.items())[:5]}")
    if per_occurrence.exists():
        failures.append(f"{per_occurrence.count()} occurrence/channel pairs got more than one email")
    if set(ours) != sent_ids:
        failures.append(f"emails for {len(ours)} deliveries but {len(sent_ids)} rows SENT")
    if statuses.get(ReminderDelivery.Status.PENDING) or statuses.get(ReminderDelivery.Status.SENDING):
        failures.append(f"reminders still open after the drain: {dict(statuses)}")
    return failures


# MAIN
# ------------------------------------------------------------------------------
def run_locust(port: int, plan_path: Path, result_path: Path, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "_load_locustfile.py"),
        "--headless",
        "--users",
        str(PARTNERS + CLINICIANS),
        "--spawn-rate",
        str(SPAWN_RATE),
        "--run-time",
        f"{SECONDS}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
        # At the end every user finishes the check-in in hand: a submit cut off mid-request
        # could be stored with no answer counted.
        "--stop-timeout",
        "60",
    ]
    locust_env = {**env, "LOAD_BENCH_PLAN": str(plan_path), "LOAD_BENCH_RESULT": str(result_path)}
    return subprocess.Popen(command, env=locust_env, cwd=ROOT, stdout=subprocess.DEVNULL)  # noqa: S603


def main() -> int:
    admin_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not admin_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        print("load_bench: needs DATABASE_URL (a PostgreSQL server; the bench creates its own database)")
        print("and REDIS_URL, e.g.")
        print(
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres "
            "REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/load_bench.py"
        )
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="cyclecare-loadbench-"))
    mail_dir = workdir / "mail"
    mail_dir.mkdir()
    admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    admin_execute(admin_url, f'CREATE DATABASE "{BENCH_DB}"')
    env = {
        **os.environ,
        "DATABASE_URL": database_url(admin_url),
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        # Four slashes: django-environ drops the first character of the path.
        "EMAIL_URL": f"filemail:///{mail_dir}",
        "CYCLECARE_VAR_DIR": str(workdir),
        "LOG_LEVEL": "WARNING",
        "LOAD_BENCH_PARTNERS": str(PARTNERS),
        "LOAD_BENCH_CLINICIANS": str(CLINICIANS),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }
    os.environ.update(env)
    gunicorn = worker = locust = None
    failures: list[str] = []
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        from cyclecare.models import CheckIn

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        # Production settings serve hashed static names (ManifestStaticFilesStorage): pages need
        # the manifest, collected into the bench's own directory (CYCLECARE_VAR_DIR).
        call_command("collectstatic", interactive=False, verbosity=0)
        world = build_world()
        print(
            f"database: PostgreSQL {BENCH_DB} (migrated and seeded in {time.perf_counter() - started:.1f} s)"
        )
        for name, number in world.counts.items():
            print(f"  {name}: {number}")
        checkins_before = CheckIn.objects.count()
        plan_path = workdir / "plan.json"
        result_path = workdir / "result.json"
        port = free_port()
        plan_path.write_text(
            json.dumps(
                {
                    "origin": f"https://127.0.0.1:{port}",
                    "partners": world.partner_links,
                    "clinicians": world.clinicians,
                }
            )
        )
        connections.close_all()

        gunicorn = start_gunicorn(port, env)
        worker = start_worker(env)
        print(
            f"gunicorn: {WORKERS} sync workers on 127.0.0.1:{port}; Celery worker: prefork x2; "
            f"locust: {PARTNERS} partners + {CLINICIANS} clinicians for {SECONDS} s "
            f"(spawn {SPAWN_RATE}/s, 1-3 s between actions); dispatcher ticks every {DISPATCH_EVERY:.0f} s"
        )
        schedule_reminders(world, SECONDS)
        locust = run_locust(port, plan_path, result_path, env)
        while locust.poll() is None:
            dispatch_ticks()
            time.sleep(DISPATCH_EVERY)
        # Let the worker send what fell due; keep ticking as the beat would.
        deadline = time.monotonic() + DRAIN_SECONDS
        while not reminders_settled(world) and time.monotonic() < deadline:
            dispatch_ticks()
            time.sleep(DISPATCH_EVERY)
        if not result_path.exists():
            raise SystemExit(f"locust exited with {locust.returncode} and wrote no results")
        result = json.loads(result_path.read_text())
        print_figures(result)
        failures = check(world, result, mail_dir, checkins_before)
        print("\nassertions:", "all passed" if not failures else "FAILED")
        for failure in failures:
            print(f"  FAILED: {failure}")
    finally:
        if locust is not None and locust.poll() is None:
            stop(locust)
        if worker is not None:
            stop_worker(worker)
        if gunicorn is not None:
            stop(gunicorn)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - Django may not have been set up
            pass
        admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        removed = redis_cleanup(redis_url)
        shutil.rmtree(workdir, ignore_errors=True)
        print(
            f"\ncleaned up: locust, worker and gunicorn stopped, database {BENCH_DB} dropped, "
            f"{removed} Redis keys deleted, {workdir} removed"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
