"""The practice admin's first screen: counts only."""

from typing import Any

from django.db.models import Count, Q

from clinician.models import Clinician
from clinician.permissions import couple_scope, practice_id_of, row_scope
from couples.models import Couple

from ..models import SafetyFlag
from .common import ADMINISTRATIVE, practice_today, total_row
from .engagement import ADHERENCE_COUNTS, engagement_report
from .filters import ReportFilters


# PRACTICE AT A GLANCE
# ------------------------------------------------------------------------------
def practice_overview(*, user) -> dict[str, Any]:
    """The practice admin's first screen, as counts over the caller's administrative scope:
    active clinicians, couples in care (active and paused), this calendar month's homework
    adherence so far (the practice's calendar; ``engagement_report``'s total, as of the
    rollup's last refresh: ``adherence_fresh_at``) and open safety
    flags — a count, never which couple or partner."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return {
            "clinicians": 0,
            "active_couples": 0,
            "paused_couples": 0,
            "open_safety_flags": 0,
            "adherence": total_row([], ADHERENCE_COUNTS) | {"adherence_pct": None},
            "adherence_fresh_at": None,
            "month_start": None,
        }
    today = practice_today(user=user)
    month_start = today.replace(day=1)
    engagement = engagement_report(user=user, filters=ReportFilters(date_from=month_start, date_to=today))
    couples = Couple.objects.filter(couple_scope(user, purpose=ADMINISTRATIVE)).aggregate(
        active=Count("pk", filter=Q(status=Couple.Status.ACTIVE)),
        paused=Count("pk", filter=Q(status=Couple.Status.PAUSED)),
    )
    return {
        "clinicians": Clinician.objects.filter(practice_id=practice_id, is_active=True).count(),
        "active_couples": couples["active"],
        "paused_couples": couples["paused"],
        "open_safety_flags": SafetyFlag.objects.filter(
            row_scope(user, purpose=ADMINISTRATIVE), status=SafetyFlag.Status.OPEN
        ).count(),
        "adherence": engagement["total"],
        "adherence_fresh_at": engagement["fresh_at"],
        "month_start": month_start,
    }
