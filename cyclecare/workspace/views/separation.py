"""The separation workflow: a couple ends, or one partner continues alone.

One page explains exactly what will happen (counted from the couple's rows), a form takes who
continues, the date and a reason from a fixed list, a confirm step repeats the choice, and the
confirmed POST calls cyclecare.separation.couple_separate. The couple is read through the clinical
scope (out of scope: 404); the service decides who may separate and refuses bad input, which
re-renders the form with its message and changes nothing.
"""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinician.forms import add_service_errors
from clinician.models import Clinician
from couples.models import Couple
from couples.selectors import couple_get_for
from cyclecare.separation import couple_separate, separation_preview

from ..forms import SeparationForm
from .common import clinician_required


def _closed_reason(couple) -> str | None:

    if couple.kind == Couple.Kind.INDIVIDUAL:
        return _("This is an individual case: there is no couple to separate.")
    if couple.status == Couple.Status.SEPARATED:
        return _("This couple has already separated.")
    if couple.status == Couple.Status.DISCHARGED:
        return _("This couple has been discharged; its record is closed.")
    return None


def _page(request, template, context, status=200) -> HttpResponse:
    return render(request, f"workspace/{template}", context, status=status)


@clinician_required
def separation(request: HttpRequest, clinician: Clinician, couple_id: int) -> HttpResponse:

    couple = couple_get_for(user=request.user, couple_id=couple_id)
    partners = list(couple.active_partners)
    context = {"clinician": clinician, "couple": couple, "closed_reason": _closed_reason(couple)}
    if context["closed_reason"]:
        context["continuations"] = list(couple.continuations.order_by("pk"))
        status = 200 if request.method == "GET" else 400
        return _page(request, "separation_closed.html", context, status=status)

    if request.method != "POST":
        form = SeparationForm(
            couple=couple, partners=partners, initial={"separated_on": timezone.localdate()}
        )
        context.update(form=form, preview=separation_preview(couple=couple))
        return _page(request, "separation.html", context)

    form = SeparationForm(request.POST, couple=couple, partners=partners)
    step = request.POST.get("step", "review")
    if not form.is_valid() or step == "edit":
        context.update(form=form, preview=separation_preview(couple=couple))
        return _page(request, "separation.html", context, status=200 if step == "edit" else 400)
    continuing = form.continuing_partners()
    if step != "confirm":
        context.update(
            form=form,
            continuing=continuing,
            leaving=[p for p in partners if p not in continuing],
            reason=dict(form.fields["separation_reason"].choices)[form.cleaned_data["separation_reason"]],
            preview=separation_preview(couple=couple, continuing=continuing),
        )
        return _page(request, "separation_confirm.html", context)
    try:
        result = couple_separate(
            user=request.user,
            couple=couple,
            continuing=continuing,
            separation_reason=form.cleaned_data["separation_reason"],
            separated_on=form.cleaned_data["separated_on"],
        )
    except ValidationError as error:
        add_service_errors(form, error)
        context.update(form=form, preview=separation_preview(couple=couple))
        return _page(request, "separation.html", context, status=400)
    landing = result.continuations[0] if result.continuations else result.couple
    return redirect("cyclecare:clinician:couple", couple_id=landing.pk)


urlpatterns: list = [
    path("couples/<int:couple_id>/separate/", separation, name="separation"),
]
