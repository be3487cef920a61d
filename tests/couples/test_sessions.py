import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from couples import services
from couples.models import TherapySession
from tests.factories import ClinicianFactory, TherapySessionFactory, couple_with_partners

pytestmark = pytest.mark.django_db


def test_a_session_in_the_past_cannot_be_scheduled():
    couple, a, b = couple_with_partners()
    with pytest.raises(ValidationError) as excinfo:
        services.session_schedule(
            user=couple.primary_clinician.user,
            couple=couple,
            starts_at=timezone.now() - datetime.timedelta(days=1),
        )
    assert excinfo.value.error_dict["starts_at"][0].code == "past"
    assert not TherapySession.objects.exists()


def test_individual_session_needs_a_partner_of_the_couple():
    couple, a, b = couple_with_partners()
    _, stranger, _ = couple_with_partners(couple.primary_clinician)
    later = timezone.now() + datetime.timedelta(days=2)
    user = couple.primary_clinician.user
    with pytest.raises(ValidationError) as excinfo:
        services.session_schedule(
            user=user, couple=couple, starts_at=later, kind="individual", partner=stranger
        )
    assert "partner" in excinfo.value.error_dict
    session = services.session_schedule(
        user=user, couple=couple, starts_at=later, kind="individual", partner=a
    )
    assert session.partner == a
    with pytest.raises(IntegrityError), transaction.atomic():
        TherapySession.objects.filter(pk=session.pk).update(partner=None)


def test_outcomes():
    couple, a, b = couple_with_partners()
    user = couple.primary_clinician.user
    future = services.session_schedule(
        user=user, couple=couple, starts_at=timezone.now() + datetime.timedelta(days=3)
    )
    with pytest.raises(ValidationError):
        services.session_record_outcome(user=user, session=future, status="held", attendees=[a, b])
    past = TherapySessionFactory(couple=couple, starts_at=timezone.now() - datetime.timedelta(hours=2))
    with pytest.raises(ValidationError) as excinfo:
        services.session_record_outcome(user=user, session=past, status="held")
    assert "attendees" in excinfo.value.error_dict
    held = services.session_record_outcome(user=user, session=past, status="held", attendees=[a])
    assert list(held.attendees.all()) == [a]
    with pytest.raises(ValidationError):
        services.session_record_outcome(user=user, session=held, status="cancelled")
    cancelled = services.session_record_outcome(user=user, session=future, status="cancelled")
    assert cancelled.status == "cancelled"


def test_colleague_outside_the_caseload_cannot_schedule():
    couple, a, b = couple_with_partners()
    colleague = ClinicianFactory(practice=couple.practice)
    with pytest.raises(ValidationError):
        services.session_schedule(
            user=colleague.user, couple=couple, starts_at=timezone.now() + datetime.timedelta(days=1)
        )


def test_a_no_show_is_recorded_only_once_the_session_has_started():
    couple, a, b = couple_with_partners()
    user = couple.primary_clinician.user
    future = TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=1))
    with pytest.raises(ValidationError) as excinfo:
        services.session_record_outcome(user=user, session=future, status="no_show")
    assert excinfo.value.error_dict["status"][0].code == "not_started"
    future.refresh_from_db()
    assert future.status == "scheduled"
    past = TherapySessionFactory(couple=couple, starts_at=timezone.now() - datetime.timedelta(hours=1))
    assert services.session_record_outcome(user=user, session=past, status="no_show").status == "no_show"


def test_rescheduling_needs_an_aware_future_time():
    couple, a, b = couple_with_partners()
    user = couple.primary_clinician.user
    session = TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=1))
    before = session.starts_at
    with pytest.raises(ValidationError) as excinfo:
        services.session_reschedule(user=user, session=session, starts_at=datetime.datetime(2030, 1, 1, 9))
    assert "starts_at" in excinfo.value.error_dict
    with pytest.raises(ValidationError) as excinfo:
        services.session_reschedule(
            user=user, session=session, starts_at=timezone.now() - datetime.timedelta(hours=1)
        )
    assert excinfo.value.error_dict["starts_at"][0].code == "past"
    session.refresh_from_db()
    assert session.starts_at == before
