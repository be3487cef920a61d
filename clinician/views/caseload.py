"""The caseload: the clinician's couples, flagged ones first.

Only an active clinician may open it; every read goes through the scoped selectors, so what the
page lists is exactly the user's clinical scope.
"""

from django.db.models import (
    Case,
    Count,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from ..models import Clinician, TherapySession
from .common import clinician_required

UNRESOLVED = ("open", "acknowledged")  # SafetyFlag.Status.OPEN / ACKNOWLEDGED


def caseload_for(*, user) -> QuerySet:  # type: ignore[no-untyped-def]
    """The couples in the user's *clinical* scope, each with its unresolved safety flags, last
    check-in and next scheduled session — in a fixed number of queries however many couples.

    Couples with an open or acknowledged flag come first, then by label. A practice admin who
    treats no couple gets none: flags and check-ins are clinical.
    """
    # Imported here: clinician is the app the others depend on; only this page reaches back.
    from couples.selectors import couples_visible_to
    from cyclecare.selectors import checkins_visible_to, safety_flags_visible_to

    unresolved_flags = safety_flags_visible_to(user=user).filter(status__in=UNRESOLVED)
    flag_count = (
        unresolved_flags.filter(couple_id=OuterRef("pk"))
        .order_by()
        .values("couple_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_checkin = (
        checkins_visible_to(user=user)
        .filter(couple_id=OuterRef("pk"))
        .order_by()
        .values("couple_id")
        .annotate(last=Max("submitted_at"))
        .values("last")
    )
    next_session = (
        TherapySession.objects.filter(
            couple_id=OuterRef("pk"),
            status=TherapySession.Status.SCHEDULED,
            starts_at__gte=timezone.now(),
        )
        .order_by()
        .values("couple_id")
        .annotate(first=Min("starts_at"))
        .values("first")
    )
    return (
        couples_visible_to(user=user, purpose="clinical")
        .annotate(
            flag_count=Coalesce(Subquery(flag_count, output_field=IntegerField()), Value(0)),
            last_checkin_at=Subquery(last_checkin),
            next_session_at=Subquery(next_session),
        )
        .annotate(
            flag_rank=Case(
                When(flag_count__gt=0, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .prefetch_related(
            Prefetch(
                "safety_flags",
                queryset=unresolved_flags.order_by("-raised_at"),
                to_attr="unresolved_flags",
            )
        )
        .order_by("flag_rank", "label", "pk")
    )


@clinician_required
def caseload(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    # "Within a minute" of a safety answer: this page has no cache and reads the live rows on
    # every load (never_cache, no stored summary), so a flag raised by safety_flag_raise is at
    # the top of the next load. No timed auto-refresh: WCAG 2.2.1 asks that the user control it.
    couples = list(caseload_for(user=request.user))
    for couple in couples:
        # The partner(s) whose answer raised a flag — shown to the treating clinician only.
        couple.flag_partners = sorted({flag.partner.display_name for flag in couple.unresolved_flags})
    return render(
        request,
        "clinician/caseload.html",
        {
            "clinician": clinician,
            "couples": couples,
            "flagged_count": sum(1 for couple in couples if couple.flag_count),
            "time_zone": clinician.practice.time_zone,
        },
    )


urlpatterns = [
    path("", caseload, name="caseload"),
]
