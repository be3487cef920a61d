from django.apps import AppConfig


class ClinicianConfig(AppConfig):
    name = "clinician"
    verbose_name = "Practices and clinicians"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun

        from .api import schema  # noqa: F401  (registers the OpenAPI security schemes)
        from .audit import task_finished, task_started
        from .logging import install_record_redaction

        # A task's audit events say they came from a background task (clinician.audit).
        task_prerun.connect(task_started, weak=False, dispatch_uid="cyclecare-audit-task-started")
        task_postrun.connect(task_finished, weak=False, dispatch_uid="cyclecare-audit-task-finished")

        # Every process that loads cyclecare (web, worker, beat, commands, a host site) redacts
        # partner-link tokens from every log record, whichever logger or handler it meets.
        install_record_redaction()
