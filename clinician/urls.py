"""The clinician's pages, mounted by cyclecare.urls under ``clinic/`` (namespace
``cyclecare:clinician``)."""

from django.urls import path

from . import views

app_name = "clinician"

urlpatterns = [
    path("", views.caseload, name="caseload"),
    path("login/", views.ClinicLoginView.as_view(), name="login"),
    path("logout/", views.ClinicLogoutView.as_view(), name="logout"),
]
