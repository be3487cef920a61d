"""Clinicians in the Django admin: written through the services, checked by their rules.

Rules under test: the operator's admin creates a clinician with ``clinician_create`` and
changes one with ``clinician_update``, so the audit trail has the services' events (field
names, never values); a supervisor from another practice, without the supervisor role, the
clinician themselves or an inactive one is refused on the form, as is demoting or deactivating
a clinician who still supervises others, and nothing is written; a clinician's user and
practice are fixed once created; a practice admin reads their own practice's clinicians here
and writes nothing. The services answer the same to their other callers.
"""

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from clinician import services
from clinician.models import AuditEvent, Clinician
from clinician.principals import PracticePrincipal
from tests.factories import ClinicianFactory, PracticeFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:clinician_clinician_add")


def change_url(clinician: Clinician) -> str:
    return reverse("admin:clinician_clinician_change", args=[clinician.pk])


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def practice():
    return PracticeFactory()


@pytest.fixture
def supervisor(practice):
    return ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR)


def add_form(practice, **overrides: object) -> dict:
    return {
        "user": UserFactory().pk,
        "practice": practice.pk,
        "role": Clinician.Role.CLINICIAN,
        "display_name": "  Robin Okafor ",
        "credentials": "AMFT",
        "licence_number": "",
        "licence_jurisdiction": "",
        "supervisor": "",
        **overrides,
    }


def change_form(clinician: Clinician, **overrides: object) -> dict:
    fields = {
        "role": clinician.role,
        "display_name": clinician.display_name,
        "credentials": clinician.credentials,
        "licence_number": clinician.licence_number,
        "licence_jurisdiction": clinician.licence_jurisdiction,
        "supervisor": clinician.supervisor_id or "",
        "is_prelicensed": clinician.is_prelicensed,
        "is_active": clinician.is_active,
        **overrides,
    }
    # An unticked checkbox is not sent at all.
    return {name: value for name, value in fields.items() if value is not False}


def events_for(clinician: Clinician) -> list[tuple]:
    return list(
        AuditEvent.objects.filter(target_type="clinician.clinician", target_id=str(clinician.pk))
        .order_by("id")
        .values_list("actor_kind", "action", "changes")
    )


def state(clinician: Clinician) -> dict:
    return Clinician.objects.filter(pk=clinician.pk).values().get()


# CREATE
# ------------------------------------------------------------------------------
def test_the_operator_creates_a_clinician_with_the_services_audit_event(operator, practice, supervisor):
    response = operator.post(
        ADD, add_form(practice, is_prelicensed="on", supervisor=supervisor.pk, display_name="  Robin Okafor ")
    )
    created = Clinician.objects.get(display_name="Robin Okafor")
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:clinician_clinician_changelist"
    )
    assert created.practice == practice and created.supervisor == supervisor and created.is_prelicensed
    assert created.is_active
    # The same event the service writes for any other caller.
    by_service = services.clinician_create(
        practice=practice, user=UserFactory(), display_name="Sam Lee", actor=UserFactory(is_superuser=True)
    )
    assert events_for(created) == events_for(by_service) == [("user", "clinician.create", [])]


@pytest.mark.parametrize("which", ["other_practice", "not_a_supervisor", "inactive", "none_for_prelicensed"])
def test_an_invalid_supervisor_is_refused_on_the_add_form_and_nothing_is_written(
    operator, practice, supervisor, which
):
    chosen = {
        "other_practice": lambda: ClinicianFactory(role=Clinician.Role.SUPERVISOR),
        "not_a_supervisor": lambda: ClinicianFactory(practice=practice),
        "inactive": lambda: ClinicianFactory(
            practice=practice, role=Clinician.Role.SUPERVISOR, is_active=False
        ),
        "none_for_prelicensed": lambda: None,
    }[which]()
    events = AuditEvent.objects.count()
    clinicians = Clinician.objects.count()
    response = operator.post(
        ADD, add_form(practice, is_prelicensed="on", supervisor=chosen.pk if chosen else "")
    )
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["supervisor"]
    assert Clinician.objects.count() == clinicians and AuditEvent.objects.count() == events


