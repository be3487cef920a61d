"""The planner: occurrences and their reminders, materialised ahead in each partner's zone.

Memory stays flat however many assignments there are: assignments are read in keyset-paginated
chunks (``pk > last`` … ``LIMIT``) as tuples, each chunk is planned and committed on its own, and
nothing is kept between chunks but counters.

It writes a few rows per assignment and partner each run, so at scale its time is the writing:
on PostgreSQL the rows go in as one ``INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO
NOTHING RETURNING`` per chunk and table, with binary parameters, instead of model instances
through bulk_create (whose per-object cost was half of a run; bench/reminders_bench.py).
"""

import datetime
import hashlib
import logging
import time
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from clinician.conf import cyclecare_settings
from couples.models import Couple, TherapySession

from ..models import Assignment, Occurrence, ReminderDelivery, SafetyFlag
from ..services import local_to_utc
from .bulk import rows_insert

logger = logging.getLogger(__name__)

PLAN_CHUNK = 1000
# Reminders stop for a couple while a safety flag is not yet resolved: acknowledging a flag
# means the clinician has seen it, not that joint homework is safe again.
HOLDING_FLAG_STATUSES = (SafetyFlag.Status.OPEN, SafetyFlag.Status.ACKNOWLEDGED)
PLAN_CURSOR_KEY = "cyclecare:reminders:plan-cursor"
ONE_DAY = datetime.timedelta(days=1)
MAX_HOURS_BEFORE_SESSION = datetime.timedelta(hours=168)
REMINDED_CHANNELS = frozenset(ReminderDelivery.Channel.values)


# TIME
# ------------------------------------------------------------------------------
def spread_offset(partner_id: int) -> datetime.timedelta:
    """The partner's stable minute offset (0 … REMINDER_SPREAD_MINUTES-1), from a hash of the
    id: the same partner always gets the same minute, and an evening's burst is spread."""
    spread = cyclecare_settings.REMINDER_SPREAD_MINUTES
    if spread <= 1:
        return datetime.timedelta(0)
    digest = hashlib.blake2b(str(partner_id).encode(), digest_size=8).digest()
    return datetime.timedelta(minutes=int.from_bytes(digest, "big") % spread)


def in_quiet_hours(local: datetime.time, start: datetime.time | None, end: datetime.time | None) -> bool:
    """Whether a local wall time is inside [start, end); a window may cross midnight
    (22:00–07:00). No window, or start == end, means no quiet hours."""
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(
    moment: datetime.datetime, zone: str, start: datetime.time | None, end: datetime.time | None
) -> datetime.datetime | None:
    """If ``moment`` falls in the partner's quiet hours, the instant they end (DST-correct, via
    local_to_utc); otherwise None."""
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    wall = local.time().replace(tzinfo=None)
    if not in_quiet_hours(wall, start, end):
        return None
    end_date = local.date()
    if start > end and wall >= start:  # crossing midnight, before it: ends tomorrow
        end_date += ONE_DAY
    return local_to_utc(end_date, end, zone)


def send_time(
    due_at: datetime.datetime,
    *,
    partner_id: int,
    zone: str,
    quiet_start: datetime.time | None,
    quiet_end: datetime.time | None,
) -> datetime.datetime:
    """When a reminder for ``due_at`` may go out: the partner's offset after it, or, inside
    quiet hours, the offset after they end."""
    offset = spread_offset(partner_id)
    moment = due_at + offset
    ends = quiet_hours_end(moment, zone, quiet_start, quiet_end)
    return moment if ends is None else ends + offset


@dataclass(frozen=True)
class Due:
    local_date: datetime.date
    local_time: datetime.time
    due_at: datetime.datetime


