"""Report aggregates in the API, as JSON or CSV (``?format=csv`` or ``Accept: text/csv``):
``/api/v1/reports/<key>/`` for every report of ``cyclecare.reports.registry``, with the filters
a report page takes (``from``, ``to``, ``clinician``, ``status``, ``instrument``), parsed by
``cyclecare.reports.filters.parse_filters`` — a bad one is a problem-details 400 naming it.

Figures and clinician display names only — no partner, couple or answer ever appears. A
clinician sees their caseload; a practice admin, and an integration client whose token has
``reports:read``, the practice. A report added to the registry gets its route here; one with a
row serializer below gets a typed schema, any other one documents its rows by its columns.
"""

import csv
import io

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cyclecare.reports.common import DEFAULT_PERIOD_DAYS
from cyclecare.reports.csv import csv_cell
from cyclecare.reports.filters import MAX_PERIOD_YEARS, STATUSES, FilterError, parse_filters
from cyclecare.reports.registry import REPORTS, Report, report_get
from cyclecare.reports.router import ReportTimeout

DEFAULT_SPAN = DEFAULT_PERIOD_DAYS - 1


class ReportTimedOut(APIException):
    """A report query ran past the statement timeout and was cancelled (503, try a narrower one)."""

    status_code = 503
    default_code = "report_timeout"


