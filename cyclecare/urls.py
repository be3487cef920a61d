"""cyclecare's URLs; a host project mounts them with ``path("", include("cyclecare.urls"))``."""

from django.urls import include, path
from oauth2_provider import views as oauth2_views

from clinician.api.errors import problem_for_unreadable_body

from . import views
from .partner import views as partner_views

app_name = "cyclecare"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    # The stop/pause link every reminder carries (a signed token, no login).
    path("r/stop/<str:token>/", partner_views.reminders_stop, name="reminder-stop"),
    # Inbound texts from the SMS provider (a partner's "STOP"), with a shared bearer token.
    path("r/sms/inbound/", views.sms_inbound, name="sms-inbound"),
    # OAuth2 for integrations: tokens only (client credentials); no authorization pages. An
    # oversized body is a problem-details 413 there too, as in the rest of the API.
    path("o/token/", problem_for_unreadable_body(oauth2_views.TokenView.as_view()), name="oauth2-token"),
    path(
        "o/revoke_token/",
        problem_for_unreadable_body(oauth2_views.RevokeTokenView.as_view()),
        name="oauth2-revoke",
    ),
    path(
        "o/introspect/",
        problem_for_unreadable_body(oauth2_views.IntrospectTokenView.as_view()),
        name="oauth2-introspect",
    ),
    path("p/", include("cyclecare.partner.urls")),
    path("clinic/", include("cyclecare.workspace.urls")),
    path("", include("cyclecare.api.urls")),
]
