"""The cycle map editor and clinician-recorded episodes."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):  # replaced by the area's real views
    raise Http404


urlpatterns: list = [
    path("couples/<int:couple_id>/cycle-map/", _not_built, name="cycle_map"),
    path("couples/<int:couple_id>/episodes/new/", _not_built, name="episode_new"),
]
