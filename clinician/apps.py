from django.apps import AppConfig


class ClinicianConfig(AppConfig):
    name = "clinician"
    verbose_name = "Practices and clinicians"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .api import schema  # noqa: F401  (registers the OpenAPI security schemes)
        from .logging import install_record_redaction

        # Every process that loads cyclecare (web, worker, beat, commands, a host site) redacts
        # partner-link tokens from every log record, whichever logger or handler it meets.
        install_record_redaction()
