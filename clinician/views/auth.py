"""Clinician sign-in and sign-out.

Signing in is django-allauth's (``account_login``, then the TOTP step when the clinician has an
authenticator), mounted by the project at ``/accounts/``. These names stay so that links and
forms need not know that: ``cyclecare:clinician:login`` forwards to allauth's page with the query
string (``?next=``) intact, and ``cyclecare:clinician:logout`` signs out.
"""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy
from django.views.generic import RedirectView


class ClinicLoginView(RedirectView):
    """To allauth's sign-in page, keeping ``?next=``."""

    permanent = False
    query_string = True
    pattern_name = "account_login"


class ClinicLogoutView(auth_views.LogoutView):
    """POST only (Django's LogoutView); back to the sign-in page."""

    next_page = reverse_lazy("account_login")


urlpatterns = [
    path("login/", ClinicLoginView.as_view(), name="login"),
    path("logout/", ClinicLogoutView.as_view(), name="logout"),
]
