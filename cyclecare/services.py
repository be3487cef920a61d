"""Writes for the cycle domain. Validated, transactional, audited; work enqueued on commit."""

import contextlib
import datetime
import json
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from clinician import events, writes
from clinician.audit import audit_event, audit_record
from clinician.conf import cyclecare_settings
from clinician.models import Clinician, Practice
from clinician.permissions import acting_clinician, require_couple_access, require_treating_access
from couples.models import Couple, Partner, TherapySession
from couples.services import require_sharing_allowed

from . import queue, scoring
from .instrument_files import InstrumentSpec, parse_instrument_file
from .models import (
    Assignment,
    CheckIn,
    CycleEpisode,
    CycleMap,
    CycleMapPosition,
    HomeworkTemplate,
    Instrument,
    Occurrence,
    SafetyFlag,
)

SHIPPED_INSTRUMENTS_DIR = Path(__file__).resolve().parent / "instruments"
# Clocks drift and phones lie a little; "in the future" means more than this ahead.
CLOCK_SKEW = datetime.timedelta(minutes=5)
POSITION_FIELDS = (
    "move",
    "trigger",
    "perception",
    "surface_emotion",
    "underlying_emotion",
    "move_detail",
    "longing",
)


# CYCLE MAPS
# ------------------------------------------------------------------------------
@transaction.atomic
def cycle_map_save(
    *,
    user: AbstractBaseUser,
    couple: Couple,
    positions: Iterable[dict[str, Any]],
    summary: str = "",
) -> CycleMap:
    """Save a new version of the couple's cycle map; earlier versions stay as history.

    ``positions`` holds one dict per partner: ``partner`` plus the POSITION_FIELDS.
    """
    couple = Couple.objects.select_for_update().get(pk=couple.pk)
    author = require_treating_access(user, couple)
    positions = list(positions)
    partner_ids = [p.get("partner").pk if p.get("partner") else None for p in positions]
    active = set(couple.partners.filter(is_active=True).values_list("pk", flat=True))
    if set(partner_ids) != active:
        raise ValidationError({"positions": "Map each active partner of this couple, and only them."})
    if len(set(partner_ids)) != len(partner_ids):
        raise ValidationError({"positions": "Each partner appears once in a map."})
    for position in positions:
        unknown = set(position) - {"partner", *POSITION_FIELDS}
        if unknown:
            raise ValidationError({name: "Not a field of a cycle-map position." for name in sorted(unknown)})
    latest = couple.cycle_maps.aggregate(latest=Max("version"))["latest"] or 0
    cycle_map = CycleMap(
        practice_id=couple.practice_id, couple=couple, version=latest + 1, summary=summary, created_by=author
    )
    cycle_map.full_clean()
    cycle_map.save()
    for position in positions:
        row = CycleMapPosition(cycle_map=cycle_map, **position)
        row.full_clean(exclude=["cycle_map"])
        row.save()
    audit_record(actor=user, action="cyclemap.save", target=cycle_map)
    return cycle_map


