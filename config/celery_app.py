"""The Celery app. Periodic work is declared here, in one static beat schedule."""

import os
from pathlib import Path

from celery import Celery

from cyclecare.schedule import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("cyclecare")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# One static beat schedule: cyclecare's periodic tasks (per-partner schedules are rows, not crontabs).
app.conf.beat_schedule = {**BEAT_SCHEDULE}


@app.on_after_configure.connect
def _make_filesystem_broker_folders(sender: Celery, **kwargs: object) -> None:
    """Kombu's filesystem transport needs its folders to exist before it connects."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
