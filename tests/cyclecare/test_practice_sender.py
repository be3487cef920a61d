"""The practice's sender name (set on the practice settings page) is the name a reminder email
comes from; without one, the practice's name."""

from email.utils import parseaddr

import pytest
from django.utils import timezone

from cyclecare.models import ReminderDelivery, WelcomeMessage
from cyclecare.reminders import messages
from cyclecare.welcome import _build
from tests.factories import AssignmentFactory, OccurrenceFactory, couple_with_partners

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("sender_name", "shown"), [("", "Harbour Couples Clinic"), ("Harbour", "Harbour")])
def test_a_reminder_comes_from_the_practices_sender_name(sender_name, shown):
    couple, a, _ = couple_with_partners()
    practice = couple.practice
    practice.name, practice.sender_name = "Harbour Couples Clinic", sender_name
    practice.save(update_fields=["name", "sender_name"])
    occurrence = OccurrenceFactory(assignment=AssignmentFactory(couple=couple, partners=[a]), partner=a)
    delivery = ReminderDelivery.objects.create(
        practice=practice,
        couple=couple,
        occurrence=occurrence,
        partner=a,
        channel="email",
        next_attempt_at=timezone.now(),
    )
    built = messages.email_build(delivery, action_url="https://clinic.example.test/p/c/TOKEN-abc123")
    assert parseaddr(built.from_email)[0] == shown


def test_a_welcome_comes_from_the_practices_sender_name_too():
    """Every email a partner gets is built by ``messages.partner_email``: the welcome as well."""
    couple, a, _ = couple_with_partners()
    practice = couple.practice
    practice.name, practice.sender_name = "Harbour Couples Clinic", "Harbour"
    practice.save(update_fields=["name", "sender_name"])
    welcome = WelcomeMessage.objects.create(
        practice=practice,
        couple=couple,
        partner=a,
        channel="email",
        requested_by=couple.primary_clinician,
        next_attempt_at=timezone.now(),
    )
    built = _build(welcome, home_url="https://clinic.example.test/p/h/TOKEN-abc123/")
    assert parseaddr(built.from_email)[0] == "Harbour"
    assert built.message_id.startswith(f"<welcome-{welcome.pk}@")