def scheduled_dues(
    *,
    schedule: str,
    local_time: datetime.time | None,
    weekdays: int,
    hours_before_session: int | None,
    starts_on: datetime.date,
    ends_on: datetime.date | None,
    zone: str,
    start: datetime.datetime,
    end: datetime.datetime,
    session_starts: Iterable[datetime.datetime] = (),
) -> list[Due]:
    """The due times of one partner's homework with ``start <= due_at < end``.

    Wall-clock schedules keep their local time across DST (local_to_utc: a time in a
    spring-forward gap is due just after the jump; one in a fall-back repeat is due once, at its
    first instance). Before-session homework is due N hours before each scheduled session."""
    zone_info = zoneinfo.ZoneInfo(zone)
    dues = []
    if schedule == Assignment.Schedule.BEFORE_SESSION:
        for session_start in session_starts:
            due_at = session_start - datetime.timedelta(hours=hours_before_session or 0)
            if not start <= due_at < end:
                continue
            local = due_at.astimezone(zone_info)
            day = local.date()
            if day < starts_on or (ends_on is not None and day > ends_on):
                continue
            dues.append(Due(day, local.time().replace(tzinfo=None, microsecond=0), due_at))
        return dues
    if local_time is None:
        return dues
    day = start.astimezone(zone_info).date() - ONE_DAY
    last = end.astimezone(zone_info).date() + ONE_DAY
    while day <= last:
        if (
            day >= starts_on
            and (ends_on is None or day <= ends_on)
            and (schedule == Assignment.Schedule.DAILY or weekdays & (1 << day.weekday()))
        ):
            due_at = local_to_utc(day, local_time, zone)
            if start <= due_at < end:
                dues.append(Due(day, local_time, due_at))
        day += ONE_DAY
    return dues


# HOLDS
# ------------------------------------------------------------------------------
def holding_flags() -> Q:
    """Unresolved safety flags (use in an Exists over a couple)."""
    return Q(status__in=HOLDING_FLAG_STATUSES)


def couples_on_hold(couple_ids: Iterable[int]) -> set[int]:
    """Of these couples, those whose reminders stop: paused, discharged or an unresolved flag."""
    couple_ids = set(couple_ids)
    held = set(
        Couple.objects.filter(pk__in=couple_ids)
        .exclude(status=Couple.Status.ACTIVE)
        .values_list("pk", flat=True)
    )
    held |= set(
        SafetyFlag.objects.filter(holding_flags(), couple_id__in=couple_ids).values_list(
            "couple_id", flat=True
        )
    )
    return held


# PLANNING
# ------------------------------------------------------------------------------
@dataclass
class PlanResult:
    assignments: int = 0
    occurrences_created: int = 0
    occurrences_moved: int = 0
    occurrences_cancelled: int = 0
    reminders_created: int = 0
    nudges_created: int = 0
    complete: bool = True
    cursor: int = 0
    counts: Counter = field(default_factory=Counter)


def _plannable_assignments(window_start: datetime.datetime, window_end: datetime.datetime):
    flagged = SafetyFlag.objects.filter(holding_flags(), couple_id=OuterRef("couple_id"))
    return (
        Assignment.objects.filter(
            status=Assignment.Status.ACTIVE,
            couple__status=Couple.Status.ACTIVE,
            starts_on__lte=(window_end + ONE_DAY).date(),
        )
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=(window_start - ONE_DAY).date()))
        .exclude(Exists(flagged))
        .order_by("pk")
        .values_list(
            "pk",
            "practice_id",
            "couple_id",
            "schedule",
            "local_time",
            "weekdays",
            "hours_before_session",
            "starts_on",
            "ends_on",
        )
    )


def plan(
    *,
    now: datetime.datetime | None = None,
    start_after: int = 0,
    deadline: float | None = None,
    chunk_size: int = PLAN_CHUNK,
) -> PlanResult:
    """Materialise the occurrences due in [now − lookback, now + REMINDER_PLAN_HOURS) for every
    active assignment and assigned active partner, and a reminder row for each pending one
    (idempotent: the unique constraints hold it). Stops early, returning ``complete=False``
    and a ``cursor`` to resume after, when ``deadline`` (a time.monotonic() value) passes."""
    now = now or timezone.now()
    window_start = now - datetime.timedelta(minutes=cyclecare_settings.REMINDER_PLAN_LOOKBACK_MINUTES)
    window_end = now + datetime.timedelta(hours=cyclecare_settings.REMINDER_PLAN_HOURS)
    result = PlanResult(cursor=start_after)
    rows = _plannable_assignments(window_start, window_end)
    last = start_after
    while True:
        chunk = list(rows.filter(pk__gt=last)[:chunk_size])
        if not chunk:
            break
        with transaction.atomic():
            _plan_chunk(chunk, now=now, window_start=window_start, window_end=window_end, result=result)
        result.assignments += len(chunk)
        last = chunk[-1][0]
        if deadline is not None and time.monotonic() > deadline:
            result.complete, result.cursor = False, last
            return result
    result.cursor = 0
    return result


