"""The practice admin's pages: the practice at a glance (their first screen after sign-in),
its clinicians, inviting one, changing a role or supervisor, deactivating, and the practice's
settings.

Only the practice's active admin may open them (``practice_admin_or_404``: anyone else gets a
404, so the pages do not confirm they exist). The figures are counts from
``cyclecare.reports.practice_overview`` — nothing that names a couple or a partner; every
write is a ``clinician.services`` call, whose refusal is shown on the form with nothing saved.
"""

import zoneinfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _

from clinician import services
from clinician.forms import add_service_errors
from clinician.models import Clinician
from clinician.permissions import practice_admin_or_404
from clinician.selectors import practice_clinician_get, practice_roster_for
from cyclecare.reports.overview import practice_overview
from cyclecare.reports.registry import REPORTS

from ..forms import (
    ClinicianDeactivateForm,
    ClinicianInviteForm,
    ClinicianRoleForm,
    PracticeSettingsForm,
)
from .common import clinician_required

SETTINGS_FIELDS = tuple(PracticeSettingsForm.base_fields)


def _licence_status(member: Clinician) -> str:
    if member.is_prelicensed:
        return _("Pre-licensed")
    if member.licence_number:
        where = f", {member.licence_jurisdiction}" if member.licence_jurisdiction else ""
        return _("Licensed (%(number)s%(where)s)") % {"number": member.licence_number, "where": where}
    return _("Not recorded")


def _roster(user, zone) -> list[Clinician]:
    roster = list(practice_roster_for(user=user))
    for member in roster:
        member.licence_status = _licence_status(member)
        member.invitation_pending = services.clinician_invitation_pending(member)
        last = member.user.last_login
        member.last_sign_in = last.astimezone(zone) if last else None
    return roster


@clinician_required
def practice(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    """The practice at a glance, and its clinicians."""
    managed = practice_admin_or_404(request.user).practice
    zone = zoneinfo.ZoneInfo(managed.time_zone)
    return render(
        request,
        "workspace/practice.html",
        {
            "clinician": clinician,
            "practice": managed,
            "overview": practice_overview(user=request.user),
            "roster": _roster(request.user, zone),
            "reports": REPORTS,
        },
    )


@clinician_required
def clinician_invite(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    managed = practice_admin_or_404(request.user).practice
    form = ClinicianInviteForm(request.POST or None, practice=managed)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                invited = services.clinician_invite(actor=request.user, practice=managed, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    _("Invitation sent to %(email)s. %(name)s sets a password from the link in it.")
                    % {"email": invited.user.email, "name": invited.display_name},
                )
                return redirect("cyclecare:clinician:practice")
    return render(
        request,
        "workspace/practice_invite.html",
        {"clinician": clinician, "practice": managed, "form": form},
        status=status,
    )


@clinician_required
def clinician_edit(request: HttpRequest, clinician: Clinician, clinician_id: int) -> HttpResponse:
    """Change a colleague's role and supervisor; resend a pending invitation."""
    practice_admin_or_404(request.user)
    member = practice_clinician_get(user=request.user, clinician_id=clinician_id)
    form = ClinicianRoleForm(request.POST or None, clinician=member)
    status = 200
    if request.method == "POST" and request.POST.get("action") == "resend":
        try:
            services.clinician_invite_resend(actor=request.user, clinician=member)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Invitation sent again to %(email)s.") % {"email": member.user.email})
        return redirect("cyclecare:clinician:practice_clinician", clinician_id=member.pk)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.clinician_role_change(
                    actor=request.user,
                    clinician=member,
                    role=form.cleaned_data["role"],
                    supervisor=form.cleaned_data["supervisor"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("%(name)s's role is saved.") % {"name": member.display_name})
                return redirect("cyclecare:clinician:practice")
    return render(
        request,
        "workspace/practice_clinician.html",
        {
            "clinician": clinician,
            "member": member,
            "form": form,
            "invitation_pending": services.clinician_invitation_pending(member),
        },
        status=status,
    )


@clinician_required
def clinician_deactivate(request: HttpRequest, clinician: Clinician, clinician_id: int) -> HttpResponse:
    """A confirmation page; refused (with what to do first) while couples are in their care."""
    practice_admin_or_404(request.user)
    member = practice_clinician_get(user=request.user, clinician_id=clinician_id)
    form = ClinicianDeactivateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.clinician_deactivate(actor=request.user, clinician=member)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    _("%(name)s is deactivated: signed out, API tokens revoked.")
                    % {"name": member.display_name},
                )
                return redirect("cyclecare:clinician:practice")
    return render(
        request,
        "workspace/practice_deactivate.html",
        {
            "clinician": clinician,
            "member": member,
            "form": form,
            "couples_in_care": member.caseload,
            "is_self": member.pk == clinician.pk,
        },
        status=status,
    )


@clinician_required
def practice_settings(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    managed = practice_admin_or_404(request.user).practice
    initial = {name: getattr(managed, name) for name in SETTINGS_FIELDS}
    form = PracticeSettingsForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.practice_update(actor=request.user, practice=managed, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("The practice's settings are saved."))
                return redirect("cyclecare:clinician:practice")
    return render(
        request,
        "workspace/practice_settings.html",
        {
            "clinician": clinician,
            "practice": managed,
            "form": form,
            "time_zones": sorted(zoneinfo.available_timezones()),
        },
        status=status,
    )


urlpatterns = [
    path("practice/", practice, name="practice"),
    path("practice/invite/", clinician_invite, name="practice_invite"),
    path("practice/settings/", practice_settings, name="practice_settings"),
    path("practice/clinicians/<int:clinician_id>/", clinician_edit, name="practice_clinician"),
    path(
        "practice/clinicians/<int:clinician_id>/deactivate/",
        clinician_deactivate,
        name="practice_clinician_deactivate",
    ),
]
