"""A separation: ``couple_separate`` closes a couple's joint record and moves each continuing
partner, with their own records, into an individual case. It lives here, in the cycle domain,
because what it moves is mostly the cycle's (and the sessions below it); the couple and partner
rows it changes are the floor below's.

A partner's own records follow them into their individual case: their check-ins, the episodes
they reported, their individual sessions (with those sessions' notes and the episodes seen in
them), the safety flags their answers raised, and homework assigned to them alone (with its
occurrences and reminders). Everything joint stays with the closed couple: joint sessions and
their notes, cycle maps, episodes the clinician saw in joint sessions, joint homework — which
ends — and future joint sessions, which are cancelled.

Records move by re-pointing their couple; no partner id changes, so every existing rule that
reads "the partner's own" (by partner) or "the couple's" (by couple, then clinician scope)
stays true. A signed note is never written: it hangs off its session, and only the session's
couple changes (the note's content digest covers its session id, which stays the same).

The record moves run inside couple_separate's transaction, with the couple row locked.
"""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from clinician import events
from clinician.audit import audit_record
from clinician.permissions import require_treating_access
from couples.models import Couple, Partner, SessionNote, TherapySession
from couples.services import session_record_outcome

from .models import (
    Assignment,
    CheckIn,
    CycleEpisode,
    CycleMap,
    PartnerLink,
    ReminderDelivery,
    SafetyFlag,
)
from .services import assignment_set_status

# What moves, in the order it is moved (model, audit action).
MOVING = (
    ("checkins", CheckIn, "checkin.move"),
    ("episodes", CycleEpisode, "episode.move"),
    ("sessions", TherapySession, "session.move"),
    ("safety_flags", SafetyFlag, "safetyflag.move"),
    ("assignments", Assignment, "assignment.move"),
    ("reminders", ReminderDelivery, "reminder.move"),
)
UNRESOLVED_FLAGS = (SafetyFlag.Status.OPEN, SafetyFlag.Status.ACKNOWLEDGED)


def partner_own_records(*, couple: Couple, partner: Partner) -> dict[str, QuerySet]:
    """The partner's own records in this couple, by kind (querysets over the couple's rows)."""
    sessions = TherapySession.objects.filter(
        couple=couple, kind=TherapySession.Kind.INDIVIDUAL, partner=partner
    )
    # Homework for this partner alone: exactly one partner, and it is them. (Counted on the
    # assignment, not against the couple's partner rows, which change as partners move.)
    alone = (
        Assignment.objects.filter(couple=couple)
        .annotate(assigned=Count("partners", distinct=True))
        .filter(assigned=1)
        .values("pk")
    )
    assignments = Assignment.objects.filter(pk__in=alone, partners=partner)
    return {
        "checkins": CheckIn.objects.filter(couple=couple, partner=partner),
        # Their self-reports, and what the clinician saw in their individual sessions.
        "episodes": CycleEpisode.objects.filter(couple=couple).filter(
            Q(reported_by=partner) | Q(session__in=sessions)
        ),
        "sessions": sessions,
        "safety_flags": SafetyFlag.objects.filter(couple=couple, partner=partner),
        "assignments": assignments,
        "reminders": ReminderDelivery.objects.filter(couple=couple, occurrence__assignment__in=assignments),
    }


def joint_work_to_stop(
    *, couple: Couple, keep_session_ids: Iterable[int] = (), keep_assignment_ids: Iterable[int] = ()
) -> dict[str, QuerySet]:
    """What stays with the couple and must stop: homework still running, sessions booked ahead,
    and sessions past their start still marked scheduled (their outcome is not recorded yet)."""
    now = timezone.now()
    scheduled = TherapySession.objects.filter(couple=couple, status=TherapySession.Status.SCHEDULED).exclude(
        pk__in=list(keep_session_ids)
    )
    return {
        "assignments": Assignment.objects.filter(couple=couple)
        .exclude(status=Assignment.Status.ENDED)
        .exclude(pk__in=list(keep_assignment_ids)),
        "future_sessions": scheduled.filter(starts_at__gt=now),
        "unrecorded_sessions": scheduled.filter(starts_at__lte=now),
    }


