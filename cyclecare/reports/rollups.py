"""The report rollups, kept fresh incrementally: refresh_rollups() folds in what changed since
the last refresh (a Celery beat task runs it every minute); the reports read the rollups.

Two rollups, each with one ReportRollup row (its ``fresh_at`` and watermarks):

- ``activity``: EngagementDay and DeliveryDay, both keyed by a *bucket* — one partner's
  occurrences due on one of their calendar days (``Occurrence.local_due_date``) and the
  reminder rows for them.
- ``scores``: PartnerScoreDay, keyed by (partner, practice-calendar day of the check-in).

A refresh never adjusts a count in place: it recomputes whole buckets from the raw rows
(delete, then insert), so re-reading a bucket is always harmless and the only question is which
buckets to re-read. The rule, and why it misses nothing:

1. **New rows** — an occurrence, a reminder row or a check-in whose id is above the source's
   watermark: its bucket. A new check-in also re-reads its occurrence's bucket, which is how a
   *missed* occurrence completed late is seen (the only change of a settled occurrence, and it
   always inserts a check-in).
2. **Open buckets** — ``EngagementDay.open``: a bucket holding a pending or not-yet-due
   occurrence or a reminder not yet sent (pending, sending). Every change of an occurrence's
   status starts from pending, and every reminder status change starts from pending or sending
   (a held reminder is re-armed only while its occurrence is pending), so a bucket with neither
   cannot change without a new row — except a link being opened:
3. **Opens** — reminder rows with ``opened_at`` at or after the last refresh (less the settle
   margin).

Watermarks lag by ``ROLLUP_SETTLE_MINUTES``: an id watermark only advances past rows created
more than that long before the refresh, so a row whose transaction commits a little after a
higher id is still read. A transaction open longer than the margin could be missed until the
next full rebuild (nightly; ``refresh_rollups(full=True)``), which also picks up deletions.
"""

import datetime
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from clinician.conf import cyclecare_settings
from clinician.models import Practice
from clinician.permissions import row_scope

from ..disclosure import scored_checkins_for_outsiders
from ..models import (
    CheckIn,
    DeliveryDay,
    EngagementDay,
    Occurrence,
    PartnerScoreDay,
    ReminderDelivery,
    ReportRollup,
)
from ..reminders import dispatch, holds
from .common import ADMINISTRATIVE
from .filters import ReportFilters
from .router import report_reads, reports_db

# The refresh reads the primary and writes it: a replica may lag behind what it must fold in.
PRIMARY = DEFAULT_DB_ALIAS
CHUNK = 500  # partners per re-read
Occ = Occurrence.Status
Sent = ReminderDelivery.Status
Reason = DeliveryDay.Reason


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: a full rebuild, or how many buckets it rewrote (changed) per rollup
    (a full rebuild gives the rollup's row counts instead)."""

    full: bool
    activity_buckets: int
    score_buckets: int
    fresh_at: datetime.datetime


def refresh_rollups(*, full: bool = False, now: datetime.datetime | None = None) -> RefreshResult:
    """Bring every rollup up to date: re-read only the buckets that may have changed since the
    last refresh (see the module's docstring), or rebuild them all with ``full`` (and always the
    first time). Safe to run concurrently: each rollup's row is locked for its refresh."""
    now = now or timezone.now()
    activity, activity_full = _refresh(ReportRollup.Name.ACTIVITY, full=full, now=now)
    scores, scores_full = _refresh(ReportRollup.Name.SCORES, full=full, now=now)
    return RefreshResult(
        full=activity_full and scores_full, activity_buckets=activity, score_buckets=scores, fresh_at=now
    )


def _refresh(name: str, *, full: bool, now: datetime.datetime) -> tuple[int, bool]:
    with transaction.atomic(using=PRIMARY):
        ReportRollup.objects.using(PRIMARY).get_or_create(name=name)
        state = ReportRollup.objects.using(PRIMARY).select_for_update().get(name=name)
        full = full or state.rebuilt_at is None
        settled_before = now - datetime.timedelta(minutes=cyclecare_settings.ROLLUP_SETTLE_MINUTES)
        marks = dict(state.watermarks or {})
        if name == ReportRollup.Name.ACTIVITY:
            count = _refresh_activity(marks, full=full, now=now, settled_before=settled_before)
        else:
            count = _refresh_scores(marks, full=full, settled_before=settled_before)
        state.watermarks, state.fresh_at = marks, now
        update = ["watermarks", "fresh_at"]
        if full:
            state.rebuilt_at = now
            update.append("rebuilt_at")
        state.save(using=PRIMARY, update_fields=update)
    if full and connections[PRIMARY].vendor == "postgresql" and not connections[PRIMARY].in_atomic_block:
        # Every row was just replaced: give the planner statistics before the next report runs.
        tables = ROLLUP_TABLES[name]
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(tables)}")
    return count, full


