"""Caseload: per clinician, couples by status, individual cases, sessions held, open safety flags."""

import datetime
from collections import defaultdict
from typing import Any

from django.db.models import Count, Q

from clinician.permissions import couple_scope, row_scope
from couples.models import Couple, TherapySession

from ..models import SafetyFlag
from .common import ADMINISTRATIVE, clinician_rows, day_start, practice_zone, total_row

# CASELOAD
# ------------------------------------------------------------------------------
CASELOAD_COLUMNS = (
    "active_couples",
    "paused_couples",
    "discharged_couples",
    "separated_couples",
    "open_individual_cases",
    "closed_individual_cases",
    "sessions_held",
    "open_safety_flags",
)


def caseload_report(*, user, date_from: datetime.date, date_to: datetime.date) -> dict[str, Any]:
    """Per clinician: couples by status, the individual cases that continue a separated couple
    (open: active or paused; closed: discharged), sessions held between the two dates
    (inclusive, the practice's calendar), and how many safety flags are open (a count, nothing
    of the flags)."""
    zone = practice_zone(user=user)
    figures: dict[int, dict[str, int]] = defaultdict(dict)
    couple, individual = Q(kind=Couple.Kind.COUPLE), Q(kind=Couple.Kind.INDIVIDUAL)
    couples = (
        Couple.objects.filter(couple_scope(user, purpose=ADMINISTRATIVE))
        .order_by()
        .values("primary_clinician_id")
        .annotate(
            active_couples=Count("pk", filter=couple & Q(status=Couple.Status.ACTIVE)),
            paused_couples=Count("pk", filter=couple & Q(status=Couple.Status.PAUSED)),
            discharged_couples=Count("pk", filter=couple & Q(status=Couple.Status.DISCHARGED)),
            separated_couples=Count("pk", filter=couple & Q(status=Couple.Status.SEPARATED)),
            open_individual_cases=Count(
                "pk", filter=individual & Q(status__in=[Couple.Status.ACTIVE, Couple.Status.PAUSED])
            ),
            closed_individual_cases=Count("pk", filter=individual & Q(status=Couple.Status.DISCHARGED)),
        )
    )
    for group in couples:
        figures[group.pop("primary_clinician_id")].update(group)
    sessions = (
        TherapySession.objects.filter(
            row_scope(user, purpose=ADMINISTRATIVE),
            status=TherapySession.Status.HELD,
            starts_at__gte=day_start(date_from, zone),
            starts_at__lt=day_start(date_to + datetime.timedelta(days=1), zone),
        )
        .order_by()
        .values("couple__primary_clinician_id")
        .annotate(sessions_held=Count("pk"))
    )
    for group in sessions:
        figures[group["couple__primary_clinician_id"]]["sessions_held"] = group["sessions_held"]
    flags = (
        SafetyFlag.objects.filter(row_scope(user, purpose=ADMINISTRATIVE), status=SafetyFlag.Status.OPEN)
        .order_by()
        .values("couple__primary_clinician_id")
        .annotate(open_safety_flags=Count("pk"))
    )
    for group in flags:
        figures[group["couple__primary_clinician_id"]]["open_safety_flags"] = group["open_safety_flags"]
    rows = clinician_rows(user, figures, CASELOAD_COLUMNS)
    return {"rows": rows, "total": total_row(rows, CASELOAD_COLUMNS)}
