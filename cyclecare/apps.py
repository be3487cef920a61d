from django.apps import AppConfig


class CyclecareConfig(AppConfig):
    name = "cyclecare"
    verbose_name = "Cycle care"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinician import events

        from . import checks  # noqa: F401  (registers system checks)
        from .webhooks import on_domain_event

        # Webhooks hear of notes, check-ins, episodes and missed homework through the event bus,
        # so clinician never imports cyclecare.
        events.subscribe(on_domain_event)
