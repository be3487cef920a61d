"""The clinician's pages, mounted by cyclecare.urls under ``clinic/`` (namespace
``cyclecare:clinician``). Each area of the workspace declares its own routes."""

from .views import auth, caseload, couple, cyclemap, homework, notes, separation, sessions

app_name = "clinician"

urlpatterns = [
    *caseload.urlpatterns,
    *auth.urlpatterns,
    *couple.urlpatterns,
    *sessions.urlpatterns,
    *notes.urlpatterns,
    *cyclemap.urlpatterns,
    *homework.urlpatterns,
    *separation.urlpatterns,
]
