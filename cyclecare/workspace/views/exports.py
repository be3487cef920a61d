"""The de-identified check-in export's pages: a form of filters, the export's progress (a
progress bar polled from a JSON status URL, or a page that reloads itself without JavaScript),
its download links, and the caller's recent exports.

Only a practice admin opens them (``practice_admin_or_404``); an export is its requester's
alone: anyone else's, even another admin's, is a 404. The rules are
``cyclecare.reports.export``'s."""

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse

from clinician.models import Clinician
from clinician.permissions import practice_admin_or_404
from cyclecare.models import ReportExport
from cyclecare.reports.common import report_clinicians
from cyclecare.reports.export import (
    ExportExpired,
    export_instruments,
    report_export_download,
    report_export_get_for,
    report_export_request,
    report_exports_for,
)
from cyclecare.reports.filters import FilterError, default_filters

from ..forms import ReportExportForm
from .common import clinician_required


@clinician_required
def export_start(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    """The export's form (GET) and its start (POST), with the caller's recent exports."""
    managed = practice_admin_or_404(request.user).practice
    form = ReportExportForm(
        request.POST if request.method == "POST" else None,
        initial_filters=default_filters(user=request.user),
        clinicians=report_clinicians(request.user, set()),
        instruments=export_instruments(user=request.user),
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                export = report_export_request(
                    user=request.user,
                    params=form.params(),
                    leaving_practice=form.cleaned_data["leaving_practice"],
                )
            except FilterError as error:
                for name, message in error.errors.items():
                    form.add_error(name if name in form.fields else None, message)
            except PermissionDenied as error:
                form.add_error(None, str(error))
            else:
                return redirect("cyclecare:clinician:report_export_status", export_id=export.pk)
    return render(
        request,
        "workspace/report_export.html",
        {
            "clinician": clinician,
            "practice": managed,
            "form": form,
            "exports": report_exports_for(user=request.user),
        },
        status=status,
    )


def _progress(export: ReportExport) -> dict:
    return {
        "status": export.status,
        "status_label": export.get_status_display(),
        "rows_done": export.rows_done,
        "rows_total": export.rows_total,
        "percent": export.percent,
        "finished": export.status in (ReportExport.Status.DONE, ReportExport.Status.FAILED),
        "error": export.error,
    }


@clinician_required
def export_status(request: HttpRequest, clinician: Clinician, export_id: int) -> HttpResponse:
    """One export: its progress until it is done, then its download links (or why it failed)."""
    managed = practice_admin_or_404(request.user).practice
    export = report_export_get_for(user=request.user, export_id=export_id)
    return render(
        request,
        "workspace/report_export_status.html",
        {
            "clinician": clinician,
            "practice": managed,
            "export": export,
            "progress": _progress(export),
            "status_url": reverse("cyclecare:clinician:report_export_progress", args=[export.pk]),
        },
    )


@clinician_required
def export_progress(request: HttpRequest, clinician: Clinician, export_id: int) -> HttpResponse:
    """The status page's poll: the export's progress as JSON."""
    practice_admin_or_404(request.user)
    export = report_export_get_for(user=request.user, export_id=export_id)
    return JsonResponse(_progress(export))


@clinician_required
def export_download(request: HttpRequest, clinician: Clinician, export_id: int, part: str) -> HttpResponse:
    """One file of the caller's finished export; after its link expires, a 410 saying so."""
    managed = practice_admin_or_404(request.user).practice
    try:
        file_path, filename = report_export_download(user=request.user, export_id=export_id, part=part)
    except ExportExpired:
        export = report_export_get_for(user=request.user, export_id=export_id)
        return render(
            request,
            "workspace/report_export_expired.html",
            {"clinician": clinician, "practice": managed, "export": export},
            status=410,
        )
    response = FileResponse(open(file_path, "rb"), as_attachment=True, filename=filename)
    response["Content-Type"] = "text/csv; charset=utf-8"
    response["X-Content-Type-Options"] = "nosniff"
    return response


urlpatterns = [
    path("reports/export/", export_start, name="report_export"),
    path("reports/export/<int:export_id>/", export_status, name="report_export_status"),
    path("reports/export/<int:export_id>/progress/", export_progress, name="report_export_progress"),
    path(
        "reports/export/<int:export_id>/download/<slug:part>/",
        export_download,
        name="report_export_download",
    ),
]
