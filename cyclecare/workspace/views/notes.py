"""Session notes: write (autosaved draft), sign, addenda, co-signature, print.

Scope is the selectors' (clinical: the treating clinician and their supervisor; anything else is
a 404). Opening a note's body for reading goes through ``note_get_for``, which records the read
in the audit trail; the writes (autosave, sign, co-sign, addendum) fetch the note without that
read event because the service records the write itself.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from clinician.forms import add_service_errors
from clinician.models import Clinician
from clinician.selectors import get_or_404
from couples import selectors, services
from couples.models import SessionNote, TherapySession
from cyclecare.selectors import episodes_visible_to

from ..forms import SECTION_LABELS, AddendumForm, NoteForm, NoteStartForm
from .common import clinician_required
from .sessions import practice_zone

SIGNED_MESSAGE = gettext_lazy("This note is signed and cannot be changed; add an addendum instead.")


def _note_for_write(request: HttpRequest, note_id: int) -> SessionNote:
    """The note in the user's clinical scope (else 404), without a read event."""
    return get_or_404(selectors.notes_visible_to(user=request.user), note_id)


def _partners(session: TherapySession) -> list:
    return list(session.couple.partners.filter(is_active=True).order_by("seat"))


def _episodes(request: HttpRequest, session: TherapySession) -> list:

    return list(episodes_visible_to(user=request.user).filter(session=session).order_by("occurred_at"))


def _render_editor(
    request: HttpRequest,
    clinician: Clinician,
    note: SessionNote,
    form: NoteForm | None = None,
    *,
    summary: str = "",
    status: int = 200,
) -> HttpResponse:
    session = note.session
    partners = _partners(session)
    with timezone.override(practice_zone(clinician)):
        return render(
            request,
            "workspace/note_edit.html",
            {
                "clinician": clinician,
                "note": note,
                "session": session,
                "couple": session.couple,
                "record_partner": note.record_partner,
                "other_partners": [p.display_name for p in partners if p != note.record_partner],
                "form": form or NoteForm(instance=note, partners=partners),
                "episodes": _episodes(request, session),
                "summary": summary,
                "time_zone": clinician.practice.time_zone,
            },
            status=status,
        )


