"""The homework library in the API: templates a clinician assigns in two clicks.

Every clinician of a practice (and its integration clients, read-only) sees the library: the
templates cyclecare ships and the practice's own. A clinician writes templates for their own
practice; assigning one to a couple is homework like any other (the treating clinician and
their supervisor). Thin: the selector reads, services write; the rules live in
cyclecare.services (which refuse integration clients these writes; the view refuses them
first, a 403, and the schema offers them none)."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from clinician.api.fields import ScopedPrimaryKeyRelatedField
from clinician.api.idempotency import ServiceCreateMixin
from clinician.api.views import IDEMPOTENCY_PARAMETER
from clinician.api.viewsets import ScopedViewSet
from cyclecare import selectors, services
from cyclecare.api.cycle import AssignmentSerializer, _treated_couples, _treated_partners
from cyclecare.models import Assignment, HomeworkTemplate
from cyclecare.reminders.selectors import homework_templates_available_to


# SERIALIZERS
# ------------------------------------------------------------------------------
class HomeworkTemplateSerializer(serializers.ModelSerializer):
    shipped = serializers.SerializerMethodField(help_text="True for the templates cyclecare ships.")

    class Meta:
        model = HomeworkTemplate
        fields = [
            "id",
            "practice",
            "shipped",
            "code",
            "name",
            "summary",
            "kind",
            "instructions",
            "instrument",
            "schedule",
            "local_time",
            "weekdays",
            "hours_before_session",
            "for_both_partners",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_shipped(self, template: HomeworkTemplate) -> bool:
        return template.practice_id is None


class HomeworkTemplateCreateSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=40, help_text="Unique in your practice's library.")
    name = serializers.CharField(max_length=120)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=300)
    kind = serializers.ChoiceField(choices=Assignment.Kind.choices)
    instructions = serializers.CharField(max_length=20_000, help_text="What the partner reads.")
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
    for_both_partners = serializers.BooleanField(
        required=False, help_text="Assigned to both partners unless the clinician picks one (default true)."
    )


class HomeworkAssignSerializer(serializers.Serializer):
    """The second click: a couple, and optionally who, from when, and changes to the template."""

    couple = ScopedPrimaryKeyRelatedField(selector=_treated_couples)
    partners = ScopedPrimaryKeyRelatedField(
        selector=_treated_partners,
        many=True,
        required=False,
        help_text="One or both active partners; by default both, when the template is for both.",
    )
    starts_on = serializers.DateField(
        required=False, help_text="By default today, in the practice's time zone."
    )
    # Overrides of the template (cyclecare.services.TEMPLATE_OVERRIDES).
    title = serializers.CharField(max_length=120, required=False)
    instructions = serializers.CharField(required=False, max_length=20_000)
    schedule = serializers.ChoiceField(choices=Assignment.Schedule.choices, required=False)
    local_time = serializers.TimeField(required=False, allow_null=True)
    weekdays = serializers.IntegerField(min_value=0, max_value=127, required=False)
    hours_before_session = serializers.IntegerField(
        min_value=1, max_value=168, required=False, allow_null=True
    )
    ends_on = serializers.DateField(required=False, allow_null=True)


# VIEWS
# ------------------------------------------------------------------------------
class HomeworkTemplateFilter(django_filters.FilterSet):
    shipped = django_filters.BooleanFilter(
        field_name="practice", lookup_expr="isnull", label="True: cyclecare's; false: your practice's own."
    )

    class Meta:
        model = HomeworkTemplate
        fields = ["kind", "shipped"]


@extend_schema_view(
    list=extend_schema(summary="The homework library: shipped templates and your practice's own"),
    create=extend_schema(
        summary="Write a template for your practice's library",
        request=HomeworkTemplateCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    ),
)
class HomeworkTemplateViewSet(
    ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet
):
    """Homework templates: what it is, what the partner reads and a default schedule."""

    serializer_class = HomeworkTemplateSerializer
    filterset_class = HomeworkTemplateFilter
    integration_writes = False
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]

    model = HomeworkTemplate

    def select(self, user):
        return homework_templates_available_to(user=user)

    create_serializer_class = HomeworkTemplateCreateSerializer

    def perform_service_create(self, validated_data):
        return services.homework_template_create(user=self.request.user, **validated_data)

    @extend_schema(
        summary="Assign a template to a couple",
        request=HomeworkAssignSerializer,
        responses={201: AssignmentSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def assign(self, request, pk=None):
        template = self.get_object()  # out of scope: 404, whatever the body
        form = HomeworkAssignSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        assignment = services.assignment_from_template(
            user=request.user, template=template, **form.validated_data
        )
        return Response(AssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)


router = SimpleRouter()
router.register("homework-templates", HomeworkTemplateViewSet, basename="homework-template")
