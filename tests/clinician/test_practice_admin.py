"""Practice administration services: inviting a clinician, changing a role or supervisor,
deactivating, and the practice's settings.

Rules under test: only the practice's admin (or the operator) may; an invitation is allauth's
single-use, expiring set-password link for a new account whose email is verified, and an email
that already has an account is refused with nothing written or sent; a clinician who still
treats couples cannot be deactivated (nor can an admin deactivate themselves); deactivating
revokes the OAuth2 tokens the clinician's user owns at once and signs out their sessions on
their next request; every change is audited by field name.
"""

import datetime
import re
import secrets

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken, get_application_model

from clinician import services
from clinician.models import AuditEvent, Clinician, Practice
from tests.factories import ClinicianFactory, CoupleFactory, PracticeFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-Password-for-tests-7"


@pytest.fixture
def practice() -> Practice:
    return PracticeFactory(name="Harbour Couples Clinic")


@pytest.fixture
def admin(practice) -> Clinician:
    return ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name="Dana Admin")


def actions_on(target) -> list[tuple[str, list[str]]]:
    return list(
        AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
        .order_by("pk")
        .values_list("action", "changes")
    )


def invite(admin, email="new.colleague@example.test", **kwargs) -> Clinician:
    return services.clinician_invite(
        actor=admin.user, practice=admin.practice, email=email, display_name="Sam Colleague", **kwargs
    )


def invitation_link(message) -> str:
    return re.search(r"http://\S+/accounts/password/reset/key/\S+/", message.body).group(0)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


