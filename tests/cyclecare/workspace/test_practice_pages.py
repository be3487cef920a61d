"""The practice admin's pages (/clinic/practice/…): who may open them, what the overview counts
(and that it names no couple or partner), where sign-in lands, the navigation each role sees,
and that each form shows a service's refusal with nothing saved."""

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from clinician.models import AuditEvent, Clinician, Practice
from cyclecare import services as cycle
from cyclecare.models import SafetyFlag
from cyclecare.reports.rollups import refresh_rollups
from tests.factories import (
    AssignmentFactory,
    ClinicianFactory,
    OccurrenceFactory,
    PracticeFactory,
    couple_with_partners,
)

pytestmark = pytest.mark.django_db

PRACTICE = reverse("cyclecare:clinician:practice")
INVITE = reverse("cyclecare:clinician:practice_invite")
SETTINGS = reverse("cyclecare:clinician:practice_settings")
LOGIN = reverse("account_login")
PASSWORD = "pw-for-tests-only"


def edit_url(clinician) -> str:
    return reverse("cyclecare:clinician:practice_clinician", args=[clinician.pk])


def deactivate_url(clinician) -> str:
    return reverse("cyclecare:clinician:practice_clinician_deactivate", args=[clinician.pk])


@pytest.fixture
def practice() -> Practice:
    return PracticeFactory(name="Harbour Couples Clinic", time_zone="America/Chicago")


@pytest.fixture
def admin(practice) -> Clinician:
    return ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name="Dana Admin")


@pytest.fixture
def signed_in(client, admin):
    client.force_login(admin.user)
    return client


