"""Trends over a couple's between-session record: episodes by week, adherence, the cycle's
metrics, the dyadic outcome (both partners' CSI totals) and whether episodes are rising.

Pure functions over *scoped* querysets (the caller passes ``episodes_visible_to(user=...)`` and
friends, so scope is decided where it always is) or over the values they return. Everything that
grows with history is aggregated in SQL — one grouped query per series — so two years of daily
check-ins cost what two weeks do. Weeks start on Monday in the practice's time zone.

Definitions (shown to the clinician beside the figures):
- *frequency*: episodes per week; *intensity*: mean 0–10 intensity;
- *repair success*: episodes whose repair worked ÷ episodes where one was attempted;
- *minutes to repair*: mean duration of the episodes whose repair worked;
- *role rigidity*: for each partner, the share of episodes (with that partner's position
  recorded) in which they held their usual position (pursuer or withdrawer);
- *adherence*: occurrences completed ÷ occurrences due (cancelled ones are not due);
- *rising*: at least ``RISING_MIN_INCREASE`` more episodes in the last ``RISING_WINDOW_DAYS``
  days than in the same number of days before.
"""

import datetime
import zoneinfo
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, DateField, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, TruncWeek

from . import scoring

RISING_WINDOW_DAYS = 14
RISING_MIN_INCREASE = 2
ADHERENCE_DAYS = 14
# The instruments whose totals make the dyadic outcome chart, most preferred first.
OUTCOME_CODES = ("csi-4", "csi-16")
NOT_DUE = ("cancelled",)  # Occurrence.Status.CANCELLED: withdrawn homework was never due


# WEEKS
# ------------------------------------------------------------------------------
def week_start(day: datetime.date) -> datetime.date:
    """The Monday of ``day``'s week."""
    return day - datetime.timedelta(days=day.weekday())


def weeks_ending(today: datetime.date, count: int) -> list[datetime.date]:
    """The Mondays of the ``count`` weeks up to and including ``today``'s, oldest first."""
    last = week_start(today)
    return [last - datetime.timedelta(weeks=n) for n in range(count - 1, -1, -1)]


def week_of(field_name: str, zone: zoneinfo.ZoneInfo) -> TruncWeek:
    """The Monday (in ``zone``) of a datetime column, in SQL."""
    return TruncWeek(field_name, tzinfo=zone, output_field=DateField())


