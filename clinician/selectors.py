"""Reads for practices and clinicians — each scoped to the asking user."""

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from .models import Clinician, Practice
from .permissions import acting_clinician, practice_id_of
from .services import COUPLES_IN_CARE


def practice_get_for(*, user) -> Practice:
    """The practice the user works in (an integration client: the practice it is bound to)."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        raise Http404
    return Practice.objects.get(pk=practice_id)


def practices_visible_to(*, user) -> QuerySet[Practice]:
    """The caller's own practice, as a queryset (lists)."""
    practice_id = practice_id_of(user)
    return Practice.objects.filter(pk=practice_id) if practice_id else Practice.objects.none()


def clinicians_visible_to(*, user) -> QuerySet[Clinician]:
    """Colleagues in the user's own practice."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return Clinician.objects.none()
    return Clinician.objects.filter(practice_id=practice_id).select_related("supervisor", "user")


def clinician_get_for(*, user, clinician_id: int) -> Clinician:
    return get_or_404(clinicians_visible_to(user=user), clinician_id)


def practice_roster_for(*, user) -> QuerySet[Clinician]:
    """Clinicians with ``caseload``, the couples each treats that are still in care (active or
    paused); active first, then by name. Whose: a practice admin's whole practice; a
    supervisor's own row and their supervisees'; a clinician's own (the caseload rule of
    ``cyclecare.reports``). The user's last sign-in and password state come with ``user``."""
    clinician = acting_clinician(user)
    if clinician is None:
        return Clinician.objects.none()
    whose = Q(practice_id=clinician.practice_id)
    if clinician.role != Clinician.Role.PRACTICE_ADMIN:
        mine = Q(pk=clinician.pk)
        if clinician.role == Clinician.Role.SUPERVISOR:
            mine |= Q(supervisor_id=clinician.pk)
        whose &= mine
    return (
        Clinician.objects.filter(whose)
        .select_related("user", "supervisor")
        .annotate(caseload=Count("couples", filter=Q(couples__status__in=COUPLES_IN_CARE)))
        .order_by("-is_active", "display_name", "pk")
    )


def practice_clinician_get(*, user, clinician_id: int) -> Clinician:
    """One clinician of ``practice_roster_for``; any other id is a 404."""
    return get_or_404(practice_roster_for(user=user), clinician_id)


def get_or_404(queryset: QuerySet, pk: object):
    """Out of scope and nonexistent look the same: 404, never 403."""
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
