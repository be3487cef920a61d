"""Intake (cyclecare.intake.couple_intake) and the welcome (cyclecare.welcome): one transaction,
every bad input refused with nothing saved and nothing sent, a double submit makes one case."""

import datetime
import threading
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from clinician.models import AuditEvent, Clinician
from couples.models import Consent, Couple, Partner
from couples.services import partner_add
from cyclecare import intake as intake_module
from cyclecare import services
from cyclecare.intake import ConsentIntake, PartnerIntake, couple_intake
from cyclecare.models import Intake, PartnerLink, WelcomeMessage
from cyclecare.partner_access import partner_link_resolve
from cyclecare.reminders.channels import LocmemSmsBackend
from cyclecare.welcome import (
    welcome_link_opened,
    welcome_request,
    welcome_status_for,
    welcomes_enqueue_due,
    welcomes_send,
)
from tests.factories import ClinicianFactory, CoupleFactory, UserFactory

pytestmark = pytest.mark.django_db

SITE = {"SITE_URL": "https://clinic.example.test"}


def consents(*kinds: str, method: str = Consent.Method.IN_SESSION) -> tuple[ConsentIntake, ...]:
    return tuple(ConsentIntake(kind=kind, granted=True, method=method) for kind in kinds)


def alex(**changes) -> PartnerIntake:
    fields = dict(
        display_name="Alex Rivera",
        time_zone="America/Chicago",
        email="alex@example.test",
        preferred_channel="email",
        consents=consents("treatment", "email", "sharing"),
    )
    return PartnerIntake(**{**fields, **changes})


def bo(**changes) -> PartnerIntake:
    fields = dict(
        display_name="Bo Chen",
        time_zone="Europe/Madrid",
        phone="+34600111222",
        language="es",
        preferred_channel="sms",
        quiet_hours_start=datetime.time(22),
        quiet_hours_end=datetime.time(7),
        consents=consents("treatment", "sms", method=Consent.Method.VERBAL),
    )
    return PartnerIntake(**{**fields, **changes})


@pytest.fixture
def clinician():
    return ClinicianFactory()


@pytest.fixture(autouse=True)
def _outboxes():
    LocmemSmsBackend.outbox.clear()
    yield
    LocmemSmsBackend.outbox.clear()


def nothing_saved() -> None:
    assert not Couple.objects.exists()
    assert not Partner.objects.exists()
    assert not Consent.objects.exists()
    assert not WelcomeMessage.objects.exists()
    assert not Intake.objects.exists()
    assert mail.outbox == [] and LocmemSmsBackend.outbox == []


def refused(clinician, **kwargs) -> dict:
    kwargs.setdefault("label", "Rivera & Chen")
    kwargs.setdefault("partners", [alex(), bo()])
    with pytest.raises(ValidationError) as excinfo:
        couple_intake(user=clinician.user, **kwargs)
    nothing_saved()
    return excinfo.value.message_dict


# THE HAPPY PATH
# ------------------------------------------------------------------------------
@override_settings(CYCLECARE={**settings.CYCLECARE, **SITE})
def test_intake_opens_the_couple_records_consents_and_welcomes_each_partner_in_their_language(
    clinician, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = couple_intake(user=clinician.user, label="Rivera & Chen", partners=[alex(), bo()])

    couple = result.couple
    assert result.created and result.not_welcomed == []
    assert couple.kind == Couple.Kind.COUPLE and couple.primary_clinician == clinician
    a, b = couple.partners.order_by("seat")
    assert (a.display_name, a.seat, b.display_name, b.language) == ("Alex Rivera", 1, "Bo Chen", "es")
    assert (b.phone, b.quiet_hours_start) == ("+34600111222", datetime.time(22))
    recorded = {(c.partner_id, c.kind, c.method, c.recorded_by_id) for c in Consent.objects.all()}
    assert recorded == {
        (a.pk, "treatment", "in_session", clinician.pk),
        (a.pk, "email", "in_session", clinician.pk),
        (a.pk, "sharing", "in_session", clinician.pk),
        (b.pk, "treatment", "verbal", clinician.pk),
        (b.pk, "sms", "verbal", clinician.pk),
    }
    assert all(c.recorded_at for c in Consent.objects.all())

    # Alex by email (in English), Bo by text (in Spanish): one each, with their own home link.
    [email] = mail.outbox
    assert email.to == ["alex@example.test"] and "welcome" in email.subject.lower()
    assert "https://clinic.example.test/p/h/" in email.body
    [text] = LocmemSmsBackend.outbox
    assert (
        text.to == "+34600111222"
        and "Hola, Bo" in text.body
        and "bienvenida" in text.body
        and "/p/h/" in text.body
    )
    welcomes = {w.partner_id: w for w in WelcomeMessage.objects.all()}
    assert {w.status for w in welcomes.values()} == {"sent"}
    assert welcomes[a.pk].channel == "email" and welcomes[b.pk].channel == "sms"
    assert welcomes[a.pk].requested_by == clinician
    token = email.body.split("/p/h/")[1].split("/")[0]
    link = partner_link_resolve(token=token).link
    assert link.partner == a and link.purpose == PartnerLink.Purpose.HOME and welcomes[a.pk].link == link
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"couple.create", "partner.add", "consent.record", "welcome.request"} <= actions


