"""Sessions: schedule, record what happened (held, cancelled, no-show) and who attended.

Schedules are administrative (a practice admin books for the whole practice); the note of a
session is clinical and is linked only for a user in clinical scope. Times are shown and typed
in the practice's time zone.
"""

import zoneinfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from clinician.forms import add_service_errors
from clinician.models import Clinician
from couples import selectors, services
from couples.models import SessionNote, TherapySession
from couples.selectors import couple_get_for, couples_visible_to

from ..forms import SessionOutcomeForm, SessionRescheduleForm, SessionScheduleForm
from .common import clinician_required


def practice_zone(clinician: Clinician) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(clinician.practice.time_zone)


def in_clinical_scope(request: HttpRequest, couple_id: int) -> bool:
    """Whether the user may open this couple's notes (a practice admin who books sessions may not)."""

    return couples_visible_to(user=request.user, purpose="clinical").filter(pk=couple_id).exists()


def seen_partners(session: TherapySession):
    """Who can attend: the one partner of an individual session, else the couple's active partners."""
    partners = session.couple.partners.filter(is_active=True).order_by("seat")
    return partners.filter(pk=session.partner_id) if session.partner_id else partners


@clinician_required
def sessions(request: HttpRequest, clinician: Clinician, couple_id: int) -> HttpResponse:
    """The couple's sessions, newest first, and the form that books the next one."""

    couple = couple_get_for(user=request.user, couple_id=couple_id, purpose="administrative")
    partners = couple.partners.filter(is_active=True).order_by("seat")
    status = 200
    with timezone.override(practice_zone(clinician)):
        if request.method == "POST":
            form = SessionScheduleForm(request.POST, partners=partners)
            if form.is_valid():
                try:
                    session = services.session_schedule(user=request.user, couple=couple, **form.cleaned_data)
                except ValidationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(request, _("Session booked."))
                    return redirect("cyclecare:clinician:session", session_id=session.pk)
            status = 400
        else:
            form = SessionScheduleForm(partners=partners)
        rows = list(
            selectors.sessions_visible_to(user=request.user)
            .filter(couple=couple)
            .select_related("note")
            .order_by("-starts_at", "-pk")
        )
        now = timezone.now()
        for session in rows:
            session.outcome_due = (
                session.status == TherapySession.Status.SCHEDULED and session.starts_at < now
            )
            session.note_row = _note_or_none(session)
        return render(
            request,
            "workspace/sessions.html",
            {
                "clinician": clinician,
                "couple": couple,
                "partners": partners,
                "sessions": rows,
                "form": form,
                "time_zone": clinician.practice.time_zone,
                "may_read_notes": in_clinical_scope(request, couple.pk),
            },
            status=status,
        )


@clinician_required
def session(request: HttpRequest, clinician: Clinician, session_id: int) -> HttpResponse:
    """One session: record its outcome and attendance, or move it while it is still scheduled."""
    therapy_session = selectors.session_get_for(user=request.user, session_id=session_id)
    partners = seen_partners(therapy_session)
    outcome_form = SessionOutcomeForm(partners=partners)
    reschedule_form = SessionRescheduleForm()
    status = 200
    with timezone.override(practice_zone(clinician)):
        if request.method == "POST":
            action = request.POST.get("action")
            if action == "outcome":
                outcome_form = SessionOutcomeForm(request.POST, partners=partners)
                if outcome_form.is_valid():
                    try:
                        services.session_record_outcome(
                            user=request.user,
                            session=therapy_session,
                            status=outcome_form.cleaned_data["status"],
                            attendees=outcome_form.cleaned_data["attendees"],
                        )
                    except ValidationError as error:
                        add_service_errors(outcome_form, error)
                    else:
                        messages.success(request, _("Outcome recorded."))
                        return redirect("cyclecare:clinician:session", session_id=therapy_session.pk)
            elif action == "reschedule":
                reschedule_form = SessionRescheduleForm(request.POST)
                if reschedule_form.is_valid():
                    try:
                        services.session_reschedule(
                            user=request.user,
                            session=therapy_session,
                            starts_at=reschedule_form.cleaned_data["starts_at"],
                        )
                    except ValidationError as error:
                        add_service_errors(reschedule_form, error)
                    else:
                        messages.success(request, _("Session moved."))
                        return redirect("cyclecare:clinician:session", session_id=therapy_session.pk)
            else:
                messages.error(request, _("Choose what to record."))
            status = 400
        is_scheduled = therapy_session.status == TherapySession.Status.SCHEDULED
        return render(
            request,
            "workspace/session.html",
            {
                "clinician": clinician,
                "session": therapy_session,
                "couple": therapy_session.couple,
                "attendees": list(therapy_session.attendees.all()),
                "note": _note_or_none(therapy_session),
                "outcome_form": outcome_form,
                "reschedule_form": reschedule_form,
                "is_scheduled": is_scheduled,
                "outcome_due": is_scheduled and therapy_session.starts_at < timezone.now(),
                "time_zone": clinician.practice.time_zone,
                "may_read_notes": in_clinical_scope(request, therapy_session.couple_id),
            },
            status=status,
        )


def _note_or_none(session: TherapySession) -> SessionNote | None:
    try:
        return session.note
    except SessionNote.DoesNotExist:
        return None


urlpatterns: list = [
    path("couples/<int:couple_id>/sessions/", sessions, name="sessions"),
    path("sessions/<int:session_id>/", session, name="session"),
]
