from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Until the clinician workspace lands, the standalone site opens on the admin.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("", include("cyclecare.urls")),
]