# EPISODES
# ------------------------------------------------------------------------------
@transaction.atomic
def episode_record(
    *,
    actor: AbstractBaseUser | Partner,
    couple: Couple,
    occurred_at: datetime.datetime,
    intensity: int,
    pursuer: Partner | None = None,
    withdrawer: Partner | None = None,
    duration_minutes: int | None = None,
    repair_attempted: bool = False,
    repair_worked: bool | None = None,
    trigger: str = "",
    notes: str = "",
    session: TherapySession | None = None,
    shared_with_partner: bool = False,
) -> CycleEpisode:
    """Record an episode of the cycle, seen in session (clinician) or self-reported (partner).
    Only a partner's self-report may be shared with the other partner, and not in an individual
    case (``couples.services.sharing_allowed``); what the clinician saw stays private."""
    episode = CycleEpisode(
        practice_id=couple.practice_id,
        couple=couple,
        occurred_at=occurred_at,
        intensity=intensity,
        pursuer=pursuer,
        withdrawer=withdrawer,
        duration_minutes=duration_minutes,
        repair_attempted=repair_attempted,
        repair_worked=repair_worked,
        trigger=trigger,
        notes=notes,
        session=session,
        shared_with_partner=shared_with_partner,
    )
    if isinstance(actor, Partner):
        if actor.couple_id != couple.pk or not actor.is_active:
            raise ValidationError({"couple": "You can log episodes only for your own couple."})
        if session is not None:
            raise ValidationError({"session": "Only the clinician links an episode to a session."})
        if shared_with_partner:
            require_sharing_allowed(couple)
        episode.source = CycleEpisode.Source.SELF_REPORT
        episode.reported_by = actor
    else:
        episode.source = CycleEpisode.Source.SESSION
        episode.recorded_by_clinician = require_treating_access(actor, couple)
        episode.shared_with_partner = False
    errors: dict[str, str] = {}
    for field, partner in (("pursuer", pursuer), ("withdrawer", withdrawer)):
        if partner is not None and partner.couple_id != couple.pk:
            errors[field] = "Choose a partner of this couple."
    if pursuer is not None and withdrawer is not None and pursuer.pk == withdrawer.pk:
        errors["withdrawer"] = "The pursuer and the withdrawer are different partners."
    if not isinstance(intensity, int) or isinstance(intensity, bool) or not 0 <= intensity <= 10:
        errors["intensity"] = "Intensity is a whole number from 0 to 10."
    if timezone.is_naive(occurred_at):
        errors["occurred_at"] = "Give the time with its time zone."
    elif occurred_at > timezone.now() + CLOCK_SKEW:
        errors["occurred_at"] = "An episode cannot be in the future."
    if repair_worked is not None and not repair_attempted:
        errors["repair_worked"] = "Say a repair was attempted before saying whether it worked."
    if session is not None and session.couple_id != couple.pk:
        errors["session"] = "That session is not this couple's."
    if errors:
        raise ValidationError(errors)
    episode.full_clean()
    episode.save()
    audit_record(actor=actor, action="episode.record", target=episode)
    events.publish(
        "episode.recorded",
        practice_id=episode.practice_id,
        data={
            "episode_id": episode.pk,
            "couple_id": episode.couple_id,
            "source": episode.source,
            "occurred_at": episode.occurred_at,
        },
    )
    return episode


# INSTRUMENTS
# ------------------------------------------------------------------------------
@transaction.atomic
def instrument_create(
    *,
    code: str,
    name: str,
    definition: dict,
    version: int = 1,
    practice: Practice | None = None,
    licence: str = "",
) -> Instrument:
    """Add a versioned instrument; the definition is validated before anything is saved."""
    scoring.validate_definition(definition)
    instrument = Instrument(
        practice=practice, code=code, version=version, name=name, definition=definition, licence=licence
    )
    instrument.full_clean()
    try:
        with transaction.atomic():
            instrument.save()
    except IntegrityError:
        raise ValidationError({"version": f"{code} v{version} already exists."}) from None
    audit_record(actor=None, action="instrument.create", target=instrument)
    return instrument


@dataclass(frozen=True)
class LoadResult:
    instrument: Instrument
    deactivated: list[Instrument]


@transaction.atomic
def instrument_load(
    spec: InstrumentSpec,
    *,
    practice: Practice | None,
    replace_inactive: bool = False,
    actor: object = None,
) -> LoadResult:
    """Create the instrument a spec describes (for a practice, or shipped when practice is None).

    A code and version already loaded there is refused: versions are immutable, a change is a new
    version. With ``replace_inactive`` the new version replaces the earlier ones, which are marked
    inactive — they stay (check-ins and assignments that used them keep pointing at them) but are
    no longer offered for new assignments."""
    where = f"practice {practice.slug!r}" if practice is not None else "the shipped instruments"
    if Instrument.objects.filter(practice=practice, code=spec.code, version=spec.version).exists():
        raise ValidationError(
            f"{spec.code} version {spec.version} is already loaded for {where}. A loaded version never "
            "changes: to change the definition, give the file a new version number."
        )
    instrument = instrument_create(
        practice=practice,
        code=spec.code,
        version=spec.version,
        name=spec.name,
        definition=spec.definition,
        licence=spec.licence,
    )
    deactivated: list[Instrument] = []
    if replace_inactive:
        earlier = Instrument.objects.select_for_update().filter(
            practice=practice, code=spec.code, version__lt=spec.version, is_active=True
        )
        for old in earlier.order_by("version"):
            old.is_active = False
            old.save(update_fields=["is_active"])
            audit_record(actor=actor, action="instrument.deactivate", target=old, changes=["is_active"])
            deactivated.append(old)
    return LoadResult(instrument=instrument, deactivated=deactivated)


