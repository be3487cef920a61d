"""Clinician sign-in and sign-out."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy


class ClinicLoginView(auth_views.LoginView):
    """Django's LoginView (CSRF, never cached, sensitive POST parameters); its one error message
    never says whether the account exists."""

    template_name = "clinician/login.html"


class ClinicLogoutView(auth_views.LogoutView):
    """POST only (Django's LogoutView); back to the sign-in page."""

    next_page = reverse_lazy("cyclecare:clinician:login")


urlpatterns = [
    path("login/", ClinicLoginView.as_view(), name="login"),
    path("logout/", ClinicLogoutView.as_view(), name="logout"),
]
