"""The clinician's own pages: sign-in and the caseload.

Only an active clinician (``acting_clinician``) may use them; anyone else who is signed in gets
a 403 page that carries no data. Every read goes through the scoped selectors, so what a page
lists is exactly the user's clinical scope.
"""

from functools import wraps

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
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
from django.urls import reverse_lazy
from django.utils import timezone
from django.views.decorators.cache import never_cache

from .models import Clinician, TherapySession
from .permissions import acting_clinician

UNRESOLVED = ("open", "acknowledged")  # SafetyFlag.Status.OPEN / ACKNOWLEDGED


def clinician_required(view):  # type: ignore[no-untyped-def]
    """Signed in (else to the login page) and an active clinician (else a 403 with no data)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        clinician = acting_clinician(request.user)
        if clinician is None:
            return render(request, "clinician/forbidden.html", status=403)
        return view(request, clinician, *args, **kwargs)

    return never_cache(login_required(wrapped))


class ClinicLoginView(auth_views.LoginView):
    """Django's LoginView (CSRF, never cached, sensitive POST parameters); its one error message
    never says whether the account exists."""

    template_name = "clinician/login.html"


class ClinicLogoutView(auth_views.LogoutView):
    """POST only (Django's LogoutView); back to the sign-in page."""

    next_page = reverse_lazy("cyclecare:clinician:login")


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
