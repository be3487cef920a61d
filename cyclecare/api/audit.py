"""The audit trail in the API (scope ``audit:read``): the practice's events, newest first, with
the filters of the practice admin's page — and ``record_of=<partner id>`` for a partner's access
report (their rows and their couple's shared rows). Ids and names only, never what was read."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.routers import SimpleRouter

from clinician.api.pagination import NewestFirstCursorPagination
from clinician.api.viewsets import ScopedViewSet
from clinician.models import AuditEvent
from cyclecare import audit_trail


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    actor_kind = serializers.ChoiceField(choices=AuditEvent.ActorKind.choices)
    actor_id = serializers.CharField(help_text="A user id, an integration client id or a partner id.")
    who = serializers.CharField(help_text="The actor's name: a clinician, an integration, a partner.")
    action = serializers.CharField()
    object_type = serializers.CharField(help_text="The record's kind, e.g. clinician.sessionnote.")
    object_id = serializers.CharField()
    couple = serializers.IntegerField(allow_null=True, help_text="Whose record: the couple.")
    partner = serializers.IntegerField(allow_null=True, help_text="Whose record: the partner, if one's own.")
    surface = serializers.CharField(help_text="Through what: " + ", ".join(AuditEvent.Surface.values) + ".")
    source = serializers.CharField(help_text="The client's address; empty outside a request.")
    changes = serializers.ListField(child=serializers.CharField(), help_text="Changed field names only.")


FILTERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (the practice's calendar)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (inclusive), default today."),
    OpenApiParameter("partner", OpenApiTypes.INT, description="Events on this partner's own rows."),
    OpenApiParameter(
        "record_of",
        OpenApiTypes.INT,
        description="A partner's access report: their own rows and their couple's shared rows.",
    ),
    OpenApiParameter("couple", OpenApiTypes.INT, description="Events on this couple's rows."),
    OpenApiParameter("clinician", OpenApiTypes.INT, description="Events by this clinician."),
    OpenApiParameter("action", OpenApiTypes.STR, description="An action, or its beginning (`note.`)."),
    OpenApiParameter("object_type", OpenApiTypes.STR, description="A record type, e.g. `couples.couple`."),
    OpenApiParameter("object_id", OpenApiTypes.STR, description="A record id (with `object_type`)."),
    OpenApiParameter("surface", OpenApiTypes.STR, enum=AuditEvent.Surface.values, description="Through."),
]


@extend_schema_view(list=extend_schema(summary="Search the audit trail, newest first", parameters=FILTERS))
class AuditEventViewSet(mixins.ListModelMixin, ScopedViewSet):
    """For a practice admin, or an integration client with ``audit:read``; anyone else: 404."""

    serializer_class = AuditEventSerializer
    required_scopes = ("audit:read",)
    pagination_class = NewestFirstCursorPagination
    cursor_ordering = ("-occurred_at", "-id")
    model = AuditEvent

    def select(self, user):
        try:
            filters = audit_trail.parse_audit_filters(self.request.query_params, user=user)
        except audit_trail.AuditFilterError as refused:
            raise ValidationError({name: [message] for name, message in refused.errors.items()}) from None
        return audit_trail.audit_events(user=user, filters=filters)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        practice = audit_trail.audit_practice(request.user)
        rows = audit_trail.audit_rows(page, practice=practice)
        return self.get_paginated_response(AuditEventSerializer(rows, many=True).data)


router = SimpleRouter()
router.register("audit-events", AuditEventViewSet, basename="audit-event")
