"""The clinician's pages, mounted by cyclecare.urls under ``clinic/`` (namespace
``cyclecare:clinician``). Each area of the workspace declares its own routes; sign-in and
sign-out are the platform's (``clinician.views.auth``), listed here so that their names stay
``cyclecare:clinician:login`` and ``cyclecare:clinician:logout``."""

from clinician.views import auth

from .views import (
    audit,
    caseload,
    couple,
    cyclemap,
    exports,
    homework,
    intake,
    notes,
    practice,
    records,
    reports,
    separation,
    sessions,
    settings,
)

app_name = "clinician"

urlpatterns = [
    *caseload.urlpatterns,
    *auth.urlpatterns,
    *couple.urlpatterns,
    *intake.urlpatterns,
    *sessions.urlpatterns,
    *notes.urlpatterns,
    *cyclemap.urlpatterns,
    *homework.urlpatterns,
    *separation.urlpatterns,
    *settings.urlpatterns,
    *practice.urlpatterns,
    # Before the reports: /clinic/reports/export/ is not a report's key.
    *exports.urlpatterns,
    *reports.urlpatterns,
    *audit.urlpatterns,
    *records.urlpatterns,
]