ROLLUP_TABLES = {
    ReportRollup.Name.ACTIVITY: (EngagementDay._meta.db_table, DeliveryDay._meta.db_table),
    ReportRollup.Name.SCORES: (PartnerScoreDay._meta.db_table,),
}


def rollup_fresh_at(name: str) -> datetime.datetime | None:
    """When ``name`` was last refreshed (None: never) — the ``fresh_at`` of a report reading it."""
    return (
        ReportRollup.objects.using(reports_db()).filter(name=name).values_list("fresh_at", flat=True).first()
    )


# WATERMARKS
# ------------------------------------------------------------------------------
def _new_rows(model, marks: dict, source: str, settled_before, *fields: str) -> list[tuple]:
    """Rows of ``model`` above the source's id watermark, as ``fields``; advances the watermark
    to the highest id among those created before ``settled_before``."""
    seen = marks.get(source, 0)
    rows = list(model.objects.using(PRIMARY).filter(pk__gt=seen).values_list("pk", "created_at", *fields))
    settled = [row[0] for row in rows if row[1] < settled_before]
    marks[source] = max([seen, *settled])
    return [row[2:] for row in rows]


def _settled_max_id(model, settled_before) -> int:
    return (
        model.objects.using(PRIMARY).filter(created_at__lt=settled_before).aggregate(top=Max("pk"))["top"]
        or 0
    )


def _by_day(buckets: Iterable[tuple[int, datetime.date]]) -> dict[datetime.date, list[int]]:
    days: dict[datetime.date, set[int]] = defaultdict(set)
    for partner_id, day in buckets:
        if partner_id is not None and day is not None:
            days[day].add(partner_id)
    return {day: sorted(partners) for day, partners in sorted(days.items())}


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _all_partner_ids(model, field: str) -> list[int]:
    return list(model.objects.using(PRIMARY).order_by(field).values_list(field, flat=True).distinct())


# WRITING BUCKETS
# ------------------------------------------------------------------------------
# Rollup rows are handled as tuples in these column orders, bucket key (partner, day) first.
ENGAGEMENT_COLUMNS = (
    "partner_id",
    "day",
    "practice_id",
    "couple_id",
    "due",
    "completed",
    "missed",
    "pending",
    "upcoming",
    "cancelled",
    "reminded_completions",
    "reminder_minutes",
    *EngagementDay.BIN_FIELDS,
    "open",
)
DELIVERY_COLUMNS = (
    "partner_id",
    "day",
    "practice_id",
    "couple_id",
    "channel",
    "kind",
    "status",
    "reason",
    "opened",
    "completed",
    "deliveries",
)
SCORE_COLUMNS = (
    "partner_id",
    "day",
    "practice_id",
    "couple_id",
    "instrument_code",
    "scores",
    "first_at",
    "first_total",
    "latest_at",
    "latest_total",
)