# INVITATIONS
# ------------------------------------------------------------------------------
def test_an_invitation_makes_an_account_without_a_password_and_mails_a_set_password_link(
    admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        clinician = invite(admin)
    assert clinician.practice == admin.practice and clinician.role == Clinician.Role.CLINICIAN
    user = clinician.user
    assert not user.has_usable_password() and user.email == "new.colleague@example.test"
    assert EmailAddress.objects.get(user=user).verified
    assert services.clinician_invitation_pending(clinician)
    [message] = mail.outbox
    assert message.to == ["new.colleague@example.test"]
    assert "Harbour Couples Clinic" in message.subject
    assert "Dana Admin" in message.body and "two-factor" in message.body
    assert [action for action, _ in actions_on(clinician)] == ["clinician.create", "clinician.invite"]


def test_the_invitee_sets_a_password_once_then_the_link_is_spent(admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        clinician = invite(admin)
    link = path_of(invitation_link(mail.outbox[0]))
    browser = Client()
    response = browser.get(link)
    assert response.status_code == 302  # allauth keeps the key in the session
    form_url = response["Location"]
    response = browser.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    clinician.user.refresh_from_db()
    assert clinician.user.check_password(NEW_PASSWORD)
    assert not services.clinician_invitation_pending(clinician)

    # Reused: the same link, in a fresh browser, is refused and changes nothing.
    again = Client().get(link, follow=True)
    assert again.context["token_fail"]
    clinician.user.refresh_from_db()
    assert clinician.user.check_password(NEW_PASSWORD)


def test_an_expired_invitation_is_refused(admin, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        clinician = invite(admin)
    link = path_of(invitation_link(mail.outbox[0]))
    later = timezone.now() + datetime.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    with time_machine.travel(later, tick=False):
        response = Client().get(link, follow=True)
    assert response.context["token_fail"]
    clinician.user.refresh_from_db()
    assert not clinician.user.has_usable_password()


def test_resending_a_pending_invitation_mails_a_fresh_link(admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        clinician = invite(admin)
        services.clinician_invite_resend(actor=admin.user, clinician=clinician)
    assert len(mail.outbox) == 2
    clinician.user.set_password(NEW_PASSWORD)
    clinician.user.save()
    with pytest.raises(ValidationError, match="already set a password"):
        services.clinician_invite_resend(actor=admin.user, clinician=clinician)


@pytest.mark.parametrize("email", ["taken@example.test", "TAKEN@example.test"])
def test_inviting_an_email_that_has_an_account_is_refused_and_nothing_is_written(
    admin, email, django_capture_on_commit_callbacks
):
    UserFactory(username="someone", email="taken@example.test")
    clinicians = Clinician.objects.count()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as refused:
        invite(admin, email=email)
    assert refused.value.message_dict == {"email": ["Someone already has an account with this email."]}
    assert Clinician.objects.count() == clinicians and mail.outbox == []


def test_an_invalid_email_or_a_bad_supervisor_leaves_no_account(admin, django_capture_on_commit_callbacks):
    users = type(admin.user).objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ValidationError) as bad_email:
            invite(admin, email="not an email")
        with pytest.raises(ValidationError) as no_supervisor:
            invite(admin, is_prelicensed=True)
    assert "email" in bad_email.value.message_dict
    assert "supervisor" in no_supervisor.value.message_dict
    assert type(admin.user).objects.count() == users and mail.outbox == []


@pytest.mark.parametrize("who", ["clinician", "supervisor", "other_practice_admin"])
def test_only_the_practice_admin_invites(practice, who):
    actor = {
        "clinician": ClinicianFactory(practice=practice),
        "supervisor": ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR),
        "other_practice_admin": ClinicianFactory(role=Clinician.Role.PRACTICE_ADMIN),
    }[who]
    with pytest.raises(ValidationError, match="Only this practice's admin"):
        services.clinician_invite(
            actor=actor.user, practice=practice, email="x@example.test", display_name="X"
        )
    assert not type(actor.user).objects.filter(email="x@example.test").exists()


# ROLE AND SUPERVISOR
# ------------------------------------------------------------------------------
def test_the_admin_changes_a_role_and_supervisor_together(practice, admin):
    clinician = ClinicianFactory(practice=practice)
    supervisor = ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR)
    services.clinician_role_change(
        actor=admin.user, clinician=clinician, role=Clinician.Role.CLINICIAN, supervisor=supervisor
    )
    other = ClinicianFactory(practice=practice)
    services.clinician_role_change(
        actor=admin.user, clinician=other, role=Clinician.Role.PRACTICE_ADMIN, supervisor=None
    )
    assert Clinician.objects.get(pk=clinician.pk).supervisor == supervisor
    assert Clinician.objects.get(pk=other.pk).role == Clinician.Role.PRACTICE_ADMIN
    # A supervisor whose supervisee still needs them keeps the role (the services' rule).
    with pytest.raises(ValidationError, match="supervises active clinicians"):
        services.clinician_role_change(
            actor=admin.user, clinician=supervisor, role=Clinician.Role.CLINICIAN, supervisor=None
        )
    assert actions_on(clinician) == [("clinician.update", ["supervisor"])]


@pytest.mark.parametrize("who", ["clinician", "supervisor"])
def test_a_role_change_by_anyone_but_the_admin_is_refused(practice, who):
    actor = ClinicianFactory(practice=practice, role=who)
    clinician = ClinicianFactory(practice=practice)
    with pytest.raises(ValidationError, match="Only this practice's admin"):
        services.clinician_role_change(
            actor=actor.user, clinician=clinician, role=Clinician.Role.PRACTICE_ADMIN, supervisor=None
        )
    assert Clinician.objects.get(pk=clinician.pk).role == Clinician.Role.CLINICIAN
    assert actions_on(clinician) == []


# DEACTIVATION
# ------------------------------------------------------------------------------
def user_token(user) -> tuple[AccessToken, RefreshToken]:
    Application = get_application_model()
    application = Application.objects.create(
        name="desktop app",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://example.test/cb",
    )
    access = AccessToken.objects.create(
        user=user,
        application=application,
        token=secrets.token_urlsafe(30),
        scope="read",
        expires=timezone.now() + datetime.timedelta(hours=1),
    )
    refresh = RefreshToken.objects.create(
        user=user, application=application, token=secrets.token_urlsafe(30), access_token=access
    )
    return access, refresh


def test_deactivating_revokes_the_clinicians_tokens_at_once_and_no_one_elses(practice, admin):
    clinician = ClinicianFactory(practice=practice)
    access, refresh = user_token(clinician.user)
    colleague_access, _ = user_token(admin.user)
    services.clinician_deactivate(actor=admin.user, clinician=clinician)
    assert not Clinician.objects.get(pk=clinician.pk).is_active
    assert not AccessToken.objects.filter(pk=access.pk).exists()
    assert RefreshToken.objects.get(pk=refresh.pk).revoked is not None
    assert AccessToken.objects.filter(pk=colleague_access.pk).exists()
    assert actions_on(clinician) == [
        ("clinician.deactivate", ["is_active"]),
        ("clinician.tokens_revoke", []),
    ]


def test_a_deactivated_clinicians_next_request_is_signed_out_and_they_cannot_sign_in_again(practice, admin):
    clinician = ClinicianFactory(practice=practice)
    browser = Client()
    browser.force_login(clinician.user)
    assert browser.get("/clinic/").status_code == 200
    services.clinician_deactivate(actor=admin.user, clinician=clinician)
    response = browser.get("/clinic/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in browser.session
    # Nor back in with their password.
    response = Client().post(
        "/accounts/login/", {"login": clinician.user.username, "password": "pw-for-tests-only"}
    )
    assert response.status_code == 200 and "_auth_user_id" not in response.wsgi_request.session


@pytest.mark.parametrize("status", ["active", "paused"])
def test_a_clinician_with_couples_in_care_cannot_be_deactivated(practice, admin, status):
    clinician = ClinicianFactory(practice=practice)
    CoupleFactory(primary_clinician=clinician, status=status)
    access, _ = user_token(clinician.user)
    with pytest.raises(ValidationError) as refused:
        services.clinician_deactivate(actor=admin.user, clinician=clinician)
    [message] = refused.value.message_dict["is_active"]
    assert "still treats 1 couple" in message and "transfer them" in message
    assert Clinician.objects.get(pk=clinician.pk).is_active
    assert AccessToken.objects.filter(pk=access.pk).exists() and actions_on(clinician) == []


def test_discharged_couples_do_not_hold_a_clinician(practice, admin):
    clinician = ClinicianFactory(practice=practice)
    CoupleFactory(primary_clinician=clinician, status="discharged", discharged_on=timezone.localdate())
    services.clinician_deactivate(actor=admin.user, clinician=clinician)
    assert not Clinician.objects.get(pk=clinician.pk).is_active


def test_the_admin_cannot_deactivate_themselves_nor_a_clinician_deactivate_anyone(practice, admin):
    with pytest.raises(ValidationError, match="cannot deactivate yourself"):
        services.clinician_deactivate(actor=admin.user, clinician=admin)
    colleague = ClinicianFactory(practice=practice)
    with pytest.raises(ValidationError, match="Only this practice's admin"):
        services.clinician_deactivate(actor=ClinicianFactory(practice=practice).user, clinician=colleague)
    assert Clinician.objects.filter(pk__in=[admin.pk, colleague.pk], is_active=True).count() == 2


def test_the_django_admins_active_box_goes_through_the_same_rules(practice):
    operator = UserFactory(is_staff=True, is_superuser=True)
    clinician = ClinicianFactory(practice=practice)
    CoupleFactory(primary_clinician=clinician)
    with pytest.raises(ValidationError, match="still treats"):
        services.clinician_update(actor=operator, clinician=clinician, is_active=False)
    free = ClinicianFactory(practice=practice)
    access, _ = user_token(free.user)
    services.clinician_update(actor=operator, clinician=free, is_active=False)
    assert not AccessToken.objects.filter(pk=access.pk).exists()


# PRACTICE SETTINGS
# ------------------------------------------------------------------------------
def test_the_admin_changes_the_practice_settings(practice, admin):
    services.practice_update(
        actor=admin.user,
        practice=practice,
        name="Harbour Clinic",
        time_zone="Europe/Madrid",
        crisis_resources=[{"name": "112", "contact": "Call 112"}],
        reminder_time=datetime.time(20, 30),
        quiet_hours_start=datetime.time(22, 0),
        quiet_hours_end=datetime.time(7, 0),
        sender_name="Harbour",
    )
    practice.refresh_from_db()
    assert practice.time_zone == "Europe/Madrid" and practice.message_sender_name == "Harbour"
    [(action, changes)] = actions_on(practice)
    assert action == "practice.update" and "crisis_resources" in changes and "sender_name" in changes


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"quiet_hours_start": datetime.time(22, 0)}, "quiet_hours_end"),
        ({"crisis_resources": [{"name": "988"}]}, "crisis_resources"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_practice_settings_are_refused_and_nothing_is_saved(practice, admin, changes, field):
    with pytest.raises(ValidationError) as refused:
        services.practice_update(actor=admin.user, practice=practice, **changes)
    assert field in refused.value.message_dict
    assert Practice.objects.get(pk=practice.pk).time_zone == "America/Chicago"
    assert actions_on(practice) == []


def test_only_the_practice_admin_changes_the_practice(practice):
    with pytest.raises(ValidationError, match="Only this practice's admin"):
        services.practice_update(
            actor=ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR).user,
            practice=practice,
            name="Mine now",
        )
    assert Practice.objects.get(pk=practice.pk).name == "Harbour Couples Clinic"
