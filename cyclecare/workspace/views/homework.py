"""Assigning homework from the couple page, and the reminder log.

Two clicks: a template of the library (what cyclecare ships plus the practice's own) opens a
short confirm form prefilled from the template's defaults; "Assign" creates the homework through
``assignment_from_template``. The couple's homework is listed with pause / resume / stop
(``assignment_set_status``). Every read goes through the scoped selectors (clinical scope: a
couple outside it is a 404) and every write through the services, which check authorship.
"""

import datetime
import zoneinfo
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinician.forms import add_service_errors
from clinician.models import Clinician
from clinician.selectors import get_or_404
from couples.models import Couple, Partner
from couples.selectors import couple_get_for
from cyclecare import services
from cyclecare.models import Assignment, HomeworkTemplate
from cyclecare.reminders.selectors import homework_templates_available_to, reminder_deliveries_visible_to
from cyclecare.selectors import assignments_visible_to
from cyclecare.welcome import welcome_messages_visible_to

from ..forms import WEEKDAY_CHOICES, HomeworkAssignForm
from .common import clinician_required

# The repair practice suggested after an episode, in order of preference (shipped codes).
REPAIR_TEMPLATE_CODES = ("pause-and-return", "episode-log")
DELIVERIES_PER_PAGE = 50


# WHAT THE PAGES SHOW
# ------------------------------------------------------------------------------
def weekdays_from_mask(mask: int) -> list[str]:
    """Monday = bit 0 … Sunday = bit 6, as the form's values ("0" … "6")."""
    return [value for value, _label in WEEKDAY_CHOICES if mask & (1 << int(value))]


def schedule_text(item: Assignment | HomeworkTemplate) -> str:
    """A template's or an assignment's schedule in words (times are each partner's own)."""
    at = item.local_time.strftime("%H:%M") if item.local_time else ""
    days = ", ".join(str(label) for value, label in WEEKDAY_CHOICES if item.weekdays & (1 << int(value)))
    if item.schedule == Assignment.Schedule.DAILY:
        return _("Daily at %(time)s") % {"time": at}
    if item.schedule == Assignment.Schedule.WEEKDAYS:
        return _("%(days)s at %(time)s") % {"days": days, "time": at}
    if item.schedule == Assignment.Schedule.WEEKLY:
        return _("Weekly on %(day)s at %(time)s") % {"day": days, "time": at}
    return _("%(hours)s hours before each session") % {"hours": item.hours_before_session}


def names(partners) -> str:
    return _(" and ").join(p.display_name for p in partners)


def from_template(assignment: Assignment, template: HomeworkTemplate) -> bool:
    """Whether homework was assigned from this template. Assignments keep no link to their
    template, so the kind and the title (which the confirm form does not change) stand for it."""
    return assignment.kind == template.kind and assignment.title == template.name


def partners_covered(template: HomeworkTemplate, assignments) -> set[int]:
    """Partners who already have this template's homework running (active or paused)."""
    return {
        partner.pk
        for assignment in assignments
        if assignment.status != Assignment.Status.ENDED and from_template(assignment, template)
        for partner in assignment.partners.all()
    }


def assign_url(couple: Couple, template: HomeworkTemplate, partners=()) -> str:
    url = reverse("cyclecare:clinician:homework_assign", args=[couple.pk, template.pk])
    query = [("partners", p.pk) for p in partners]
    return f"{url}?{urlencode(query)}" if query else url


@dataclass(frozen=True)
class Suggestion:
    template: HomeworkTemplate
    partners: list[Partner]
    url: str

    @property
    def who(self) -> str:
        return names(self.partners)


def repair_suggestions(*, user, couple: Couple, partners: list[Partner]) -> list[Suggestion]:
    """After an episode: the repair practice (pause-and-return, then the episode log) for the
    partners in it who do not have that homework running already. Empty when all do."""
    templates = {
        t.code: t
        for t in homework_templates_available_to(user=user).filter(
            practice=None, code__in=REPAIR_TEMPLATE_CODES
        )
    }
    running = list(
        assignments_visible_to(user=user).filter(couple=couple).exclude(status=Assignment.Status.ENDED)
    )
    suggestions = []
    for code in REPAIR_TEMPLATE_CODES:
        template = templates.get(code)
        if template is None:
            continue
        covered = partners_covered(template, running)
        remaining = [p for p in partners if p.pk not in covered]
        if remaining:
            suggestions.append(Suggestion(template, remaining, assign_url(couple, template, remaining)))
    return suggestions


def practice_today(couple: Couple) -> datetime.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(couple.practice.time_zone)).date()


# VIEWS
# ------------------------------------------------------------------------------
def _homework_context(request: HttpRequest, clinician: Clinician, couple: Couple) -> dict:
    assignments = list(
        assignments_visible_to(user=request.user).filter(couple=couple).order_by("-created_at", "-id")
    )
    running = [a for a in assignments if a.status != Assignment.Status.ENDED]
    library = list(homework_templates_available_to(user=request.user).order_by("practice_id", "name", "pk"))
    partners = couple.active_partners
    for template in library:
        covered = partners_covered(template, running)
        template.running_for = names(p for p in partners if p.pk in covered)
        template.schedule_text = schedule_text(template)
        template.assign_url = assign_url(couple, template)
    for assignment in assignments:
        assignment.schedule_text = schedule_text(assignment)
        assignment.partner_names = names(assignment.partners.all())
    return {
        "clinician": clinician,
        "couple": couple,
        "library": library,
        "running": running,
        "ended": [a for a in assignments if a.status == Assignment.Status.ENDED][:20],
    }


