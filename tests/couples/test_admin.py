"""Couples, partners, sessions, homework and reminder deliveries in the Django admin.

Rules under test: the admin is for data management by the operator and the practice admin —
search and filters on each list; PHI is read-only; every PHI row a list or detail page shows
is appended to the audit trail (``admin.view``, by id); a practice admin sees their own
practice's rows through the selectors their pages use, never another practice's, and never
clinical content (notes, check-ins); actions call the services, which check who may act, one
row at a time, so a refused row changes nothing and says why.
"""

import pytest
from django.test import Client
from django.urls import reverse

from clinician.models import AuditEvent, Clinician
from couples.models import Couple, TherapySession
from tests.factories import (
    AssignmentFactory,
    ClinicianFactory,
    PracticeFactory,
    UserFactory,
    couple_with_partners,
    held_session,
)

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def practice():
    return PracticeFactory()


@pytest.fixture
def practice_admin(practice) -> Clinician:
    return ClinicianFactory(
        practice=practice, role=Clinician.Role.PRACTICE_ADMIN, user=UserFactory(is_staff=True)
    )


@pytest.fixture
def ours(practice):
    return couple_with_partners(ClinicianFactory(practice=practice), label="Rivera & Chen")


@pytest.fixture
def theirs():
    return couple_with_partners(label="Elsewhere & Other")


@pytest.fixture
def operator() -> Client:
    return signed_in(UserFactory(is_staff=True, is_superuser=True))


def changelist(model: str) -> str:
    return reverse(f"admin:{model.replace('.', '_')}_changelist")


def test_a_practice_admin_sees_their_practices_couples_and_no_other(practice_admin, ours, theirs):
    client = signed_in(practice_admin.user)
    page = client.get(changelist("couples.couple"))
    assert page.status_code == 200
    assert "Rivera &amp; Chen" in page.text and "Elsewhere" not in page.text
    other = client.get(reverse("admin:couples_couple_change", args=[theirs[0].pk]))
    assert other.status_code == 302 and "Elsewhere" not in client.get(other.url).text
    for model in (
        "couples.partner",
        "couples.therapysession",
        "cyclecare.assignment",
        "cyclecare.reminderdelivery",
    ):
        assert client.get(changelist(model)).status_code == 200, model


def test_a_practice_admin_never_reaches_clinical_content(practice_admin, ours):
    client = signed_in(practice_admin.user)
    for model in (
        "couples.sessionnote",
        "couples.notecosignature",
        "cyclecare.checkin",
        "cyclecare.cycleepisode",
    ):
        assert client.get(changelist(model)).status_code == 403, model
    assert "Session notes" not in client.get(reverse("admin:index")).text


def test_a_clinician_who_is_not_a_practice_admin_sees_no_phi_here(ours):
    clinician = ours[0].primary_clinician
    clinician.user.is_staff = True
    clinician.user.save()
    assert signed_in(clinician.user).get(changelist("couples.couple")).status_code == 403


def test_search_and_filters_narrow_the_lists(operator, ours, theirs):
    found = operator.get(changelist("couples.couple"), {"q": "Rivera"})
    assert "Rivera &amp; Chen" in found.text and "Elsewhere" not in found.text
    by_partner = operator.get(changelist("couples.partner"), {"q": ours[1].display_name})
    assert ours[1].display_name in by_partner.text and theirs[1].display_name not in by_partner.text
    Couple.objects.filter(pk=theirs[0].pk).update(status=Couple.Status.PAUSED)
    paused = operator.get(changelist("couples.couple"), {"status__exact": "paused"})
    assert "Elsewhere" in paused.text and "Rivera" not in paused.text
    held_session(ours[0])
    sessions = operator.get(changelist("couples.therapysession"), {"q": "Rivera", "status__exact": "held"})
    assert sessions.status_code == 200 and "Rivera &amp; Chen" in sessions.text
    AssignmentFactory(couple=ours[0])
    assert operator.get(changelist("cyclecare.assignment"), {"q": "Rivera"}).status_code == 200
    assert (
        operator.get(changelist("cyclecare.reminderdelivery"), {"status__exact": "sent"}).status_code == 200
    )


def test_every_phi_row_shown_is_audited(practice_admin, ours, theirs):
    client = signed_in(practice_admin.user)
    client.get(changelist("couples.couple"))
    listed = AuditEvent.objects.filter(action="admin.view", actor_id=str(practice_admin.user.pk))
    assert {(e.target_type, e.target_id) for e in listed} == {("couples.couple", str(ours[0].pk))}
    client.get(reverse("admin:couples_partner_change", args=[ours[1].pk]))
    assert AuditEvent.objects.filter(
        action="admin.view", target_type="couples.partner", target_id=str(ours[1].pk)
    ).exists()
    # A couple's page shows its partners too: each is a read.
    before = AuditEvent.objects.filter(action="admin.view", target_type="couples.partner").count()
    client.get(reverse("admin:couples_couple_change", args=[ours[0].pk]))
    assert AuditEvent.objects.filter(action="admin.view", target_type="couples.partner").count() == before + 2
    session = held_session(ours[0])
    client.get(reverse("admin:couples_therapysession_change", args=[session.pk]))
    # A moved model keeps its name in the trail (DECISIONS 48).
    assert AuditEvent.objects.filter(
        action="admin.view", target_type="clinician.therapysession", target_id=str(session.pk)
    ).exists()


def test_phi_is_read_only(operator, ours):
    page = operator.get(reverse("admin:couples_couple_change", args=[ours[0].pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.text
    before = Couple.objects.get(pk=ours[0].pk).label
    operator.post(reverse("admin:couples_couple_change", args=[ours[0].pk]), {"label": "Renamed"})
    assert Couple.objects.get(pk=ours[0].pk).label == before
    assert operator.get(reverse("admin:couples_couple_add")).status_code == 403


def test_an_action_calls_the_service(practice_admin, ours, theirs):
    client = signed_in(practice_admin.user)
    response = client.post(
        changelist("couples.couple"),
        {"action": "pause", "_selected_action": [ours[0].pk, theirs[0].pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert Couple.objects.get(pk=ours[0].pk).status == Couple.Status.PAUSED
    # Another practice's couple is not even selectable: the admin's queryset leaves it out.
    assert Couple.objects.get(pk=theirs[0].pk).status == Couple.Status.ACTIVE
    assert AuditEvent.objects.filter(action="couple.paused", target_id=str(ours[0].pk)).exists()
    assert "1 paused." in response.text


def test_a_refused_action_changes_nothing_and_says_why(operator, ours):
    """The operator runs the system but is no clinic member: the service refuses them."""
    response = operator.post(
        changelist("couples.couple"), {"action": "discharge", "_selected_action": [ours[0].pk]}, follow=True
    )
    assert Couple.objects.get(pk=ours[0].pk).status == Couple.Status.ACTIVE
    assert "Only an active clinician can do this." in response.text
    assert not AuditEvent.objects.filter(action="couple.discharged").exists()


def test_deactivating_a_partner_goes_through_the_service(practice_admin, ours):
    client = signed_in(practice_admin.user)
    client.post(changelist("couples.partner"), {"action": "deactivate", "_selected_action": [ours[2].pk]})
    ours[2].refresh_from_db()
    assert ours[2].is_active is False
    assert (
        AuditEvent.objects.filter(target_type="couples.partner", target_id=str(ours[2].pk))
        .exclude(action="admin.view")
        .exists()
    )
    assert TherapySession.objects.count() == 0
