from django.apps import AppConfig


class CyclecareConfig(AppConfig):
    name = "cyclecare"
    verbose_name = "Cycle care"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers system checks)
