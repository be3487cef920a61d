"""Couples: who opens a case, who it is assigned to, and status with its discharge date."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinician.models import AuditEvent, Clinician
from couples import services
from couples.models import Couple
from tests.factories import ClinicianFactory, CoupleFactory, PracticeFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def practice_staff():
    practice = PracticeFactory()
    return {
        "clinician": ClinicianFactory(practice=practice),
        "colleague": ClinicianFactory(practice=practice),
        "admin": ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN),
    }


# CREATE
# ------------------------------------------------------------------------------
def test_clinician_opens_a_case_as_its_primary_clinician(practice_staff):
    clinician = practice_staff["clinician"]
    couple = services.couple_create(user=clinician.user, label="  Rivera & Chen ")
    assert couple.primary_clinician == clinician
    assert couple.practice_id == clinician.practice_id
    assert couple.label == "Rivera & Chen"
    assert couple.status == Couple.Status.ACTIVE
    assert couple.started_on == timezone.localdate()
    assert AuditEvent.objects.filter(action="couple.create", target_id=str(couple.pk)).count() == 1


def test_plain_clinician_cannot_assign_another_clinician(practice_staff):
    with pytest.raises(ValidationError) as excinfo:
        services.couple_create(
            user=practice_staff["clinician"].user, label="X", primary_clinician=practice_staff["colleague"]
        )
    assert "primary_clinician" in excinfo.value.error_dict
    assert not Couple.objects.exists()


def test_practice_admin_may_assign_a_clinician(practice_staff):
    couple = services.couple_create(
        user=practice_staff["admin"].user, label="X", primary_clinician=practice_staff["clinician"]
    )
    assert couple.primary_clinician == practice_staff["clinician"]


def test_admin_cannot_assign_a_clinician_of_another_practice(practice_staff):
    stranger = ClinicianFactory()
    with pytest.raises(ValidationError) as excinfo:
        services.couple_create(user=practice_staff["admin"].user, label="X", primary_clinician=stranger)
    assert "primary_clinician" in excinfo.value.error_dict
    assert not Couple.objects.exists()


def test_admin_cannot_make_another_admin_the_treating_clinician(practice_staff):
    other_admin = ClinicianFactory(
        practice=practice_staff["admin"].practice, role=Clinician.Role.PRACTICE_ADMIN
    )
    with pytest.raises(ValidationError) as excinfo:
        services.couple_create(user=practice_staff["admin"].user, label="X", primary_clinician=other_admin)
    assert "primary_clinician" in excinfo.value.error_dict


def test_user_who_is_not_a_clinician_cannot_open_a_case():
    with pytest.raises(ValidationError):
        services.couple_create(user=UserFactory(), label="X")
    assert not Couple.objects.exists()


@pytest.mark.parametrize("eft_step", [0, 10])
def test_eft_step_outside_1_to_9_refused(practice_staff, eft_step):
    # The model checks this only by its CheckConstraint, so the error is not keyed by field.
    with pytest.raises(ValidationError):
        services.couple_create(user=practice_staff["clinician"].user, label="X", eft_step=eft_step)
    assert not Couple.objects.exists()


# STATUS
# ------------------------------------------------------------------------------
def test_discharge_sets_the_discharge_date():
    couple = CoupleFactory()
    couple = services.couple_set_status(
        user=couple.primary_clinician.user, couple=couple, status="discharged"
    )
    couple.refresh_from_db()
    assert couple.status == Couple.Status.DISCHARGED
    assert couple.discharged_on == timezone.localdate()


def test_resuming_a_discharged_couple_clears_the_date():
    couple = CoupleFactory()
    user = couple.primary_clinician.user
    services.couple_set_status(user=user, couple=couple, status=Couple.Status.DISCHARGED)
    services.couple_set_status(user=user, couple=couple, status=Couple.Status.ACTIVE)
    couple.refresh_from_db()
    assert couple.status == Couple.Status.ACTIVE
    assert couple.discharged_on is None


def test_database_rejects_discharged_without_a_date():
    couple = CoupleFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Couple.objects.filter(pk=couple.pk).update(status=Couple.Status.DISCHARGED, discharged_on=None)


def test_database_rejects_a_discharge_date_on_an_active_couple():
    couple = CoupleFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Couple.objects.filter(pk=couple.pk).update(discharged_on=timezone.localdate())


def test_unknown_status_refused():
    couple = CoupleFactory()
    with pytest.raises(ValidationError) as excinfo:
        services.couple_set_status(user=couple.primary_clinician.user, couple=couple, status="archived")
    assert "status" in excinfo.value.error_dict
    couple.refresh_from_db()
    assert couple.status == Couple.Status.ACTIVE


def test_colleague_cannot_change_a_couples_status():
    couple = CoupleFactory()
    colleague = ClinicianFactory(practice=couple.practice)
    with pytest.raises(ValidationError):
        services.couple_set_status(user=colleague.user, couple=couple, status=Couple.Status.PAUSED)
    couple.refresh_from_db()
    assert couple.status == Couple.Status.ACTIVE
