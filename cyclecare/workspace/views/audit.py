"""The practice admin's audit pages: search the trail (with CSV), and one partner's access report
— who opened or changed their record, when, from where and through which surface.

Only the practice's admin may open them (``cyclecare.audit_trail.audit_practice``: anyone else
404). Filters come from the query string, so a search can be bookmarked; a bad filter is shown
beside its field with a 400 and no query run. Each CSV download and each access report viewed is
itself recorded in the trail.
"""

from collections.abc import Iterator

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path

from clinician.audit import Surface, audit_context, audit_record
from clinician.models import AuditEvent, Clinician
from cyclecare import audit_trail
from cyclecare.reports.csv import csv_lines

from ..forms import AuditSearchForm
from .common import clinician_required

PAGE_SIZE = 100
CSV_COLUMNS = (
    ("occurred_at", "When"),
    ("who", "Who"),
    ("actor_kind", "Actor kind"),
    ("actor_id", "Actor id"),
    ("action", "Action"),
    ("object_type", "Record type"),
    ("object_id", "Record id"),
    ("couple", "Couple id"),
    ("partner", "Partner id"),
    ("surface", "Through"),
    ("source", "From address"),
    ("changes", "Changed fields"),
)


def _form(request: HttpRequest, practice, errors: dict[str, str]) -> AuditSearchForm:
    clinicians = Clinician.objects.filter(practice=practice).order_by("display_name", "id")
    form = AuditSearchForm(request.GET or None, clinicians=clinicians, surfaces=AuditEvent.Surface.choices)
    if request.GET:
        form.is_valid()
        for name, message in errors.items():
            if name in form.fields and not form.errors.get(name):
                form.add_error(name, message)
    return form


def _search(request: HttpRequest):
    """(filters or None, errors): the query string parsed by the one rule every surface uses."""
    try:
        return audit_trail.parse_audit_filters(request.GET, user=request.user), {}
    except audit_trail.AuditFilterError as refused:
        return None, refused.errors


@clinician_required
def audit_search(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    practice = audit_trail.audit_practice(request.user)
    filters, errors = _search(request)
    context = {"clinician": clinician, "practice": practice, "form": _form(request, practice, errors)}
    if filters is None:
        return render(request, "workspace/audit.html", context, status=400)
    page = Paginator(audit_trail.audit_events(user=request.user, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context.update(
        filters=filters,
        page=page,
        rows=list(audit_trail.audit_rows(page.object_list, practice=practice)),
    )
    return render(request, "workspace/audit.html", context)


@clinician_required
def audit_csv(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    practice = audit_trail.audit_practice(request.user)
    filters, errors = _search(request)
    if filters is None:
        return render(
            request,
            "workspace/audit.html",
            {"clinician": clinician, "practice": practice, "form": _form(request, practice, errors)},
            status=400,
        )
    with audit_context(surface=Surface.EXPORT):
        audit_record(actor=request.user, action="audit.export", target=practice)
    events = audit_trail.audit_events(user=request.user, filters=filters).iterator(chunk_size=2000)
    return _csv_response(
        audit_trail.audit_rows(events, practice=practice),
        f"audit-{filters.date_from}-{filters.date_to}.csv",
    )


@clinician_required
def partner_access(request: HttpRequest, clinician: Clinician, partner_id: int) -> HttpResponse:
    practice = audit_trail.audit_practice(request.user)
    partner = audit_trail.access_partner(user=request.user, partner_id=partner_id)
    filters, errors = _search(request)
    context = {
        "clinician": clinician,
        "practice": practice,
        "partner": partner,
        "form": _form(request, practice, errors),
    }
    if filters is None:
        return render(request, "workspace/audit_partner.html", context, status=400)
    audit_record(actor=request.user, action="partner.access_report", target=partner)
    events = audit_trail.partner_access_events(user=request.user, partner=partner, filters=filters)
    if request.GET.get("format") == "csv":
        return _csv_response(
            audit_trail.audit_rows(events.iterator(chunk_size=2000), practice=practice),
            f"access-report-partner-{partner.pk}-{filters.date_from}-{filters.date_to}.csv",
        )
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    context.update(
        filters=filters,
        page=page,
        rows=list(audit_trail.audit_rows(page.object_list, practice=practice)),
    )
    return render(request, "workspace/audit_partner.html", context)


def _csv_rows(rows) -> Iterator[list]:
    for row in rows:
        values = {**row, "occurred_at": row["occurred_at"].isoformat(), "changes": " ".join(row["changes"])}
        yield [values[name] for name, _ in CSV_COLUMNS]


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    """Streamed: the rows are read from the database as the response is sent."""
    lines = csv_lines([label for _, label in CSV_COLUMNS], _csv_rows(rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urlpatterns = [
    path("practice/audit/", audit_search, name="audit"),
    path("practice/audit/csv/", audit_csv, name="audit_csv"),
    path("practice/audit/partners/<int:partner_id>/", partner_access, name="audit_partner"),
]
