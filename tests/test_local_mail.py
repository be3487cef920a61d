"""`make run`'s settings write mail where the README says: var/mail/ (or CYCLECARE_VAR_DIR/mail),
an absolute path whatever directory a process starts in."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Migrates a fresh SQLite database under the var dir, plans a reminder for a partner with email
# consent and sends it the way the worker does, then prints where the mail backend wrote.
SEND_A_REMINDER = """
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
call_command("migrate", verbosity=0)
from cyclecare.models import ReminderDelivery
from cyclecare.reminders.dispatch import reminders_send
from tests.cyclecare.reminder_world import assign, at, plan, travel, world
w = world()
assign(w, partners=[w.a])
plan(at("America/New_York", 2026, 3, 2, 12))
reminder = ReminderDelivery.objects.get(occurrence__local_due_date="2026-03-02")
with travel(at("America/New_York", 2026, 3, 2, 20, 5)):
    reminders_send(delivery_ids=[reminder.pk])
reminder.refresh_from_db()
assert reminder.status == "sent", reminder.last_error
print(settings.EMAIL_FILE_PATH)
"""


def run_local(code: str, *, var_dir: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "EMAIL_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        CYCLECARE_VAR_DIR=var_dir,
        PYTHONPATH=str(ROOT),
        CYCLECARE_SITE_URL="http://127.0.0.1:8000",
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def test_a_reminder_sent_under_make_runs_settings_lands_in_var_mail(tmp_path):
    var_dir, elsewhere = tmp_path / "var", tmp_path / "elsewhere"
    var_dir.mkdir()  # as `make run` does
    elsewhere.mkdir()
    result = run_local(SEND_A_REMINDER, var_dir=str(var_dir), cwd=elsewhere)
    assert result.returncode == 0, result.stderr

    mail_path = Path(result.stdout.strip().splitlines()[-1])
    assert mail_path.is_absolute() and mail_path == var_dir / "mail"
    [message] = (var_dir / "mail").iterdir()
    assert "/p/c/" in message.read_text()  # the reminder, with its link
    assert not any(elsewhere.rglob("*")), "nothing is written under the working directory"


def test_a_relative_var_dir_is_read_from_the_project_not_the_working_directory(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.EMAIL_FILE_PATH)"
    result = run_local(code, var_dir="var", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == ROOT / "var" / "mail"
