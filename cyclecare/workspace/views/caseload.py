"""The caseload: the clinician's couples, flagged ones first.

Only an active clinician may open it; every read goes through the scoped selectors, so what the
page lists is exactly the user's clinical scope. Per couple: the next session, each partner's
days since their last check-in and 14-day adherence, and whether episodes are rising
(``cyclecare.trends``) — in a fixed number of queries however many couples or check-ins.
"""

import zoneinfo
from collections import defaultdict

from django.db.models import (
    Case,
    Count,
    IntegerField,
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
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinician.models import Clinician
from couples.models import TherapySession
from couples.selectors import couples_visible_to, partners_visible_to
from cyclecare import trends
from cyclecare.selectors import (
    checkins_visible_to,
    episodes_visible_to,
    occurrences_visible_to,
    safety_flags_visible_to,
)

from .common import clinician_required

UNRESOLVED = ("open", "acknowledged")  # SafetyFlag.Status.OPEN / ACKNOWLEDGED


def caseload_for(*, user) -> QuerySet:
    """The couples in the user's *clinical* scope, each with its unresolved safety flags, last
    check-in and next scheduled session — in a fixed number of queries however many couples.

    Couples with an open or acknowledged flag come first, then by label. A practice admin who
    treats no couple gets none: flags and check-ins are clinical.
    """
    # Imported here: clinician is the app the others depend on; only this page reaches back.

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
        .order_by("-submitted_at")
        .values("submitted_at")[:1]
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
    couples = trends.couples_with_episode_trend(
        couples_visible_to(user=user, purpose="clinical"),
        episodes=episodes_visible_to(user=user),
        now=timezone.now(),
    )
    return (
        couples.annotate(
            flag_count=Coalesce(Subquery(flag_count, output_field=IntegerField()), Value(0)),
            last_checkin_at=Subquery(last_checkin),
            next_session_at=Subquery(next_session),
        )
        .annotate(
            flag_rank=Case(
                When(flag_count__gt=0, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        # The selector's prefetch of every partner is not needed here: the partners come with
        # their check-in figures from partner_activity_for (one query instead of two).
        .prefetch_related(None)
        .prefetch_related(
            Prefetch(
                "safety_flags",
                queryset=unresolved_flags.order_by("-raised_at"),
                to_attr="unresolved_flags",
            )
        )
        .order_by("flag_rank", "label", "pk")
    )


@clinician_required(landing=True)
def caseload(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    # "Within a minute" of a safety answer: this page has no cache and reads the live rows on
    # every load (never_cache, no stored summary), so a flag raised by safety_flag_raise is at
    # the top of the next load. No timed auto-refresh: WCAG 2.2.1 asks that the user control it.

    couples = list(caseload_for(user=request.user))
    zone = zoneinfo.ZoneInfo(clinician.practice.time_zone)
    now = timezone.now()
    activity = defaultdict(list)
    partners, adherence = partner_activity_for(user=request.user, now=now)
    for partner in partners:
        partner.days_since_checkin = days = trends.days_since(partner.last_checkin_at, now=now, zone=zone)
        partner.adherence = done = adherence.get(partner.pk, trends.Adherence())
        # Composed here rather than with a translation tag per cell: 40 couples × 2 partners.
        partner.checkin_text = (
            _("None yet")
            if days is None
            else _("today")
            if days == 0
            else ngettext("%(days)d day ago", "%(days)d days ago", days) % {"days": days}
        )
        if partner.last_checkin_at:
            partner.last_checkin_iso = partner.last_checkin_at.astimezone(zone).isoformat()
        partner.adherence_text = (
            _("%(done)d of %(due)d") % {"done": done.completed, "due": done.due}
            if done.due
            else _("nothing due")
        )
        activity[partner.couple_id].append(partner)
    for couple in couples:
        # The partner(s) whose answer raised a flag — shown to the treating clinician only.
        couple.flag_partners = sorted({flag.partner.display_name for flag in couple.unresolved_flags})
        couple.partner_activity = activity.get(couple.pk, [])
        couple.episodes_rising = trends.is_rising(couple.episodes_recent, couple.episodes_before)
        couple.episodes_why = _("%(recent)d, was %(before)d in the %(days)d days before") % {
            "recent": couple.episodes_recent,
            "before": couple.episodes_before,
            "days": trends.RISING_WINDOW_DAYS,
        }
        couple.treated_by_other = couple.primary_clinician_id != clinician.pk
        if couple.next_session_at:
            local = couple.next_session_at.astimezone(zone)
            couple.next_session_iso = local.isoformat()
            couple.next_session_text = date_format(local, "D j M Y, H:i")
        if couple.eft_step:
            couple.stage_text = _("Stage %(stage)s · Step %(step)s") % {
                "stage": couple.eft_stage,
                "step": couple.eft_step,
            }
    return render(
        request,
        "workspace/caseload.html",
        {
            "clinician": clinician,
            "couples": couples,
            "flagged_count": sum(1 for couple in couples if couple.flag_count),
            "rising_count": sum(1 for couple in couples if couple.episodes_rising),
            "shows_clinician": any(couple.treated_by_other for couple in couples),
            "time_zone": clinician.practice.time_zone,
            "not_set": _("Not set"),
            "adherence_days": trends.ADHERENCE_DAYS,
            "rising_days": trends.RISING_WINDOW_DAYS,
            "rising_min": trends.RISING_MIN_INCREASE,
        },
    )


def partner_activity_for(*, user, now):
    """The active partners of the user's couples with their last check-in, and each partner's
    occurrences due and completed in the last 14 days (two queries)."""

    partners = trends.partners_with_last_checkin(
        partners_visible_to(user=user)
        .select_related(None)
        .filter(is_active=True)
        .order_by("couple_id", "seat"),
        checkins=checkins_visible_to(user=user),
    )
    return list(partners), trends.adherence_by_partner(occurrences_visible_to(user=user), now=now)


urlpatterns = [
    path("", caseload, name="caseload"),
]