def _start_of(day: datetime.date, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


# EPISODES BY WEEK AND THE CYCLE'S METRICS
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EpisodeWeek:
    """The episodes of one week (or of any group a report makes: ``week`` is then None)."""

    week: datetime.date | None
    episodes: int = 0
    mean_intensity: float | None = None
    repairs_attempted: int = 0
    repairs_worked: int = 0
    minutes_to_repair: float | None = None
    # partner id → episodes in which the partner pursued / withdrew
    pursued: dict[int, int] = field(default_factory=dict)
    withdrew: dict[int, int] = field(default_factory=dict)

    @property
    def repair_rate(self) -> float | None:
        return self.repairs_worked / self.repairs_attempted if self.repairs_attempted else None


def episode_aggregates() -> dict[str, Any]:
    """The cycle's figures of a group of episodes, aggregated in SQL — the one definition the
    couple page and the practice reports share (see the module docstring)."""
    return {
        "episodes": Count("pk"),
        "mean_intensity": Avg("intensity"),
        "repairs_attempted": Count("pk", filter=Q(repair_attempted=True)),
        "repairs_worked": Count("pk", filter=Q(repair_worked=True)),
        "minutes_to_repair": Avg("duration_minutes", filter=Q(repair_worked=True)),
    }


def episode_group(row: dict[str, Any], *, week: datetime.date | None = None, **positions: Any) -> EpisodeWeek:
    """An ``EpisodeWeek`` from a row aggregated with ``episode_aggregates``."""
    return EpisodeWeek(
        week=week,
        episodes=row["episodes"],
        mean_intensity=_float(row["mean_intensity"]),
        repairs_attempted=row["repairs_attempted"],
        repairs_worked=row["repairs_worked"],
        minutes_to_repair=_float(row["minutes_to_repair"]),
        **positions,
    )


def episode_weeks(
    episodes: QuerySet,
    *,
    partner_ids: tuple[int, ...],
    weeks: list[datetime.date],
    zone: zoneinfo.ZoneInfo,
) -> list[EpisodeWeek]:
    """One row per week in ``weeks`` (Mondays, oldest first), weeks without episodes included —
    from one grouped query over the (already scoped and couple-filtered) episodes."""
    positions: dict[str, Any] = {}
    for partner_id in partner_ids:
        positions[f"p{partner_id}"] = Count("pk", filter=Q(pursuer_id=partner_id))
        positions[f"w{partner_id}"] = Count("pk", filter=Q(withdrawer_id=partner_id))
    rows = (
        episodes.filter(occurred_at__gte=_start_of(weeks[0], zone))
        .annotate(week=week_of("occurred_at", zone))
        .order_by()
        .values("week")
        .annotate(**episode_aggregates(), **positions)
    )
    by_week = {}
    for row in rows:
        by_week[row["week"]] = episode_group(
            row,
            week=row["week"],
            pursued={pid: row[f"p{pid}"] for pid in partner_ids},
            withdrew={pid: row[f"w{pid}"] for pid in partner_ids},
        )
    return [by_week.get(week) or EpisodeWeek(week=week) for week in weeks]


@dataclass(frozen=True)
class Rigidity:
    """How fixed one partner's position is: ``share`` of ``episodes`` in the ``position``."""

    partner_id: int
    position: str | None  # "pursue" / "withdraw"; None with no positions recorded
    share: float | None
    episodes: int


@dataclass(frozen=True)
class CycleMetrics:
    weeks: int
    episodes: int
    per_week: float
    mean_intensity: float | None
    repair_rate: float | None
    repairs_attempted: int
    minutes_to_repair: float | None
    rigidity: list[Rigidity]


def cycle_metrics(weeks: list[EpisodeWeek], *, partner_ids: tuple[int, ...]) -> CycleMetrics:
    """Frequency, intensity, repair and role rigidity over the given weeks (weighted by episodes,
    not averaged week by week)."""
    episodes = sum(w.episodes for w in weeks)
    attempted = sum(w.repairs_attempted for w in weeks)
    worked = sum(w.repairs_worked for w in weeks)
    rigidity = []
    for pid in partner_ids:
        pursued = sum(w.pursued.get(pid, 0) for w in weeks)
        withdrew = sum(w.withdrew.get(pid, 0) for w in weeks)
        held = pursued + withdrew
        if not held:
            rigidity.append(Rigidity(partner_id=pid, position=None, share=None, episodes=0))
            continue
        position = "pursue" if pursued >= withdrew else "withdraw"
        rigidity.append(
            Rigidity(partner_id=pid, position=position, share=max(pursued, withdrew) / held, episodes=held)
        )
    return CycleMetrics(
        weeks=len(weeks),
        episodes=episodes,
        per_week=episodes / len(weeks) if weeks else 0.0,
        mean_intensity=_weighted(weeks, "mean_intensity", "episodes"),
        repair_rate=worked / attempted if attempted else None,
        repairs_attempted=attempted,
        minutes_to_repair=_weighted(weeks, "minutes_to_repair", "repairs_worked"),
        rigidity=rigidity,
    )


def _weighted(weeks: list[EpisodeWeek], mean: str, weight: str) -> float | None:
    pairs = [(getattr(w, mean), getattr(w, weight)) for w in weeks if getattr(w, mean) is not None]
    total = sum(n for _, n in pairs)
    return sum(m * n for m, n in pairs) / total if total else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# ADHERENCE
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adherence:
    due: int = 0
    completed: int = 0

    @property
    def rate(self) -> float | None:
        return self.completed / self.due if self.due else None


def adherence_weeks(
    occurrences: QuerySet,
    *,
    partner_ids: tuple[int, ...],
    weeks: list[datetime.date],
    zone: zoneinfo.ZoneInfo,
    now: datetime.datetime,
) -> dict[int, list[Adherence]]:
    """Per partner, per week in ``weeks``: occurrences due by ``now`` and how many were
    completed — one grouped query over the (scoped, couple-filtered) occurrences."""
    rows = (
        occurrences.filter(due_at__gte=_start_of(weeks[0], zone), due_at__lte=now)
        .exclude(status__in=NOT_DUE)
        .annotate(week=week_of("due_at", zone))
        .order_by()
        .values("partner_id", "week")
        .annotate(due=Count("pk"), completed=Count("pk", filter=Q(status="completed")))
    )
    found = {(row["partner_id"], row["week"]): Adherence(row["due"], row["completed"]) for row in rows}
    return {pid: [found.get((pid, week), Adherence()) for week in weeks] for pid in partner_ids}


def adherence_total(weeks: list[Adherence]) -> Adherence:
    return Adherence(sum(w.due for w in weeks), sum(w.completed for w in weeks))


# THE CASELOAD: PER-PARTNER ACTIVITY AND RISING EPISODES
# ------------------------------------------------------------------------------
def _count_of(queryset: QuerySet, key: str) -> Coalesce:
    counted = queryset.order_by().values(key).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def partners_with_last_checkin(partners: QuerySet, *, checkins: QuerySet) -> QuerySet:
    """Partners annotated with ``last_checkin_at`` (a correlated subquery that walks the
    check-ins' (partner, submitted_at) index: one query, however long the history)."""
    latest = checkins.filter(partner_id=OuterRef("pk")).order_by("-submitted_at").values("submitted_at")[:1]
    return partners.annotate(last_checkin_at=Subquery(latest))


def adherence_by_partner(
    occurrences: QuerySet, *, now: datetime.datetime, days: int = ADHERENCE_DAYS
) -> dict[int, Adherence]:
    """Per partner: occurrences due in the last ``days`` days and how many were completed (one
    grouped query over the scoped occurrences; partners with nothing due are absent)."""
    rows = (
        occurrences.filter(due_at__gte=now - datetime.timedelta(days=days), due_at__lte=now)
        .exclude(status__in=NOT_DUE)
        .order_by()
        .values("partner_id")
        .annotate(due=Count("pk"), completed=Count("pk", filter=Q(status="completed")))
    )
    return {row["partner_id"]: Adherence(row["due"], row["completed"]) for row in rows}


def couples_with_episode_trend(
    couples: QuerySet, *, episodes: QuerySet, now: datetime.datetime, days: int = RISING_WINDOW_DAYS
) -> QuerySet:
    """Couples annotated with ``episodes_recent`` (the last ``days`` days) and
    ``episodes_before`` (the ``days`` days before that)."""
    recent_start = now - datetime.timedelta(days=days)
    before_start = recent_start - datetime.timedelta(days=days)
    of_couple = episodes.filter(couple_id=OuterRef("pk"))
    return couples.annotate(
        episodes_recent=_count_of(
            of_couple.filter(occurred_at__gte=recent_start, occurred_at__lte=now), "couple_id"
        ),
        episodes_before=_count_of(
            of_couple.filter(occurred_at__gte=before_start, occurred_at__lt=recent_start), "couple_id"
        ),
    )


def is_rising(recent: int, before: int, *, min_increase: int = RISING_MIN_INCREASE) -> bool:
    """Rising: at least ``min_increase`` more episodes in the recent window than the one before."""
    return recent - before >= min_increase


def days_since(
    moment: datetime.datetime | None, *, now: datetime.datetime, zone: zoneinfo.ZoneInfo
) -> int | None:
    """Whole calendar days between ``moment`` and ``now`` in the practice's time zone."""
    if moment is None:
        return None
    return (now.astimezone(zone).date() - moment.astimezone(zone).date()).days


# THE DYADIC OUTCOME
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Score:
    at: datetime.datetime
    total: float


IMPROVING = (scoring.Trajectory.RECOVERED, scoring.Trajectory.IMPROVED)


@dataclass(frozen=True)
class DyadicOutcome:
    """Both partners' totals on one instrument, with its published cutoff and reliable change.

    *Divergence* (the couple page's alert) needs a reliable-change threshold and is either of:
    one partner reliably improved (recovered or improved) while the other reliably deteriorated;
    or the gap between the partners' totals grew, from their first scores to their latest, by
    more than the threshold — a gap they came in with is not an alert, one that opened is."""

    code: str
    name: str
    series: dict[int, list[Score]]  # partner id → scores, oldest first
    cutoff: float | None
    cutoff_label: str
    clinical_when: str | None
    threshold: float | None  # reliable-change threshold in points; None if there is none (yet)
    higher_is_better: bool
    trajectories: dict[int, str | None]  # partner id → scoring.Trajectory, first vs latest
    change_note: str = ""  # where the reliable-change figures come from (scoring.change_basis_note)

    def latest(self, partner_id: int) -> Score | None:
        scores = self.series.get(partner_id) or []
        return scores[-1] if scores else None

    def first(self, partner_id: int) -> Score | None:
        scores = self.series.get(partner_id) or []
        return scores[0] if scores else None

    def _gap(self, pick) -> float | None:
        scores = [pick(pid) for pid in self.series]
        if len(scores) < 2 or any(score is None for score in scores):
            return None
        return abs(scores[0].total - scores[1].total)

    @property
    def divergence(self) -> float | None:
        """Points between the partners' latest totals (None unless both have one)."""
        return self._gap(self.latest)

    @property
    def gap_growth(self) -> float | None:
        """How many points the gap between the partners grew from their first to their latest
        totals (negative when it narrowed; None unless both have one)."""
        first, latest = self._gap(self.first), self.divergence
        return None if first is None or latest is None else latest - first

    @property
    def opposite_change(self) -> bool:
        """One partner reliably improved while the other reliably deteriorated."""
        found = [t for t in self.trajectories.values() if t]
        return any(t in IMPROVING for t in found) and scoring.Trajectory.DETERIORATED in found

    @property
    def diverges(self) -> bool:
        if self.threshold is None:
            return False
        growth = self.gap_growth
        return self.opposite_change or (growth is not None and growth > self.threshold)


def outcome_scores(
    checkins: QuerySet, *, codes: tuple[str, ...] = OUTCOME_CODES, extra: Mapping[str, Any] | None = None
) -> list[dict]:
    """The scored check-ins on the outcome instruments, oldest first, each with the few facts of
    its instrument's definition the chart needs (read in SQL from the JSON, so no second query
    and no definition copied per row), and any ``extra`` annotations (the practice's intake
    baseline: cyclecare.reliable_change.baseline_annotations)."""
    extra = dict(extra or {})
    return list(
        checkins.filter(instrument__code__in=codes, total_score__isnull=False)
        .annotate(**extra)
        .order_by("submitted_at", "pk")
        .values(
            *extra,
            "partner_id",
            "submitted_at",
            "total_score",
            "instrument__code",
            "instrument__name",
            "instrument__definition__cutoff",
            "instrument__definition__reliable_change",
            "instrument__definition__higher_is_better",
        )
    )


def dyadic_outcome(
    rows: list[dict],
    *,
    partner_ids: tuple[int, ...],
    codes: tuple[str, ...] = OUTCOME_CODES,
    baselines: Mapping[str, scoring.Baseline] | None = None,
) -> DyadicOutcome | None:
    """The outcome of the most preferred instrument the couple has scores on, judged by the
    definition of its latest score's version (cutoff; reliable change by Jacobson & Truax).
    ``baselines`` (code → the practice's intake baseline, cyclecare.reliable_change) gives the
    SD of a rule that takes it from the practice; without it such a rule judges nothing."""
    present = {row["instrument__code"] for row in rows}
    code = next((c for c in codes if c in present), None)
    if code is None:
        return None
    rows = [row for row in rows if row["instrument__code"] == code and row["partner_id"] in partner_ids]
    if not rows:
        return None
    latest = rows[-1]
    cutoff = latest["instrument__definition__cutoff"] or None
    change = latest["instrument__definition__reliable_change"] or None
    higher = latest["instrument__definition__higher_is_better"]
    definition = {
        "cutoff": cutoff,
        "reliable_change": change,
        "higher_is_better": True if higher is None else bool(higher),
    }
    series: dict[int, list[Score]] = defaultdict(list)
    for row in rows:
        series[row["partner_id"]].append(Score(row["submitted_at"], float(Decimal(row["total_score"]))))
    baseline = (baselines or {}).get(code)
    baseline_sd = scoring.baseline_sd_for(change, baseline)
    trajectories: dict[int, str | None] = {}
    for pid in partner_ids:
        scores = series.get(pid) or []
        if change and len(scores) >= 2:
            trajectories[pid] = scoring.trajectory(
                definition, scores[0].total, scores[-1].total, baseline_sd=baseline_sd
            )
        else:
            trajectories[pid] = None
    return DyadicOutcome(
        code=code,
        name=latest["instrument__name"],
        series={pid: series.get(pid, []) for pid in partner_ids},
        cutoff=float(cutoff["value"]) if cutoff else None,
        cutoff_label=(cutoff or {}).get("label", ""),
        clinical_when=(cutoff or {}).get("clinical_when"),
        threshold=scoring.reliable_change_threshold(change, baseline_sd=baseline_sd) if change else None,
        higher_is_better=definition["higher_is_better"],
        trajectories=trajectories,
        change_note=scoring.change_basis_note(code, change, baseline),
    )


# THE TIMELINE
# ------------------------------------------------------------------------------
TIMELINE_COLUMNS = (
    "kind",
    "item_id",
    "at",
    "status",
    "detail",
    "partner_id",
    "other_partner_id",
    "by_partner_id",
    "number",
    "minutes",
    "score",
    "yes",
    "worked",
    "note_id",
    "note_format",
    "note_status",
)


@dataclass(frozen=True)
class TimelineEntry:
    kind: str  # "session", "episode", "checkin", "flag"
    item_id: int
    at: datetime.datetime
    status: str
    detail: str | None
    partner_id: int | None
    other_partner_id: int | None
    by_partner_id: int | None
    number: int | None
    minutes: int | None
    score: Decimal | None
    yes: bool | None
    worked: bool | None
    note_id: int | None
    note_format: str | None
    note_status: str | None


def _columns(queryset: QuerySet, **columns: Any) -> QuerySet:
    """One branch of the timeline's UNION: every column named, in TIMELINE_COLUMNS order."""
    from django.db.models import BooleanField, DateTimeField, DecimalField, F, TextField
    from django.db.models.functions import Cast

    types = {
        "kind": TextField(),
        "item_id": IntegerField(),
        "at": DateTimeField(),
        "status": TextField(),
        "detail": TextField(),
        "partner_id": IntegerField(),
        "other_partner_id": IntegerField(),
        "by_partner_id": IntegerField(),
        "number": IntegerField(),
        "minutes": IntegerField(),
        "score": DecimalField(max_digits=7, decimal_places=2),
        "yes": BooleanField(),
        "worked": BooleanField(),
        "note_id": IntegerField(),
        "note_format": TextField(),
        "note_status": TextField(),
    }
    annotations = {}
    for name in TIMELINE_COLUMNS:
        value = columns.get(name)
        if isinstance(value, str):
            value = F(value)
        elif value is None:
            # A typed NULL: PostgreSQL types an untyped NULL in a UNION's first branch as text.
            value = Cast(Value(None), output_field=types[name])
        annotations[f"t_{name}"] = value
    return queryset.order_by().prefetch_related(None).annotate(**annotations).values_list(*annotations)


def timeline_entries(
    *,
    sessions: QuerySet,
    notes: QuerySet,
    episodes: QuerySet,
    checkins: QuerySet,
    flags: QuerySet,
    since: datetime.datetime,
    until: datetime.datetime,
) -> list[TimelineEntry]:
    """Sessions (with their note's id, format and status — never its body), episodes, check-ins
    and safety flags in ``[since, until)``, most recent first, in one UNION query. Each queryset
    comes scoped and filtered to the couple by the caller."""
    from django.db.models import CharField

    note = notes.filter(session_id=OuterRef("pk"))
    branches = [
        _columns(
            sessions.filter(starts_at__gte=since, starts_at__lt=until),
            kind=Value("session", output_field=CharField()),
            item_id="pk",
            at="starts_at",
            status="status",
            detail="modality",
            partner_id="partner_id",
            number="duration_minutes",
            note_id=Subquery(note.values("pk")[:1], output_field=IntegerField()),
            note_format=Subquery(note.values("format")[:1], output_field=CharField()),
            note_status=Subquery(note.values("status")[:1], output_field=CharField()),
        ),
        _columns(
            episodes.filter(occurred_at__gte=since, occurred_at__lt=until),
            kind=Value("episode", output_field=CharField()),
            item_id="pk",
            at="occurred_at",
            status="source",
            partner_id="pursuer_id",
            other_partner_id="withdrawer_id",
            by_partner_id="reported_by_id",
            number="intensity",
            minutes="duration_minutes",
            yes="repair_attempted",
            worked="repair_worked",
        ),
        _columns(
            checkins.filter(submitted_at__gte=since, submitted_at__lt=until),
            kind=Value("checkin", output_field=CharField()),
            item_id="pk",
            at="submitted_at",
            status="instrument__code",
            detail="instrument__name",
            partner_id="partner_id",
            score="total_score",
            yes="shared_with_partner",
        ),
        _columns(
            flags.filter(raised_at__gte=since, raised_at__lt=until),
            kind=Value("flag", output_field=CharField()),
            item_id="pk",
            at="raised_at",
            status="status",
            detail="source",
            partner_id="partner_id",
        ),
    ]
    union = branches[0].union(*branches[1:], all=True).order_by("-t_at", "t_kind", "-t_item_id")
    return [TimelineEntry(*row) for row in union]