def test_a_user_is_a_clinician_once(operator, practice, supervisor):
    response = operator.post(ADD, add_form(practice, user=supervisor.user_id))
    assert response.status_code == 200 and "user" in response.context["adminform"].form.errors
    assert Clinician.objects.filter(user=supervisor.user).count() == 1


# CHANGE
# ------------------------------------------------------------------------------
def test_a_change_goes_through_the_service_with_field_names_in_the_audit(operator, practice, supervisor):
    clinician = ClinicianFactory(practice=practice)
    response = operator.post(
        change_url(clinician),
        change_form(
            clinician,
            is_prelicensed="on",
            supervisor=supervisor.pk,
            licence_number="LMFT-0042",
            display_name=" Robin Okafor ",
        ),
    )
    assert response.status_code == 302
    clinician.refresh_from_db()
    assert clinician.is_prelicensed and clinician.supervisor == supervisor
    assert clinician.licence_number == "LMFT-0042" and clinician.display_name == "Robin Okafor"
    [event] = events_for(clinician)
    assert event == (
        "user",
        "clinician.update",
        ["display_name", "is_prelicensed", "licence_number", "supervisor"],
    )
    # Saving the form unchanged writes nothing.
    assert operator.post(change_url(clinician), change_form(clinician)).status_code == 302
    assert len(events_for(clinician)) == 1


def test_the_operator_deactivates_a_clinician_and_changes_a_role(operator, practice):
    clinician = ClinicianFactory(practice=practice)
    assert operator.post(change_url(clinician), change_form(clinician, is_active=False)).status_code == 302
    other = ClinicianFactory(practice=practice)
    role = Clinician.Role.SUPERVISOR
    assert operator.post(change_url(other), change_form(other, role=role)).status_code == 302
    assert not Clinician.objects.get(pk=clinician.pk).is_active
    assert Clinician.objects.get(pk=other.pk).role == role
    assert events_for(clinician) == [("user", "clinician.update", ["is_active"])]
    assert events_for(other) == [("user", "clinician.update", ["role"])]


@pytest.mark.parametrize("which", ["self", "other_practice", "not_a_supervisor"])
def test_an_invalid_supervisor_is_refused_on_the_change_form(operator, practice, supervisor, which):
    clinician = ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR)
    chosen = {
        "self": clinician,
        "other_practice": ClinicianFactory(role=Clinician.Role.SUPERVISOR),
        "not_a_supervisor": ClinicianFactory(practice=practice),
    }[which]
    before = state(clinician)
    response = operator.post(change_url(clinician), change_form(clinician, supervisor=chosen.pk))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["supervisor"]
    assert state(clinician) == before and events_for(clinician) == []


@pytest.mark.parametrize(
    ("change", "field"), [({"role": Clinician.Role.CLINICIAN}, "role"), ({"is_active": False}, "is_active")]
)
def test_a_supervisor_of_active_clinicians_stays_one_until_they_have_another(
    operator, practice, supervisor, change, field
):
    supervisee = ClinicianFactory(practice=practice, is_prelicensed=True, supervisor=supervisor)
    before = state(supervisor)
    response = operator.post(change_url(supervisor), change_form(supervisor, **change))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [
        "This clinician supervises active clinicians; give them another supervisor first."
    ]
    assert state(supervisor) == before and events_for(supervisor) == []
    # With another supervisor for their supervisee, the change goes through.
    services.clinician_set_supervisor(
        actor=UserFactory(is_superuser=True),
        clinician=supervisee,
        supervisor=ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR),
    )
    assert operator.post(change_url(supervisor), change_form(supervisor, **change)).status_code == 302
    assert events_for(supervisor) == [("user", "clinician.update", [field])]


