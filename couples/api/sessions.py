"""Sessions, notes and addenda — the couple's clinical record — in the API. Thin: selectors
read, services write. Schedules are administrative (a practice admin and integration clients
see the practice's); note bodies are clinical, and integration clients read them only with the
``notes:read`` scope and never write them."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from clinician.api.fields import IdFilter, IsoDateTimeFilter, ScopedPrimaryKeyRelatedField
from clinician.api.idempotency import ServiceCreateMixin
from clinician.api.views import IDEMPOTENCY_PARAMETER
from clinician.api.viewsets import ScopedViewSet
from couples import selectors, services
from couples.models import Addendum, SessionNote, TherapySession


# SERIALIZERS
# ------------------------------------------------------------------------------
def _schedulable_couples(*, user):
    return selectors.couples_visible_to(user=user, purpose="administrative")


def _schedulable_partners(*, user):
    return selectors.partners_visible_to(user=user, purpose="administrative")


class TherapySessionSerializer(serializers.ModelSerializer):
    attendees = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    has_note = serializers.SerializerMethodField()

    class Meta:
        model = TherapySession
        fields = [
            "id",
            "couple",
            "clinician",
            "kind",
            "partner",
            "modality",
            "starts_at",
            "duration_minutes",
            "status",
            "attendees",
            "has_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_note(self, session: TherapySession) -> bool:
        return hasattr(session, "note")


class SessionScheduleSerializer(serializers.Serializer):
    couple = ScopedPrimaryKeyRelatedField(selector=_schedulable_couples)
    starts_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=TherapySession.Kind.choices, default=TherapySession.Kind.JOINT)
    partner = ScopedPrimaryKeyRelatedField(selector=_schedulable_partners, required=False, allow_null=True)
    modality = serializers.ChoiceField(
        choices=TherapySession.Modality.choices, default=TherapySession.Modality.IN_PERSON
    )
    duration_minutes = serializers.IntegerField(min_value=5, max_value=480, default=50)


class SessionRescheduleSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()


class SessionOutcomeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[c for c in TherapySession.Status.choices if c[0] != TherapySession.Status.SCHEDULED]
    )
    attendees = ScopedPrimaryKeyRelatedField(selector=_schedulable_partners, many=True, required=False)


NOTE_CONTENT_FIELDS = [
    "format",
    "data",
    "subjective",
    "objective",
    "behavior",
    "intervention",
    "response",
    "assessment",
    "plan",
    "eft_stage",
    "eft_step",
    "partner_a_move",
    "partner_b_move",
    "partner_a_position",
    "partner_b_position",
    "interventions",
    "homework_assigned",
    "safety_review",
]


class SessionNoteSerializer(serializers.ModelSerializer):
    # Blank until the clinician records a move; read-only model fields lose allow_blank, so the
    # schema would otherwise leave "" out of the enum.
    partner_a_move = serializers.ChoiceField(
        choices=SessionNote.PartnerMove.choices, allow_blank=True, read_only=True
    )
    partner_b_move = serializers.ChoiceField(
        choices=SessionNote.PartnerMove.choices, allow_blank=True, read_only=True
    )
    cosigned_by = serializers.SerializerMethodField()
    cosigned_at = serializers.SerializerMethodField()

    class Meta:
        model = SessionNote
        fields = [
            "id",
            "session",
            "author",
            "status",
            *NOTE_CONTENT_FIELDS,
            "signed_at",
            "signed_by",
            "signed_content_sha256",
            "cosigned_by",
            "cosigned_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_cosigned_by(self, note: SessionNote) -> int | None:
        cosignature = getattr(note, "cosignature", None)
        return cosignature.supervisor_id if cosignature else None

    def get_cosigned_at(self, note: SessionNote) -> str | None:
        cosignature = getattr(note, "cosignature", None)
        return cosignature.signed_at.isoformat() if cosignature else None


def _note_content_fields(required_format: bool) -> dict:
    text = {"required": False, "allow_blank": True, "max_length": 20_000}
    fields = {name: serializers.CharField(**text) for name in NOTE_CONTENT_FIELDS[1:9]}
    fields.update({name: serializers.CharField(**text) for name in SessionNote.CYCLE_TEXT_FIELDS})
    fields["format"] = serializers.ChoiceField(choices=SessionNote.Format.choices, required=required_format)
    fields["eft_stage"] = serializers.IntegerField(min_value=1, max_value=3, required=False, allow_null=True)
    fields["eft_step"] = serializers.IntegerField(min_value=1, max_value=9, required=False, allow_null=True)
    fields["partner_a_move"] = serializers.ChoiceField(
        choices=SessionNote.PartnerMove.choices, required=False
    )
    fields["partner_b_move"] = serializers.ChoiceField(
        choices=SessionNote.PartnerMove.choices, required=False
    )
    return fields


NoteCreateSerializer = type(
    "NoteCreateSerializer",
    (serializers.Serializer,),
    {
        "session": ScopedPrimaryKeyRelatedField(selector=selectors.sessions_visible_to_clinically),
        **_note_content_fields(required_format=False),
    },
)
NoteUpdateSerializer = type("NoteUpdateSerializer", (serializers.Serializer,), _note_content_fields(False))


class AddendumSerializer(serializers.ModelSerializer):
    class Meta:
        model = Addendum
        fields = ["id", "note", "author", "body", "created_at"]
        read_only_fields = ["id", "note", "author", "created_at"]
        # The encrypted column is nullable (an empty value is stored as NULL), so DRF would make the
        # field optional: a request without it must be a 400 naming it, not a KeyError in the view.
        extra_kwargs = {"body": {"max_length": 20_000, "required": True}}


# VIEWS
# ------------------------------------------------------------------------------
class SessionFilter(django_filters.FilterSet):
    starts_after = IsoDateTimeFilter(field_name="starts_at", lookup_expr="gte")
    starts_before = IsoDateTimeFilter(field_name="starts_at", lookup_expr="lt")
    couple = IdFilter()
    clinician = IdFilter()

    class Meta:
        model = TherapySession
        fields = ["couple", "clinician", "status", "kind", "starts_after", "starts_before"]


@extend_schema_view(
    create=extend_schema(request=SessionScheduleSerializer, parameters=[IDEMPOTENCY_PARAMETER])
)
class SessionViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Schedules are administrative: a practice admin and integration clients see the practice's."""

    serializer_class = TherapySessionSerializer
    filterset_class = SessionFilter
    ordering_fields = ["starts_at", "id"]
    ordering = ["-starts_at", "-id"]

    model = TherapySession

    def select(self, user):
        return selectors.sessions_visible_to(user=user).select_related("note")

    create_serializer_class = SessionScheduleSerializer

    def perform_service_create(self, validated_data):
        return services.session_schedule(user=self.request.user, **validated_data)

    @extend_schema(request=SessionRescheduleSerializer, responses=TherapySessionSerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        session = self.get_object()
        form = SessionRescheduleSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        session = services.session_reschedule(user=request.user, session=session, **form.validated_data)
        return Response(self.get_serializer(session).data)

    @extend_schema(request=SessionOutcomeSerializer, responses=TherapySessionSerializer)
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        session = self.get_object()
        form = SessionOutcomeSerializer(data=request.data, context=self.get_serializer_context())
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
    create=extend_schema(request=NoteCreateSerializer, parameters=[IDEMPOTENCY_PARAMETER]),
    partial_update=extend_schema(request=NoteUpdateSerializer),
)
class NoteViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Session notes: draft → signed (locked) → addenda. Integration clients read them only with
    the ``notes:read`` scope and never write them."""

    serializer_class = SessionNoteSerializer
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

    create_serializer_class = NoteCreateSerializer

    def perform_service_create(self, validated_data):
        return services.note_create(user=self.request.user, **validated_data)

    def partial_update(self, request, *args, **kwargs):
        note = self.get_object()
        form = NoteUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        note = services.note_update_draft(user=request.user, note=note, **form.validated_data)
        return Response(self.get_serializer(note).data)

    @extend_schema(request=None, responses=SessionNoteSerializer)
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        note = services.note_sign(user=request.user, note=self.get_object())
        return Response(self.get_serializer(note).data)

    @extend_schema(request=None, responses=SessionNoteSerializer)
    @action(detail=True, methods=["post"], url_path="co-sign")
    def cosign(self, request, pk=None):
        note = self.get_object()
        services.note_cosign(user=request.user, note=note)
        return Response(self.get_serializer(selectors.note_get_for(user=request.user, note_id=note.pk)).data)

    @extend_schema(methods=["get"], responses=AddendumSerializer(many=True))
    @extend_schema(
        methods=["post"],
        request=AddendumSerializer,
        responses={201: AddendumSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=AddendumSerializer,
        pagination_class=None,
        filter_backends=[],
    )
    def addenda(self, request, pk=None):
        note = self.get_object()
        if request.method == "GET":
            return Response(AddendumSerializer(note.addenda.all(), many=True).data)
        form = AddendumSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        addendum = services.addendum_add(user=request.user, note=note, body=form.validated_data["body"])
        return Response(AddendumSerializer(addendum).data, status=status.HTTP_201_CREATED)


router = SimpleRouter()
router.register("sessions", SessionViewSet, basename="session")
router.register("notes", NoteViewSet, basename="note")
