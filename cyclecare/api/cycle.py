"""The cycle domain in the API: cycle maps (versioned), episodes, homework and its occurrences.
Thin: selectors read, services write; every rule lives in cyclecare.services.

All of it is clinical: the treating clinician and their supervisor. An integration client reads
its practice's; the services refuse it these writes, so the views do too, before the body is
read (``integration_writes = False``), and the schema offers it none."""

import django_filters
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from clinician.api.fields import IdFilter, IsoDateTimeFilter, ScopedPrimaryKeyRelatedField
from clinician.api.idempotency import ServiceCreateMixin
from clinician.api.pagination import NewestFirstCursorPagination
from clinician.api.views import IDEMPOTENCY_PARAMETER
from clinician.api.viewsets import ScopedViewSet
from couples import selectors as couples_selectors
from cyclecare import selectors, services
from cyclecare.models import Assignment, CycleEpisode, CycleMap, CycleMapPosition, Move, Occurrence

TEXT = {"required": False, "allow_blank": True, "max_length": 20_000}


def _treated_couples(*, user):
    return couples_selectors.couples_visible_to(user=user)


def _treated_partners(*, user):
    return couples_selectors.partners_visible_to(user=user)


# SERIALIZERS
# ------------------------------------------------------------------------------
class CycleMapPositionSerializer(serializers.ModelSerializer):
    class Meta:
        model = CycleMapPosition
        fields = [
            "partner",
            "move",
            "trigger",
            "perception",
            "surface_emotion",
            "underlying_emotion",
            "move_detail",
            "longing",
        ]
        read_only_fields = fields


class CycleMapSerializer(serializers.ModelSerializer):
    positions = CycleMapPositionSerializer(many=True, read_only=True)

    class Meta:
        model = CycleMap
        fields = ["id", "couple", "version", "summary", "positions", "created_by", "created_at"]
        read_only_fields = fields


class CycleMapPositionInputSerializer(serializers.Serializer):
    partner = ScopedPrimaryKeyRelatedField(selector=_treated_partners)
    move = serializers.ChoiceField(choices=Move.choices)
    trigger = serializers.CharField(**TEXT)
    perception = serializers.CharField(**TEXT)
    surface_emotion = serializers.CharField(**TEXT)
    underlying_emotion = serializers.CharField(**TEXT)
    move_detail = serializers.CharField(**TEXT)
    longing = serializers.CharField(**TEXT)


class CycleMapSaveSerializer(serializers.Serializer):
    couple = ScopedPrimaryKeyRelatedField(selector=_treated_couples)
    positions = CycleMapPositionInputSerializer(many=True, help_text="One position per active partner.")
    summary = serializers.CharField(**TEXT)


class EpisodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CycleEpisode
        fields = [
            "id",
            "couple",
            "occurred_at",
            "source",
            "recorded_by_clinician",
            "reported_by",
            "session",
            "pursuer",
            "withdrawer",
            "intensity",
            "duration_minutes",
            "repair_attempted",
            "repair_worked",
            "trigger",
            "notes",
            "shared_with_partner",
            "created_at",
        ]
        read_only_fields = fields


class EpisodeRecordSerializer(serializers.Serializer):
    couple = ScopedPrimaryKeyRelatedField(selector=_treated_couples)
    occurred_at = serializers.DateTimeField()
    intensity = serializers.IntegerField(
        min_value=0, max_value=10, help_text="0 (barely) to 10 (most intense)."
    )
    pursuer = ScopedPrimaryKeyRelatedField(selector=_treated_partners, required=False, allow_null=True)
    withdrawer = ScopedPrimaryKeyRelatedField(selector=_treated_partners, required=False, allow_null=True)
    duration_minutes = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    repair_attempted = serializers.BooleanField(required=False)
    repair_worked = serializers.BooleanField(required=False, allow_null=True)
    trigger = serializers.CharField(**TEXT)
    notes = serializers.CharField(**TEXT)
    session = ScopedPrimaryKeyRelatedField(
        selector=couples_selectors.sessions_visible_to_clinically,
        required=False,
        allow_null=True,
        help_text="The session the episode was seen in.",
    )