def plan_couple(*, couple_id: int, now: datetime.datetime | None = None) -> PlanResult:
    """``plan`` for one couple's homework, now, in the caller's transaction: what a change to a
    partner's zone, quiet hours or channel, or a couple's resume, needs at once rather than at
    the next periodic run. The same keys and checks as ``plan`` (occurrences once per local due
    date and time, one reminder per occurrence and channel), so planning again — here or in
    the periodic run — adds nothing twice. A couple on hold is not planned."""
    now = now or timezone.now()
    window_start = now - datetime.timedelta(minutes=cyclecare_settings.REMINDER_PLAN_LOOKBACK_MINUTES)
    window_end = now + datetime.timedelta(hours=cyclecare_settings.REMINDER_PLAN_HOURS)
    result = PlanResult()
    chunk = list(_plannable_assignments(window_start, window_end).filter(couple_id=couple_id))
    if chunk:
        _plan_chunk(chunk, now=now, window_start=window_start, window_end=window_end, result=result)
    result.assignments = len(chunk)
    return result


@dataclass(frozen=True)
class _Assigned:
    assignment_id: int
    practice_id: int
    couple_id: int
    partner_id: int
    zone: str
    quiet_start: datetime.time | None
    quiet_end: datetime.time | None
    channel: str


def _plan_chunk(
    chunk: list[tuple],
    *,
    now: datetime.datetime,
    window_start: datetime.datetime,
    window_end: datetime.datetime,
    result: PlanResult,
) -> None:
    by_id = {row[0]: row for row in chunk}
    through = Assignment.partners.through
    pairs = [
        _Assigned(by_id[a_id][0], by_id[a_id][1], by_id[a_id][2], p_id, zone, q_start, q_end, channel)
        for a_id, p_id, zone, q_start, q_end, channel in through.objects.filter(
            assignment_id__in=by_id, partner__is_active=True
        ).values_list(
            "assignment_id",
            "partner_id",
            "partner__time_zone",
            "partner__quiet_hours_start",
            "partner__quiet_hours_end",
            "partner__preferred_channel",
        )
    ]
    if not pairs:
        return
    sessions = _scheduled_sessions(chunk, window_start, window_end)

    wanted: dict[tuple, tuple[Due, _Assigned]] = {}
    for pair in pairs:
        _, _, _, schedule, local_time, weekdays, hours, starts_on, ends_on = by_id[pair.assignment_id]
        session_starts = [
            starts_at
            for kind, partner_id, starts_at in sessions.get(pair.couple_id, ())
            if kind == TherapySession.Kind.JOINT or partner_id == pair.partner_id
        ]
        for due in scheduled_dues(
            schedule=schedule,
            local_time=local_time,
            weekdays=weekdays,
            hours_before_session=hours,
            starts_on=starts_on,
            ends_on=ends_on,
            zone=pair.zone,
            start=window_start,
            end=window_end,
            session_starts=session_starts,
        ):
            wanted[(pair.assignment_id, pair.partner_id, due.local_date, due.local_time)] = (due, pair)

    partner_ids = {pair.partner_id for pair in pairs}

    def existing() -> dict[tuple, tuple[int, str, datetime.datetime]]:
        # (partner, due_at) is indexed; a day's padding finds rows whose zone has changed.
        return {
            (a_id, p_id, day, at): (pk, status, due_at)
            for pk, a_id, p_id, day, at, status, due_at in Occurrence.objects.filter(
                partner_id__in=partner_ids,
                assignment_id__in=by_id,
                due_at__gte=window_start - ONE_DAY,
                due_at__lt=window_end + ONE_DAY,
            )
            .order_by()
            .values_list(
                "pk", "assignment_id", "partner_id", "local_due_date", "local_due_time", "status", "due_at"
            )
        }

    have = existing()
    missing = [(key, due, pair) for key, (due, pair) in wanted.items() if key not in have]
    created: set[int] = set()
    if missing:
        # A row that conflicts was won by a concurrent planner (or occurrence_materialise).
        inserted = rows_insert(
            Occurrence,
            {
                "practice_id": [pair.practice_id for _, _, pair in missing],
                "assignment_id": [key[0] for key, _, _ in missing],
                "partner_id": [key[1] for key, _, _ in missing],
                "local_due_date": [key[2] for key, _, _ in missing],
                "local_due_time": [key[3] for key, _, _ in missing],
                "due_at": [due.due_at for _, due, _ in missing],
            },
            returning=("id", "assignment", "partner", "local_due_date", "local_due_time", "due_at"),
        )
        if inserted is None or len(inserted) < len(missing):
            have = existing()
            result.occurrences_created += len(missing) if inserted is None else len(inserted)
        else:
            for pk, a_id, p_id, day, at, due_at in inserted:
                have[(a_id, p_id, day, at)] = (pk, Occurrence.Status.PENDING, due_at)
            result.occurrences_created += len(inserted)
        created = {row[0] for row in inserted or ()}

    pending_ids = []
    for key, (due, pair) in wanted.items():
        pk, status, due_at = have.get(key, (None, None, None))
        if pk is None or status != Occurrence.Status.PENDING:
            continue
        if due_at != due.due_at and due_at > now:
            # The partner moved to another zone: the same local time is another instant.
            _occurrence_move(pk, due.due_at, pair)
            result.occurrences_moved += 1
        pending_ids.append((pk, due, pair))
    _cancel_unscheduled(have, wanted, by_id, now=now, result=result)
    _reminders_create(pending_ids, new_occurrences=created, result=result)


