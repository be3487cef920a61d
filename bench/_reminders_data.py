"""Bulk data for bench/reminders_bench.py, written with ``INSERT … SELECT generate_series`` on
PostgreSQL (a million couples take about a minute instead of an hour of ORM loops).

Each couple has two consenting partners (email reminders, no quiet hours) in one of ZONES and
one daily check-in assigned to both. The rows are clones of template rows made once through
the ORM (so every column the models require is filled as the models fill it); only the columns
that differ per couple are overridden. The template couple is discharged, so the planner never
sees it and the counts are exact.
"""

import datetime
import time
import zoneinfo

from django.db import connection, transaction
from django.utils import timezone

ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Pacific/Auckland"]
BATCH = 100_000
_templates: dict[str, int] = {}


def _templates_make() -> dict[str, int]:
    from clinician.models import Clinician
    from couples.models import Consent, Couple, Partner
    from cyclecare import services
    from cyclecare.models import Assignment
    from tests.factories import ClinicianFactory

    if _templates:
        return _templates
    clinician = Clinician.objects.order_by("pk").first() or ClinicianFactory()
    instrument = next(i for i in services.instruments_install_shipped() if i.code == "cycle-checkin")
    today = timezone.localdate()
    couple = Couple.objects.create(
        practice_id=clinician.practice_id,
        primary_clinician=clinician,
        label="Bench template",
        started_on=today,
        status=Couple.Status.DISCHARGED,
        discharged_on=today,
    )
    partner = Partner.objects.create(
        practice_id=clinician.practice_id,
        couple=couple,
        seat=1,
        display_name="Template Partner",
        email="template@bench.example",
        time_zone=ZONES[0],
    )
    consent = Consent.objects.create(
        practice_id=clinician.practice_id,
        partner=partner,
        kind=Consent.Kind.EMAIL,
        granted=True,
        method=Consent.Method.WRITTEN,
        recorded_at=timezone.now(),
    )
    assignment = Assignment.objects.create(
        practice_id=clinician.practice_id,
        couple=couple,
        assigned_by=clinician,
        kind=Assignment.Kind.CHECK_IN,
        title="Daily check-in",
        instrument=instrument,
        schedule=Assignment.Schedule.DAILY,
        local_time=datetime.time(20),
        starts_on=today - datetime.timedelta(days=1),
    )
    _templates.update(couple=couple.pk, partner=partner.pk, consent=consent.pk, assignment=assignment.pk)
    return _templates


def _clone(model, template: str, *, source: str, overrides: dict[str, str], params: list) -> int:
    """INSERT INTO model's table one row per row of ``source`` (a FROM … WHERE fragment that
    binds the template row as ``t``), copying the template's columns except ``overrides``."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    values = [overrides.get(column, f"t.{column}") for column in columns]
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (our own table and column names)
        f"SELECT {', '.join(values)} FROM {table} t, {source} AND t.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, _templates[template]])
        return cursor.rowcount


def _max_id(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {model._meta.db_table}")  # noqa: S608
        return cursor.fetchone()[0]


def make_assignments(count: int, *, due_now: bool) -> float:
    """Add ``count`` couples (two partners, two consents, one assignment, two assignee rows
    each). With ``due_now`` each assignment's local time is a minute ago in its partners' zone;
    otherwise 20:00. Returns the seconds it took."""
    from couples.models import Consent, Couple, Partner
    from cyclecare.models import Assignment

    started = time.perf_counter()
    _templates_make()
    now = timezone.now()
    if due_now:
        times = [
            (now - datetime.timedelta(minutes=1))
            .astimezone(zoneinfo.ZoneInfo(zone))
            .time()
            .replace(second=0, microsecond=0)
            for zone in ZONES
        ]
    else:
        times = [datetime.time(20)] * len(ZONES)
    zone_of = "(%s::text[])[1 + {id} %% {n}]".replace("{n}", str(len(ZONES)))
    time_of = "(%s::time[])[1 + {id} %% {n}]".replace("{n}", str(len(ZONES)))
    made = 0
    while made < count:
        size = min(BATCH, count - made)
        with transaction.atomic():
            couples_after = _max_id(Couple)
            _clone(
                Couple,
                "couple",
                source="generate_series(1, %s) AS n WHERE true",
                overrides={
                    "label": "'Bench ' || n",
                    "status": "'active'",
                    "discharged_on": "NULL",
                },
                params=[size],
            )
            partners_after = _max_id(Partner)
            _clone(
                Partner,
                "partner",
                source="couples_couple c, generate_series(1, 2) AS s WHERE c.id > %s",
                overrides={
                    "couple_id": "c.id",
                    "seat": "s",
                    "display_name": "'Partner ' || c.id || '-' || s",
                    "email": "'p' || c.id || '-' || s || '@bench.example'",
                    "time_zone": zone_of.format(id="c.id"),
                },
                params=[ZONES, couples_after],
            )
            _clone(
                Consent,
                "consent",
                source="couples_partner p WHERE p.id > %s",
                overrides={"partner_id": "p.id", "recorded_at": "%s"},
                params=[now, partners_after],
            )
            assignments_after = _max_id(Assignment)
            _clone(
                Assignment,
                "assignment",
                source="couples_couple c WHERE c.id > %s",
                overrides={"couple_id": "c.id", "local_time": time_of.format(id="c.id")},
                params=[times, couples_after],
            )
            through = Assignment.partners.through._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {through} (assignment_id, partner_id) "  # noqa: S608
                    "SELECT a.id, p.id FROM cyclecare_assignment a "
                    "JOIN couples_partner p ON p.couple_id = a.couple_id WHERE a.id > %s",
                    [assignments_after],
                )
        made += size
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def clear_plans() -> None:
    """Drop every occurrence, link and reminder row (the planner's output)."""
    from cyclecare.models import Occurrence, PartnerLink, ReminderDelivery

    tables = ", ".join(model._meta.db_table for model in (ReminderDelivery, PartnerLink, Occurrence))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} CASCADE")  # noqa: S608


def clear_all() -> None:
    """Drop the plans and every couple, partner, consent and assignment (templates too)."""
    from couples.models import Consent, Couple, Partner
    from cyclecare.models import Assignment

    clear_plans()
    models = (Assignment.partners.through, Assignment, Consent, Partner, Couple)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(m._meta.db_table for m in models)} CASCADE")  # noqa: S608
    _templates.clear()