def instruments_install_shipped() -> list[Instrument]:
    """Load the instruments cyclecare ships (cyclecare/instruments/*.json), the current version of
    each; idempotent. A file whose version is not installed yet is checked like an uploaded one
    and installed, and the earlier shipped versions of its code are marked inactive: check-ins
    and homework keep the version they used, new homework gets the current one."""
    installed = []
    for path in sorted(SHIPPED_INSTRUMENTS_DIR.glob("*.json")):
        spec = parse_instrument_file(path.read_text(encoding="utf-8"), filename=path.name)
        existing = Instrument.objects.filter(practice=None, code=spec.code, version=spec.version).first()
        if existing is None:
            existing = instrument_load(spec, practice=None, replace_inactive=True).instrument
        installed.append(existing)
    return installed


# ASSIGNMENTS AND OCCURRENCES
# ------------------------------------------------------------------------------
@transaction.atomic
def assignment_create(
    *,
    user: AbstractBaseUser,
    couple: Couple,
    partners: Iterable[Partner],
    kind: str,
    title: str,
    schedule: str,
    starts_on: datetime.date,
    instructions: str = "",
    instrument: Instrument | None = None,
    local_time: datetime.time | None = None,
    weekdays: int = 0,
    hours_before_session: int | None = None,
    ends_on: datetime.date | None = None,
) -> Assignment:
    """Assign homework to one or both partners on a schedule kept in each partner's own zone."""
    assigned_by = require_treating_access(user, couple)
    partners = list(partners)
    if not partners or any(p.couple_id != couple.pk or not p.is_active for p in partners):
        raise ValidationError({"partners": "Choose one or both active partners of this couple."})
    if instrument is not None and instrument.practice_id not in (None, couple.practice_id):
        raise ValidationError({"instrument": "Choose an instrument available to this practice."})
    if instrument is not None and instrument.definition.get("individual_only") and len(partners) != 1:
        raise ValidationError({"partners": f"{instrument.name} is assigned to one partner at a time."})
    assignment = Assignment(
        practice_id=couple.practice_id,
        couple=couple,
        assigned_by=assigned_by,
        kind=kind,
        title=title.strip(),
        instructions=instructions,
        instrument=instrument,
        schedule=schedule,
        local_time=local_time,
        weekdays=weekdays,
        hours_before_session=hours_before_session,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    _validate_schedule(assignment)
    assignment.full_clean()
    assignment.save()
    assignment.partners.set(partners)
    audit_record(actor=user, action="assignment.create", target=assignment)
    return assignment


def _validate_schedule(assignment: Assignment) -> None:
    errors = {}
    kind = assignment.schedule
    if kind in (Assignment.Schedule.DAILY, Assignment.Schedule.WEEKDAYS, Assignment.Schedule.WEEKLY):
        if assignment.local_time is None:
            errors["local_time"] = "Choose the local time of day."
    if kind == Assignment.Schedule.WEEKDAYS and not 0 < assignment.weekdays <= 127:
        errors["weekdays"] = "Choose at least one weekday."
    if kind == Assignment.Schedule.WEEKLY and assignment.weekdays not in (1, 2, 4, 8, 16, 32, 64):
        errors["weekdays"] = "Choose the one weekday it repeats on."
    if kind == Assignment.Schedule.BEFORE_SESSION and not (
        1 <= (assignment.hours_before_session or 0) <= 168
    ):
        errors["hours_before_session"] = "Choose 1 to 168 hours before the session."
    if assignment.ends_on and assignment.ends_on < assignment.starts_on:
        errors["ends_on"] = "The end date is before the start date."
    if assignment.kind == Assignment.Kind.CHECK_IN and assignment.instrument is None:
        errors["instrument"] = "A check-in assignment needs an instrument."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def assignment_set_status(*, user: AbstractBaseUser, assignment: Assignment, status: str) -> Assignment:
    """Pause, resume or end homework. Pending occurrences of ended homework are cancelled."""
    if status not in Assignment.Status.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    assignment = (
        Assignment.objects.select_for_update(of=("self",)).select_related("couple").get(pk=assignment.pk)
    )
    require_treating_access(user, assignment.couple)
    if assignment.status == Assignment.Status.ENDED:
        raise ValidationError({"status": "Ended homework cannot be restarted; assign it again."})
    assignment.status = status
    assignment.save(update_fields=["status"])
    if status == Assignment.Status.ENDED:
        assignment.occurrences.filter(status=Occurrence.Status.PENDING).update(
            status=Occurrence.Status.CANCELLED
        )
    audit_record(actor=user, action=f"assignment.{status}", target=assignment, changes=["status"])
    return assignment


def local_to_utc(local_date: datetime.date, local_time: datetime.time, zone: str) -> datetime.datetime:
    """The UTC instant of a partner's wall-clock time. In a spring-forward gap the reminder moves
    to just after the jump; in a fall-back repeat it happens once, at the first (fold=0)."""
    # PEP 495, fold=0: a nonexistent wall time takes the offset from before the jump (02:30 CST
    # = 03:30 CDT, after it); a repeated wall time takes its first instance. (fold=1 would put a
    # gap time an hour early, before the jump.)
    aware = datetime.datetime.combine(local_date, local_time, tzinfo=zoneinfo.ZoneInfo(zone))
    return aware.astimezone(datetime.UTC)


@transaction.atomic
def occurrence_materialise(
    *, assignment: Assignment, partner: Partner, local_due_date: datetime.date, local_due_time: datetime.time
) -> tuple[Occurrence, bool]:
    """The occurrence for this partner's local due date/time, created once (unique constraint)."""
    assignment = Assignment.objects.get(pk=assignment.pk)
    if not assignment.partners.filter(pk=partner.pk).exists():
        raise ValidationError({"partner": "This partner is not assigned this homework."})
    if assignment.status != Assignment.Status.ACTIVE:
        raise ValidationError({"assignment": "This homework is paused or ended."})
    if local_due_date < assignment.starts_on or (assignment.ends_on and local_due_date > assignment.ends_on):
        raise ValidationError({"local_due_date": "This date is outside the homework's start and end dates."})
    try:
        with transaction.atomic():
            return Occurrence.objects.get_or_create(
                assignment=assignment,
                partner=partner,
                local_due_date=local_due_date,
                local_due_time=local_due_time,
                defaults={
                    "practice_id": assignment.practice_id,
                    "due_at": local_to_utc(local_due_date, local_due_time, partner.time_zone),
                },
            )
    except IntegrityError:
        # A concurrent dispatcher created it first.
        return (
            Occurrence.objects.get(
                assignment=assignment,
                partner=partner,
                local_due_date=local_due_date,
                local_due_time=local_due_time,
            ),
            False,
        )


def occurrences_mark_missed(*, now: datetime.datetime | None = None, batch_size: int = 500) -> int:
    """Mark pending occurrences due more than MISSED_AFTER_HOURS ago as missed, and publish
    ``assignment.missed`` for each. Runs in short batches; rows another worker holds are
    skipped (a late check-in may still complete a missed occurrence). Returns how many."""
    cutoff = (now or timezone.now()) - datetime.timedelta(hours=cyclecare_settings.MISSED_AFTER_HOURS)
    marked = 0
    while True:
        with transaction.atomic():
            batch = list(
                Occurrence.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=Occurrence.Status.PENDING, due_at__lt=cutoff)
                .select_related("assignment")
                .order_by("due_at", "pk")[:batch_size]
            )
            if not batch:
                return marked
            Occurrence.objects.filter(pk__in=[o.pk for o in batch]).update(status=Occurrence.Status.MISSED)
            for occurrence in batch:
                audit_record(actor=None, action="occurrence.missed", target=occurrence, changes=["status"])
                events.publish(
                    "assignment.missed",
                    practice_id=occurrence.practice_id,
                    data={
                        "assignment_id": occurrence.assignment_id,
                        "occurrence_id": occurrence.pk,
                        "partner_id": occurrence.partner_id,
                        "couple_id": occurrence.assignment.couple_id,
                        "due_at": occurrence.due_at,
                    },
                )
        marked += len(batch)
        if len(batch) < batch_size:
            return marked


