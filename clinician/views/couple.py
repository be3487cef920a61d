"""The couple page: one timeline, the between-session charts and the cycle metrics."""

urlpatterns: list = []
