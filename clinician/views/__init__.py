"""The clinician workspace, one module per area; each declares its routes beside its views
(``urlpatterns``) and ``clinician/urls.py`` mounts them all."""