def _insert(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rollup rows: by COPY on PostgreSQL (a rebuild writes millions), else bulk_create."""
    if not rows:
        return
    connection = connections[PRIMARY]
    if connection.vendor == "postgresql":
        names = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    model.objects.using(PRIMARY).bulk_create(
        [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=1000
    )


def _replace(model, columns: tuple[str, ...], lookups: dict[str, Any], rows: list[tuple]) -> set[tuple]:
    """Make the rollup rows ``lookups`` selects (whole buckets) equal ``rows``, touching only
    the buckets that differ: an unchanged open bucket, re-read every minute, costs no write.
    Returns the buckets rewritten."""
    existing = set(model.objects.using(PRIMARY).filter(**lookups).values_list(*columns))
    wanted = set(rows)
    changed = {row[:2] for row in existing ^ wanted}
    for day, partners in _by_day(changed).items():
        for chunk in _chunks(partners):
            model.objects.using(PRIMARY).filter(day=day, partner_id__in=chunk).delete()
    _insert(model, columns, [row for row in rows if row[:2] in changed])
    return changed


# ACTIVITY: ENGAGEMENT AND REMINDER DELIVERY
# ------------------------------------------------------------------------------
def _refresh_activity(marks: dict, *, full: bool, now, settled_before) -> int:
    if full:
        # Watermarks first: a row created while we rebuild is then read again next time.
        for source, model in (
            ("occurrence", Occurrence),
            ("delivery", ReminderDelivery),
            ("checkin", CheckIn),
        ):
            marks[source] = _settled_max_id(model, settled_before)
        marks["opened_at"] = now.isoformat()
        EngagementDay.objects.using(PRIMARY).all().delete()
        DeliveryDay.objects.using(PRIMARY).all().delete()
        for chunk in _chunks(_all_partner_ids(Occurrence, "partner_id")):
            engagement, deliveries = _fold_activity({"partner_id__in": chunk}, now=now)
            _insert(EngagementDay, ENGAGEMENT_COLUMNS, engagement)
            _insert(DeliveryDay, DELIVERY_COLUMNS, deliveries)
        return EngagementDay.objects.using(PRIMARY).count()

    buckets: set[tuple[int, datetime.date]] = set()
    buckets.update(_new_rows(Occurrence, marks, "occurrence", settled_before, "partner_id", "local_due_date"))
    buckets.update(
        _new_rows(
            ReminderDelivery,
            marks,
            "delivery",
            settled_before,
            "occurrence__partner_id",
            "occurrence__local_due_date",
        )
    )
    buckets.update(
        _new_rows(
            CheckIn, marks, "checkin", settled_before, "occurrence__partner_id", "occurrence__local_due_date"
        )
    )
    opened_since = datetime.datetime.fromisoformat(marks.get("opened_at") or now.isoformat())
    opened_since -= datetime.timedelta(minutes=cyclecare_settings.ROLLUP_SETTLE_MINUTES)
    buckets.update(
        ReminderDelivery.objects.using(PRIMARY)
        .filter(opened_at__gte=opened_since)
        .values_list("occurrence__partner_id", "occurrence__local_due_date")
    )
    marks["opened_at"] = now.isoformat()
    buckets.update(EngagementDay.objects.using(PRIMARY).filter(open=True).values_list("partner_id", "day"))

    rewritten: set[tuple] = set()
    for day, partners in _by_day(buckets).items():
        for chunk in _chunks(partners):
            lookups = {"day": day, "partner_id__in": chunk}
            engagement, deliveries = _fold_activity({"local_due_date": day, "partner_id__in": chunk}, now=now)
            rewritten |= _replace(EngagementDay, ENGAGEMENT_COLUMNS, lookups, engagement)
            rewritten |= _replace(DeliveryDay, DELIVERY_COLUMNS, lookups, deliveries)
    return len(rewritten)


def _minutes_bin(minutes: int) -> int:
    for position, bound in enumerate(EngagementDay.MINUTE_BINS):
        if minutes < bound:
            return position
    return len(EngagementDay.MINUTE_BINS)


def _fold_activity(lookups: dict[str, Any], *, now: datetime.datetime) -> tuple[list[tuple], list[tuple]]:
    """The engagement and delivery rows (ENGAGEMENT_COLUMNS, DELIVERY_COLUMNS) of the buckets
    the occurrence ``lookups`` select (whole buckets only: the lookups are by partner and day),
    as of ``now``."""
    first_sent = (
        ReminderDelivery.objects.filter(
            occurrence_id=OuterRef("pk"), kind=ReminderDelivery.Kind.REMINDER, sent_at__isnull=False
        )
        .order_by("sent_at")
        .values("sent_at")[:1]
    )
    rows = (
        Occurrence.objects.using(PRIMARY)
        .filter(**lookups)
        .order_by()
        .annotate(first_sent=Subquery(first_sent))
        .values_list(
            "partner_id",
            "local_due_date",
            "practice_id",
            "assignment__couple_id",
            "status",
            "due_at",
            "completed_at",
            "first_sent",
        )
    )
    # Per bucket: [practice, couple, due, completed, missed, pending, upcoming, cancelled,
    # reminded, minutes, *bins, open].
    bins = len(EngagementDay.BIN_FIELDS)
    days: dict[tuple[int, datetime.date], list] = {}
    for partner_id, day, practice_id, couple_id, status, due_at, completed_at, sent_at in rows.iterator(
        chunk_size=2000
    ):
        bucket = days.get((partner_id, day))
        if bucket is None:
            bucket = days[(partner_id, day)] = [practice_id, couple_id, *([0] * (8 + bins)), False]
        if status == Occ.CANCELLED:
            bucket[7] += 1
        elif due_at > now:
            bucket[6] += 1
            bucket[-1] = True
        else:
            bucket[2] += 1
            if status == Occ.PENDING:
                bucket[5] += 1
                bucket[-1] = True
            elif status == Occ.MISSED:
                bucket[4] += 1
            else:
                bucket[3] += 1
                if sent_at is not None and completed_at >= sent_at:
                    minutes = int((completed_at - sent_at).total_seconds() // 60)
                    bucket[8] += 1
                    bucket[9] += minutes
                    bucket[10 + _minutes_bin(minutes)] += 1

    groups = (
        ReminderDelivery.objects.using(PRIMARY)
        .filter(**{f"occurrence__{key}": value for key, value in lookups.items()})
        .order_by()
        .annotate(
            was_opened=ExpressionWrapper(Q(opened_at__isnull=False), output_field=BooleanField()),
            was_completed=ExpressionWrapper(Q(occurrence__status=Occ.COMPLETED), output_field=BooleanField()),
        )
        .values_list(
            "occurrence__partner_id",
            "occurrence__local_due_date",
            "channel",
            "kind",
            "status",
            "last_error",
            "was_opened",
            "was_completed",
        )
        .annotate(n=Count("pk"))
    )
    counted: dict[tuple, int] = defaultdict(int)
    for partner_id, day, channel, kind, status, last_error, opened, completed, n in groups.iterator(
        chunk_size=2000
    ):
        bucket = days[(partner_id, day)]
        if status in (Sent.PENDING, Sent.SENDING):
            bucket[-1] = True
        key = (partner_id, day, bucket[0], bucket[1], channel, kind, status)
        counted[(*key, delivery_reason(status, last_error), bool(opened), bool(completed))] += n
    engagement = [(partner_id, day, *bucket) for (partner_id, day), bucket in days.items()]
    return engagement, [(*key, n) for key, n in counted.items()]


# The reasons the reminder code writes, as codes a report may count (never the text itself: a
# provider's error could carry an address).
HELD_REASONS = {
    dispatch.ON_HOLD: Reason.ON_HOLD,
    holds.NOT_DUE_WHILE_HELD: Reason.DUE_WHILE_HELD,
    holds.CHANNEL_CHANGED: Reason.CHANNEL_CHANGED,
    **{text: Reason.NO_CONSENT for text in dispatch.NO_CONSENT.values()},
    "The session it was for moved or was cancelled.": Reason.SESSION_MOVED,
    "The homework was already done.": Reason.ALREADY_DONE,
    "The homework is no longer due.": Reason.STOPPED,
    "The homework is paused or ended.": Reason.STOPPED,
    "The partner is no longer in treatment.": Reason.STOPPED,
}


def delivery_reason(status: str, last_error: str) -> str:
    """The reason code of a reminder row: why it was held (cancelled) or failed; "" otherwise.
    A hold for a safety flag reads like any other hold, as in the reminder log."""
    if status == Sent.CANCELLED:
        return HELD_REASONS.get(last_error, Reason.OTHER)
    if status == Sent.FAILED:
        return Reason.RETRIES_EXHAUSTED if last_error.startswith("Gave up after") else Reason.REJECTED
    return Reason.NONE


# SCORES
# ------------------------------------------------------------------------------
def _zones(practice_ids: Iterable[int]) -> dict[int, zoneinfo.ZoneInfo]:
    rows = Practice.objects.using(PRIMARY).filter(pk__in=set(practice_ids)).values_list("pk", "time_zone")
    return {pk: zoneinfo.ZoneInfo(name or "UTC") for pk, name in rows}


def _refresh_scores(marks: dict, *, full: bool, settled_before) -> int:
    if full:
        marks["checkin"] = _settled_max_id(CheckIn, settled_before)
        PartnerScoreDay.objects.using(PRIMARY).all().delete()
        for chunk in _chunks(_all_partner_ids(CheckIn, "partner_id")):
            _insert(PartnerScoreDay, SCORE_COLUMNS, _fold_scores(Q(partner_id__in=chunk), None))
        return PartnerScoreDay.objects.using(PRIMARY).count()

    new = _new_rows(CheckIn, marks, "checkin", settled_before, "partner_id", "practice_id", "submitted_at")
    zones = _zones(practice_id for _, practice_id, _ in new)
    buckets = {(partner_id, at.astimezone(zones[practice_id]).date()) for partner_id, practice_id, at in new}
    rewritten: set[tuple] = set()
    for day, partners in _by_day(buckets).items():
        # Every zone's calendar day lies inside this UTC window; _fold_scores keeps the day.
        start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
        window = Q(submitted_at__gte=start - datetime.timedelta(hours=15)) & Q(
            submitted_at__lt=start + datetime.timedelta(hours=39)
        )
        for chunk in _chunks(partners):
            rows = _fold_scores(Q(partner_id__in=chunk) & window, day)
            lookups = {"day": day, "partner_id__in": chunk}
            rewritten |= _replace(PartnerScoreDay, SCORE_COLUMNS, lookups, rows)
    return len(rewritten)


def _fold_scores(checkins: Q, day: datetime.date | None) -> list[tuple]:
    """The score rows (SCORE_COLUMNS) of the check-ins ``checkins`` selects (only ``day``'s, if
    given)."""
    rows = (
        scored_checkins_for_outsiders(
            CheckIn.objects.using(PRIMARY).filter(checkins, total_score__isnull=False)
        )
        .order_by("partner_id", "submitted_at", "pk")
        .values_list(
            "partner_id", "couple_id", "practice_id", "instrument__code", "submitted_at", "total_score"
        )
    )
    zones: dict[int, zoneinfo.ZoneInfo] = {}
    # (partner, day, code) → [practice, couple, scores, first at, first total, latest at, latest total]
    days: dict[tuple, list] = {}
    for partner_id, couple_id, practice_id, code, at, total in rows.iterator(chunk_size=2000):
        if practice_id not in zones:
            zones.update(_zones([practice_id]))
        local_day = at.astimezone(zones[practice_id]).date()
        if day is not None and local_day != day:
            continue
        row = days.get((partner_id, local_day, code))
        if row is None:
            row = days[(partner_id, local_day, code)] = [practice_id, couple_id, 0, at, total, at, total]
        row[2] += 1
        row[5], row[6] = at, total
    return [
        (partner_id, local_day, practice_id, couple_id, code, scores, first_at, first, latest_at, latest)
        for (partner_id, local_day, code), (
            practice_id,
            couple_id,
            scores,
            first_at,
            first,
            latest_at,
            latest,
        ) in days.items()
    ]


def partner_score_pairs(*, user, filters: ReportFilters) -> list[tuple[int, int, int, str, Decimal, Decimal]]:
    """For outcomes: (partner id, couple id, primary clinician id, instrument code, first total,
    latest total) for each partner and instrument code in the caller's administrative scope
    with at least two scores on or before ``filters.date_to`` whose latest such score falls in
    the period. The first total is the partner's first score on that code ever (the intake
    baseline). Clinician, status and instrument filters narrow it; scores only outsiders may
    see (cyclecare.disclosure) were never copied into the rollup."""
    with report_reads() as db:
        return _score_pairs(db, user=user, filters=filters)


def _score_pairs(
    db: str, *, user, filters: ReportFilters
) -> list[tuple[int, int, int, str, Decimal, Decimal]]:
    scoped = PartnerScoreDay.objects.using(db).filter(
        row_scope(user, purpose=ADMINISTRATIVE), day__lte=filters.date_to
    )
    if filters.clinician is not None:
        scoped = scoped.filter(couple__primary_clinician_id=filters.clinician)
    if filters.status:
        scoped = scoped.filter(couple__status=filters.status)
    if filters.instrument:
        scoped = scoped.filter(instrument_code=filters.instrument)
    same = PartnerScoreDay.objects.filter(
        partner_id=OuterRef("partner_id"), instrument_code=OuterRef("instrument_code")
    )
    pairs = (
        scoped.order_by()
        .values("partner_id", "couple_id", "couple__primary_clinician_id", "instrument_code")
        .annotate(scores=Sum("scores"), first_day=Min("day"), last_day=Max("day"))
        .filter(scores__gte=2, last_day__gte=filters.date_from)
        .annotate(
            first_total=Subquery(same.order_by("day").values("first_total")[:1]),
            latest_total=Subquery(
                same.filter(day__lte=filters.date_to).order_by("-day").values("latest_total")[:1]
            ),
        )
        .order_by("instrument_code", "partner_id")
    )
    return [
        (
            pair["partner_id"],
            pair["couple_id"],
            pair["couple__primary_clinician_id"],
            pair["instrument_code"],
            Decimal(pair["first_total"]),
            Decimal(pair["latest_total"]),
        )
        for pair in pairs
    ]
