"""The practice's reports: the list, one page per report (its filters, chart, table and notes)
and its CSV download.

Any clinician may open them: each report is computed over the caller's administrative scope
(a clinician's own caseload, a supervisor's and their supervisees', the whole practice for an
admin), so the pages need no rule of their own. The pages know no report: everything they show
comes from ``cyclecare.reports.registry``. Filters come from the query string through
``parse_filters``; a bad one is shown beside its field with a 400 and no report is computed.
"""

import logging
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path

from clinician.models import Clinician
from cyclecare.reports.common import report_clinicians
from cyclecare.reports.csv import report_csv
from cyclecare.reports.filters import FilterError, ReportFilters, parse_filters
from cyclecare.reports.registry import REPORTS, Report, report_get
from cyclecare.selectors import instruments_available_to

from ..forms import ReportFilterForm
from .common import clinician_required

logger = logging.getLogger(__name__)


def _instrument_choices(user) -> list[tuple[str, str]]:
    """Each instrument code once, named by its newest version."""
    names: dict[str, str] = {}
    newest_first = instruments_available_to(user=user).order_by("code", "-version")
    for code, name in newest_first.values_list("code", "name"):
        names.setdefault(code, name)
    return list(names.items())


def _filters(request: HttpRequest, report: Report) -> tuple[ReportFilterForm, ReportFilters | None]:
    """The report's filter form and the filters it holds, or None (the form then carries
    ``parse_filters``' messages beside its fields). Parameters the report does not honour are
    not read: the page offers no filter it would ignore."""
    params = {name: request.GET.get(name, "") for name in report.filters}
    clinicians = report_clinicians(request.user, set()) if "clinician" in report.filters else []
    offered = {
        "offered": report.filters,
        "clinicians": [(str(row["id"]), row["display_name"]) for row in clinicians],
        "instruments": _instrument_choices(request.user) if "instrument" in report.filters else [],
    }
    try:
        filters = parse_filters(params, user=request.user)
    except FilterError as error:
        logger.info("report filters refused", extra={"report": report.key, "params": sorted(error.errors)})
        form = ReportFilterForm(params, **offered)
        form.is_valid()
        for name, message in error.errors.items():
            form.add_error(name, message)
        return form, None
    shown = {name: value for name, value in filters.params().items() if name in report.filters}
    form = ReportFilterForm({name: shown.get(name, "") for name in report.filters}, **offered)
    form.is_valid()
    return form, filters


def _applied(form: ReportFilterForm, filters: ReportFilters) -> list[tuple[str, str]]:
    """The narrowing filters in force, as (label, the choice's name): the page says what it
    shows, on paper too, where the form is not printed."""
    applied = []
    for name in ("clinician", "status", "instrument"):
        value = getattr(filters, name)
        if value is not None and name in form.fields:
            choices = dict(form.fields[name].widget.choices)
            applied.append((str(form.fields[name].label), str(choices.get(str(value), value))))
    return applied


def _query_string(report: Report, filters: ReportFilters) -> str:
    """The filters the report honours, as its page's and its CSV's query string."""
    kept = {name: value for name, value in filters.params().items() if name in report.filters}
    return urlencode(kept)


@clinician_required
def report_index(request: HttpRequest, clinician: Clinician) -> HttpResponse:
    """Every report, with what it answers."""
    return render(request, "workspace/reports.html", {"clinician": clinician, "reports": REPORTS})


@clinician_required
def report_page(request: HttpRequest, clinician: Clinician, key: str) -> HttpResponse:
    report = report_get(key)
    form, filters = _filters(request, report)
    context = {"clinician": clinician, "report": report, "form": form, "practice": clinician.practice}
    if filters is None:
        return render(request, "workspace/report.html", context, status=400)
    figures = report.compute(user=request.user, filters=filters)
    rows = list(figures["rows"])
    if figures.get("total"):
        rows.append(figures["total"])
    context.update(
        {
            "filters": filters,
            "applied": _applied(form, filters),
            "figures": figures,
            "chart": report.draw(figures),
            "table": [[row.get(field) for field, _label in report.columns] for row in rows],
            "has_total": bool(figures.get("total")),
            "more_tables": report.more_tables(figures),
            "query_string": _query_string(report, filters),
        }
    )
    return render(request, "workspace/report.html", context)


@clinician_required
def report_download(request: HttpRequest, clinician: Clinician, key: str) -> HttpResponse:
    """The report as a streamed CSV under the same filters as its page (a bad filter gives the
    page with its messages and a 400). The file is named by the report and its period."""
    report = report_get(key)
    form, filters = _filters(request, report)
    if filters is None:
        context = {"clinician": clinician, "report": report, "form": form, "practice": clinician.practice}
        return render(request, "workspace/report.html", context, status=400)
    lines = report_csv(user=request.user, report=report, filters=filters)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    period = f"{filters.date_from.isoformat()}-to-{filters.date_to.isoformat()}"
    name = f"{report.key}-{period}" if report.has_period else f"{report.key}-{filters.date_to.isoformat()}"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


urlpatterns = [
    path("reports/", report_index, name="reports"),
    path("reports/<slug:key>/", report_page, name="report"),
    path("reports/<slug:key>/csv/", report_download, name="report_csv"),
]