def _scheduled_sessions(chunk: list[tuple], window_start, window_end) -> dict[int, list]:
    couple_ids = {row[2] for row in chunk if row[3] == Assignment.Schedule.BEFORE_SESSION}
    sessions: dict[int, list] = {}
    if not couple_ids:
        return sessions
    for couple_id, kind, partner_id, starts_at in TherapySession.objects.filter(
        couple_id__in=couple_ids,
        status=TherapySession.Status.SCHEDULED,
        starts_at__gte=window_start,
        starts_at__lt=window_end + MAX_HOURS_BEFORE_SESSION,
    ).values_list("couple_id", "kind", "partner_id", "starts_at"):
        sessions.setdefault(couple_id, []).append((kind, partner_id, starts_at))
    return sessions


def _occurrence_move(pk: int, due_at: datetime.datetime, pair: _Assigned) -> None:
    Occurrence.objects.filter(pk=pk, status=Occurrence.Status.PENDING).update(due_at=due_at)
    ReminderDelivery.objects.filter(
        occurrence_id=pk, status=ReminderDelivery.Status.PENDING, kind=ReminderDelivery.Kind.REMINDER
    ).update(
        next_attempt_at=send_time(
            due_at,
            partner_id=pair.partner_id,
            zone=pair.zone,
            quiet_start=pair.quiet_start,
            quiet_end=pair.quiet_end,
        ),
        enqueued_at=None,
    )


def _cancel_unscheduled(have, wanted, by_id, *, now, result: PlanResult) -> None:
    """Before-session homework whose session moved or was cancelled: its pending future
    occurrence (and any reminder not yet sent) is cancelled."""
    stale = [
        pk
        for key, (pk, status, due_at) in have.items()
        if key not in wanted
        and status == Occurrence.Status.PENDING
        and due_at > now
        and by_id[key[0]][3] == Assignment.Schedule.BEFORE_SESSION
    ]
    if not stale:
        return
    result.occurrences_cancelled += Occurrence.objects.filter(
        pk__in=stale, status=Occurrence.Status.PENDING
    ).update(status=Occurrence.Status.CANCELLED)
    ReminderDelivery.objects.filter(occurrence_id__in=stale, status=ReminderDelivery.Status.PENDING).update(
        status=ReminderDelivery.Status.CANCELLED, last_error="The session it was for moved or was cancelled."
    )


def _reminders_create(
    pending: list[tuple[int, Due, _Assigned]], *, new_occurrences: set[int], result: PlanResult
) -> None:
    """One reminder row per pending occurrence for the partner's channel as it is now. Consent,
    address and every other rule are checked again when it is sent. (An occurrence this chunk
    has just inserted has no reminder yet: only the others are looked up.)"""
    pending = [item for item in pending if item[2].channel in REMINDED_CHANNELS]
    if not pending:
        return
    looked_up = [pk for pk, _, _ in pending if pk not in new_occurrences]
    have = set()
    if looked_up:
        have = set(
            ReminderDelivery.objects.filter(occurrence_id__in=looked_up, kind=ReminderDelivery.Kind.REMINDER)
            .order_by()
            .values_list("occurrence_id", "channel")
        )
    rows = [(pk, due, pair) for pk, due, pair in pending if (pk, pair.channel) not in have]
    if not rows:
        return
    inserted = rows_insert(
        ReminderDelivery,
        {
            "practice_id": [pair.practice_id for _, _, pair in rows],
            "couple_id": [pair.couple_id for _, _, pair in rows],
            "occurrence_id": [pk for pk, _, _ in rows],
            "partner_id": [pair.partner_id for _, _, pair in rows],
            "channel": [pair.channel for _, _, pair in rows],
            "kind": [ReminderDelivery.Kind.REMINDER.value] * len(rows),
            "next_attempt_at": [
                send_time(
                    due.due_at,
                    partner_id=pair.partner_id,
                    zone=pair.zone,
                    quiet_start=pair.quiet_start,
                    quiet_end=pair.quiet_end,
                )
                for _, due, pair in rows
            ],
        },
        returning=("id",),
    )
    result.reminders_created += len(rows) if inserted is None else len(inserted)


