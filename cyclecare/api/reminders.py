"""The reminder log in the API (read-only). Thin: a selector reads, serializers shape.

One row per reminder or nudge per occurrence and channel: when it was (or will be) sent, by
which channel, whether it went out — and if not, why, in words that never name a safety flag —
whether the partner opened its link, and whether the check-in was completed.
"""

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.routers import SimpleRouter

from clinician.api.fields import IdFilter
from clinician.api.pagination import NewestFirstCursorPagination
from clinician.api.viewsets import ScopedViewSet
from cyclecare.models import Occurrence, ReminderDelivery
from cyclecare.reminders import selectors


# SERIALIZERS
# ------------------------------------------------------------------------------
class NamedChoiceField(serializers.ChoiceField):
    """A choice field documented as its own named enum component (``component``), so it does
    not collide with the many other fields called "status" or "kind"."""

    def __init__(self, *, component: str, **kwargs):
        self.component = component
        super().__init__(**kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        component = ResolvedComponent(
            name=field.component,
            type=ResolvedComponent.SCHEMA,
            object=field.component,
            schema={"type": "string", "enum": list(field.choices)},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class ReminderDeliverySerializer(serializers.ModelSerializer):
    channel = NamedChoiceField(
        component="ReminderChannelEnum", choices=ReminderDelivery.Channel.choices, read_only=True
    )
    kind = NamedChoiceField(
        component="ReminderKindEnum", choices=ReminderDelivery.Kind.choices, read_only=True
    )
    status = NamedChoiceField(
        component="ReminderDeliveryStatusEnum",
        choices=ReminderDelivery.Status.choices,
        read_only=True,
        help_text="pending → sending → sent / failed; cancelled: not sent, for the reason given.",
    )
    reason = serializers.CharField(
        source="last_error", read_only=True, help_text="Why it failed, is being retried or was not sent."
    )
    checkin_completed = serializers.SerializerMethodField(
        help_text="Whether the partner completed the homework this reminder was for."
    )
    completed_at = serializers.DateTimeField(
        source="occurrence.completed_at", read_only=True, allow_null=True
    )
    link_opened_at = serializers.DateTimeField(
        source="opened_at",
        read_only=True,
        allow_null=True,
        help_text="When the reminder's link was first opened (mail scanners may open links too).",
    )

    class Meta:
        model = ReminderDelivery
        fields = [
            "id",
            "occurrence",
            "partner",
            "couple",
            "kind",
            "channel",
            "status",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "reason",
            "provider_message_id",
            "link_opened_at",
            "checkin_completed",
            "completed_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_checkin_completed(self, delivery: ReminderDelivery) -> bool:
        return delivery.occurrence.status == Occurrence.Status.COMPLETED


# VIEWS
# ------------------------------------------------------------------------------
class ReminderDeliveryFilter(django_filters.FilterSet):
    # Plain numbers: another practice's id is simply no match.
    occurrence = IdFilter(field_name="occurrence_id")
    partner = IdFilter(field_name="partner_id")
    couple = IdFilter(field_name="couple_id")

    class Meta:
        model = ReminderDelivery
        fields = ["occurrence", "partner", "couple", "status", "channel", "kind"]


@extend_schema_view(
    list=extend_schema(summary="The reminder log, newest first"),
    retrieve=extend_schema(summary="One reminder or nudge"),
)
class ReminderDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Reminders and nudges for the couples in the caller's scope (a practice admin: the whole
    practice). Messages themselves are never stored or shown: they hold a partner's link."""

    serializer_class = ReminderDeliverySerializer
    filterset_class = ReminderDeliveryFilter
    filter_backends = [DjangoFilterBackend]
    pagination_class = NewestFirstCursorPagination
    cursor_ordering = ("-created_at", "-id")
    model = ReminderDelivery

    def select(self, user):
        return selectors.reminder_deliveries_visible_to(user=user)


router = SimpleRouter()
router.register("reminder-deliveries", ReminderDeliveryViewSet, basename="reminder-delivery")
