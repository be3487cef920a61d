"""seed_demo: idempotent, the demo's promised shape, and trends a clinician would believe.

The seed is relative to ``timezone.now()``; these tests compare windows relative to now too, so
they hold on any date.
"""

import datetime
from io import StringIO
from statistics import mean

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from clinician.conf import cyclecare_settings
from clinician.models import AuditEvent, Clinician, Practice
from couples.models import Addendum, Consent, Couple, SessionNote, TherapySession
from cyclecare.models import CheckIn, CycleEpisode, CycleMap, Occurrence, ReminderDelivery, SafetyFlag

pytestmark = pytest.mark.django_db

EMAILS = (
    "operator@cyclecare.example",
    "admin@northstar.example",
    "supervisor@northstar.example",
    "clinician@northstar.example",
    "prelicensed@northstar.example",
    "clinician@harbor.example",
)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._base_manager.count()
        for label in ("auth", "clinician", "couples", "cyclecare")
        for model in apps.get_app_config(label).get_models()
    }


def test_second_run_changes_nothing_and_both_runs_print_the_logins() -> None:
    first = seed()
    after_first = row_counts()
    second = seed()

    assert row_counts() == after_first
    assert after_first["clinician.AuditEvent"] > 0 and after_first["cyclecare.CheckIn"] > 0
    assert "Demo data already present" in second
    assert "Demo data already present" not in first
    for output in (first, second):
        assert "http://127.0.0.1:8000/admin/" in output
        assert "demo-cyclecare-2026" in output
        for email in EMAILS:
            assert email in output


def test_the_demo_has_the_promised_shape_and_believable_trends() -> None:
    # One seed for all the checks below: seeding takes seconds, and each check reads only.
    seed()
    check_people_and_records()
    check_adherence_is_partial_and_varies_by_partner()
    check_de_escalating_couples_fight_less_often_and_less_intensely()


def check_people_and_records() -> None:
    northstar = Practice.objects.get(slug="northstar")
    harbor = Practice.objects.get(slug="harbor")
    assert (northstar.name, northstar.time_zone) == ("Northstar Couples Therapy", "America/Chicago")
    assert (harbor.name, harbor.time_zone) == ("Harbor Relationship Center", "America/Los_Angeles")
    assert Practice.objects.count() == 2

    users = get_user_model().objects
    assert users.get(username="operator@cyclecare.example").is_superuser
    assert users.get(username="admin@northstar.example").is_staff
    assert users.get(username="clinician@northstar.example").check_password("demo-cyclecare-2026")

    clinicians = Clinician.objects.filter(practice=northstar)
    assert clinicians.count() == 4
    assert set(clinicians.values_list("role", flat=True)) == set(Clinician.Role.values)
    prelicensed = clinicians.get(is_prelicensed=True)
    assert prelicensed.supervisor.role == Clinician.Role.SUPERVISOR
    assert Clinician.objects.filter(practice=harbor).count() == 1

    couples = list(Couple.objects.filter(practice=northstar))
    assert len(couples) == 6
    assert len({c.eft_step for c in couples}) >= 4 and {c.eft_stage for c in couples} == {1, 2, 3}
    assert {c.primary_clinician.user.username for c in couples} == {
        "clinician@northstar.example",
        "prelicensed@northstar.example",
    }
    assert Couple.objects.filter(practice=harbor).exists()
    for couple in couples:
        partners = list(couple.partners.filter(is_active=True))
        assert len(partners) == 2
        for partner in partners:
            assert partner.consents.filter(kind=Consent.Kind.TREATMENT, granted=True).exists()
        assert CycleMap.objects.filter(couple=couple).exists()
        statuses = set(couple.sessions.values_list("status", flat=True))
        assert TherapySession.Status.HELD in statuses and TherapySession.Status.SCHEDULED in statuses
    northstar_sessions = TherapySession.objects.filter(practice=northstar)
    assert northstar_sessions.filter(kind=TherapySession.Kind.INDIVIDUAL).exists()
    assert northstar_sessions.filter(status=TherapySession.Status.CANCELLED).exists()
    assert northstar_sessions.filter(status=TherapySession.Status.NO_SHOW).exists()

    signed = SessionNote.objects.filter(practice=northstar, status=SessionNote.Status.SIGNED)
    assert signed.count() >= 30
    assert {note.format for note in signed} == set(SessionNote.Format.values)
    for note in signed:
        assert note.eft_stage == (1 if note.eft_step <= 4 else 2 if note.eft_step <= 7 else 3)
        assert note.partner_a_move and note.partner_b_move
        for name in (*note.section_values(), *SessionNote.CYCLE_TEXT_FIELDS):
            assert getattr(note, name).strip(), name
    assert SessionNote.objects.filter(practice=northstar, status=SessionNote.Status.DRAFT).count() == 1
    awaiting = [note for note in signed.filter(author=prelicensed) if note.needs_cosignature]
    assert len(awaiting) == 1
    assert Addendum.objects.filter(practice=northstar).exists()

    flags = SafetyFlag.objects.filter(practice=northstar, status=SafetyFlag.Status.OPEN)
    assert flags.count() == 1 and flags.get().checkin.answers["felt_unsafe"] is True
    assert (
        AuditEvent.objects.filter(action="seed.session").count()
        == TherapySession.objects.exclude(status=TherapySession.Status.SCHEDULED).count()
    )