def test_a_practice_admin_lands_on_the_practice_and_a_clinician_on_the_caseload(client, admin, practice):
    response = client.post(LOGIN, {"login": admin.user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == PRACTICE
    other = ClinicianFactory(practice=practice)
    client.logout()
    response = client.post(LOGIN, {"login": other.user.username, "password": PASSWORD})
    assert response["Location"] == reverse("cyclecare:clinician:caseload")


def test_the_overview_counts_and_names_no_couple_or_partner(signed_in, admin, practice):
    treating = ClinicianFactory(practice=practice, display_name="Robin Okafor")
    couple, a, _ = couple_with_partners(treating, label="Rivera & Chen")
    couple_with_partners(treating, label="Paused pair", status="paused")
    cycle.safety_flag_raise(partner=a, source=SafetyFlag.Source.CLINICIAN)
    now = timezone.now()
    assignment = AssignmentFactory(couple=couple, partners=[a])
    for minutes, status in ((5, "completed"), (6, "completed"), (7, "missed")):
        due_at = now - datetime.timedelta(minutes=minutes)
        OccurrenceFactory(assignment=assignment, partner=a, status=status, due_at=due_at)
    couple_with_partners(ClinicianFactory(), label="Other practice")  # not counted
    refresh_rollups()  # what the beat does every minute: adherence reads the rollups

    response = signed_in.get(PRACTICE)
    assert response.status_code == 200
    overview = response.context["overview"]
    assert overview["clinicians"] == 2 and overview["active_couples"] == 1 and overview["paused_couples"] == 1
    assert overview["open_safety_flags"] == 1
    assert overview["adherence"]["due"] == 3 and overview["adherence"]["adherence_pct"] == 66.7
    body = response.content.decode()
    assert "Rivera" not in body and "Paused pair" not in body and a.display_name not in body
    [row] = [member for member in response.context["roster"] if member.pk == treating.pk]
    assert row.caseload == 2 and row.licence_status == "Not recorded"
    assert "Robin Okafor" in body and "Invite a clinician" in body


@pytest.mark.parametrize("role", ["clinician", "supervisor"])
def test_clinicians_do_not_see_the_practice_pages_or_their_link(client, practice, admin, role):
    member = ClinicianFactory(practice=practice, role=role)
    client.force_login(member.user)
    for url in (PRACTICE, INVITE, SETTINGS, edit_url(admin), deactivate_url(admin)):
        assert client.get(url).status_code == 404
    assert client.post(deactivate_url(admin), {"confirm": "on"}).status_code == 404
    assert Clinician.objects.get(pk=admin.pk).is_active
    caseload = client.get(reverse("cyclecare:clinician:caseload")).content.decode()
    assert PRACTICE not in caseload


def test_the_admin_sees_the_practice_link_and_still_reaches_their_caseload(signed_in):
    body = signed_in.get(PRACTICE).content.decode()
    assert f'href="{PRACTICE}"' in body and f'href="{reverse("cyclecare:clinician:caseload")}"' in body


def test_another_practices_clinician_is_a_404(signed_in):
    stranger = ClinicianFactory()
    assert signed_in.get(edit_url(stranger)).status_code == 404
    assert signed_in.post(deactivate_url(stranger), {"confirm": "on"}).status_code == 404
    assert Clinician.objects.get(pk=stranger.pk).is_active


def test_a_practice_admin_who_does_not_treat_a_couple_gets_404_on_its_clinical_pages(signed_in, practice):
    couple, _, _ = couple_with_partners(ClinicianFactory(practice=practice))
    for name in ("couple", "cycle_map", "episode_new", "homework", "separation"):
        url = reverse(f"cyclecare:clinician:{name}", kwargs={"couple_id": couple.pk})
        assert signed_in.get(url).status_code == 404, name


def test_inviting_from_the_page_sends_the_email(signed_in, admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            INVITE, {"email": "new@example.test", "display_name": "New Colleague", "role": "clinician"}
        )
    assert response.status_code == 302 and response["Location"] == PRACTICE
    assert Clinician.objects.get(user__email="new@example.test").practice == admin.practice
    [message] = mail.outbox
    assert "/accounts/password/reset/key/" in message.body


def test_inviting_an_existing_email_shows_why_on_the_form(signed_in, admin):
    response = signed_in.post(
        INVITE, {"email": admin.user.email, "display_name": "Again", "role": "clinician"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["email"] == ["Someone already has an account with this email."]
    assert Clinician.objects.filter(display_name="Again").count() == 0 and mail.outbox == []


def test_the_admin_changes_a_role_and_supervisor(signed_in, practice):
    member = ClinicianFactory(practice=practice)
    supervisor = ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR)
    response = signed_in.post(edit_url(member), {"role": "clinician", "supervisor": supervisor.pk})
    assert response.status_code == 302
    assert Clinician.objects.get(pk=member.pk).supervisor == supervisor
    # Demoting the supervisor now would leave their supervisee without one: refused on the form.
    response = signed_in.post(edit_url(supervisor), {"role": "clinician", "supervisor": ""})
    assert response.status_code == 400
    assert "supervises active clinicians" in response.context["form"].errors["role"][0]
    assert Clinician.objects.get(pk=supervisor.pk).role == Clinician.Role.SUPERVISOR


def test_deactivation_is_refused_while_couples_are_in_care_and_the_page_says_so(signed_in, practice):
    member = ClinicianFactory(practice=practice, display_name="Robin Okafor")
    couple_with_partners(member)
    page = signed_in.get(deactivate_url(member))
    assert "still treats 1 couple. Transfer it to another clinician first" in page.content.decode()
    response = signed_in.post(deactivate_url(member), {"confirm": "on"})
    assert response.status_code == 400
    assert "transfer them to another clinician first" in response.content.decode()
    assert Clinician.objects.get(pk=member.pk).is_active


def test_deactivation_needs_the_confirmation_then_signs_the_clinician_out(signed_in, practice, client):
    member = ClinicianFactory(practice=practice)
    assert signed_in.post(deactivate_url(member), {}).status_code == 400
    assert Clinician.objects.get(pk=member.pk).is_active
    response = signed_in.post(deactivate_url(member), {"confirm": "on"})
    assert response.status_code == 302
    assert not Clinician.objects.get(pk=member.pk).is_active
    assert AuditEvent.objects.filter(action="clinician.deactivate", target_id=str(member.pk)).exists()


def test_the_practice_settings_form_saves_and_refuses_bad_input(signed_in, practice):
    form = {
        "name": "Harbour Clinic",
        "time_zone": "Europe/Madrid",
        "sender_name": "Harbour",
        "reminder_time": "20:30",
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "07:00",
        "crisis_resources": "112 | Call 112\n",
    }
    assert signed_in.get(SETTINGS).status_code == 200
    assert signed_in.post(SETTINGS, form).status_code == 302
    practice.refresh_from_db()
    assert practice.crisis_resources == [{"name": "112", "contact": "Call 112"}]
    assert practice.reminder_time == datetime.time(20, 30) and practice.sender_name == "Harbour"

    for bad, field in (
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"quiet_hours_end": ""}, "quiet_hours_end"),
        ({"crisis_resources": "just a name"}, "crisis_resources"),
    ):
        response = signed_in.post(SETTINGS, {**form, "name": "Changed", **bad})
        assert response.status_code == 400 and field in response.context["form"].errors
        assert Practice.objects.get(pk=practice.pk).name == "Harbour Clinic"