class CSVRenderer(BaseRenderer):
    """A report's rows (and its total, last) as CSV with a header row. Anything that is not a
    report — a problem-details error — stays JSON (the error handler sets its content type)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        renderer_context = renderer_context or {}
        response = renderer_context.get("response")
        view = renderer_context.get("view")
        columns = view.csv_columns() if view is not None and hasattr(view, "csv_columns") else None
        if not isinstance(data, dict) or "rows" not in data or not columns:
            return JSONRenderer().render(data, renderer_context=renderer_context)
        rows = list(data["rows"])
        if data.get("total"):
            rows.append(data["total"])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row.get(column)) for column in columns])
        if response is not None:
            period = data.get("period") or {}
            dates = "".join(f"-{period[key]}" for key in ("from", "to") if period.get(key))
            name = f"{view.report.key}-report{dates}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return buffer.getvalue().encode(self.charset)


# SERIALIZERS
# ------------------------------------------------------------------------------
# "from" is a keyword, so these are built with type() (as in clinician.api.serializers).
ReportFiltersQuerySerializer = type(
    "ReportFiltersQuery",
    (serializers.Serializer,),
    {
        "from": serializers.DateField(
            required=False,
            help_text=f"First day (YYYY-MM-DD, the practice's calendar); default {DEFAULT_SPAN} days "
            f"before `to`. A period is at most {MAX_PERIOD_YEARS} years.",
        ),
        "to": serializers.DateField(required=False, help_text="Last day, inclusive; default today."),
        "clinician": serializers.IntegerField(
            required=False,
            help_text="A clinician id in your administrative scope: that primary clinician's caseload.",
        ),
        "status": serializers.ChoiceField(
            choices=STATUSES, required=False, help_text="Couples in this status only."
        ),
        "instrument": serializers.CharField(
            required=False, help_text="An instrument code (e.g. `csi-4`), where the report has instruments."
        ),
    },
)
PeriodSerializer = type(
    "ReportPeriod",
    (serializers.Serializer,),
    {"from": serializers.DateField(), "to": serializers.DateField()},
)


class ReportFiltersSerializer(serializers.Serializer):
    clinician = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(allow_null=True)
    instrument = serializers.CharField(allow_null=True)


class ClinicianRowSerializer(serializers.Serializer):
    clinician = serializers.IntegerField(allow_null=True, help_text="Null on the total row.")
    display_name = serializers.CharField()


class AdherenceRowSerializer(ClinicianRowSerializer):
    due = serializers.IntegerField(help_text="Occurrences due in the period whose due time has passed.")
    completed = serializers.IntegerField()
    missed = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Due, not yet completed or marked missed.")
    adherence_pct = serializers.FloatField(
        allow_null=True, help_text="Completed / due × 100; null if none due."
    )


# A typed row per report key; a report without one documents its rows by its columns.
ROW_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    "engagement": AdherenceRowSerializer,
}


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.replace("_", "-").split("-"))


def row_serializer_for(report: Report) -> type[serializers.Serializer]:
    typed = ROW_SERIALIZERS.get(report.key)
    if typed is not None:
        return typed
    fields: dict[str, serializers.Field] = {
        "clinician": serializers.IntegerField(
            allow_null=True, help_text="The clinician's id; null on a total."
        ),
        "instrument_code": serializers.CharField(help_text="The instrument's code."),
    }
    fields = {name: fields[name] for name in report.ids}
    fields |= {name: serializers.JSONField(label=label, allow_null=True) for name, label in report.columns}
    return type(f"{_camel(report.key)}ReportRow", (serializers.Serializer,), fields)


_REPORT_SERIALIZERS: dict[str, type[serializers.Serializer]] = {}


def report_serializer_for(report: Report) -> type[serializers.Serializer]:
    """The response of one report: one class per key (the schema names components by class)."""
    if report.key not in _REPORT_SERIALIZERS:
        _REPORT_SERIALIZERS[report.key] = _report_serializer(report)
    return _REPORT_SERIALIZERS[report.key]


def _report_serializer(report: Report) -> type[serializers.Serializer]:
    row = row_serializer_for(report)
    return type(
        f"{_camel(report.key)}Report",
        (serializers.Serializer,),
        {
            "period": PeriodSerializer(),
            "filters": ReportFiltersSerializer(),
            "rows": row(many=True),
            "total": row(
                allow_null=True, help_text="The whole scope's figures; null where a total means nothing."
            ),
            "fresh_at": serializers.DateTimeField(
                allow_null=True, help_text="When the rollups read were refreshed; null: read live."
            ),
            "notes": serializers.ListField(
                child=serializers.CharField(), help_text="Sentences to show with it."
            ),
        },
    )


# VIEWS
# ------------------------------------------------------------------------------
FORMAT_PARAMETER = OpenApiParameter(
    "format",
    str,
    OpenApiParameter.QUERY,
    required=False,
    enum=["json", "csv"],
    description="`csv` for a spreadsheet (header row, then one row per clinician or instrument).",
)


class ReportView(APIView):
    """One report over the caller's administrative scope; subclassed per report key."""

    required_scopes = ("reports:read",)
    renderer_classes = [JSONRenderer, CSVRenderer]
    report: Report
    serializer_class: type[serializers.Serializer]

    def csv_columns(self) -> list[str]:
        return list(row_serializer_for(self.report)().fields)

    def get(self, request):
        try:
            filters = parse_filters(request.query_params, user=request.user)
        except FilterError as error:
            raise ValidationError({name: [message] for name, message in error.errors.items()}) from None
        try:
            figures = self.report.compute(user=request.user, filters=filters)
        except ReportTimeout as exc:
            raise ReportTimedOut(str(exc)) from exc
        body = {
            "period": {"from": filters.date_from, "to": filters.date_to},
            "filters": {
                "clinician": filters.clinician,
                "status": filters.status,
                "instrument": filters.instrument,
            },
            "rows": figures["rows"],
            "total": figures.get("total"),
            "fresh_at": figures.get("fresh_at"),
            "notes": figures.get("notes", []),
        }
        return Response(self.serializer_class(body).data)


def report_view(report: Report, *, summary: str | None = None) -> type[ReportView]:
    """The view of one report, with its own OpenAPI operation."""
    serializer = report_serializer_for(report)
    schema = extend_schema(
        summary=summary or report.title,
        description=report.description,
        parameters=[ReportFiltersQuerySerializer, FORMAT_PARAMETER],
        responses={(200, "application/json"): serializer, (200, "text/csv"): OpenApiTypes.STR},
    )

    # A function of its own per report: extend_schema marks the function it decorates.
    def get(self, request):
        return ReportView.get(self, request)

    return type(
        f"{_camel(report.key)}ReportView",
        (ReportView,),
        {
            "report": report,
            "serializer_class": serializer,
            "get": schema(get),
            "__doc__": report.description,
        },
    )


urlpatterns = [
    path(f"reports/{report.key}/", report_view(report).as_view(), name=f"report-{report.key}")
    for report in REPORTS
]
# The engagement report's first name, kept for the integrations that call it.
urlpatterns.append(
    path(
        "reports/adherence/",
        report_view(report_get("engagement"), summary="Engagement (former name: adherence)").as_view(),
        name="report-adherence",
    )
)
