from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.signals import post_migrate


class CyclecareConfig(AppConfig):
    name = "cyclecare"
    verbose_name = "Cycle care"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinician import events

        from . import (
            checks,  # noqa: F401  (registers system checks)
            tasks,  # noqa: F401  (registers the tasks cyclecare.queue finds by name)
        )
        from .erasure import on_erasure_event
        from .reminders.holds import on_reminder_event
        from .webhooks import on_domain_event

        # Webhooks hear of notes, check-ins, episodes and missed homework through the event bus,
        # so clinician never imports cyclecare.
        events.subscribe(on_domain_event)
        # Reminders follow a couple's pause and resume, a partner's zone, quiet hours and
        # channel, and a withdrawn consent, in the transaction of that change.
        events.subscribe(on_reminder_event)
        # A partner's erasure revokes their links and stops what was waiting to be sent to them.
        events.subscribe(on_erasure_event)
        post_migrate.connect(install_shipped_data, sender=self, dispatch_uid="cyclecare-shipped-data")


def install_shipped_data(sender: AppConfig, *, using: str = DEFAULT_DB_ALIAS, **kwargs: object) -> None:
    """After ``migrate``: the instruments and the homework library cyclecare ships, so a new
    clinic (or an integration posting its first check-in) finds them without anyone opening a
    page first. Idempotent: what is installed stays as it is (a changed definition ships as a
    new version). Nothing when cyclecare's tables are not there (migrated back to zero)."""
    from .models import HomeworkTemplate
    from .services import homework_templates_install_shipped

    if using != DEFAULT_DB_ALIAS:
        return
    if HomeworkTemplate._meta.db_table not in connections[using].introspection.table_names():
        return
    with transaction.atomic(using=using):
        homework_templates_install_shipped()