# CHECK-INS
# ------------------------------------------------------------------------------
def checkin_submit(
    *,
    partner: Partner,
    instrument: Instrument,
    answers: dict[str, Any],
    occurrence: Occurrence | None = None,
    shared_with_partner: bool = False,
    submitted_at: datetime.datetime | None = None,
    recorded_by: object | None = None,
) -> CheckIn:
    """Save a partner's check-in with its scores; complete the occurrence; raise a safety flag
    on a positive safety answer or a clinical screen. One check-in per occurrence. Shared with
    the other partner only where there is one (``couples.services.sharing_allowed``).

    ``recorded_by`` is the clinician or integration client entering it for the partner (a paper
    check-in, an import); None when the partner submits it themselves.

    Most check-ins (no occurrence to complete, no flag to raise) write only new rows: the
    check-in, its audit event and the webhook outbox. Those go in as one statement
    (``clinician.writes``), which needs no transaction of its own; the rest run in one."""
    if recorded_by is not None:
        require_couple_access(recorded_by, partner.couple)
    if not partner.is_active:
        raise ValidationError({"partner": "This partner is no longer in treatment."})
    if shared_with_partner:
        require_sharing_allowed(partner.couple)
    if instrument.practice_id not in (None, partner.practice_id):
        raise ValidationError({"instrument": "This instrument is not available here."})
    # A replaced version still completes the homework assigned it (the occurrence must name
    # it, below); a check-in of its own takes a current one.
    if not instrument.is_active and occurrence is None:
        raise ValidationError({"instrument": "This version is no longer in use; record the current one."})
    cleaned = scoring.clean_answers(instrument.definition, answers)
    scores = scoring.score(instrument.definition, cleaned)
    if scoring.safety_items_positive(instrument.definition, cleaned):
        flag_source = SafetyFlag.Source.CHECK_IN
    elif instrument.definition.get("safety_flag_when_clinical") and scores["clinical"]:
        flag_source = SafetyFlag.Source.SCREEN
    else:
        flag_source = None
    only_new_rows = occurrence is None and flag_source is None
    with contextlib.nullcontext() if only_new_rows else transaction.atomic():
        if occurrence is not None:
            occurrence = _occurrence_to_complete(occurrence, partner=partner, instrument=instrument)
        now = timezone.now()
        if submitted_at is not None and submitted_at > now + CLOCK_SKEW:
            raise ValidationError({"submitted_at": "A check-in cannot be submitted in the future."})
        submitted_at = min(submitted_at or now, now)
        checkin = CheckIn(
            practice_id=partner.practice_id,
            couple_id=partner.couple_id,
            partner=partner,
            instrument=instrument,
            occurrence=occurrence,
            submitted_at=submitted_at,
            answers=cleaned,
            total_score=scores["total"],
            subscale_scores=scores["subscales"],
            shared_with_partner=shared_with_partner,
        )
        # The partner (with its couple and practice) and the instrument were just read, so
        # full_clean need not query each again to prove it exists (four SELECTs); the foreign
        # keys still hold.
        checkin.full_clean(exclude=["answers", "practice", "couple", "partner", "instrument"])
        with writes.together() as new:
            new.add(checkin)
            new.add(audit_event(actor=recorded_by or partner, action="checkin.submit", target=checkin))
            # Ids only: answers and scores are PHI and stay here.
            events.publish(
                "checkin.completed",
                practice_id=checkin.practice_id,
                data={
                    "checkin_id": checkin.pk,
                    "partner_id": checkin.partner_id,
                    "couple_id": checkin.couple_id,
                    "instrument_code": instrument.code,
                    "occurrence_id": checkin.occurrence_id,
                    "submitted_at": checkin.submitted_at,
                },
                writes=new,
            )
        if occurrence is not None:
            occurrence.status = Occurrence.Status.COMPLETED
            occurrence.completed_at = submitted_at
            occurrence.save(update_fields=["status", "completed_at"])
        if flag_source is not None:
            safety_flag_raise(partner=partner, source=flag_source, checkin=checkin)
    return checkin


