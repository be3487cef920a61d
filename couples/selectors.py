"""Reads for couples, partners and consents — scoped to the asking clinician."""

from django.db.models import Prefetch, QuerySet

from clinician.permissions import Purpose, couple_scope, row_scope
from clinician.selectors import get_or_404

from .models import Consent, Couple, Partner


def couples_visible_to(*, user, purpose: Purpose = "clinical") -> QuerySet[Couple]:
    """The couples the user treats or supervises (a practice admin: all, for administration)."""
    active_partners = Prefetch(
        "partners",
        queryset=Partner.objects.filter(is_active=True).order_by("seat"),
        to_attr="active_partners",
    )
    return (
        Couple.objects.filter(couple_scope(user, purpose=purpose))
        .select_related("primary_clinician")
        .prefetch_related(active_partners)
    )


def couple_get_for(*, user, couple_id: int, purpose: Purpose = "clinical") -> Couple:
    return get_or_404(couples_visible_to(user=user, purpose=purpose), couple_id)


def partners_visible_to(*, user, purpose: Purpose = "clinical") -> QuerySet[Partner]:
    return Partner.objects.filter(row_scope(user, purpose=purpose)).select_related("couple")


def partner_get_for(*, user, partner_id: int, purpose: Purpose = "clinical") -> Partner:
    return get_or_404(partners_visible_to(user=user, purpose=purpose), partner_id)


def consents_visible_to(*, user) -> QuerySet[Consent]:
    return Consent.objects.filter(row_scope(user, couple_prefix="partner__couple__")).select_related(
        "partner"
    )


def consent_in_force(*, partner: Partner, kind: str) -> bool:
    """Whether the partner's latest recorded decision for ``kind`` grants it (none recorded: no)."""
    latest = partner.consents.filter(kind=kind).order_by("-recorded_at", "-id").first()
    return bool(latest and latest.granted)


def partner_other(*, partner: Partner) -> Partner | None:
    """The other active partner of the couple, if there is one."""
    return Partner.objects.filter(couple_id=partner.couple_id, is_active=True).exclude(pk=partner.pk).first()


def consents_of_partner(*, user, partner_id: int, purpose: Purpose = "clinical") -> QuerySet[Consent]:
    """One partner's recorded consent decisions, latest first, in the given scope (consents_visible_to
    is clinical only; a practice admin who records consents administratively must also read them).
    A partner out of scope is a 404, like every selector that takes an id."""
    partner = partner_get_for(user=user, partner_id=partner_id, purpose=purpose)
    return partner.consents.select_related("partner").order_by("-recorded_at", "-id")
