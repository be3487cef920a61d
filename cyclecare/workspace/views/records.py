"""A partner's records and erasure, from the couple's settings page, and the practice's
retention settings.

- ``/clinic/couples/<id>/partners/<pid>/records/``: choose the joint-session notes to release,
  prepare the partner's records, and get the single-use download link to pass on (shown once).
- ``/clinic/couples/<id>/partners/<pid>/erase/``: erase the partner's contact details after a
  typed confirmation; undo within the window, or read why it can no longer be undone.
- ``/clinic/practice/retention/``: the practice admin's retention periods and the last runs.

The couple is read through the clinical scope (its treating clinician and their supervisor);
anyone else — a colleague, the practice admin, another practice — gets a 404. The services
are the rules (``cyclecare.records``, ``couples.services.partner_erase``,
``cyclecare.retention``): their refusal is shown on the form with nothing done.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from clinician.conf import cyclecare_settings
from clinician.forms import add_service_errors
from clinician.models import Clinician
from clinician.permissions import practice_admin_or_404
from couples import services as couple_services
from couples.models import Partner, PartnerErasure
from couples.selectors import couple_get_for
from cyclecare import records, retention
from cyclecare.reminders.channels import SendError

from ..forms import PartnerEraseForm, RecordsPrepareForm, RetentionForm
from .common import clinician_required


def _partner_of(user, couple_id: int, partner_id: int) -> Partner:
    """The partner of a couple in the user's clinical scope, or a 404."""
    couple = couple_get_for(user=user, couple_id=couple_id)
    partner = (
        Partner.objects.select_related("couple", "practice").filter(pk=partner_id, couple=couple).first()
    )
    if partner is None:
        raise Http404
    return partner


def _export_state(export) -> str:
    if export.revoked_at:
        return _("Withdrawn")
    if export.downloaded_at:
        return _("Downloaded")
    if export.expires_at <= timezone.now() or export.purged_at:
        return _("Expired")
    return _("Waiting to be downloaded")


@clinician_required
def partner_records(
    request: HttpRequest, clinician: Clinician, couple_id: int, partner_id: int
) -> HttpResponse:
    partner = _partner_of(request.user, couple_id, partner_id)
    notes = list(records.releasable_joint_notes(partner=partner))
    released = list(
        records.releases_in_force(partner=partner)
        .filter(target_type="clinician.sessionnote")
        .values_list("target_id", flat=True)
    )
    # Bound on every POST: releasing nothing is a POST with no ticked box.
    bound = request.POST if request.method == "POST" else None
    form = RecordsPrepareForm(bound, notes=notes, initial={"notes": released})
    prepared = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                export, token = records.records_prepare(
                    user=request.user, partner_id=partner.pk, note_ids=form.cleaned_data["notes"]
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                status = 200
                prepared = {"export": export, "url": records.records_url(token)}
                if form.cleaned_data["email_link"]:
                    prepared["emailed"] = _email_link(request, export, token)
    exports = [
        {"export": export, "state": _export_state(export)}
        for export in records.record_exports_for(partner=partner)[:10]
    ]
    return render(
        request,
        "workspace/partner_records.html",
        {
            "clinician": clinician,
            "couple": partner.couple,
            "partner": partner,
            "form": form,
            "prepared": prepared,
            "exports": exports,
            "link_hours": cyclecare_settings.RECORDS_LINK_HOURS,
            "not_included": records.NOT_INCLUDED,
        },
        status=status,
    )


def _email_link(request: HttpRequest, export, token: str) -> bool:
    """Email the link; on a refusal or a failed send, say why (the link is on the page anyway)."""
    try:
        records.records_link_email(user=request.user, export=export, token=token)
    except ValidationError as error:
        messages.warning(request, _("The link was not emailed: %(why)s") % {"why": " ".join(error.messages)})
        return False
    except SendError as error:
        messages.warning(request, _("The link was not emailed: %(why)s") % {"why": error})
        return False
    messages.success(request, _("The link was emailed to %(email)s.") % {"email": export.partner.email})
    return True


@clinician_required
def partner_erasure(
    request: HttpRequest, clinician: Clinician, couple_id: int, partner_id: int
) -> HttpResponse:
    partner = _partner_of(request.user, couple_id, partner_id)
    erasure = couple_services.partner_erasure_in_force(partner=partner)
    form = PartnerEraseForm(partner=partner)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "erase" and erasure is None:
            form = PartnerEraseForm(request.POST, partner=partner)
            status = 400
            if form.is_valid():
                try:
                    couple_services.partner_erase(user=request.user, partner=partner)
                except ValidationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(
                        request,
                        _(
                            "The partner's contact details are erased and their links revoked. "
                            "You can undo this for %(hours)s hours."
                        )
                        % {"hours": cyclecare_settings.ERASURE_UNDO_HOURS},
                    )
                    return redirect(
                        "cyclecare:clinician:partner_erasure", couple_id=couple_id, partner_id=partner.pk
                    )
        elif action == "undo" and erasure is not None:
            try:
                couple_services.partner_erasure_undo(user=request.user, erasure=erasure)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                status = 400
            else:
                messages.success(
                    request,
                    _(
                        "The erasure is undone: the details are back. Links sent before it stay revoked; "
                        "send a new welcome to give the partner a link."
                    ),
                )
                return redirect(
                    "cyclecare:clinician:partner_erasure", couple_id=couple_id, partner_id=partner.pk
                )
        else:
            messages.error(request, _("Nothing was changed."))
            status = 400
    latest = erasure or PartnerErasure.objects.filter(partner=partner).first()
    return render(
        request,
        "workspace/partner_erasure.html",
        {
            "clinician": clinician,
            "couple": partner.couple,
            "partner": partner,
            "form": form,
            "erasure": erasure,
            "latest": latest,
            "undo_refusal": couple_services.erasure_undo_refusal(erasure) if erasure else "",
            "undo_hours": cyclecare_settings.ERASURE_UNDO_HOURS,
        },
        status=status,
    )


@clinician_required
def practice_retention(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    managed = practice_admin_or_404(request.user).practice
    policy = retention.retention_policy_for(practice_id=managed.pk)
    initial = {name: getattr(policy, name) for name in retention.POLICY_FIELDS}
    form = RetentionForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                retention.retention_policy_update(user=request.user, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("The retention settings are saved."))
                return redirect("cyclecare:clinician:practice_retention")
    return render(
        request,
        "workspace/practice_retention.html",
        {
            "clinician": clinician,
            "practice": managed,
            "form": form,
            "runs": list(retention.retention_runs_for(user=request.user)[:10]),
        },
        status=status,
    )


urlpatterns = [
    path(
        "couples/<int:couple_id>/partners/<int:partner_id>/records/", partner_records, name="partner_records"
    ),
    path("couples/<int:couple_id>/partners/<int:partner_id>/erase/", partner_erasure, name="partner_erasure"),
    path("practice/retention/", practice_retention, name="practice_retention"),
]