class AssignmentSerializer(serializers.ModelSerializer):
    partners = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Assignment
        fields = [
            "id",
            "couple",
            "partners",
            "assigned_by",
            "kind",
            "title",
            "instructions",
            "instrument",
            "schedule",
            "local_time",
            "weekdays",
            "hours_before_session",
            "starts_on",
            "ends_on",
            "status",
            "created_at",
        ]
        read_only_fields = fields


class AssignmentCreateSerializer(serializers.Serializer):
    couple = ScopedPrimaryKeyRelatedField(selector=_treated_couples)
    partners = ScopedPrimaryKeyRelatedField(
        selector=_treated_partners, many=True, help_text="One or both active partners of the couple."
    )
    kind = serializers.ChoiceField(choices=Assignment.Kind.choices)
    title = serializers.CharField(max_length=120)
    instructions = serializers.CharField(**TEXT)
    instrument = ScopedPrimaryKeyRelatedField(
        selector=selectors.instruments_available_to,
        required=False,
        allow_null=True,
        help_text="Required for a check-in.",
    )
    schedule = serializers.ChoiceField(choices=Assignment.Schedule.choices)
    local_time = serializers.TimeField(
        required=False,
        allow_null=True,
        help_text="The partner's local time of day (daily, weekdays, weekly).",
    )
    weekdays = serializers.IntegerField(
        min_value=0,
        max_value=127,
        required=False,
        help_text="Bitmask: Monday = 1, Tuesday = 2 … Sunday = 64.",
    )
    hours_before_session = serializers.IntegerField(
        min_value=1, max_value=168, required=False, allow_null=True
    )
    starts_on = serializers.DateField()
    ends_on = serializers.DateField(required=False, allow_null=True)


class AssignmentStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Assignment.Status.choices)


class OccurrenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Occurrence
        fields = [
            "id",
            "assignment",
            "partner",
            "local_due_date",
            "local_due_time",
            "due_at",
            "status",
            "completed_at",
            "created_at",
        ]
        read_only_fields = fields


# VIEWS
# ------------------------------------------------------------------------------
COUPLE_QUERY = OpenApiParameter(
    "couple", int, OpenApiParameter.QUERY, required=True, description="The couple."
)


class CycleMapFilter(django_filters.FilterSet):
    # A number, not a model choice: an id out of scope lists nothing, like an unknown one.
    couple = IdFilter(field_name="couple")

    class Meta:
        model = CycleMap
        fields = ["couple"]


