"""Practices, clinicians, sessions, notes and addenda. Thin: selectors read, services write."""

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinician import selectors, services
from clinician.models import Clinician, Practice, SessionNote, TherapySession

from . import serializers
from .fields import IdFilter, IsoDateTimeFilter
from .idempotency import ServiceCreateMixin
from .viewsets import ScopedViewSet

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Repeat a create safely: the same key and body replay the first response.",
)


@extend_schema_view(list=extend_schema(summary="The caller's practice"))
class PracticeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = serializers.PracticeSerializer
    filter_backends: list = []

    model = Practice

    def select(self, user):
        return selectors.practices_visible_to(user=user)


class ClinicianFilter(django_filters.FilterSet):
    # Ids filter as plain numbers: an unknown id and an out-of-scope id both give an empty list.
    supervisor = IdFilter()

    class Meta:
        model = Clinician
        fields = ["role", "is_active", "is_prelicensed", "supervisor"]


class ClinicianViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = serializers.ClinicianSerializer
    filterset_class = ClinicianFilter
    ordering_fields = ["display_name", "id"]
    ordering = ["display_name", "id"]

    model = Clinician

    def select(self, user):
        return selectors.clinicians_visible_to(user=user)


class SessionFilter(django_filters.FilterSet):
    starts_after = IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    starts_before = IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")
    couple = IdFilter()
    clinician = IdFilter()

    class Meta:
        model = TherapySession
        fields = ["couple", "clinician", "status", "kind", "starts_after", "starts_before"]


@extend_schema_view(
    create=extend_schema(request=serializers.SessionScheduleSerializer, parameters=[IDEMPOTENCY_PARAMETER])
)
class SessionViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Schedules are administrative: a practice admin and integration clients see the practice's."""

    serializer_class = serializers.TherapySessionSerializer
    filterset_class = SessionFilter
    ordering_fields = ["starts_at", "id"]
    ordering = ["-starts_at", "-id"]

    model = TherapySession

    def select(self, user):
        return selectors.sessions_visible_to(user=user).select_related("note")

    create_serializer_class = serializers.SessionScheduleSerializer

    def perform_service_create(self, validated_data):
        return services.session_schedule(user=self.request.user, **validated_data)

    @extend_schema(
        request=serializers.SessionRescheduleSerializer, responses=serializers.TherapySessionSerializer
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        session = self.get_object()
        form = serializers.SessionRescheduleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        session = services.session_reschedule(user=request.user, session=session, **form.validated_data)
        return Response(self.get_serializer(session).data)

    @extend_schema(
        request=serializers.SessionOutcomeSerializer, responses=serializers.TherapySessionSerializer
    )
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        session = self.get_object()
        form = serializers.SessionOutcomeSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        session = services.session_record_outcome(user=request.user, session=session, **form.validated_data)
        return Response(
            self.get_serializer(selectors.session_get_for(user=request.user, session_id=session.pk)).data
        )


class NoteFilter(django_filters.FilterSet):
    couple = IdFilter(field_name="session__couple")
    session = IdFilter()
    author = IdFilter()
    signed_after = IsoDateTimeFilter(field_name="signed_at", lookup_expr="gte")
    signed_before = IsoDateTimeFilter(field_name="signed_at", lookup_expr="lt")

    class Meta:
        model = SessionNote
        fields = ["status", "format", "author", "session", "couple", "signed_after", "signed_before"]


@extend_schema_view(
    create=extend_schema(request=serializers.NoteCreateSerializer, parameters=[IDEMPOTENCY_PARAMETER]),
    partial_update=extend_schema(request=serializers.NoteUpdateSerializer),
)
class NoteViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Session notes: draft → signed (locked) → addenda. Integration clients read them only with
    the ``notes:read`` scope and never write them."""

    serializer_class = serializers.SessionNoteSerializer
    filterset_class = NoteFilter
    ordering_fields = ["created_at", "signed_at", "id"]
    ordering = ["-created_at", "-id"]
    required_scopes = ("notes:read",)
    integration_writes = False

    model = SessionNote

    def select(self, user):
        return selectors.notes_visible_to(user=user).select_related("cosignature")

    def get_object(self):
        # The selector records the read in the audit trail.
        return selectors.note_get_for(user=self.request.user, note_id=self.url_pk())

    create_serializer_class = serializers.NoteCreateSerializer

    def perform_service_create(self, validated_data):
        return services.note_create(user=self.request.user, **validated_data)

    def partial_update(self, request, *args, **kwargs):
        note = self.get_object()
        form = serializers.NoteUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        note = services.note_update_draft(user=request.user, note=note, **form.validated_data)
        return Response(self.get_serializer(note).data)

    @extend_schema(request=None, responses=serializers.SessionNoteSerializer)
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        note = services.note_sign(user=request.user, note=self.get_object())
        return Response(self.get_serializer(note).data)

    @extend_schema(request=None, responses=serializers.SessionNoteSerializer)
    @action(detail=True, methods=["post"], url_path="co-sign")
    def cosign(self, request, pk=None):
        note = self.get_object()
        services.note_cosign(user=request.user, note=note)
        return Response(self.get_serializer(selectors.note_get_for(user=request.user, note_id=note.pk)).data)

    @extend_schema(methods=["get"], responses=serializers.AddendumSerializer(many=True))
    @extend_schema(
        methods=["post"],
        request=serializers.AddendumSerializer,
        responses={201: serializers.AddendumSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=serializers.AddendumSerializer,
        pagination_class=None,
        filter_backends=[],
    )
    def addenda(self, request, pk=None):
        note = self.get_object()
        if request.method == "GET":
            return Response(serializers.AddendumSerializer(note.addenda.all(), many=True).data)
        form = serializers.AddendumSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        addendum = services.addendum_add(user=request.user, note=note, body=form.validated_data["body"])
        return Response(serializers.AddendumSerializer(addendum).data, status=status.HTTP_201_CREATED)