def partner_records_move(
    *, user: AbstractBaseUser, partner: Partner, from_couple: Couple, to_couple: Couple
) -> dict[str, int]:
    """Re-point the partner's own records from the couple to their individual case; one audit
    event per row moved (ids and the field name only). Returns how many of each kind."""
    records = partner_own_records(couple=from_couple, partner=partner)
    # Read every id before writing any: the episode and reminder sets are defined through the
    # sessions and homework, which move too.
    rows = {kind: list(records[kind].only("pk", "practice_id")) for kind, _, _ in MOVING}
    for kind, model, action in MOVING:
        if not rows[kind]:
            continue
        # The plain manager: this loop appends each row's own event (no generic bulk event too).
        model._base_manager.filter(pk__in=[row.pk for row in rows[kind]]).update(couple=to_couple)
        for row in rows[kind]:
            audit_record(actor=user, action=action, target=row, changes=["couple"])
    return {kind: len(found) for kind, found in rows.items()}


def joint_work_stop(*, user: AbstractBaseUser, couple: Couple) -> dict[str, int]:
    """End the couple's running homework (pending occurrences cancelled, so no reminder goes
    out for them) and cancel its future sessions — through their own services, which audit."""
    stopping = joint_work_to_stop(couple=couple)
    ended = cancelled = 0
    for assignment in stopping["assignments"]:
        assignment_set_status(user=user, assignment=assignment, status=Assignment.Status.ENDED)
        ended += 1
    for session in stopping["future_sessions"]:
        session_record_outcome(user=user, session=session, status=TherapySession.Status.CANCELLED)
        cancelled += 1
    return {"assignments_ended": ended, "sessions_cancelled": cancelled}


def partner_links_expire(*, user: AbstractBaseUser, partners: list[Partner]) -> int:
    """Expire every outstanding link of these partners: a reminder may have gone to an inbox or
    phone the two shared. New reminders bring new links to the details on file."""
    now = timezone.now()
    links = list(
        PartnerLink.objects.filter(partner__in=partners, used_at__isnull=True, expires_at__gt=now).only(
            "pk", "practice_id"
        )
    )
    PartnerLink.objects.filter(pk__in=[link.pk for link in links]).update(expires_at=now)
    for link in links:
        audit_record(actor=user, action="partnerlink.expire", target=link, changes=["expires_at"])
    return len(links)


# WHAT THE CLINICIAN IS SHOWN BEFORE CONFIRMING
# ------------------------------------------------------------------------------
@dataclass
class PartnerPreview:
    partner: Partner
    checkins: int = 0
    episodes: int = 0
    sessions: int = 0
    notes: int = 0
    assignments: int = 0
    unresolved_flags: int = 0


@dataclass
class SeparationPreview:
    couple: Couple
    partners: list[PartnerPreview] = field(default_factory=list)
    joint_sessions: int = 0
    joint_notes: int = 0
    cycle_maps: int = 0
    session_episodes: int = 0
    assignments_to_end: int = 0
    sessions_to_cancel: int = 0
    unrecorded_sessions: int = 0


def _kept_ids(*, couple: Couple, continuing: list[Partner]) -> tuple[list[int], list[int]]:
    """The session and homework ids that would leave the couple with the continuing partners."""
    sessions: list[int] = []
    assignments: list[int] = []
    for partner in continuing:
        records = partner_own_records(couple=couple, partner=partner)
        sessions += records["sessions"].values_list("pk", flat=True)
        assignments += records["assignments"].values_list("pk", flat=True)
    return sessions, assignments