def _occurrence_to_complete(
    occurrence: Occurrence, *, partner: Partner, instrument: Instrument
) -> Occurrence:
    """The occurrence, locked, once it is the partner's open one for this instrument."""
    occurrence = (
        Occurrence.objects.select_for_update(of=("self",)).select_related("assignment").get(pk=occurrence.pk)
    )
    if occurrence.partner_id != partner.pk:
        raise ValidationError({"occurrence": "This check-in belongs to someone else."})
    if occurrence.assignment.instrument_id != instrument.pk:
        raise ValidationError({"instrument": "This is not the check-in that was assigned."})
    if occurrence.status == Occurrence.Status.COMPLETED:
        raise ValidationError(
            {"occurrence": ValidationError("This check-in is already completed.", code="already_completed")}
        )
    if occurrence.status == Occurrence.Status.CANCELLED:
        raise ValidationError({"occurrence": "This check-in was cancelled."})
    return occurrence


@transaction.atomic
def checkin_set_shared(*, partner: Partner, checkin: CheckIn, shared: bool) -> CheckIn:
    """The author alone decides whether their partner may see their shareable answers; an
    individual case has nobody to share with (stopping a share is always allowed)."""
    checkin = CheckIn.objects.select_for_update(of=("self",)).select_related("couple").get(pk=checkin.pk)
    if checkin.partner_id != partner.pk:
        raise ValidationError({"checkin": "Only the author can share a check-in."})
    if shared:
        require_sharing_allowed(checkin.couple)
    checkin.shared_with_partner = shared
    checkin.save(update_fields=["shared_with_partner"])
    audit_record(actor=partner, action="checkin.share" if shared else "checkin.unshare", target=checkin)
    return checkin


