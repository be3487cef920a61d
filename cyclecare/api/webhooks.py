"""Webhook endpoints and their delivery log. Thin: selectors read, services write.

Webhooks are the practice's plumbing, so its admin and its integration clients see them; other
clinicians get empty lists, 404 on details and 403 on writes. The signing secret is shown in the
create response only.
"""

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from clinician.api.fields import IdFilter
from clinician.api.pagination import NewestFirstCursorPagination
from clinician.api.viewsets import ScopedViewSet
from cyclecare import webhooks
from cyclecare.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


# SERIALIZERS
# ------------------------------------------------------------------------------
class WebhookEventField(serializers.ChoiceField):
    """An event name; documented once, as the WebhookEventEnum component."""

    def __init__(self, **kwargs):
        super().__init__(choices=WebhookEvent.choices, **kwargs)


class WebhookEventFieldExtension(OpenApiSerializerFieldExtension):
    # One named enum for the endpoint's event list and the delivery's event alike, which
    # drf-spectacular would otherwise name twice (EventEnum, EventsEnum).
    target_class = WebhookEventField

    def map_serializer_field(self, auto_schema, direction):
        component = ResolvedComponent(
            name="WebhookEventEnum",
            type=ResolvedComponent.SCHEMA,
            object="WebhookEventEnum",
            schema={"type": "string", "enum": list(WebhookEvent.values)},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=WebhookEventField(), read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "is_active", "created_at"]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="Signs every delivery (Cyclecare-Signature). Shown in this response only: store it now.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.URLField(
        max_length=500, help_text="https:// (plain http only to localhost in development)."
    )
    events = serializers.ListField(child=WebhookEventField(), allow_empty=False, max_length=20)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=WebhookEventField(), allow_empty=False, max_length=20, required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event = WebhookEventField(read_only=True)
    payload = serializers.JSONField(read_only=True, help_text="Exactly what was (or will be) sent: ids only.")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event_id",
            "event",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


# VIEWS
# ------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="The practice's webhook endpoints"),
    create=extend_schema(
        summary="Register a webhook endpoint",
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointCreatedSerializer},
    ),
    partial_update=extend_schema(
        summary="Change an endpoint's events, description or active switch",
        request=WebhookEndpointUpdateSerializer,
        responses=WebhookEndpointSerializer,
    ),
)
class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Where the practice's events are POSTed. Each delivery carries the headers
    `Cyclecare-Event`, `Cyclecare-Delivery` (the event id: de-duplicate on it, deliveries are
    at least once), `Cyclecare-Timestamp` (unix seconds) and `Cyclecare-Signature:
    v1=<hex HMAC-SHA256 of "{timestamp}.{raw body}" under the endpoint's secret>`; reject
    timestamps more than five minutes old. Bodies hold ids only: read the records through this
    API. A non-2xx answer is retried with exponential backoff; redirects are not followed."""

    # No Idempotency-Key on create (unlike other creates): the stored replay would keep a copy
    # of the signing secret in another table.

    serializer_class = WebhookEndpointSerializer
    filter_backends: list = []
    model = WebhookEndpoint

    def select(self, user):
        return webhooks.webhook_endpoints_visible_to(user=user).order_by("created_at", "id")

    def create(self, request, *args, **kwargs):
        form = WebhookEndpointCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        endpoint = webhooks.webhook_endpoint_create(user=request.user, **form.validated_data)
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        endpoint = self.get_object()
        form = WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        endpoint = webhooks.webhook_endpoint_update(
            user=request.user, endpoint=endpoint, **form.validated_data
        )
        return Response(self.get_serializer(endpoint).data)


class WebhookDeliveryFilter(django_filters.FilterSet):
    # A plain number, not a choice among all endpoints: another practice's id is simply no match.
    endpoint = IdFilter(field_name="endpoint_id")

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "event", "status"]


@extend_schema_view(list=extend_schema(summary="The delivery log, newest first"))
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Every delivery of the practice's events: status, attempts, last status code and error."""

    serializer_class = WebhookDeliverySerializer
    filterset_class = WebhookDeliveryFilter
    filter_backends = [DjangoFilterBackend]
    pagination_class = NewestFirstCursorPagination
    cursor_ordering = ("-created_at", "-id")
    model = WebhookDelivery

    def select(self, user):
        return webhooks.webhook_deliveries_visible_to(user=user)


router = SimpleRouter()
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