def unrecorded_sessions_staying(*, couple: Couple, continuing: list[Partner]) -> int:
    """Sessions that would stay with the closed couple although their outcome is not recorded
    (past their start, still scheduled). Once the couple has no active partner nobody could be
    recorded as attending, so the outcome must be recorded first."""
    sessions, _ = _kept_ids(couple=couple, continuing=continuing)
    return joint_work_to_stop(couple=couple, keep_session_ids=sessions)["unrecorded_sessions"].count()


def separation_preview(*, couple: Couple, continuing: list[Partner] | None = None) -> SeparationPreview:
    """Counts of what moves with each active partner and what stays with the couple or stops,
    if ``continuing`` go on individually (None: as if every active partner did) — for a couple
    the caller has already read through couples.selectors.couple_get_for (in scope)."""
    preview = SeparationPreview(couple=couple)
    active = list(couple.partners.filter(is_active=True).order_by("seat"))
    for partner in active:
        records = partner_own_records(couple=couple, partner=partner)
        sessions = list(records["sessions"].values_list("pk", flat=True))
        preview.partners.append(
            PartnerPreview(
                partner=partner,
                checkins=records["checkins"].count(),
                episodes=records["episodes"].count(),
                sessions=len(sessions),
                notes=SessionNote.objects.filter(session_id__in=sessions).count(),
                assignments=records["assignments"].count(),
                unresolved_flags=records["safety_flags"].filter(status__in=UNRESOLVED_FLAGS).count(),
            )
        )
    moving_sessions, moving_assignments = _kept_ids(
        couple=couple, continuing=active if continuing is None else continuing
    )
    joint = TherapySession.objects.filter(couple=couple, kind=TherapySession.Kind.JOINT)
    preview.joint_sessions = joint.count()
    preview.joint_notes = SessionNote.objects.filter(session__in=joint).count()
    preview.cycle_maps = CycleMap.objects.filter(couple=couple).count()
    preview.session_episodes = (
        CycleEpisode.objects.filter(couple=couple, source=CycleEpisode.Source.SESSION)
        .exclude(session_id__in=moving_sessions)
        .count()
    )
    stopping = joint_work_to_stop(
        couple=couple, keep_session_ids=moving_sessions, keep_assignment_ids=moving_assignments
    )
    preview.assignments_to_end = stopping["assignments"].count()
    preview.sessions_to_cancel = stopping["future_sessions"].count()
    preview.unrecorded_sessions = stopping["unrecorded_sessions"].count()
    return preview


# THE SEPARATION
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Separation:
    """What couple_separate did: the closed couple and each continuing partner's new case."""

    couple: Couple
    continuations: list[Couple]


