"""cyclecare's Celery tasks, looked up by name.

The domain enqueues work (a flag's email, a webhook send, a batch of reminders) but never imports
``cyclecare.tasks``: the tasks import the domain, so that import would run the floors in a
circle. A task is found in the Celery app's registry by its name instead; ``CyclecareConfig.ready``
imports the tasks at start-up, so every name is registered in every process that loads Django.
The task is the registered object itself, so ``always_eager`` and test doubles on it behave as
before.
"""

from celery import Task, current_app


def task(name: str) -> Task:
    """The task ``cyclecare.tasks.<name>``."""
    return current_app.tasks[f"cyclecare.tasks.{name}"]
