"""Report benchmark: the practice reports read from their rollups, beside hand-written SQL over
the raw tables computing the same figures, at practice scale on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/report_bench.py
    REPORT_BENCH_CHECKINS=200000 DATABASE_URL=... .venv/bin/python bench/report_bench.py  # quick

DATABASE_URL names a server and a role that may create databases: the bench creates its own
database ``cyclecare_reportbench`` (``REPORT_BENCH_DATABASE`` names another; a leftover one is
dropped first), migrates it and builds one practice of 1,000 clinicians, 20,000 couples (two
partners each, one daily scored check-in assigned to both) and about ten months of history:
occurrences (≈80 % completed, 15 % missed, 5 % cancelled, today's pending), a reminder per
occurrence (sent, a few failed or held; half the links opened) and a check-in per completed
occurrence — 10 million check-ins by default, ~34 million rows in all. Rows are written by the
server itself (``INSERT … SELECT generate_series``, cloning template rows made once through the
ORM, as bench/_reminders_data.py does): no row crosses the wire, which is faster than COPY.
``REPORT_BENCH_CHECKINS`` scales the practice down (couples = check-ins / 500, clinicians =
couples / 20, the same ten months each).

Then it rebuilds the rollups (timed), times each report as the practice admin — median and p95
of 5 runs, for the default 30-day period and for one year — beside the raw SQL, checks that
both give the same totals, and times the incremental refresh after 10,000 new completed
check-ins (with their occurrences and reminders) and a refresh with nothing new. Prints
figures and ratios; asserts nothing. Drops its database at the end.
"""