@extend_schema_view(
    list=extend_schema(summary="Cycle maps; filtered by couple, every version newest first"),
    create=extend_schema(
        summary="Save a new version of a couple's cycle map",
        request=CycleMapSaveSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    ),
)
class CycleMapViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Cycle maps: each save is a new version; earlier versions stay as history."""

    serializer_class = CycleMapSerializer
    integration_writes = False
    filterset_class = CycleMapFilter
    ordering_fields = ["created_at", "version", "id"]
    ordering = ["-created_at", "-id"]

    model = CycleMap

    def select(self, user):
        return selectors.cycle_maps_visible_to(user=user)

    create_serializer_class = CycleMapSaveSerializer

    def perform_service_create(self, validated_data):
        return services.cycle_map_save(user=self.request.user, **validated_data)

    @extend_schema(
        summary="The couple's current cycle map",
        parameters=[COUPLE_QUERY],
        responses={
            200: CycleMapSerializer,
            404: OpenApiResponse(description="The couple has no cycle map yet, or is outside your scope."),
        },
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def current(self, request):
        try:
            couple_id = int(request.query_params["couple"])
        except KeyError:
            raise ValidationError({"couple": ["This query parameter is required."]}) from None
        except ValueError:
            raise ValidationError({"couple": ["A valid integer is required."]}) from None
        cycle_map = selectors.cycle_map_current_for(user=request.user, couple_id=couple_id)
        if cycle_map is None:
            raise Http404
        return Response(self.get_serializer(cycle_map).data)


class EpisodeFilter(django_filters.FilterSet):
    couple = IdFilter(field_name="couple")
    occurred_after = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    intensity_min = django_filters.NumberFilter(field_name="intensity", lookup_expr="gte")
    intensity_max = django_filters.NumberFilter(field_name="intensity", lookup_expr="lte")

    class Meta:
        model = CycleEpisode
        fields = ["couple", "source", "occurred_after", "occurred_before", "intensity_min", "intensity_max"]


@extend_schema_view(
    list=extend_schema(summary="Episodes of the cycle, newest first (cursor pagination)"),
    create=extend_schema(
        summary="Record an episode seen in session",
        request=EpisodeRecordSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    ),
)
class EpisodeViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Episodes of the pursue–withdraw cycle, seen in session or self-reported by a partner."""

    serializer_class = EpisodeSerializer
    integration_writes = False
    filterset_class = EpisodeFilter
    # The cursor fixes the order, so there is no ordering parameter to offer.
    filter_backends = [DjangoFilterBackend]
    pagination_class = NewestFirstCursorPagination
    cursor_ordering = ("-occurred_at", "-id")

    model = CycleEpisode

    def select(self, user):
        return selectors.episodes_visible_to(user=user)

    create_serializer_class = EpisodeRecordSerializer

    def perform_service_create(self, validated_data):
        return services.episode_record(actor=self.request.user, **validated_data)


class AssignmentFilter(django_filters.FilterSet):
    couple = IdFilter(field_name="couple")

    class Meta:
        model = Assignment
        fields = ["couple", "status", "kind"]


@extend_schema_view(
    create=extend_schema(
        summary="Assign homework", request=AssignmentCreateSerializer, parameters=[IDEMPOTENCY_PARAMETER]
    ),
)
class AssignmentViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Homework for one or both partners, scheduled in each partner's own local time."""

    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter
    integration_writes = False
    ordering_fields = ["created_at", "starts_on", "id"]
    ordering = ["-created_at", "-id"]

    model = Assignment

    def select(self, user):
        return selectors.assignments_visible_to(user=user)

    create_serializer_class = AssignmentCreateSerializer

    def perform_service_create(self, validated_data):
        return services.assignment_create(user=self.request.user, **validated_data)

    @extend_schema(
        summary="Pause, resume or end homework",
        request=AssignmentStatusSerializer,
        responses=AssignmentSerializer,
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        assignment = self.get_object()
        form = AssignmentStatusSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        assignment = services.assignment_set_status(
            user=request.user, assignment=assignment, status=form.validated_data["status"]
        )
        return Response(self.get_serializer(assignment).data)


class OccurrenceFilter(django_filters.FilterSet):
    assignment = IdFilter(field_name="assignment")
    partner = IdFilter(field_name="partner")
    due_after = IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = Occurrence
        fields = ["assignment", "partner", "status", "due_after", "due_before"]


@extend_schema_view(list=extend_schema(summary="Due instances of homework, newest first (cursor pagination)"))
class OccurrenceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Occurrences: one due instance of homework for one partner (what a reminder is for)."""

    serializer_class = OccurrenceSerializer
    filterset_class = OccurrenceFilter
    filter_backends = [DjangoFilterBackend]
    pagination_class = NewestFirstCursorPagination
    cursor_ordering = ("-due_at", "-id")

    model = Occurrence

    def select(self, user):
        return selectors.occurrences_visible_to(user=user)


router = SimpleRouter()
router.register("cycle-maps", CycleMapViewSet, basename="cycle-map")
router.register("episodes", EpisodeViewSet, basename="episode")
router.register("assignments", AssignmentViewSet, basename="assignment")
router.register("occurrences", OccurrenceViewSet, basename="occurrence")