def _render_note(
    request: HttpRequest,
    clinician: Clinician,
    note: SessionNote,
    *,
    template: str = "workspace/note.html",
    addendum_form: AddendumForm | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    session = note.session
    partners = _partners(session)
    cosignature = getattr(note, "cosignature", None)
    with timezone.override(practice_zone(clinician)):
        return render(
            request,
            template,
            {
                "clinician": clinician,
                "note": note,
                "session": session,
                "couple": session.couple,
                "record_partner": note.record_partner,
                "other_partners": [p.display_name for p in partners if p != note.record_partner],
                "sections": [
                    (SECTION_LABELS[name], getattr(note, name)) for name in SessionNote.SECTIONS[note.format]
                ],
                "partners_by_seat": _positions(note, partners),
                "cosignature": cosignature,
                "may_cosign": note.needs_cosignature and note.signed_by.supervisor_id == clinician.pk,
                "is_author": note.author_id == clinician.pk,
                "addenda": list(note.addenda.select_related("author")),
                "addendum_form": addendum_form or AddendumForm(),
                "episodes": _episodes(request, session),
                "errors": errors or [],
                "time_zone": clinician.practice.time_zone,
            },
            status=status,
        )


def _positions(note: SessionNote, partners: list) -> list[dict]:
    """Each partner's move and position as the cycle section shows them (seat A, then B)."""
    names = {partner.seat: partner.display_name for partner in partners}
    return [
        {
            "name": f"{names.get(seat, '')} ({letter})".strip(),
            "move": getattr(note, f"get_partner_{letter.lower()}_move_display")(),
            "position": getattr(note, f"partner_{letter.lower()}_position"),
        }
        for seat, letter in ((1, "A"), (2, "B"))
    ]


@clinician_required
def note_edit(request: HttpRequest, clinician: Clinician, session_id: int) -> HttpResponse:
    """The draft editor of a held session's note.

    No note yet: a page to start one (choose DAP, SOAP or BIRP); the draft is created by that
    POST, idempotently (a repeat returns the same note). A signed note, or a draft someone else
    is writing, opens read-only on the note page.
    """
    therapy_session = selectors.session_get_for(user=request.user, session_id=session_id, purpose="clinical")
    note = SessionNote.objects.filter(session=therapy_session).first()
    action = request.POST.get("action") if request.method == "POST" else None

    if note is None or action == "start":
        if action != "start":
            return _render_start(request, clinician, therapy_session, NoteStartForm())
        form = NoteStartForm(request.POST)
        if form.is_valid():
            try:
                services.note_start(
                    user=request.user, session=therapy_session, format=form.cleaned_data["format"]
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                return redirect("cyclecare:clinician:note_edit", session_id=therapy_session.pk)
        return _render_start(request, clinician, therapy_session, form, status=400)

    if note.is_signed:
        if request.method == "POST":
            messages.error(request, SIGNED_MESSAGE)
        return redirect("cyclecare:clinician:note", note_id=note.pk)
    if note.author_id != clinician.pk:
        if request.method == "POST":
            messages.error(request, _("Only the note's author can edit the draft."))
        return redirect("cyclecare:clinician:note", note_id=note.pk)

    if request.method == "POST":
        form = NoteForm(request.POST, instance=note, partners=_partners(therapy_session))
        if form.is_valid():
            try:
                if changes := form.changes():
                    note = services.note_update_draft(user=request.user, note=note, **changes)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Draft saved."))
                return redirect("cyclecare:clinician:note_edit", session_id=therapy_session.pk)
        return _render_editor(request, clinician, note, form, status=400)
    # Opening the editor shows the body: a read, recorded by the selector.
    return _render_editor(request, clinician, selectors.note_get_for(user=request.user, note_id=note.pk))


def _render_start(
    request: HttpRequest,
    clinician: Clinician,
    therapy_session: TherapySession,
    form: NoteStartForm,
    status: int = 200,
) -> HttpResponse:
    with timezone.override(practice_zone(clinician)):
        return render(
            request,
            "workspace/note_start.html",
            {
                "clinician": clinician,
                "session": therapy_session,
                "couple": therapy_session.couple,
                "is_held": therapy_session.status == TherapySession.Status.HELD,
                "form": form,
                "time_zone": clinician.practice.time_zone,
            },
            status=status,
        )


@clinician_required
def note(request: HttpRequest, clinician: Clinician, note_id: int) -> HttpResponse:
    """The note as written: sections, cycle section, signature, co-signature and addenda."""
    return _render_note(request, clinician, selectors.note_get_for(user=request.user, note_id=note_id))


@require_POST
@clinician_required
def note_autosave(request: HttpRequest, clinician: Clinician, note_id: int) -> JsonResponse:
    """notes.js posts the editor's form here while the clinician types: ``{saved_at}`` (ISO) and
    ``saved_label`` (hh:mm in the practice's zone); 409 once signed, 400 when refused."""
    note = _note_for_write(request, note_id)
    if note.is_signed:
        return JsonResponse({"detail": str(SIGNED_MESSAGE)}, status=409)
    form = NoteForm(request.POST, instance=note, partners=_partners(note.session))
    if not form.is_valid():
        return JsonResponse({"detail": _("Not saved: check the form."), "errors": form.errors}, status=400)
    try:
        if changes := form.changes():
            note = services.note_update_draft(user=request.user, note=note, **changes)
    except ValidationError as error:
        signed = any(
            e.code == "signed" for errors in getattr(error, "error_dict", {}).values() for e in errors
        )
        errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        return JsonResponse(
            {"detail": str(SIGNED_MESSAGE) if signed else _("Not saved."), "errors": errors},
            status=409 if signed else 400,
        )
    saved_at = timezone.localtime(note.updated_at, practice_zone(clinician))
    return JsonResponse({"saved_at": saved_at.isoformat(), "saved_label": saved_at.strftime("%H:%M")})


@require_POST
@clinician_required
def note_sign(request: HttpRequest, clinician: Clinician, note_id: int) -> HttpResponse:
    """Sign (locks the note for ever). From the editor, the text on screen is saved first."""
    note = _note_for_write(request, note_id)
    if note.is_signed:
        messages.error(request, _("This note is already signed."))
        return redirect("cyclecare:clinician:note", note_id=note.pk)
    form = None
    if "format" in request.POST and note.author_id == clinician.pk:
        form = NoteForm(request.POST, instance=note, partners=_partners(note.session))
        if not form.is_valid():
            return _render_editor(request, clinician, note, form, status=400)
        try:
            if changes := form.changes():
                note = services.note_update_draft(user=request.user, note=note, **changes)
        except ValidationError as error:
            add_service_errors(form, error)
            return _render_editor(request, clinician, note, form, status=400)
    try:
        services.note_sign(user=request.user, note=note)
    except ValidationError as error:
        if note.author_id != clinician.pk:
            return _render_note(request, clinician, note, errors=error.messages, status=400)
        if form is None:  # signed from elsewhere than the editor: show the stored draft
            stored = {name: "" if value is None else value for name, value in model_to_dict(note).items()}
            form = NoteForm(stored, instance=note, partners=_partners(note.session))
            form.is_valid()
        add_service_errors(form, error)
        summary = _("The note was not signed (the draft is saved). Please complete the following:")
        return _render_editor(request, clinician, note, form, summary=summary, status=400)
    messages.success(request, _("Note signed. It can no longer be changed; add an addendum if needed."))
    return redirect("cyclecare:clinician:note", note_id=note.pk)


@require_POST
@clinician_required
def note_addendum(request: HttpRequest, clinician: Clinician, note_id: int) -> HttpResponse:
    note = _note_for_write(request, note_id)
    form = AddendumForm(request.POST)
    if form.is_valid():
        try:
            services.addendum_add(user=request.user, note=note, body=form.cleaned_data["body"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Addendum added."))
            return redirect("cyclecare:clinician:note", note_id=note.pk)
    # Showing the page again shows the note: a read.
    note = selectors.note_get_for(user=request.user, note_id=note.pk)
    return _render_note(request, clinician, note, addendum_form=form, status=400)


@require_POST
@clinician_required
def note_cosign(request: HttpRequest, clinician: Clinician, note_id: int) -> HttpResponse:
    note = _note_for_write(request, note_id)
    try:
        services.note_cosign(user=request.user, note=note)
    except ValidationError as error:
        note = selectors.note_get_for(user=request.user, note_id=note.pk)
        return _render_note(request, clinician, note, errors=error.messages, status=400)
    messages.success(request, _("Note co-signed."))
    return redirect("cyclecare:clinician:note", note_id=note.pk)


@clinician_required
def note_print(request: HttpRequest, clinician: Clinician, note_id: int) -> HttpResponse:
    """The signed note on paper: sections, cycle section, signature with its digest,
    co-signature and addenda. A draft is not printable."""
    note = selectors.note_get_for(user=request.user, note_id=note_id)
    if not note.is_signed:
        messages.error(request, _("Only a signed note can be printed."))
        return redirect("cyclecare:clinician:note", note_id=note.pk)
    return _render_note(request, clinician, note, template="workspace/note_print.html")


@clinician_required
def cosign_queue(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    """A supervisor's supervisees' signed notes that wait for a co-signature (no bodies)."""
    with timezone.override(practice_zone(clinician)):
        return render(
            request,
            "workspace/cosign_queue.html",
            {
                "clinician": clinician,
                "notes": list(selectors.notes_awaiting_cosignature(user=request.user)),
                "is_supervisor": clinician.role == Clinician.Role.SUPERVISOR,
                "time_zone": clinician.practice.time_zone,
            },
        )


urlpatterns: list = [
    path("sessions/<int:session_id>/note/", note_edit, name="note_edit"),
    path("notes/<int:note_id>/", note, name="note"),
    path("notes/<int:note_id>/autosave/", note_autosave, name="note_autosave"),
    path("notes/<int:note_id>/sign/", note_sign, name="note_sign"),
    path("notes/<int:note_id>/addenda/", note_addendum, name="note_addendum"),
    path("notes/<int:note_id>/cosign/", note_cosign, name="note_cosign"),
    path("notes/<int:note_id>/print/", note_print, name="note_print"),
    path("cosign/", cosign_queue, name="cosign_queue"),
]
