"""The separation workflow: a couple ends, or one partner continues alone."""

urlpatterns: list = []
