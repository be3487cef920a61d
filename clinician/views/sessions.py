"""Sessions: schedule, record what happened (held, cancelled, no-show) and who attended."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):  # replaced by the area's real views
    raise Http404


urlpatterns: list = [
    path("couples/<int:couple_id>/sessions/", _not_built, name="sessions"),
    path("sessions/<int:session_id>/", _not_built, name="session"),
]
