"""Sessions: schedule, record what happened (held, cancelled, no-show) and who attended."""

urlpatterns: list = []
