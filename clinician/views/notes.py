"""Session notes: write (autosaved draft), sign, addenda, co-signature, print."""

from django.http import Http404
from django.urls import path


def _not_built(request, **kwargs):  # replaced by the area's real views
    raise Http404


urlpatterns: list = [
    path("sessions/<int:session_id>/note/", _not_built, name="note_edit"),
    path("notes/<int:note_id>/", _not_built, name="note"),
    path("notes/<int:note_id>/autosave/", _not_built, name="note_autosave"),
    path("notes/<int:note_id>/sign/", _not_built, name="note_sign"),
    path("notes/<int:note_id>/addenda/", _not_built, name="note_addendum"),
    path("notes/<int:note_id>/cosign/", _not_built, name="note_cosign"),
    path("notes/<int:note_id>/print/", _not_built, name="note_print"),
    path("cosign/", _not_built, name="cosign_queue"),
]
