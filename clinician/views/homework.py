"""Assigning homework from the couple page."""

urlpatterns: list = []
