"""GET /api/v1/couples/{id}/fhir/ — the couple's record as a FHIR R4 Bundle (see cyclecare.fhir).

Registered as a plain path beside the routers: a router's detail route only matches
``couples/<digits>/``, so ``couples/<int:pk>/fhir/`` cannot collide with it.
"""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from clinician.models import AuditEvent
from cyclecare.fhir import couple_bundle


class FHIRJSONRenderer(JSONRenderer):
    """FHIR's own JSON media type (R4 §3.1.0.1.7); the body is the same JSON."""

    media_type = "application/fhir+json"
    format = "fhir"


class CoupleFHIRExportView(APIView):
    """Read-only; ``read`` scope for integration clients, like every GET."""

    renderer_classes = [FHIRJSONRenderer, JSONRenderer]
    audit_surface = AuditEvent.Surface.FHIR

    @extend_schema(
        operation_id="couples_fhir_retrieve",
        summary="The couple's record as a FHIR R4 Bundle",
        description=(
            "A FHIR R4 Bundle of type `collection`: the partners as Patient, the couple as Group, "
            "sessions as Encounter, check-ins as QuestionnaireResponse, their total scores as "
            "Observation and homework as CarePlan. Entries are identified by stable `urn:uuid:` "
            "fullUrls. What the caller may see decides what is included (a practice admin who does "
            "not treat the couple gets no check-ins or homework); safety flags and note bodies are "
            "never exported. Every export is recorded in the audit trail. Served as "
            "`application/fhir+json`, or `application/json` when asked for."
        ),
        tags=["couples"],
        responses={
            200: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="A FHIR R4 Bundle (resourceType `Bundle`, type `collection`).",
            )
        },
    )
    def get(self, request, pk: int):
        return Response(couple_bundle(user=request.user, couple_id=pk))


urlpatterns = [
    path("couples/<int:pk>/fhir/", CoupleFHIRExportView.as_view(), name="couple-fhir"),
]
