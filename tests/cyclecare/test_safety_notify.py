"""A safety flag's clinician email goes out once, and the reconciler catches a lost enqueue."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from config.celery_app import app
from cyclecare import services, tasks
from cyclecare.schedule import BEAT_SCHEDULE
from tests.factories import couple_with_partners

pytestmark = pytest.mark.django_db


def test_reconciler_sends_flags_whose_enqueue_was_lost():
    couple, a, b = couple_with_partners()
    couple.primary_clinician.user.email = "therapist@example.test"
    couple.primary_clinician.user.save()
    # on_commit callbacks never run inside the test transaction: as if the enqueue was lost.
    flag = services.safety_flag_raise(partner=a, source="check_in")
    assert mail.outbox == []
    assert tasks.safety_flags_notify_pending() == 0  # too recent to retry
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=2)):
        assert tasks.safety_flags_notify_pending() == 1
        assert tasks.safety_flags_notify_pending() == 0
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["therapist@example.test"]
    for phi in (a.display_name, b.display_name, couple.label):
        assert phi not in message.subject and phi not in message.body
    flag.refresh_from_db()
    assert flag.clinician_notified_at is not None


def test_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()
    for entry in BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
    assert app.conf.beat_schedule == BEAT_SCHEDULE
