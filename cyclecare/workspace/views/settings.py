"""A couple's settings (/clinic/couples/<id>/settings/): each partner's details, a second
partner for an individual case, pause / resume / discharge, transfer to a colleague, consents.

The couple is read through the administrative scope — the people ``require_couple_access``
lets write a couple's details: its clinician, their supervisor and the practice admin; anyone
else, another practice's couple included, gets a 404. Each form posts one action; the service
it calls is the rule (validated, atomic, audited), and its refusal re-renders the page with the
message on the form (400) and nothing saved. Pausing, discharging and transferring ask for a
confirmation first. A success says what was done and redirects (POST, redirect, GET).
"""

import zoneinfo
from functools import cache

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _

from clinician.forms import add_service_errors
from clinician.models import Clinician
from clinician.permissions import couple_in_scope
from couples import services
from couples.models import Couple
from couples.selectors import consents_of_partner, couple_get_for

from ..forms import ConsentRecordForm, CoupleStatusForm, CoupleTransferForm, PartnerDetailsForm
from .common import clinician_required


@cache
def time_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones() - {"localtime"})


def _may_add_partner(couple: Couple, partners: list) -> bool:
    return (
        len(partners) < 2
        and couple.status != Couple.Status.SEPARATED
        and not (couple.kind == Couple.Kind.INDIVIDUAL and couple.continued_from_id)
    )


def _status_message(status: str) -> str:
    return {
        Couple.Status.PAUSED: _("Paused. No reminders go out until you resume."),
        Couple.Status.ACTIVE: _("Resumed. Reminders start again from now, with no catch-up for the pause."),
        Couple.Status.DISCHARGED: _("Discharged. No reminders go out; the record stays."),
    }[status]


@clinician_required
def couple_settings(request: HttpRequest, clinician: Clinician, couple_id: int) -> HttpResponse:
    couple = couple_get_for(user=request.user, couple_id=couple_id, purpose="administrative")
    partners = list(couple.active_partners)
    page = {
        "partner_forms": {
            p.pk: PartnerDetailsForm(prefix=f"p{p.pk}", initial=PartnerDetailsForm.initial_for(p))
            for p in partners
        },
        "add_form": PartnerDetailsForm(prefix="new", initial={"time_zone": clinician.practice.time_zone}),
        "status_form": CoupleStatusForm(),
        "transfer_form": CoupleTransferForm(couple=couple),
        "consent_form": ConsentRecordForm(partners=partners),
    }
    if request.method == "POST":
        action = request.POST.get("action", "")
        handler = ACTIONS.get(action)
        if handler is None:
            messages.error(request, _("Nothing was changed: unknown action."))
            return redirect("cyclecare:clinician:couple_settings", couple_id=couple.pk)
        response = handler(request, couple, partners, page)
        if response is not None:
            return response
        status = 200 if page.get("confirm") else 400
        if status == 400:
            # The form's own non-field errors (a third partner, a closed record) lead the page.
            page["failed"] = action
            page["summary_errors"] = list(page["bound"].non_field_errors()) if "bound" in page else []
    else:
        status = 200
    return _render(request, clinician, couple, partners, page, status=status)


def _render(request, clinician, couple, partners, page, *, status: int) -> HttpResponse:
    consents = {
        p.pk: list(
            consents_of_partner(user=request.user, partner_id=p.pk, purpose="administrative").select_related(
                "recorded_by"
            )
        )
        for p in partners
    }
    context = {
        **page,
        "clinician": clinician,
        "couple": couple,
        "partner_rows": [
            {"partner": p, "form": page["partner_forms"][p.pk], "consents": consents[p.pk]} for p in partners
        ],
        "may_add_partner": _may_add_partner(couple, partners),
        "clinical_access": couple_in_scope(request.user, couple, purpose="clinical"),
        "time_zones": time_zones(),
        "closed": couple.status == Couple.Status.SEPARATED,
    }
    return render(request, "workspace/couple_settings.html", context, status=status)


def _done(request, couple, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("cyclecare:clinician:couple_settings", couple_id=couple.pk)


def _partner_of(request, partners):
    try:
        partner_id = int(request.POST.get("partner_id", ""))
    except ValueError:
        raise Http404 from None
    for partner in partners:
        if partner.pk == partner_id:
            return partner
    raise Http404


def _edit_partner(request, couple, partners, page):
    partner = _partner_of(request, partners)
    form = PartnerDetailsForm(request.POST, prefix=f"p{partner.pk}")
    page["partner_forms"][partner.pk] = form
    page["bound"] = form
    if not form.is_valid():
        return None
    try:
        services.partner_update(user=request.user, partner=partner, **form.changes())
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    return _done(
        request, couple, _("Saved %(name)s's details.") % {"name": form.cleaned_data["display_name"]}
    )


def _add_partner(request, couple, partners, page):
    form = PartnerDetailsForm(request.POST, prefix="new")
    page["add_form"] = form
    page["bound"] = form
    if not form.is_valid():
        return None
    details = form.changes()
    try:
        services.partner_add(
            user=request.user,
            couple=couple,
            display_name=details.pop("display_name"),
            time_zone=details.pop("time_zone"),
            **details,
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    return _done(
        request, couple, _("Added %(name)s to the case.") % {"name": form.cleaned_data["display_name"]}
    )


def _set_status(request, couple, partners, page):
    form = CoupleStatusForm(request.POST)
    page["status_form"] = form
    page["bound"] = form
    if not form.is_valid():
        return None
    status = form.cleaned_data["status"]
    if request.POST.get("confirmed") != "yes":
        page["confirm"] = {
            "action": "status",
            "status": status,
            "label": dict(form.fields["status"].choices)[status],
        }
        return None
    try:
        services.couple_set_status(user=request.user, couple=couple, status=status)
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    return _done(request, couple, _status_message(status))


def _transfer(request, couple, partners, page):
    form = CoupleTransferForm(request.POST, couple=couple)
    page["transfer_form"] = form
    page["bound"] = form
    if not form.is_valid():
        return None
    receiver = form.cleaned_data["to_clinician"]
    if request.POST.get("confirmed") != "yes":
        page["confirm"] = {"action": "transfer", "to_clinician": receiver}
        return None
    try:
        services.couple_transfer(user=request.user, couple=couple, to_clinician=receiver)
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    message = _("%(label)s now has %(name)s as their clinician.") % {
        "label": couple.label,
        "name": receiver.display_name,
    }
    if couple_in_scope(request.user, couple, purpose="administrative"):
        return _done(request, couple, message)
    messages.success(request, message)
    return redirect("cyclecare:clinician:caseload")


def _record_consent(request, couple, partners, page):
    form = ConsentRecordForm(request.POST, partners=partners)
    page["consent_form"] = form
    page["bound"] = form
    if not form.is_valid():
        return None
    partner = next(p for p in partners if p.pk == form.cleaned_data["partner"])
    try:
        services.consent_record(
            actor=request.user,
            partner=partner,
            kind=form.cleaned_data["kind"],
            granted=form.cleaned_data["granted"],
            method=form.cleaned_data["method"],
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    return _done(request, couple, _("Consent recorded for %(name)s.") % {"name": partner.display_name})


ACTIONS = {
    "partner": _edit_partner,
    "add_partner": _add_partner,
    "status": _set_status,
    "transfer": _transfer,
    "consent": _record_consent,
}

urlpatterns: list = [
    path("couples/<int:couple_id>/settings/", couple_settings, name="couple_settings"),
]
