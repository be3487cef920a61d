"""cyclecare's URLs; a host project mounts them with ``path("", include("cyclecare.urls"))``."""

from django.urls import path

from . import views

app_name = "cyclecare"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]
