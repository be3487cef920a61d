"""The clinician workspace, one module per area; each declares its routes beside its views
(``urlpatterns``) and ``cyclecare/workspace/urls.py`` mounts them all."""
