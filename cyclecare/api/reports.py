"""Report aggregates in the API, as JSON or CSV (``?format=csv`` or ``Accept: text/csv``).

Figures and clinician display names only — no partner, couple or answer ever appears. A
clinician sees their caseload; a practice admin, and an integration client whose token has
``reports:read``, the practice. The figures come from cyclecare.reports.
"""

import csv
import datetime
import io

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from cyclecare.reports.caseload import caseload_report
from cyclecare.reports.common import DEFAULT_PERIOD_DAYS, practice_today
from cyclecare.reports.engagement import engagement_report
from cyclecare.reports.filters import ReportFilters
from cyclecare.reports.outcomes import outcomes_report
from cyclecare.reports.router import ReportTimeout

# Long periods are work for the database and belong in an export, not a request.
MAX_PERIOD_DAYS = 366
DEFAULT_SPAN = DEFAULT_PERIOD_DAYS - 1
# Spreadsheet programs run a cell that starts with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


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
            writer.writerow([self._cell(row.get(column)) for column in columns])
        if response is not None:
            period = data.get("period") or {}
            dates = "".join(f"-{period[key]}" for key in ("from", "to") if period.get(key))
            response["Content-Disposition"] = f'attachment; filename="{view.action}-report{dates}.csv"'
        return buffer.getvalue().encode(self.charset)

    @staticmethod
    def _cell(value):
        if value is None:
            return ""
        if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
            return "'" + value
        return value


# SERIALIZERS
# ------------------------------------------------------------------------------
# "from" is a keyword, so these are built with type() (as in clinician.api.serializers).
PeriodQuerySerializer = type(
    "ReportPeriodQuery",
    (serializers.Serializer,),
    {
        "from": serializers.DateField(
            required=False,
            help_text=f"First day (YYYY-MM-DD, the practice's calendar); default {DEFAULT_SPAN} days "
            "before `to`.",
        ),
        "to": serializers.DateField(required=False, help_text="Last day, inclusive; default today."),
    },
)
PeriodSerializer = type(
    "ReportPeriod",
    (serializers.Serializer,),
    {"from": serializers.DateField(), "to": serializers.DateField()},
)


class ClinicianRowSerializer(serializers.Serializer):
    clinician = serializers.IntegerField(allow_null=True, help_text="Null on the total row.")
    display_name = serializers.CharField()


class CaseloadRowSerializer(ClinicianRowSerializer):
    active_couples = serializers.IntegerField()
    paused_couples = serializers.IntegerField()
    discharged_couples = serializers.IntegerField()
    separated_couples = serializers.IntegerField(help_text="Couples closed by a separation.")
    open_individual_cases = serializers.IntegerField(
        help_text="Active or paused individual cases (a partner continuing after a separation)."
    )
    closed_individual_cases = serializers.IntegerField(help_text="Discharged individual cases.")
    sessions_held = serializers.IntegerField(help_text="Held sessions in the period.")
    open_safety_flags = serializers.IntegerField(help_text="A count only.")


class CaseloadReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    rows = CaseloadRowSerializer(many=True)
    total = CaseloadRowSerializer()


class AdherenceRowSerializer(ClinicianRowSerializer):
    due = serializers.IntegerField(help_text="Occurrences due in the period whose due time has passed.")
    completed = serializers.IntegerField()
    missed = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="Due, not yet completed or marked missed.")
    adherence_pct = serializers.FloatField(
        allow_null=True, help_text="Completed / due × 100; null if none due."
    )


class AdherenceReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    rows = AdherenceRowSerializer(many=True)
    total = AdherenceRowSerializer()


class OutcomeRowSerializer(serializers.Serializer):
    instrument_code = serializers.CharField()
    instrument_name = serializers.CharField()
    partners = serializers.IntegerField(help_text="Partners with at least two scores.")
    mean_first_total = serializers.FloatField(allow_null=True)
    mean_latest_total = serializers.FloatField(allow_null=True)
    mean_change = serializers.FloatField(allow_null=True, help_text="Latest minus first, averaged.")
    reliable_change = serializers.BooleanField(
        help_text="Whether the instrument defines reliable change (else the counts below are null)."
    )
    recovered = serializers.IntegerField(allow_null=True)
    improved = serializers.IntegerField(allow_null=True)
    unchanged = serializers.IntegerField(allow_null=True)
    deteriorated = serializers.IntegerField(allow_null=True)


class OutcomesReportSerializer(serializers.Serializer):
    rows = OutcomeRowSerializer(many=True)


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


def _report_schema(serializer, *, period: bool, summary: str):
    return extend_schema(
        summary=summary,
        parameters=[PeriodQuerySerializer, FORMAT_PARAMETER] if period else [FORMAT_PARAMETER],
        responses={(200, "application/json"): serializer, (200, "text/csv"): OpenApiTypes.STR},
    )


class ReportViewSet(viewsets.ViewSet):
    """Aggregates over the caller's administrative scope."""

    required_scopes = ("reports:read",)
    renderer_classes = [JSONRenderer, CSVRenderer]
    row_serializers = {
        "caseload": CaseloadRowSerializer,
        "adherence": AdherenceRowSerializer,
        "outcomes": OutcomeRowSerializer,
    }

    def csv_columns(self) -> list[str]:
        # No action (an unsupported method such as TRACE, answered 405 before routing to one)
        # means no report columns; the renderer then writes the error as JSON.
        row_serializer = self.row_serializers.get(self.action)
        return list(row_serializer().fields) if row_serializer else []

    def _period(self, request) -> tuple[datetime.date, datetime.date]:
        """``from``/``to`` from the query: the last 30 days by default, ``to`` today if only
        ``from`` is given. A bad or inverted date is a 400 naming the parameter."""
        form = PeriodQuerySerializer(data=request.query_params)
        form.is_valid(raise_exception=True)
        date_from, date_to = form.validated_data.get("from"), form.validated_data.get("to")
        if date_to is None:
            date_to = practice_today(user=request.user)
        if date_from is None:
            date_from = date_to - datetime.timedelta(days=DEFAULT_SPAN)
        if date_from > date_to:
            raise ValidationError({"from": ["The start date is after the end date."]})
        if (date_to - date_from).days >= MAX_PERIOD_DAYS:
            raise ValidationError({"to": [f"Choose a period of at most {MAX_PERIOD_DAYS} days."]})
        return date_from, date_to

    @_report_schema(CaseloadReportSerializer, period=True, summary="Caseload per clinician")
    @action(detail=False, methods=["get"])
    def caseload(self, request):
        date_from, date_to = self._period(request)
        figures = caseload_report(user=request.user, date_from=date_from, date_to=date_to)
        return Response(
            CaseloadReportSerializer({"period": {"from": date_from, "to": date_to}, **figures}).data
        )

    @_report_schema(AdherenceReportSerializer, period=True, summary="Homework adherence per clinician")
    @action(detail=False, methods=["get"])
    def adherence(self, request):
        date_from, date_to = self._period(request)
        try:
            figures = engagement_report(
                user=request.user, filters=ReportFilters(date_from=date_from, date_to=date_to)
            )
        except ReportTimeout as exc:
            raise ReportTimedOut(str(exc)) from exc
        return Response(
            AdherenceReportSerializer({"period": {"from": date_from, "to": date_to}, **figures}).data
        )

    @_report_schema(OutcomesReportSerializer, period=False, summary="Outcomes per instrument")
    @action(detail=False, methods=["get"])
    def outcomes(self, request):
        return Response(OutcomesReportSerializer(outcomes_report(user=request.user)).data)


router = SimpleRouter()
router.register("reports", ReportViewSet, basename="report")
