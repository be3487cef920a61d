"""The versioned REST API: /api/v1/ (every app's routes), /api/schema/, /api/docs/."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from clinician.api.errors import api_not_found
from clinician.api.urls import router as clinician_router
from couples.api.sessions import router as sessions_router
from couples.api.urls import router as couples_router
from cyclecare.api.audit import router as audit_router
from cyclecare.api.checkins import router as checkins_router
from cyclecare.api.cycle import router as cycle_router
from cyclecare.api.fhir import urlpatterns as fhir_urlpatterns
from cyclecare.api.homework import router as homework_router
from cyclecare.api.reminders import router as reminders_router
from cyclecare.api.reports import urlpatterns as reports_urlpatterns
from cyclecare.api.webhooks import router as webhooks_router

router = SimpleRouter()
for app_router in (
    clinician_router,
    sessions_router,
    couples_router,
    cycle_router,
    homework_router,
    webhooks_router,
    checkins_router,
    reminders_router,
    audit_router,
):
    router.registry.extend(app_router.registry)

urlpatterns = [
    path("api/v1/", include((router.urls + reports_urlpatterns + fhir_urlpatterns, "v1"))),
    # The schema and its docs describe the API, not anyone's data: public, like any API reference.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="schema",
    ),
    # Swagger UI sets inline styles (React style attributes); its scripts stay 'self' only.
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(
                url_name="cyclecare:schema", permission_classes=[AllowAny], authentication_classes=[]
            )
        ),
        name="docs",
    ),
    re_path(r"^api/", api_not_found),
]
