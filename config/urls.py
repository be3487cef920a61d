from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# The admin's own login form would skip allauth (its two-factor step and rate limits): send it
# through allauth's sign-in instead, then back to the admin.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    # allauth's pages (sign-in, the TOTP step, two-factor enrolment, password reset). Its URL
    # names are not namespaced, so they are mounted here, at the project's root URLconf.
    path("accounts/", include("allauth.urls")),
    # The standalone site opens on the clinician's caseload (the sign-in page until signed in).
    path("", RedirectView.as_view(pattern_name="cyclecare:clinician:caseload", permanent=False)),
    path("", include("cyclecare.urls")),
]