def test_a_clinicians_user_and_practice_are_fixed(operator, practice):
    clinician = ClinicianFactory(practice=practice)
    page = operator.get(change_url(clinician)).content.decode()
    assert 'name="practice"' not in page and 'name="user"' not in page
    elsewhere = PracticeFactory()
    response = operator.post(
        change_url(clinician), {**change_form(clinician), "practice": elsewhere.pk, "user": UserFactory().pk}
    )
    assert response.status_code == 302
    assert state(clinician)["practice_id"] == practice.pk and state(clinician)["user_id"] == clinician.user_id
    assert 'name="is_active"' not in operator.get(ADD).content.decode()


# A PRACTICE ADMIN
# ------------------------------------------------------------------------------
def test_a_practice_admin_reads_their_own_clinicians_and_writes_none(practice):
    admin = ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN)
    admin.user.is_staff = True
    admin.user.save(update_fields=["is_staff"])
    # Django's permissions to add and change too: the admin still leaves writes to the operator.
    admin.user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="clinician",
            codename__in=["view_clinician", "add_clinician", "change_clinician"],
        )
    )
    colleague = ClinicianFactory(practice=practice)
    stranger = ClinicianFactory()
    client = Client()
    client.force_login(admin.user)
    listed = client.get(reverse("admin:clinician_clinician_changelist"))
    assert listed.status_code == 200
    assert colleague.display_name in listed.content.decode()
    assert stranger.display_name not in listed.content.decode()
    events = AuditEvent.objects.count()
    before = state(colleague)
    assert client.post(ADD, add_form(practice)).status_code == 403
    assert (
        client.post(change_url(colleague), change_form(colleague, display_name="Renamed")).status_code == 403
    )
    assert state(colleague) == before and AuditEvent.objects.count() == events


# THE SERVICES, FOR THEIR OTHER CALLERS
# ------------------------------------------------------------------------------
def test_the_practice_admin_changes_their_own_practices_clinicians_through_the_service(practice, supervisor):
    admin = ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN)
    clinician = ClinicianFactory(practice=practice)
    changed = services.clinician_update(
        actor=admin.user, clinician=clinician, is_prelicensed=True, supervisor=supervisor
    )
    assert changed.is_prelicensed and changed.supervisor == supervisor
    assert events_for(clinician) == [("user", "clinician.update", ["is_prelicensed", "supervisor"])]


@pytest.mark.parametrize("who", ["other_practice_admin", "clinician", "supervisor", "integration", "staff"])
def test_only_the_operator_or_the_practices_admin_changes_a_clinician(practice, supervisor, who):
    clinician = ClinicianFactory(practice=practice)
    actor = {
        "other_practice_admin": lambda: ClinicianFactory(role=Clinician.Role.PRACTICE_ADMIN).user,
        "clinician": lambda: clinician.user,
        "supervisor": lambda: supervisor.user,
        "integration": lambda: PracticePrincipal(practice_id=practice.pk, client_id=1),
        "staff": lambda: UserFactory(is_staff=True),
    }[who]()
    before = state(clinician)
    for write in (
        lambda: services.clinician_update(actor=actor, clinician=clinician, display_name="Renamed"),
        lambda: services.clinician_set_supervisor(actor=actor, clinician=clinician, supervisor=supervisor),
        lambda: services.clinician_create(
            actor=actor, practice=practice, user=UserFactory(), display_name="New colleague"
        ),
    ):
        with pytest.raises(ValidationError) as excinfo:
            write()
        assert excinfo.value.code == "forbidden"
    assert state(clinician) == before and events_for(clinician) == []
    assert not Clinician.objects.filter(display_name="New colleague").exists()


def test_a_clinicians_user_and_practice_cannot_be_changed_through_the_service(practice):
    clinician = ClinicianFactory(practice=practice)
    with pytest.raises(ValidationError) as excinfo:
        services.clinician_update(
            actor=UserFactory(is_superuser=True), clinician=clinician, practice=PracticeFactory()
        )
    assert set(excinfo.value.error_dict) == {"practice"}
    assert state(clinician)["practice_id"] == practice.pk