# SAFETY FLAGS
# ------------------------------------------------------------------------------
@transaction.atomic
def safety_flag_raise(*, partner: Partner, source: str, checkin: CheckIn | None = None) -> SafetyFlag:
    """Open a flag for the clinician only, and email them (no PHI) once the flag is committed."""
    flag = SafetyFlag.objects.create(
        practice_id=partner.practice_id,
        couple_id=partner.couple_id,
        partner=partner,
        checkin=checkin,
        source=source,
        raised_at=timezone.now(),
    )
    audit_record(actor=partner, action="safetyflag.raise", target=flag)
    transaction.on_commit(lambda: queue.task("safety_flag_notify").delay(flag.pk))
    return flag


def safety_flag_notify_clinician(*, flag_id: int) -> bool:
    """Email the couple's clinician that a flag is open. Sent at most once per flag: the row is
    locked, re-checked, and stamped in the same transaction as the send."""
    with transaction.atomic():
        flag = (
            SafetyFlag.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=flag_id, clinician_notified_at__isnull=True)
            .select_related("couple__primary_clinician__user")
            .first()
        )
        if flag is None:
            return False
        clinician = flag.couple.primary_clinician
        address = getattr(clinician.user, "email", "")
        if address:
            link = f"{cyclecare_settings.SITE_URL.rstrip('/')}/"
            # No names, answers or couple labels: only that a flag exists and where to look.
            send_mail(
                subject="cyclecare: a safety flag needs your review",
                message=(
                    "A partner on your caseload answered a safety question in a way that needs your review.\n"
                    f"Sign in to cyclecare to see it (flag reference {flag.pk}): {link}\n"
                ),
                from_email=None,
                recipient_list=[address],
            )
        flag.clinician_notified_at = timezone.now()
        flag.save(update_fields=["clinician_notified_at"])
    return True