def test_an_individual_case_has_one_partner(clinician, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = couple_intake(
            user=clinician.user,
            label="Alex Rivera",
            kind=Couple.Kind.INDIVIDUAL,
            partners=[alex(consents=consents("treatment", "email"))],
        )
    assert result.couple.kind == Couple.Kind.INDIVIDUAL
    assert result.couple.partners.count() == 1
    assert len(mail.outbox) == 1


def test_no_welcome_without_consent_for_the_channel_and_the_clinician_is_told_why(
    clinician, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = couple_intake(
            user=clinician.user,
            label="Rivera & Chen",
            partners=[alex(consents=consents("treatment")), bo(consents=consents("treatment", "sms"))],
        )
    assert mail.outbox == []  # Alex has an email address but gave no email consent
    assert len(LocmemSmsBackend.outbox) == 1
    [why] = result.not_welcomed
    assert "Alex Rivera" in why and "no consent to email" in why
    assert "mobile" in why  # and no mobile number either
    alex_row = result.couple.partners.get(seat=1)
    assert not WelcomeMessage.objects.filter(partner=alex_row).exists()
    with pytest.raises(ValidationError) as excinfo:
        welcome_request(user=clinician.user, partner=alex_row)
    assert "no consent to email" in excinfo.value.messages[0]


# BAD INPUT: NOTHING SAVED, NOTHING SENT
# ------------------------------------------------------------------------------
def test_a_phone_that_is_not_e164_is_refused(clinician):
    errors = refused(clinician, partners=[alex(), bo(phone="600 111 222")])
    assert "b_phone" in errors


def test_an_unknown_time_zone_is_refused(clinician):
    errors = refused(clinician, partners=[alex(time_zone="Mars/Olympus"), bo()])
    assert "a_time_zone" in errors


def test_the_same_email_for_both_partners_is_refused(clinician):
    errors = refused(clinician, partners=[alex(), bo(email="ALEX@example.test")])
    assert "own email" in errors["b_email"][0]


def test_a_third_partner_is_refused(clinician):
    third = alex(display_name="Cam", email="cam@example.test")
    errors = refused(clinician, partners=[alex(), bo(), third])
    assert "third" in errors["partners"][0]


def test_an_individual_case_with_two_partners_is_refused(clinician):
    errors = refused(clinician, kind=Couple.Kind.INDIVIDUAL)
    assert "one partner" in errors["partners"][0]


def test_consent_for_a_channel_with_no_contact_is_refused(clinician):
    errors = refused(clinician, partners=[alex(email="", preferred_channel="none"), bo()])
    assert "email address" in errors["a_consent_email"][0]
    errors = refused(
        clinician, partners=[alex(), bo(consents=consents("sms"), phone="", preferred_channel="none")]
    )
    assert "mobile" in errors["b_consent_sms"][0]


def test_an_electronic_method_is_not_for_a_clinician_to_record(clinician):
    errors = refused(clinician, partners=[alex(consents=consents("treatment", method="electronic")), bo()])
    assert "a_consent_method" in errors


def test_sharing_consent_in_an_individual_case_is_refused(clinician):
    errors = refused(clinician, kind=Couple.Kind.INDIVIDUAL, partners=[alex()])
    assert "a_consent_sharing" in errors


def test_a_failure_after_the_first_writes_leaves_nothing_half_saved(clinician, monkeypatch):
    """A refusal by the services themselves (here: partner B's add) rolls back the couple,
    partner A and A's consents."""
    real = intake_module.partner_add
    calls = []

    def failing_second(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise ValidationError({"phone": "refused by the service"})
        return real(**kwargs)

    monkeypatch.setattr(intake_module, "partner_add", failing_second)
    errors = refused(clinician)
    assert errors["b_phone"] == ["refused by the service"]


def test_a_practice_admin_who_treats_nobody_is_not_the_treating_clinician(clinician):
    admin = ClinicianFactory(practice=clinician.practice, role=Clinician.Role.PRACTICE_ADMIN)
    result = couple_intake(user=admin.user, label="Rivera & Chen", partners=[alex(), bo()])
    assert result.couple.primary_clinician == admin  # couple_create's own rule: the admin treats it


def test_someone_who_is_not_a_clinician_cannot_take_a_couple_in(db):
    with pytest.raises(ValidationError):
        couple_intake(user=UserFactory(), label="X", partners=[alex(), bo()])
    nothing_saved()


# DOUBLE SUBMIT
# ------------------------------------------------------------------------------
def test_the_same_intake_token_twice_makes_one_couple_and_one_welcome(
    clinician, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = couple_intake(
            user=clinician.user, label="R & C", partners=[alex(), bo()], intake_token="tok-1"
        )
        again = couple_intake(
            user=clinician.user, label="R & C", partners=[alex(), bo()], intake_token="tok-1"
        )
    assert first.created and not again.created
    assert again.couple == first.couple
    assert Couple.objects.count() == 1 and Partner.objects.count() == 2
    assert len(mail.outbox) == 1 and len(LocmemSmsBackend.outbox) == 1


def test_another_clinicians_token_does_not_return_their_couple(clinician):
    couple_intake(user=clinician.user, label="R & C", partners=[alex(), bo()], intake_token="tok-1")
    colleague = ClinicianFactory(practice=clinician.practice)
    result = couple_intake(
        user=colleague.user,
        label="Other",
        partners=[alex(consents=consents("email"))],
        kind="individual",
        intake_token="tok-2",
    )
    assert result.created and result.couple.primary_clinician == colleague


# THE WELCOME: RESEND, OPENED, FIRST CHECK-IN, RE-CHECKED AT THE SEND
# ------------------------------------------------------------------------------
def test_resend_opened_and_first_checkin_are_shown_per_partner(clinician, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        couple = couple_intake(user=clinician.user, label="R & C", partners=[alex(), bo()]).couple
    a, b = couple.partners.order_by("seat")
    [status_a, status_b] = welcome_status_for(partners=[a, b])
    assert status_a.sent_at and status_a.opened_at is None and status_a.first_checkin_at is None

    link = WelcomeMessage.objects.get(partner=a).link
    assert welcome_link_opened(link=link) == 1
    assert welcome_link_opened(link=link) == 0  # the first open only counts
    instrument = next(i for i in services.instruments_install_shipped() if i.code == "cycle-checkin")
    services.checkin_submit(
        partner=a, instrument=instrument, answers={"cycle_showed_up": False, "connection": 6}
    )
    status_a, _ = welcome_status_for(partners=[a, b])
    assert status_a.opened_at and status_a.first_checkin_at

    with django_capture_on_commit_callbacks(execute=True):
        [again] = welcome_request(user=clinician.user, partner=a)
    assert again.status == "pending"  # as created; sent on commit
    again.refresh_from_db()
    assert again.status == "sent" and len(mail.outbox) == 2


def test_consent_withdrawn_before_the_send_cancels_the_welcome(clinician, django_capture_on_commit_callbacks):
    result = couple_intake(user=clinician.user, label="R & C", partners=[alex(), bo()])  # not sent yet
    a = result.couple.partners.get(seat=1)
    Consent.objects.create(
        practice=a.practice,
        partner=a,
        kind="email",
        granted=False,
        method="electronic",
        recorded_at=timezone.now(),
    )
    welcome = WelcomeMessage.objects.get(partner=a)
    assert welcomes_send(welcome_ids=[welcome.pk])["cancelled"] == 1
    welcome.refresh_from_db()
    assert welcome.status == "cancelled" and "consent" in welcome.last_error
    assert mail.outbox == []


def test_a_welcome_is_sent_once_however_often_its_task_runs(clinician):
    result = couple_intake(user=clinician.user, label="R & C", partners=[alex(), bo()])
    ids = list(WelcomeMessage.objects.values_list("pk", flat=True))
    assert welcomes_send(welcome_ids=ids)["sent"] == 2
    assert welcomes_send(welcome_ids=ids)["skipped"] == 2
    assert len(mail.outbox) == 1 and len(LocmemSmsBackend.outbox) == 1
    assert result.couple


def test_the_dispatcher_sends_a_welcome_whose_task_was_lost(clinician, monkeypatch):
    couple_intake(user=clinician.user, label="R & C", partners=[alex(), bo()])  # on_commit never ran
    WelcomeMessage.objects.update(
        created_at=WelcomeMessage.objects.first().created_at - datetime.timedelta(minutes=5)
    )
    assert welcomes_enqueue_due() == 2  # eager Celery in tests: sent now
    assert set(WelcomeMessage.objects.values_list("status", flat=True)) == {"sent"}


def test_another_practices_clinician_cannot_resend(clinician, django_capture_on_commit_callbacks):
    couple = couple_intake(user=clinician.user, label="R & C", partners=[alex(), bo()]).couple
    stranger = ClinicianFactory()
    with pytest.raises(ValidationError):
        welcome_request(user=stranger.user, partner=couple.partners.first())
    assert WelcomeMessage.objects.count() == 2


def test_an_individual_case_takes_its_partner_then_becomes_a_couple_with_a_second(clinician):
    """partner_add's rule for an individual case opened at intake: its one partner leaves it an
    individual case; a second partner (issue 13, item 3) makes it a couple; never a third."""
    couple = CoupleFactory(primary_clinician=clinician, kind=Couple.Kind.INDIVIDUAL)
    partner_add(
        user=clinician.user, couple=couple, display_name="Alex", time_zone="UTC", preferred_channel="none"
    )
    couple.refresh_from_db()
    assert couple.kind == Couple.Kind.INDIVIDUAL
    partner_add(
        user=clinician.user, couple=couple, display_name="Bo", time_zone="UTC", preferred_channel="none"
    )
    couple.refresh_from_db()
    assert couple.kind == Couple.Kind.COUPLE
    with pytest.raises(ValidationError):
        partner_add(
            user=clinician.user, couple=couple, display_name="Cy", time_zone="UTC", preferred_channel="none"
        )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_of_one_form_make_one_couple(postgres):
    """PostgreSQL: both requests pass the "already made?" look-up; the unique token decides,
    and the loser returns the winner's couple with nothing of its own left behind."""
    clinician = ClinicianFactory()
    barrier = threading.Barrier(2)
    results, errors = [], []
    real_validate = intake_module.intake_validate

    def validate_then_wait(**kwargs):
        real_validate(**kwargs)
        barrier.wait(timeout=10)  # both are past the look-up before either writes

    def submit():
        try:
            results.append(
                couple_intake(
                    user=clinician.user, label="R & C", partners=[alex(), bo()], intake_token="same"
                )
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    with mock.patch.object(intake_module, "intake_validate", validate_then_wait):
        threads = [threading.Thread(target=submit) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert sorted(result.created for result in results) == [False, True]
    assert results[0].couple.pk == results[1].couple.pk
    assert Couple.objects.count() == 1 and Partner.objects.count() == 2 and Intake.objects.count() == 1
    assert WelcomeMessage.objects.count() == 2
