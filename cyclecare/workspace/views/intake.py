"""Intake and the welcome: the caseload's "New couple" form, and "Resend welcome" on the couple
page.

The form parses and labels; ``cyclecare.intake.couple_intake`` decides and refuses (its errors
are put back on the field they name, and nothing is saved). A partner is read through the
clinical scope (``partner_get_for``: out of scope is a 404) before a welcome is resent.
"""

import secrets
import zoneinfo
from functools import cache

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinician.forms import add_service_errors
from clinician.models import Clinician
from couples.selectors import couple_get_for, partner_get_for
from couples.services import practice_quiet_hours
from cyclecare.intake import couple_intake
from cyclecare.welcome import welcome_request

from ..forms import IntakeForm
from .common import clinician_required


@cache
def time_zones() -> list[str]:
    """The IANA zones this machine knows, for the searchable list (a datalist)."""
    return sorted(
        zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/")
    )


@clinician_required
@require_http_methods(["GET", "HEAD", "POST"])
def couple_new(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    practice_zone = clinician.practice.time_zone
    if request.method != "POST":
        # The practice's default quiet hours start each partner's (the clinician may change them).
        defaults = practice_quiet_hours(clinician.practice)
        initial = {f"{seat}_{name}": value for seat in ("a", "b") for name, value in defaults.items()}
        form = IntakeForm(
            time_zone=practice_zone, initial={"intake_token": secrets.token_urlsafe(24), **initial}
        )
        return _page(request, clinician, form)
    form = IntakeForm(request.POST, time_zone=practice_zone)
    if not form.is_valid():
        return _page(request, clinician, form, status=400)
    try:
        result = couple_intake(
            user=request.user,
            label=form.cleaned_data["label"],
            kind=form.kind_value(),
            partners=form.partner_intakes(),
            intake_token=form.cleaned_data["intake_token"],
        )
    except ValidationError as exc:
        add_service_errors(form, exc)
        return _page(request, clinician, form, status=400)
    if result.created:
        messages.success(request, _("%(label)s is on your caseload.") % {"label": result.couple.label})
        for reason in result.not_welcomed:
            messages.warning(request, reason)
    return redirect("cyclecare:clinician:couple", result.couple.pk)


def _page(request: HttpRequest, clinician: Clinician, form: IntakeForm, *, status: int = 200) -> HttpResponse:
    return render(
        request,
        "workspace/intake.html",
        {"clinician": clinician, "form": form, "time_zones": time_zones()},
        status=status,
    )


@clinician_required
@require_POST
def welcome_resend(
    request: HttpRequest, clinician: Clinician, couple_id: int, partner_id: int
) -> HttpResponse:
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    partner = partner_get_for(user=request.user, partner_id=partner_id)
    if partner.couple_id != couple.pk:
        raise Http404
    try:
        queued = welcome_request(user=request.user, partner=partner)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if queued:
            messages.success(
                request, _("A welcome is on its way to %(name)s.") % {"name": partner.display_name}
            )
        else:
            messages.info(
                request, _("A welcome to %(name)s is already on its way.") % {"name": partner.display_name}
            )
    return redirect("cyclecare:clinician:couple", couple.pk)


urlpatterns = [
    path("couples/new/", couple_new, name="couple_new"),
    path(
        "couples/<int:couple_id>/partners/<int:partner_id>/welcome/",
        welcome_resend,
        name="welcome_resend",
    ),
]
