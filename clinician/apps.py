from django.apps import AppConfig


class ClinicianConfig(AppConfig):
    name = "clinician"
    verbose_name = "Practices and clinicians"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .api import schema  # noqa: F401  (registers the OpenAPI security schemes)
