"""The cycle map editor and clinician-recorded episodes."""

urlpatterns: list = []
