"""Couples, partners and consents. Thin: selectors read, services write.

The couple record and a partner's contact details are administrative (no note bodies): a
practice admin lists and manages every couple of the practice; a clinician sees the couples they
treat, a supervisor also their supervisees'."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinician.api.fields import IdFilter
from clinician.api.idempotency import ServiceCreateMixin
from clinician.api.views import IDEMPOTENCY_PARAMETER
from clinician.api.viewsets import ScopedViewSet
from couples import selectors, services
from couples.models import Couple, Partner

from . import serializers


class CoupleFilter(django_filters.FilterSet):
    # Ids filter as numbers, not model choices: an id outside the caller's scope must give the
    # same empty list as one that does not exist, not a 400 that confirms it exists.
    primary_clinician = IdFilter(field_name="primary_clinician")
    started_after = django_filters.DateFilter(
        field_name="started_on", lookup_expr="gte", label="Started on or after this date."
    )
    started_before = django_filters.DateFilter(
        field_name="started_on", lookup_expr="lt", label="Started before this date."
    )

    class Meta:
        model = Couple
        fields = ["status", "primary_clinician", "started_after", "started_before"]


@extend_schema_view(
    create=extend_schema(request=serializers.CoupleCreateSerializer, parameters=[IDEMPOTENCY_PARAMETER]),
    partial_update=extend_schema(request=serializers.CoupleUpdateSerializer),
)
class CoupleViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Couples: the case record (label, status, primary clinician, EFT step). Administrative scope:
    a practice admin sees every couple of the practice."""

    serializer_class = serializers.CoupleSerializer
    filterset_class = CoupleFilter
    ordering_fields = ["label", "started_on", "id"]
    ordering = ["label", "id"]

    model = Couple

    def select(self, user):
        return selectors.couples_visible_to(user=user, purpose="administrative")

    create_serializer_class = serializers.CoupleCreateSerializer

    def perform_service_create(self, validated_data):
        return services.couple_create(user=self.request.user, **validated_data)

    def partial_update(self, request, *args, **kwargs):
        couple = self.get_object()
        form = serializers.CoupleUpdateSerializer(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        form.is_valid(raise_exception=True)
        couple = services.couple_update(user=request.user, couple=couple, **form.validated_data)
        return Response(self.get_serializer(couple).data)

    @extend_schema(request=serializers.CoupleStatusSerializer, responses=serializers.CoupleSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        couple = self.get_object()
        form = serializers.CoupleStatusSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        couple = services.couple_set_status(
            user=request.user, couple=couple, status=form.validated_data["status"]
        )
        return Response(self.get_serializer(couple).data)


class PartnerFilter(django_filters.FilterSet):
    couple = IdFilter(field_name="couple")

    class Meta:
        model = Partner
        fields = ["couple", "is_active"]


@extend_schema_view(
    create=extend_schema(request=serializers.PartnerAddSerializer, parameters=[IDEMPOTENCY_PARAMETER]),
    partial_update=extend_schema(request=serializers.PartnerUpdateSerializer),
)
class PartnerViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Partners: contact details, time zone, reminder channel, quiet hours, recorded consents."""

    serializer_class = serializers.PartnerSerializer
    filterset_class = PartnerFilter
    ordering_fields = ["display_name", "created_at", "id"]
    ordering = ["couple_id", "seat", "id"]

    model = Partner

    def select(self, user):
        return selectors.partners_visible_to(user=user, purpose="administrative")

    create_serializer_class = serializers.PartnerAddSerializer

    def perform_service_create(self, validated_data):
        return services.partner_add(user=self.request.user, **validated_data)

    def partial_update(self, request, *args, **kwargs):
        partner = self.get_object()
        form = serializers.PartnerUpdateSerializer(data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        partner = services.partner_update(user=request.user, partner=partner, **form.validated_data)
        return Response(self.get_serializer(partner).data)

    @extend_schema(request=None, responses=serializers.PartnerSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        partner = services.partner_deactivate(user=request.user, partner=self.get_object())
        return Response(self.get_serializer(partner).data)

    @extend_schema(
        methods=["get"],
        summary="The partner's consent decisions, latest first",
        responses=serializers.ConsentSerializer(many=True),
    )
    @extend_schema(
        methods=["post"],
        summary="Record a consent decision",
        request=serializers.ConsentRecordSerializer,
        responses={201: serializers.ConsentSerializer},
    )
    # A partner has a handful of consents: one plain list, no filters or pages.
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=serializers.ConsentSerializer,
        filter_backends=[],
        pagination_class=None,
    )
    def consents(self, request, pk=None):
        partner = self.get_object()
        if request.method == "GET":
            consents = selectors.consents_of_partner(
                user=request.user, partner_id=partner.pk, purpose="administrative"
            )
            return Response(serializers.ConsentSerializer(consents, many=True).data)
        form = serializers.ConsentRecordSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        consent = services.consent_record(actor=request.user, partner=partner, **form.validated_data)
        return Response(serializers.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)