@transaction.atomic
def couple_separate(
    *,
    user,
    couple: Couple,
    continuing: Iterable[Partner],
    separation_reason: str,
    separated_on: datetime.date | None = None,
) -> Separation:
    """Record that a couple separated: its joint record closes and each continuing partner goes
    on in an individual case of their own.

    - The couple becomes SEPARATED (terminal) with the date and a reason code. Its joint record
      — joint sessions and notes, cycle maps, episodes seen in joint sessions — stays with it,
      history for the treating clinician.
    - Each continuing partner (none, one or both) gets a new individual case (same practice and
      clinician, ``continued_from`` this couple) and moves into it with their own records: their
      check-ins, self-reported episodes, individual sessions and those sessions' notes, safety
      flags, and homework assigned to them alone (``partner_records_move``).
    - A partner who does not continue leaves (``left_on`` the separation date); their records
      stay with the closed couple, under their own partner row.
    - Homework still running on the couple ends and its future sessions are cancelled; every
      outstanding partner link of either partner expires. Neither partner's pages show anything
      of the other afterwards: sharing is between partners of the same case.

    Every step is audited (ids and field names only) and ``couple.separated`` /
    ``couple.continued`` are published. The treating clinician (or their supervisor) does this;
    nothing changes if anything is refused.
    """
    couple = Couple.objects.select_for_update().get(pk=couple.pk)
    require_treating_access(
        user, couple, field="couple", message="A separation is recorded by the treating clinician."
    )
    if couple.status == Couple.Status.SEPARATED:
        raise ValidationError(
            {"status": ValidationError("This couple is already separated.", code="already_separated")}
        )
    if couple.kind == Couple.Kind.INDIVIDUAL:
        raise ValidationError(
            {
                "couple": ValidationError(
                    "This is an individual case; there is no couple to separate.", code="individual_case"
                )
            }
        )
    if couple.status == Couple.Status.DISCHARGED:
        raise ValidationError(
            {"status": ValidationError("A discharged couple's record is closed already.", code="discharged")}
        )
    if separation_reason not in Couple.SeparationReason.values:
        raise ValidationError({"separation_reason": "Choose a reason from the list."})
    separated_on = separated_on or timezone.localdate()
    if separated_on > timezone.localdate():
        raise ValidationError({"separated_on": "The separation date cannot be in the future."})
    if separated_on < couple.started_on:
        raise ValidationError(
            {"separated_on": "The separation date is before the couple's treatment started."}
        )
    active = list(Partner.objects.select_for_update().filter(couple=couple, is_active=True).order_by("seat"))
    continuing_ids = {partner.pk for partner in continuing}
    if not continuing_ids <= {partner.pk for partner in active}:
        raise ValidationError({"continuing": "Choose active partners of this couple."})
    staying = unrecorded_sessions_staying(
        couple=couple, continuing=[p for p in active if p.pk in continuing_ids]
    )
    if staying:
        raise ValidationError(
            {
                "couple": ValidationError(
                    "Record what happened in the sessions that have started but are still marked "
                    "scheduled, then separate the couple.",
                    code="unrecorded_sessions",
                )
            }
        )

    continuations = []
    for partner in active:
        if partner.pk not in continuing_ids:
            continue
        case = Couple(
            practice_id=couple.practice_id,
            primary_clinician_id=couple.primary_clinician_id,
            label=partner.display_name[: Couple._meta.get_field("label").max_length],
            kind=Couple.Kind.INDIVIDUAL,
            continued_from=couple,
            started_on=separated_on,
        )
        case.full_clean()
        case.save()
        audit_record(actor=user, action="couple.continue", target=case, changes=["kind", "continued_from"])
        partner.couple = case
        partner.save(update_fields=["couple", "updated_at"])
        audit_record(actor=user, action="partner.move", target=partner, changes=["couple"])
        partner_records_move(user=user, partner=partner, from_couple=couple, to_couple=case)
        events.publish(
            "couple.continued",
            practice_id=case.practice_id,
            data={"couple_id": case.pk, "continued_from_id": couple.pk, "partner_id": partner.pk},
        )
        continuations.append(case)
    for partner in active:
        if partner.pk in continuing_ids:
            continue
        partner.is_active = False
        partner.left_on = separated_on
        partner.save(update_fields=["is_active", "left_on", "updated_at"])
        audit_record(
            actor=user, action="partner.deactivate", target=partner, changes=["is_active", "left_on"]
        )
    joint_work_stop(user=user, couple=couple)
    partner_links_expire(user=user, partners=active)

    couple.status = Couple.Status.SEPARATED
    couple.separated_on = separated_on
    couple.separation_reason = separation_reason
    couple.full_clean()
    couple.save(update_fields=["status", "separated_on", "separation_reason", "updated_at"])
    audit_record(
        actor=user,
        action="couple.separate",
        target=couple,
        changes=["status", "separated_on", "separation_reason"],
    )
    events.publish(
        "couple.separated",
        practice_id=couple.practice_id,
        data={
            "couple_id": couple.pk,
            "separated_on": separated_on,
            "separation_reason": separation_reason,
            "continuing_partners": len(continuations),
        },
    )
    return Separation(couple=couple, continuations=continuations)
