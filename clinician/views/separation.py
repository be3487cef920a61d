"""The separation workflow: a couple ends, or one partner continues alone."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):  # replaced by the area's real views
    raise Http404


urlpatterns: list = [
    path("couples/<int:couple_id>/separate/", _not_built, name="separation"),
]
