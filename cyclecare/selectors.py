"""Reads for the cycle domain.

Clinician reads go through clinician.permissions (practice → the couples the user treats or
supervises). Partner reads take the Partner and return only their own records, plus what the
other partner chose to share — never the other partner's private answers or safety flags.
"""

from django.db.models import Q, QuerySet

from clinician.audit import audit_record
from clinician.conf import cyclecare_settings
from clinician.permissions import Purpose, is_integration, practice_id_of, row_scope
from clinician.selectors import get_or_404
from couples.models import Partner
from couples.selectors import couple_get_for

from .disclosure import Reader, checkin_disclosed
from .models import Assignment, CheckIn, CycleEpisode, CycleMap, Instrument, Occurrence, SafetyFlag


# CLINICIAN READS
# ------------------------------------------------------------------------------
def cycle_maps_visible_to(*, user) -> QuerySet[CycleMap]:
    return CycleMap.objects.filter(row_scope(user)).prefetch_related("positions__partner")


def cycle_map_current_for(*, user, couple_id: int) -> CycleMap | None:
    """The couple's latest map version, or None if none has been drawn (404 if out of scope)."""
    couple = couple_get_for(user=user, couple_id=couple_id)
    return cycle_maps_visible_to(user=user).filter(couple=couple).order_by("-version").first()


def episodes_visible_to(*, user) -> QuerySet[CycleEpisode]:
    return CycleEpisode.objects.filter(row_scope(user)).select_related("pursuer", "withdrawer", "reported_by")


def episode_get_for(*, user, episode_id: int) -> CycleEpisode:
    return get_or_404(episodes_visible_to(user=user), episode_id)


def assignments_visible_to(*, user, purpose: Purpose = "clinical") -> QuerySet[Assignment]:
    return Assignment.objects.filter(row_scope(user, purpose=purpose)).prefetch_related("partners")


def occurrences_visible_to(*, user, purpose: Purpose = "clinical") -> QuerySet[Occurrence]:
    return Occurrence.objects.filter(row_scope(user, couple_prefix="assignment__couple__", purpose=purpose))


def instruments_visible_to(*, user) -> QuerySet[Instrument]:
    """Every version of the shipped instruments and of the user's own practice's licensed ones,
    active or not: a check-in answers the version it was assigned, and its definition stays
    readable after a newer version replaces it."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return Instrument.objects.none()
    return Instrument.objects.filter(Q(practice=None) | Q(practice_id=practice_id))


def instruments_available_to(*, user) -> QuerySet[Instrument]:
    """The versions offered for new homework: the active ones of ``instruments_visible_to``."""
    return instruments_visible_to(user=user).filter(is_active=True)


def checkins_visible_to(*, user) -> QuerySet[CheckIn]:
    """Answers are clinical: the treating clinician and their supervisor."""
    return CheckIn.objects.filter(row_scope(user)).select_related("partner", "instrument")


def checkin_get_for(*, user, checkin_id: int) -> CheckIn:
    checkin = get_or_404(checkins_visible_to(user=user), checkin_id)
    if cyclecare_settings.AUDIT_READS:
        audit_record(actor=user, action="checkin.read", target=checkin)
    return checkin


def safety_flags_visible_to(*, user) -> QuerySet[SafetyFlag]:
    """Clinical only: a practice admin who does not treat the couple does not see its flags, and
    no integration client ever does."""
    if is_integration(user):
        return SafetyFlag.objects.none()
    return SafetyFlag.objects.filter(row_scope(user)).select_related("couple", "partner")


def safety_flag_get_for(*, user, flag_id: int) -> SafetyFlag:
    flag = get_or_404(safety_flags_visible_to(user=user), flag_id)
    if cyclecare_settings.AUDIT_READS:
        audit_record(actor=user, action="safetyflag.read", target=flag)
    return flag


# PARTNER READS
# ------------------------------------------------------------------------------
def checkins_for_partner(*, partner: Partner) -> QuerySet[CheckIn]:
    """A partner's own check-ins (their own answers, all of them)."""
    return CheckIn.objects.filter(partner=partner).select_related("instrument")


def shared_checkins_from_other_partner(*, partner: Partner) -> QuerySet[CheckIn]:
    """Check-ins the other partner chose to share. Callers show only shareable and joint items
    of these (see shareable_answers); private and safety items never leave their author."""
    return CheckIn.objects.filter(
        couple_id=partner.couple_id, shared_with_partner=True, partner__is_active=True
    ).exclude(partner=partner)


def shareable_answers(checkin: CheckIn) -> dict:
    """The answers of a shared check-in that its author's partner may see."""
    return checkin_disclosed(checkin, to=Reader.PARTNER).answers


def episodes_for_partner(*, partner: Partner) -> QuerySet[CycleEpisode]:
    """Episodes the partner reported, plus the other partner's self-reports they shared (while
    that partner is active: sharing is between the partners of one case, as for check-ins)."""
    return CycleEpisode.objects.filter(
        Q(reported_by=partner)
        | Q(couple_id=partner.couple_id, shared_with_partner=True, reported_by__is_active=True),
        couple_id=partner.couple_id,
    )


def occurrences_for_partner(*, partner: Partner) -> QuerySet[Occurrence]:
    return Occurrence.objects.filter(partner=partner).select_related("assignment")