# NUDGES
# ------------------------------------------------------------------------------
def plan_nudges(*, now: datetime.datetime | None = None, chunk_size: int = PLAN_CHUNK) -> int:
    """A nudge for the partner who has not done joint homework (same assignment, same local due
    date) NUDGE_AFTER_HOURS after the other partner did and after their own due time. Once per
    occurrence (unique constraint). It says nothing about the other partner."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(hours=cyclecare_settings.NUDGE_AFTER_HOURS)
    too_old = now - datetime.timedelta(hours=cyclecare_settings.MISSED_AFTER_HOURS)
    partner_done = Occurrence.objects.filter(
        assignment_id=OuterRef("assignment_id"),
        local_due_date=OuterRef("local_due_date"),
        status=Occurrence.Status.COMPLETED,
        completed_at__lte=cutoff,
    ).exclude(partner_id=OuterRef("partner_id"))
    nudged = ReminderDelivery.objects.filter(occurrence_id=OuterRef("pk"), kind=ReminderDelivery.Kind.NUDGE)
    flagged = SafetyFlag.objects.filter(holding_flags(), couple_id=OuterRef("assignment__couple_id"))
    candidates = (
        Occurrence.objects.filter(
            status=Occurrence.Status.PENDING,
            due_at__gt=too_old,
            due_at__lte=cutoff,
            assignment__status=Assignment.Status.ACTIVE,
            assignment__couple__status=Couple.Status.ACTIVE,
            partner__is_active=True,
            partner__preferred_channel__in=REMINDED_CHANNELS,
        )
        .filter(Exists(partner_done))
        .exclude(Exists(nudged))
        .exclude(Exists(flagged))
        .order_by("pk")
        .values_list(
            "pk",
            "practice_id",
            "assignment__couple_id",
            "partner_id",
            "partner__time_zone",
            "partner__quiet_hours_start",
            "partner__quiet_hours_end",
            "partner__preferred_channel",
        )
    )
    created = 0
    last = 0
    while True:
        chunk = list(candidates.filter(pk__gt=last)[:chunk_size])
        if not chunk:
            return created
        rows = [
            ReminderDelivery(
                practice_id=practice_id,
                couple_id=couple_id,
                occurrence_id=pk,
                partner_id=partner_id,
                channel=channel,
                kind=ReminderDelivery.Kind.NUDGE,
                next_attempt_at=send_time(
                    now, partner_id=partner_id, zone=zone, quiet_start=q_start, quiet_end=q_end
                ),
            )
            for pk, practice_id, couple_id, partner_id, zone, q_start, q_end, channel in chunk
        ]
        ReminderDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        created += len(rows)
        last = chunk[-1][0]


# PERIODIC ENTRY POINT
# ------------------------------------------------------------------------------
def plan_periodic(*, budget_seconds: float = 480.0) -> PlanResult:
    """One planner run for the beat: resumes where a run that ran out of time stopped (the
    cursor lives in the cache), so every assignment is planned even when a pass takes longer
    than one run; then writes nudges."""
    start_after = cache.get(PLAN_CURSOR_KEY, 0)
    result = plan(start_after=start_after, deadline=time.monotonic() + budget_seconds)
    if result.complete:
        cache.delete(PLAN_CURSOR_KEY)
    else:
        cache.set(PLAN_CURSOR_KEY, result.cursor, timeout=24 * 3600)
    result.nudges_created = plan_nudges()
    logger.info(
        "reminders planned: %s assignments, %s occurrences, %s reminders, %s nudges%s",
        result.assignments,
        result.occurrences_created,
        result.reminders_created,
        result.nudges_created,
        "" if result.complete else f" (resumes after assignment {result.cursor})",
    )
    return result
