"""The couple page: one timeline, the between-session charts and the cycle metrics."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):  # replaced by the area's real views
    raise Http404


urlpatterns: list = [
    path("couples/<int:couple_id>/", _not_built, name="couple"),
]