@clinician_required
def homework(request: HttpRequest, clinician: Clinician, couple_id: int) -> HttpResponse:
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    return render(request, "workspace/homework.html", _homework_context(request, clinician, couple))


@clinician_required
@require_http_methods(["GET", "POST"])
def homework_assign(
    request: HttpRequest, clinician: Clinician, couple_id: int, template_id: int
) -> HttpResponse:
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    template = get_or_404(homework_templates_available_to(user=request.user), template_id)
    partners = couple.active_partners
    if request.method == "POST":
        form = HomeworkAssignForm(request.POST, couple_partners=partners)
        if form.is_valid():
            try:
                assignment = services.assignment_from_template(
                    user=request.user,
                    couple=couple,
                    template=template,
                    partners=form.cleaned_data["partner_rows"],
                    starts_on=form.cleaned_data["starts_on"],
                    **form.overrides(),
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    _("Assigned “%(title)s” to %(names)s.")
                    % {"title": assignment.title, "names": names(form.cleaned_data["partner_rows"])},
                )
                return redirect(reverse("cyclecare:clinician:homework", args=[couple.pk]) + "#assignments")
        status = 400
    else:
        wanted = {str(pk) for pk in request.GET.getlist("partners")}
        chosen = [str(p.pk) for p in partners if str(p.pk) in wanted]
        if not chosen and template.for_both_partners:
            chosen = [str(p.pk) for p in partners]
        form = HomeworkAssignForm(
            initial={
                "partners": chosen,
                "schedule": template.schedule,
                # The template's time, else the practice's default reminder time.
                "local_time": template.local_time or couple.practice.reminder_time,
                "weekdays": weekdays_from_mask(template.weekdays),
                "hours_before_session": template.hours_before_session,
                "starts_on": practice_today(couple),
            },
            couple_partners=partners,
        )
        status = 200
    return render(
        request,
        "workspace/homework_assign.html",
        {
            "clinician": clinician,
            "couple": couple,
            "template": template,
            "template_schedule": schedule_text(template),
            "form": form,
            "error_forms": [form] if form.errors else [],
        },
        status=status,
    )


STATUS_ACTIONS = {
    "pause": Assignment.Status.PAUSED,
    "resume": Assignment.Status.ACTIVE,
    "stop": Assignment.Status.ENDED,
}


@clinician_required
@require_POST
def assignment_status(
    request: HttpRequest, clinician: Clinician, couple_id: int, assignment_id: int
) -> HttpResponse:
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    assignment = get_or_404(assignments_visible_to(user=request.user).filter(couple=couple), assignment_id)
    status = STATUS_ACTIONS.get(request.POST.get("action", ""))
    error = None
    if status is None:
        error = _("Choose pause, resume or stop.")
    else:
        try:
            services.assignment_set_status(user=request.user, assignment=assignment, status=status)
        except ValidationError as refused:
            error = " ".join(refused.messages)
    if error:
        context = _homework_context(request, clinician, couple)
        context["status_error"] = error
        return render(request, "workspace/homework.html", context, status=400)
    done = {
        Assignment.Status.PAUSED: _("Paused “%(title)s”."),
        Assignment.Status.ACTIVE: _("Resumed “%(title)s”."),
        Assignment.Status.ENDED: _("Stopped “%(title)s”."),
    }[status]
    messages.success(request, done % {"title": assignment.title})
    return redirect(reverse("cyclecare:clinician:homework", args=[couple.pk]) + "#assignments")


WELCOMES_SHOWN = 20


@clinician_required
def deliveries(request: HttpRequest, clinician: Clinician, couple_id: int) -> HttpResponse:
    """The reminder log of one couple: per occurrence, each reminder or nudge — when, by which
    channel, sent or failed and why (our reason, never PHI), link opened, check-in completed.
    Message bodies are not stored, so none can be shown."""
    couple = couple_get_for(user=request.user, couple_id=couple_id)
    rows = (
        reminder_deliveries_visible_to(user=request.user, purpose="clinical")
        .filter(couple=couple)
        .select_related("partner", "occurrence__assignment")
        .order_by("-occurrence__due_at", "occurrence_id", "kind", "channel", "-id")
    )
    page = Paginator(rows, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "workspace/deliveries.html",
        {
            "clinician": clinician,
            "couple": couple,
            "page": page,
            "time_zone": couple.practice.time_zone,
            "welcomes": welcome_messages_visible_to(user=request.user, purpose="clinical")
            .filter(couple=couple)
            .order_by("-created_at", "-id")[:WELCOMES_SHOWN],
        },
    )


urlpatterns: list = [
    path("couples/<int:couple_id>/homework/", homework, name="homework"),
    path(
        "couples/<int:couple_id>/homework/assign/<int:template_id>/", homework_assign, name="homework_assign"
    ),
    path(
        "couples/<int:couple_id>/homework/assignments/<int:assignment_id>/status/",
        assignment_status,
        name="assignment_status",
    ),
    path("couples/<int:couple_id>/deliveries/", deliveries, name="deliveries"),
]