import datetime
import math
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("REPORT_BENCH_DATABASE", "cyclecare_reportbench")
CHECKINS = int(os.environ.get("REPORT_BENCH_CHECKINS", "10000000"))
COUPLES = min(20_000, max(100, CHECKINS // 500))
CLINICIANS = min(1_000, max(5, COUPLES // 20))
COMPLETED_SHARE = 0.80
DAYS = math.ceil(CHECKINS / (COMPLETED_SHARE * 2 * COUPLES))
NEW_CHECKINS = 10_000
RUNS = 5


def admin_execute(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql)


def setup_django(admin_url: str) -> None:
    parts = urllib.parse.urlsplit(admin_url)
    os.environ["DATABASE_URL"] = urllib.parse.urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("CYCLECARE_VAR_DIR", tempfile.mkdtemp(prefix="cyclecare-reportbench-"))
    os.environ.setdefault("DJANGO_DEBUG", "false")
    import django

    django.setup()


def timed(function, runs: int = RUNS) -> tuple[float, float, object]:
    """Median and p95 (nearest rank) milliseconds over ``runs``, and the last result."""
    samples, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        samples.append((time.perf_counter() - start) * 1000)
    ordered = sorted(samples)
    return (
        statistics.median(samples),
        ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)],
        result,
    )


def seconds(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


# DATA
# ------------------------------------------------------------------------------
def execute(sql: str, params: list | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.rowcount


def clone(
    model, template_id: int, *, source: str, overrides: dict[str, str], params: list | None = None
) -> int:
    """INSERT one row of ``model`` per row of ``source`` (FROM … WHERE, the template bound as
    ``t``), copying the template's columns except ``overrides`` (SQL expressions)."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    # Overrides are SQL with no parameters: a % in them is the modulo operator.
    values = [
        overrides[column].replace("%", "%%") if column in overrides else f"t.{column}" for column in columns
    ]
    return execute(
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (our own table and column names)
        f"SELECT {', '.join(values)} FROM {table} t, {source} AND t.id = %s",
        [*(params or []), template_id],
    )


def build() -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from clinician.models import Clinician, Practice
    from couples.models import Couple, Partner
    from cyclecare import services
    from cyclecare.models import Assignment, CheckIn, Occurrence, ReminderDelivery
    from cyclecare.reminders import dispatch

    User = get_user_model()
    today = timezone.now().date()
    with transaction.atomic():
        instrument = next(i for i in services.instruments_install_shipped() if i.code == "csi-4")
        practice = Practice.objects.create(name="Bench practice", slug="bench", time_zone="UTC")
        users = User.objects.bulk_create(
            [User(username=f"bench-{n}", email=f"bench-{n}@bench.example") for n in range(CLINICIANS)]
        )
        admin_user = User.objects.create(username="bench-admin", email="admin@bench.example")
        admin = Clinician.objects.create(
            user=admin_user, practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name="Admin"
        )
        clinicians = Clinician.objects.bulk_create(
            [
                Clinician(user=user, practice=practice, display_name=f"Clinician {n:04d}")
                for n, user in enumerate(users)
            ]
        )
        first_clinician = min(c.pk for c in clinicians)
        couple = Couple.objects.create(
            practice=practice,
            primary_clinician=clinicians[0],
            label="Template",
            started_on=today,
            status="discharged",
            discharged_on=today,
        )
        partner = Partner.objects.create(
            practice=practice,
            couple=couple,
            seat=1,
            display_name="Template",
            email="t@bench.example",
            time_zone="UTC",
        )
        assignment = Assignment.objects.create(
            practice=practice,
            couple=couple,
            assigned_by=clinicians[0],
            kind=Assignment.Kind.CHECK_IN,
            title="Daily",
            instrument=instrument,
            schedule=Assignment.Schedule.DAILY,
            local_time=datetime.time(20),
            starts_on=today,
        )
        due = timezone.now()
        occurrence = Occurrence.objects.create(
            practice=practice,
            assignment=assignment,
            partner=partner,
            local_due_date=today,
            local_due_time=datetime.time(20),
            due_at=due,
            status="completed",
            completed_at=due,
        )
        checkin = CheckIn.objects.create(
            practice=practice,
            couple=couple,
            partner=partner,
            instrument=instrument,
            occurrence=occurrence,
            submitted_at=due,
            answers={"csi1": 3, "csi12": 3, "csi19": 3, "csi22": 3},
            total_score=12,
        )
        delivery = ReminderDelivery.objects.create(
            practice=practice,
            couple=couple,
            occurrence=occurrence,
            partner=partner,
            channel="email",
            status="sent",
            sent_at=due,
            next_attempt_at=due,
        )
        template = {"couple": couple.pk, "partner": partner.pk, "assignment": assignment.pk}
        template |= {"occurrence": occurrence.pk, "checkin": checkin.pk, "delivery": delivery.pk}

    started = time.perf_counter()
    with transaction.atomic():
        clone(
            Couple,
            template["couple"],
            source="generate_series(1, %s) AS n WHERE true",
            params=[COUPLES],
            overrides={
                "primary_clinician_id": f"{first_clinician} + (n % {CLINICIANS})",
                "label": "'Couple ' || n",
                "status": "CASE WHEN n % 20 = 0 THEN 'paused' ELSE 'active' END",
                "discharged_on": "NULL",
                "started_on": f"DATE '{today}' - {DAYS + 30}",
            },
        )
        clone(
            Partner,
            template["partner"],
            source="couples_couple c, generate_series(1, 2) AS s WHERE c.label LIKE 'Couple %%'",
            overrides={
                "couple_id": "c.id",
                "seat": "s",
                "email": "'p' || c.id || '-' || s || '@bench.example'",
                "preferred_channel": "CASE WHEN s = 1 THEN 'email' ELSE 'sms' END",
                "phone": "CASE WHEN s = 1 THEN '' ELSE '+1555' || lpad(c.id::text, 7, '0') END",
            },
        )
        clone(
            Assignment,
            template["assignment"],
            source="couples_couple c WHERE c.label LIKE 'Couple %%'",
            overrides={
                "couple_id": "c.id",
                "assigned_by_id": "c.primary_clinician_id",
                "starts_on": "c.started_on",
            },
        )
        execute(
            "INSERT INTO cyclecare_assignment_partners (assignment_id, partner_id) "
            "SELECT a.id, p.id FROM cyclecare_assignment a "
            "JOIN couples_partner p ON p.couple_id = a.couple_id "
            "WHERE a.id <> %s",
            [template["assignment"]],
        )
    print(f"  couples, partners, assignments: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    top = {"occurrence": template["occurrence"]}
    with transaction.atomic():
        # Day d (0 = today, pending and not yet due) at 20:00 UTC; a stable pseudo-random r per
        # (partner, day) picks the status.
        r = "((p.id * 7919 + d * 104729) % 100)"
        evening = f"(DATE '{today}' - d + TIME '20:00') AT TIME ZONE 'UTC'"
        clone(
            Occurrence,
            template["occurrence"],
            source=(
                "couples_partner p JOIN cyclecare_assignment a ON a.couple_id = p.couple_id, "
                "generate_series(0, %s) AS d WHERE p.id <> %s"
            ),
            params=[DAYS, template["partner"]],
            overrides={
                "assignment_id": "a.id",
                "partner_id": "p.id",
                "local_due_date": f"DATE '{today}' - d",
                "due_at": f"{evening} + CASE WHEN d = 0 THEN INTERVAL '1 day' ELSE INTERVAL '0' END",
                "status": f"CASE WHEN d = 0 THEN 'pending' WHEN {r} < 80 THEN 'completed' "
                f"WHEN {r} < 95 THEN 'missed' ELSE 'cancelled' END",
                "completed_at": f"CASE WHEN d > 0 AND {r} < 80 THEN {evening} "
                "+ ((p.id * 31 + d * 17) % 600) * INTERVAL '1 minute' END",
                "created_at": f"(DATE '{today}' - d - 1 + TIME '20:00') AT TIME ZONE 'UTC'",
            },
        )
    print(f"  occurrences: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    went_out = "o.status IN ('completed', 'missed') AND o.id % 33 <> 0"
    with transaction.atomic():
        clone(
            ReminderDelivery,
            template["delivery"],
            source=(
                "cyclecare_occurrence o JOIN cyclecare_assignment a ON a.id = o.assignment_id "
                "JOIN couples_partner p ON p.id = o.partner_id WHERE o.id <> %s"
            ),
            params=[top["occurrence"]],
            overrides={
                "couple_id": "a.couple_id",
                "occurrence_id": "o.id",
                "partner_id": "o.partner_id",
                "channel": "p.preferred_channel",
                "status": "CASE WHEN o.status = 'pending' THEN 'pending' "
                "WHEN o.status = 'cancelled' THEN 'cancelled' "
                "WHEN o.id % 33 = 0 THEN 'failed' ELSE 'sent' END",
                "last_error": f"CASE WHEN o.status = 'cancelled' THEN '{dispatch.ON_HOLD}' "
                "WHEN o.status <> 'pending' AND o.id % 33 = 0 "
                "THEN 'Gave up after 6 attempts. Timeout.' ELSE '' END",
                "sent_at": f"CASE WHEN {went_out} THEN o.due_at + INTERVAL '1 minute' END",
                "opened_at": f"CASE WHEN {went_out} AND o.id % 2 = 0 THEN o.due_at + INTERVAL '5 min' END",
                "next_attempt_at": "o.due_at",
                "created_at": "o.created_at",
            },
        )
    print(f"  reminders: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with transaction.atomic():
        clone(
            CheckIn,
            template["checkin"],
            source=(
                "cyclecare_occurrence o JOIN cyclecare_assignment a ON a.id = o.assignment_id "
                "WHERE o.status = 'completed' AND o.id <> %s"
            ),
            params=[top["occurrence"]],
            overrides={
                "couple_id": "a.couple_id",
                "partner_id": "o.partner_id",
                "occurrence_id": "o.id",
                "submitted_at": "o.completed_at",
                "created_at": "o.completed_at",
                "total_score": "(o.id % 22)",
            },
        )
    print(f"  check-ins: {time.perf_counter() - started:.1f} s")
    execute("ANALYZE")
    return {"practice": practice, "admin": admin, "template": template}


# RAW SQL: THE SAME FIGURES FROM THE RAW TABLES
# ------------------------------------------------------------------------------
ENGAGEMENT_SQL = """
SELECT c.primary_clinician_id,
       count(*) FILTER (WHERE o.status <> 'cancelled' AND o.due_at <= %(now)s),
       count(*) FILTER (WHERE o.status = 'completed' AND o.due_at <= %(now)s),
       count(*) FILTER (WHERE o.status = 'missed' AND o.due_at <= %(now)s),
       count(*) FILTER (WHERE o.status = 'pending' AND o.due_at <= %(now)s),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.completed_at - s.first_sent) / 60)
         FILTER (WHERE o.status = 'completed' AND o.due_at <= %(now)s AND o.completed_at >= s.first_sent)
FROM cyclecare_occurrence o
JOIN cyclecare_assignment a ON a.id = o.assignment_id
JOIN couples_couple c ON c.id = a.couple_id
LEFT JOIN LATERAL (SELECT min(d.sent_at) AS first_sent FROM cyclecare_reminderdelivery d
                   WHERE d.occurrence_id = o.id AND d.kind = 'reminder' AND d.sent_at IS NOT NULL) s ON true
WHERE o.practice_id = %(practice)s AND o.local_due_date BETWEEN %(start)s AND %(end)s
GROUP BY c.primary_clinician_id
"""
PARTNER_SQL = """
SELECT o.partner_id, count(*) FILTER (WHERE o.status <> 'cancelled' AND o.due_at <= %(now)s),
       count(*) FILTER (WHERE o.status = 'completed' AND o.due_at <= %(now)s)
FROM cyclecare_occurrence o
WHERE o.practice_id = %(practice)s AND o.local_due_date BETWEEN %(start)s AND %(end)s
GROUP BY o.partner_id
"""
DELIVERY_SQL = """
SELECT c.primary_clinician_id, d.channel, d.status, d.last_error, d.opened_at IS NOT NULL,
       o.status = 'completed', count(*)
FROM cyclecare_reminderdelivery d
JOIN cyclecare_occurrence o ON o.id = d.occurrence_id
JOIN couples_couple c ON c.id = d.couple_id
WHERE d.practice_id = %(practice)s AND o.local_due_date BETWEEN %(start)s AND %(end)s
GROUP BY 1, 2, 3, 4, 5, 6
"""
SCORES_SQL = """
WITH scored AS (
  SELECT k.partner_id, k.couple_id, i.code, k.total_score, k.submitted_at,
         count(*) OVER w AS scores,
         first_value(k.total_score) OVER (w ORDER BY k.submitted_at, k.id) AS first_total,
         row_number() OVER (w ORDER BY k.submitted_at DESC, k.id DESC) AS newest
  FROM cyclecare_checkin k JOIN cyclecare_instrument i ON i.id = k.instrument_id
  WHERE k.practice_id = %(practice)s AND k.total_score IS NOT NULL AND k.submitted_at < %(end_at)s
    AND NOT coalesce((i.definition ->> 'safety_flag_when_clinical')::boolean, false)
  WINDOW w AS (PARTITION BY k.partner_id, i.code)
)
SELECT partner_id, couple_id, code, first_total, total_score FROM scored
WHERE newest = 1 AND scores >= 2 AND submitted_at >= %(start_at)s
"""


def raw(sql: str, params: dict) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# RUN
# ------------------------------------------------------------------------------
def add_new_checkins(world: dict, count: int) -> None:
    """``count`` new completed occurrences due an hour ago, each with a reminder and a check-in,
    spread over the partners (as a busy evening would bring them)."""
    from django.db import transaction
    from django.utils import timezone

    from cyclecare.models import CheckIn, Occurrence, ReminderDelivery

    template = world["template"]
    now = timezone.now()
    with transaction.atomic():
        before = raw("SELECT coalesce(max(id), 0) FROM cyclecare_occurrence", {})[0][0]
        clone(
            Occurrence,
            template["occurrence"],
            source=(
                "(SELECT p.id AS pid, a.id AS aid, row_number() OVER (ORDER BY p.id) AS n "
                "FROM couples_partner p "
                "JOIN cyclecare_assignment a ON a.couple_id = p.couple_id WHERE p.id <> %s) x, "
                "generate_series(0, %s) AS k WHERE (x.n - 1) + k * %s < %s"
            ),
            params=[template["partner"], count // (2 * COUPLES) + 1, 2 * COUPLES, count],
            overrides={
                "assignment_id": "x.aid",
                "partner_id": "x.pid",
                "local_due_date": f"DATE '{now.date()}'",
                "local_due_time": "TIME '05:00' + k * INTERVAL '1 second'",
                "due_at": f"TIMESTAMPTZ '{(now - datetime.timedelta(hours=1)).isoformat()}'",
                "status": "'completed'",
                "completed_at": f"TIMESTAMPTZ '{(now - datetime.timedelta(minutes=20)).isoformat()}'",
                "created_at": f"TIMESTAMPTZ '{(now - datetime.timedelta(hours=12)).isoformat()}'",
            },
        )
        source = (
            "cyclecare_occurrence o JOIN cyclecare_assignment a ON a.id = o.assignment_id WHERE o.id > %s"
        )
        clone(
            ReminderDelivery,
            template["delivery"],
            source=source,
            params=[before],
            overrides={
                "couple_id": "a.couple_id",
                "occurrence_id": "o.id",
                "partner_id": "o.partner_id",
                "sent_at": "o.due_at + INTERVAL '1 minute'",
                "next_attempt_at": "o.due_at",
                "created_at": "o.created_at",
            },
        )
        clone(
            CheckIn,
            template["checkin"],
            source=source,
            params=[before],
            overrides={
                "couple_id": "a.couple_id",
                "partner_id": "o.partner_id",
                "occurrence_id": "o.id",
                "submitted_at": "o.completed_at",
                "created_at": "o.completed_at",
                "total_score": "(o.id % 22)",
            },
        )


def run(world: dict) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from cyclecare.models import (
        CheckIn,
        DeliveryDay,
        EngagementDay,
        Occurrence,
        PartnerScoreDay,
        ReminderDelivery,
    )
    from cyclecare.reports.delivery import delivery_report
    from cyclecare.reports.engagement import engagement_report
    from cyclecare.reports.filters import ReportFilters
    from cyclecare.reports.rollups import partner_score_pairs, refresh_rollups

    user = get_user_model().objects.get(pk=world["admin"].user_id)
    counts = {model.__name__: model.objects.count() for model in (Occurrence, ReminderDelivery, CheckIn)}
    print("Rows: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()))

    rebuild_s, result = seconds(lambda: refresh_rollups(full=True))
    rollup_rows = {
        model.__name__: model.objects.count() for model in (EngagementDay, DeliveryDay, PartnerScoreDay)
    }
    print(
        f"\nFull rebuild of the rollups: {rebuild_s:.1f} s → "
        + ", ".join(f"{k} {v:,}" for k, v in rollup_rows.items())
    )
    idle_s, _ = seconds(lambda: refresh_rollups(now=timezone.now() + datetime.timedelta(minutes=11)))
    print(f"Incremental refresh, nothing new (open buckets only): {idle_s * 1000:.0f} ms")

    today = timezone.now().date()
    print(
        f"\n{'report':<22}{'period':>8}{'rollup p50':>12}{'p95':>8}"
        f"{'raw SQL p50':>13}{'p95':>8}{'raw/rollup':>12}  same"
    )

    def line(name: str, period: str, ours: tuple, theirs: tuple, same: bool) -> None:
        figures = f"{ours[0]:>10.0f}ms{ours[1]:>6.0f}ms{theirs[0]:>11.0f}ms{theirs[1]:>6.0f}ms"
        print(f"{name:<22}{period:>8}{figures}{theirs[0] / ours[0]:>11.1f}×  {'yes' if same else 'NO'}")

    for label, days in (("30 days", 30), ("1 year", 365)):
        filters = ReportFilters(date_from=today - datetime.timedelta(days=days - 1), date_to=today)
        midnight = datetime.time.min
        params = {
            "practice": world["practice"].pk,
            "start": filters.date_from,
            "end": filters.date_to,
            "now": timezone.now(),
            "start_at": datetime.datetime.combine(filters.date_from, midnight, tzinfo=datetime.UTC),
            "end_at": datetime.datetime.combine(
                today + datetime.timedelta(days=1), midnight, tzinfo=datetime.UTC
            ),
        }
        *ours, report = timed(lambda filters=filters: engagement_report(user=user, filters=filters))
        *theirs, rows = timed(lambda params=params: (raw(ENGAGEMENT_SQL, params), raw(PARTNER_SQL, params)))
        total = report["total"]
        same = (total["due"], total["completed"]) == (sum(r[1] for r in rows[0]), sum(r[2] for r in rows[0]))
        line("engagement", label, ours, theirs, same)
        *ours, report = timed(lambda filters=filters: delivery_report(user=user, filters=filters))
        *theirs, rows = timed(lambda params=params: raw(DELIVERY_SQL, params))
        line("delivery funnel", label, ours, theirs, report["total"]["planned"] == sum(r[6] for r in rows))
        *ours, pairs = timed(lambda filters=filters: partner_score_pairs(user=user, filters=filters))
        *theirs, rows = timed(lambda params=params: raw(SCORES_SQL, params))
        same = sorted((p[0], p[4], p[5]) for p in pairs) == sorted((r[0], r[3], r[4]) for r in rows)
        line("partner score pairs", label, ours, theirs, same)

    add_s, _ = seconds(lambda: add_new_checkins(world, NEW_CHECKINS))
    new = CheckIn.objects.count() - counts["CheckIn"]
    refresh_s, result = seconds(lambda: refresh_rollups(now=timezone.now() + datetime.timedelta(minutes=11)))
    print(f"\n{new:,} new completed check-ins (with occurrences and reminders, written in {add_s:.1f} s):")
    buckets = f"{result.activity_buckets:,} activity and {result.score_buckets:,} score buckets rewritten"
    print(f"  incremental refresh {refresh_s:.2f} s ({buckets})")
    print(f"  vs the full rebuild {rebuild_s:.1f} s: {rebuild_s / refresh_s:.0f}× less work per minute")


def main() -> None:
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL server and a role that may create databases.")
        sys.exit(2)
    admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
    admin_execute(admin_url, f'CREATE DATABASE "{BENCH_DB}"')
    try:
        setup_django(admin_url)
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        print(
            f"Building {CLINICIANS:,} clinicians, {COUPLES:,} couples, {DAYS} days (~{CHECKINS:,} check-ins):"
        )
        started = time.perf_counter()
        world = build()
        print(f"  built in {time.perf_counter() - started:.0f} s")
        run(world)
        connections.close_all()
    finally:
        admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
