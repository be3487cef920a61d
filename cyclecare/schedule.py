"""cyclecare's periodic tasks, for the one Celery beat a site runs.

A plain dict with no Django imports, so a Celery app module can import it before Django is set
up: ``app.conf.beat_schedule = {**cyclecare.schedule.BEAT_SCHEDULE, ...}``. Per-partner
schedules are rows in our tables, never beat entries.
"""

BEAT_SCHEDULE = {
    "cyclecare-safety-flags-notify-pending": {
        "task": "cyclecare.tasks.safety_flags_notify_pending",
        "schedule": 60.0,
    },
    "cyclecare-occurrences-mark-missed": {
        "task": "cyclecare.tasks.occurrences_mark_missed_task",
        "schedule": 300.0,
    },
    "cyclecare-webhook-deliveries-dispatch": {
        "task": "cyclecare.tasks.webhook_deliveries_dispatch",
        "schedule": 60.0,
    },
    # Reminders: the planner writes occurrences and reminder rows hours ahead; the dispatcher
    # sends what is due, every minute.
    "cyclecare-reminders-plan": {
        "task": "cyclecare.tasks.reminders_plan",
        "schedule": 600.0,
    },
    "cyclecare-reminders-dispatch": {
        "task": "cyclecare.tasks.reminders_dispatch",
        "schedule": 60.0,
    },
    # Welcomes are sent on commit; this picks up a lost task, a due retry or a lost worker.
    "cyclecare-welcomes-dispatch": {
        "task": "cyclecare.tasks.welcomes_dispatch",
        "schedule": 60.0,
    },
    # De-identified exports' files go when their download link expires.
    "cyclecare-report-exports-purge": {
        "task": "cyclecare.tasks.report_exports_purge_expired",
        "schedule": 3600.0,
    },
    # Erasures become final when their undo window closes (checked every 10 minutes); retention
    # runs once a day.
    "cyclecare-partner-erasures-purge": {
        "task": "cyclecare.tasks.partner_erasures_purge_task",
        "schedule": 600.0,
    },
    "cyclecare-retention-enforce": {
        "task": "cyclecare.tasks.retention_enforce_task",
        "schedule": 86400.0,
    },
    # Practice reports read rollups: refreshed incrementally every minute, rebuilt once a day.
    "cyclecare-report-rollups-refresh": {
        "task": "cyclecare.tasks.report_rollups_refresh",
        "schedule": 60.0,
    },
    "cyclecare-report-rollups-rebuild": {
        "task": "cyclecare.tasks.report_rollups_rebuild",
        "schedule": 24 * 3600.0,
    },
}
