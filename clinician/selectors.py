"""Reads for practices and clinicians — each scoped to the asking user."""

from django.db.models import QuerySet
from django.http import Http404

from .models import Clinician, Practice
from .permissions import practice_id_of


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


def get_or_404(queryset: QuerySet, pk: object):
    """Out of scope and nonexistent look the same: 404, never 403."""
    try:
        return queryset.get(pk=pk)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
