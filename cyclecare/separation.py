"""The cycle side of a separation (couples.services.couple_separate is the entry point).

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

These run inside couple_separate's transaction, with the couple row locked.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from clinician.audit import audit_record
from clinician.models import SessionNote, TherapySession
from couples.models import Couple, Partner

from .models import (
    Assignment,
    CheckIn,
    CycleEpisode,
    CycleMap,
    PartnerLink,
    ReminderDelivery,
    SafetyFlag,
)

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
        model.objects.filter(pk__in=[row.pk for row in rows[kind]]).update(couple=to_couple)
        for row in rows[kind]:
            audit_record(actor=user, action=action, target=row, changes=["couple"])
    return {kind: len(found) for kind, found in rows.items()}


def joint_work_stop(*, user: AbstractBaseUser, couple: Couple) -> dict[str, int]:
    """End the couple's running homework (pending occurrences cancelled, so no reminder goes
    out for them) and cancel its future sessions — through their own services, which audit."""
    from clinician.services import session_record_outcome

    from .services import assignment_set_status

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
