"""Practices and clinicians. Thin: selectors read, services write."""

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins

from clinician import selectors
from clinician.models import Clinician, Practice

from . import serializers
from .fields import IdFilter
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