def check_adherence_is_partial_and_varies_by_partner() -> None:
    rates = []
    for couple in Couple.objects.filter(practice__slug="northstar"):
        for partner in couple.partners.all():
            due = Occurrence.objects.filter(partner=partner, assignment__instrument__code="cycle-checkin")
            done = due.filter(status=Occurrence.Status.COMPLETED).count()
            assert due.count() >= 27 and done == CheckIn.objects.filter(occurrence__in=due).count()
            rates.append(done / due.count())
    assert all(0.55 <= rate <= 0.95 for rate in rates), rates
    assert max(rates) - min(rates) >= 0.15


def check_de_escalating_couples_fight_less_often_and_less_intensely() -> None:
    now = timezone.now()
    improving = Couple.objects.filter(practice__slug="northstar", eft_step__gte=4)
    assert improving.count() >= 3
    for couple in improving:
        episodes = CycleEpisode.objects.filter(couple=couple)
        first = list(episodes.filter(occurred_at__lt=now - datetime.timedelta(days=42)))
        last = list(episodes.filter(occurred_at__gte=now - datetime.timedelta(days=14)))
        assert last, couple.label
        assert len(first) > len(last), couple.label
        assert mean(e.intensity for e in first) > mean(e.intensity for e in last), couple.label
        reported_first = [e for e in first if e.source == CycleEpisode.Source.SELF_REPORT]
        reported_last = [e for e in last if e.source == CycleEpisode.Source.SELF_REPORT]
        assert mean(e.repair_worked is True for e in reported_last) > mean(
            e.repair_worked is True for e in reported_first
        ), couple.label

        csi = [
            c.total_score
            for c in CheckIn.objects.filter(couple=couple, instrument__code="csi-4").order_by("submitted_at")
        ]
        assert mean(csi[-4:]) > mean(csi[:4]), couple.label
    sources = set(CycleEpisode.objects.filter(practice__slug="northstar").values_list("source", flat=True))
    assert sources == set(CycleEpisode.Source.values)


def test_the_demo_is_what_the_beat_would_have_left() -> None:
    seed()
    now = timezone.now()

    # The adherence report of the last 30 days (the API's default period) shows a real mix.
    api = APIClient()
    api.force_authenticate(user=get_user_model().objects.get(username="admin@northstar.example"))
    response = api.get("/api/v1/reports/adherence/")
    assert response.status_code == 200, response.content
    total = response.json()["total"]
    assert total["missed"] > 0 and total["completed"] > 0, total
    assert total["completed"] > total["missed"], total

    # Nothing past the missed-occurrence service's grace period is left pending, and every
    # missed one went through the service (its audit event), in both practices.
    grace = datetime.timedelta(hours=cyclecare_settings.MISSED_AFTER_HOURS)
    stale = Occurrence.objects.filter(status=Occurrence.Status.PENDING, due_at__lt=now - grace)
    assert list(stale.values_list("pk", "due_at")) == []
    missed = Occurrence.objects.filter(status=Occurrence.Status.MISSED)
    assert set(missed.values_list("practice__slug", flat=True)) == {"northstar", "harbor"}
    assert AuditEvent.objects.filter(action="occurrence.missed").count() == missed.count()
    assert not missed.filter(checkin__isnull=False).exists()

    # The planner has run: the coming check-ins have their reminders, each for a pending
    # occurrence, by the partner's channel; none for the couple whose flag holds reminders.
    reminders = ReminderDelivery.objects.filter(kind=ReminderDelivery.Kind.REMINDER)
    assert reminders.filter(status=ReminderDelivery.Status.PENDING, next_attempt_at__gt=now).exists()
    for reminder in reminders.select_related("occurrence", "partner"):
        assert reminder.occurrence.status == Occurrence.Status.PENDING
        assert reminder.channel == reminder.partner.preferred_channel
    flag = SafetyFlag.objects.get(status=SafetyFlag.Status.OPEN)
    assert not ReminderDelivery.objects.filter(couple_id=flag.couple_id).exists()

    # The open flag's clinician was told, once, without PHI.
    assert flag.clinician_notified_at is not None
    [email] = mail.outbox
    assert email.to == [flag.couple.primary_clinician.user.email]
    assert flag.partner.display_name not in email.body and flag.couple.label not in email.body