def safety_flags_pending_notification() -> list[int]:
    """Flags whose email should have gone out by now (the reconciler retries them)."""
    cutoff = timezone.now() - datetime.timedelta(seconds=cyclecare_settings.SAFETY_NOTIFY_RETRY_AFTER_SECONDS)
    return list(
        SafetyFlag.objects.filter(clinician_notified_at__isnull=True, raised_at__lte=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )


@transaction.atomic
def safety_flag_acknowledge(*, user: AbstractBaseUser, flag: SafetyFlag) -> SafetyFlag:
    flag = SafetyFlag.objects.select_for_update(of=("self",)).select_related("couple").get(pk=flag.pk)
    clinician = _clinical_access(user, flag.couple)
    if flag.status != SafetyFlag.Status.OPEN:
        raise ValidationError(
            {"status": ValidationError("Only an open flag can be acknowledged.", code="invalid_state")}
        )
    flag.status = SafetyFlag.Status.ACKNOWLEDGED
    flag.acknowledged_by = clinician
    flag.acknowledged_at = timezone.now()
    flag.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
    audit_record(actor=user, action="safetyflag.acknowledge", target=flag, changes=["status"])
    return flag


@transaction.atomic
def safety_flag_resolve(*, user: AbstractBaseUser, flag: SafetyFlag, resolution_note: str) -> SafetyFlag:
    flag = SafetyFlag.objects.select_for_update(of=("self",)).select_related("couple").get(pk=flag.pk)
    clinician = _clinical_access(user, flag.couple)
    if flag.status == SafetyFlag.Status.RESOLVED:
        raise ValidationError(
            {"status": ValidationError("This flag is already resolved.", code="invalid_state")}
        )
    if not resolution_note.strip():
        raise ValidationError({"resolution_note": "Say how the concern was addressed."})
    now = timezone.now()
    if flag.acknowledged_at is None:
        flag.acknowledged_by, flag.acknowledged_at = clinician, now
    flag.status = SafetyFlag.Status.RESOLVED
    flag.resolved_by = clinician
    flag.resolved_at = now
    flag.resolution_note = resolution_note.strip()
    flag.save(
        update_fields=[
            "status",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution_note",
        ]
    )
    audit_record(actor=user, action="safetyflag.resolve", target=flag, changes=["status", "resolution_note"])
    return flag


def _clinical_access(user: AbstractBaseUser, couple: Couple) -> Clinician:
    """Safety flags are clinical: the treating clinician or their supervisor, not admins as such."""
    return require_treating_access(
        user, couple, field="couple", message="Safety flags are handled by the treating clinician."
    )


# HOMEWORK LIBRARY
# ------------------------------------------------------------------------------
SHIPPED_HOMEWORK_FILE = Path(__file__).resolve().parent / "homework" / "library.json"
TEMPLATE_OVERRIDES = frozenset(
    {"title", "instructions", "schedule", "local_time", "weekdays", "hours_before_session", "ends_on"}
)


def _template_schedule_check(template: HomeworkTemplate) -> None:
    """A template's schedule obeys the rules of the homework made from it."""
    _validate_schedule(
        Assignment(
            kind=template.kind,
            instrument=template.instrument,
            schedule=template.schedule,
            local_time=template.local_time,
            weekdays=template.weekdays,
            hours_before_session=template.hours_before_session,
            starts_on=datetime.date(2000, 1, 1),
        )
    )


def homework_templates_install_shipped() -> list[HomeworkTemplate]:
    """Load the homework library cyclecare ships (cyclecare/homework/library.json), with the
    instruments it uses; idempotent (an installed code is left as it is, except that it follows
    its instrument to the current shipped version)."""
    instruments = {i.code: i for i in instruments_install_shipped()}
    spec = json.loads(SHIPPED_HOMEWORK_FILE.read_text(encoding="utf-8"))
    installed = []
    for entry in spec["templates"]:
        existing = HomeworkTemplate.objects.filter(practice=None, code=entry["code"]).first()
        if existing is not None:
            current = instruments.get(entry.get("instrument"))
            if current is not None and existing.instrument_id != current.pk:
                # A shipped instrument got a new version: the template offers the current one.
                existing.instrument = current
                existing.save(update_fields=["instrument"])
                audit_record(
                    actor=None, action="homework_template.update", target=existing, changes=["instrument"]
                )
            installed.append(existing)
            continue
        template = HomeworkTemplate(
            code=entry["code"],
            name=entry["name"],
            summary=entry.get("summary", ""),
            kind=entry["kind"],
            instructions=entry["instructions"],
            instrument=instruments[entry["instrument"]] if entry.get("instrument") else None,
            schedule=entry["schedule"],
            local_time=datetime.time.fromisoformat(entry["local_time"]) if entry.get("local_time") else None,
            weekdays=entry.get("weekdays", 0),
            hours_before_session=entry.get("hours_before_session"),
            for_both_partners=entry.get("for_both_partners", True),
        )
        _template_schedule_check(template)
        template.full_clean()
        template.save()
        audit_record(actor=None, action="homework_template.install", target=template)
        installed.append(template)
    return installed


@transaction.atomic
def homework_template_create(
    *,
    user: AbstractBaseUser,
    code: str,
    name: str,
    kind: str,
    instructions: str,
    schedule: str,
    summary: str = "",
    instrument: Instrument | None = None,
    local_time: datetime.time | None = None,
    weekdays: int = 0,
    hours_before_session: int | None = None,
    for_both_partners: bool = True,
) -> HomeworkTemplate:
    """A clinician writes a template for their own practice's library."""
    clinician = acting_clinician(user)
    if clinician is None:
        raise ValidationError("Only an active clinician can write homework templates.", code="not_clinician")
    if instrument is not None and instrument.practice_id not in (None, clinician.practice_id):
        raise ValidationError({"instrument": "Choose an instrument available to this practice."})
    template = HomeworkTemplate(
        practice_id=clinician.practice_id,
        code=code,
        name=name.strip(),
        summary=summary.strip(),
        kind=kind,
        instructions=instructions.strip(),
        instrument=instrument,
        schedule=schedule,
        local_time=local_time,
        weekdays=weekdays,
        hours_before_session=hours_before_session,
        for_both_partners=for_both_partners,
        created_by=clinician,
    )
    _template_schedule_check(template)
    taken = ValidationError({"code": f"Your practice already has a template {code!r}."})
    if HomeworkTemplate.objects.filter(practice_id=clinician.practice_id, code=code).exists():
        raise taken
    template.full_clean()
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise taken from None
    audit_record(actor=user, action="homework_template.create", target=template)
    return template


def assignment_from_template(
    *,
    user: AbstractBaseUser,
    couple: Couple,
    template: HomeworkTemplate,
    partners: Iterable[Partner] | None = None,
    starts_on: datetime.date | None = None,
    **overrides: Any,
) -> Assignment:
    """Assign a library template to a couple — the second click. Partners default to both
    active partners when the template is for both; the start date to today in the practice's
    zone. ``overrides`` may change the title, instructions, schedule fields and end date."""
    unknown = set(overrides) - TEMPLATE_OVERRIDES
    if unknown:
        raise ValidationError({name: "This field cannot be set from a template." for name in sorted(unknown)})
    if not template.is_active or template.practice_id not in (None, couple.practice_id):
        raise ValidationError({"template": "Choose a template of this practice's library."})
    if partners is None:
        if not template.for_both_partners:
            raise ValidationError({"partners": "Choose the partner this homework is for."})
        partners = couple.partners.filter(is_active=True)
    if starts_on is None:
        starts_on = timezone.now().astimezone(zoneinfo.ZoneInfo(couple.practice.time_zone)).date()
    details: dict[str, Any] = {
        "title": template.name,
        "instructions": template.instructions,
        "schedule": template.schedule,
        "local_time": template.local_time,
        "weekdays": template.weekdays,
        "hours_before_session": template.hours_before_session,
    }
    details.update(overrides)
    return assignment_create(
        user=user,
        couple=couple,
        partners=partners,
        kind=template.kind,
        instrument=template.instrument,
        starts_on=starts_on,
        **details,
    )
