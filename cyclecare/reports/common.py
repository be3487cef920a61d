"""What every report shares: the caller's administrative scope, the practice's calendar, and one
row per clinician (a caseload) with a total.

Reports are counts and means over the caller's *administrative* scope — never rows. A practice
admin or an integration client sees the whole practice; a clinician their caseload (a supervisor
adds their supervisees'). Scope comes from clinician.permissions, as in every selector. Figures
are grouped by the couple's primary clinician, so one row is one caseload.
"""

import datetime
import zoneinfo
from typing import Any

from django.db.models import Q
from django.utils import timezone

from clinician.models import Clinician, Practice
from clinician.permissions import acting_clinician, practice_id_of

ADMINISTRATIVE = "administrative"
DEFAULT_PERIOD_DAYS = 30


# PERIODS
# ------------------------------------------------------------------------------
def practice_zone(*, user) -> zoneinfo.ZoneInfo:
    """The time zone of the caller's practice: report dates are the practice's calendar days."""
    clinician = acting_clinician(user)
    if clinician is not None:
        name = clinician.practice.time_zone
    else:
        practice_id = practice_id_of(user)
        name = (
            Practice.objects.filter(pk=practice_id).values_list("time_zone", flat=True).first()
            if practice_id
            else None
        )
    return zoneinfo.ZoneInfo(name or "UTC")


def practice_today(*, user) -> datetime.date:
    return timezone.now().astimezone(practice_zone(user=user)).date()


def day_start(day: datetime.date, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)


# CLINICIAN ROWS
# ------------------------------------------------------------------------------
def report_clinicians(user, seen_ids: set[int]) -> list[dict[str, Any]]:
    """The clinicians a report lists: the caseloads in the caller's administrative scope (the
    whole practice for an admin or integration; oneself, plus supervisees for a supervisor —
    the same rule as couple_scope), with zero rows for active ones, plus anyone a figure
    mentions."""
    practice_id = practice_id_of(user)
    if practice_id is None:
        return []
    clinician = acting_clinician(user)
    if clinician is None or clinician.role == Clinician.Role.PRACTICE_ADMIN:
        caseloads = Q()
    else:
        caseloads = Q(pk=clinician.pk)
        if clinician.role == Clinician.Role.SUPERVISOR:
            caseloads |= Q(supervisor_id=clinician.pk)
    listed = (caseloads & Q(is_active=True)) | Q(pk__in=seen_ids)
    return list(
        Clinician.objects.filter(listed, practice_id=practice_id)
        .order_by("display_name", "id")
        .values("id", "display_name")
    )


def clinician_rows(
    user, figures: dict[int, dict[str, int]], columns: tuple[str, ...]
) -> list[dict[str, Any]]:
    rows = []
    for clinician in report_clinicians(user, set(figures)):
        counts = figures.get(clinician["id"], {})
        rows.append(
            {
                "clinician": clinician["id"],
                "display_name": clinician["display_name"],
                **{name: counts.get(name, 0) for name in columns},
            }
        )
    return rows


def total_row(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, Any]:
    return {
        "clinician": None,
        "display_name": "Total",
        **{name: sum(row[name] for row in rows) for name in columns},
    }
