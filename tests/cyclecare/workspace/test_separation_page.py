"""The separation page (/clinic/couples/<id>/separate/): explanation, form, confirm, redirect.

Rules under test: only the couple's clinical scope opens it (others: 404); the page says what
will happen with counts from the couple's rows; the review step changes nothing; the confirmed
POST separates and lands on the new individual case (or the closed couple when nobody
continues); bad input and the service's refusals re-render with a message and change nothing.
"""

import datetime
import re

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import timezone

from clinician.models import AuditEvent, Clinician
from couples import services
from couples.models import Couple, Partner
from cyclecare import services as cycle
from tests.factories import (
    ClinicianFactory,
    TherapySessionFactory,
    couple_with_partners,
    held_session,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db


def url(couple) -> str:
    return reverse("cyclecare:clinician:separation", args=[couple.pk])


def couple_url(couple_id: int) -> str:
    return reverse("cyclecare:clinician:couple", args=[couple_id])


@pytest.fixture
def case():
    clinician = ClinicianFactory(display_name="Dr Okafor")
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", names=("Alex Rivera", "Bo Chen"))
    instrument = shipped_instrument()
    cycle.checkin_submit(
        partner=a,
        instrument=instrument,
        answers={"cycle_showed_up": True, "connection": 5},
        shared_with_partner=True,
    )
    cycle.checkin_submit(
        partner=a, instrument=instrument, answers={"cycle_showed_up": False, "connection": 6}
    )
    held_session(couple, days_ago=3)
    cycle.assignment_create(
        user=clinician.user,
        couple=couple,
        partners=[a, b],
        kind="practice",
        title="Slow it down",
        schedule="daily",
        local_time=datetime.time(9),
        starts_on=timezone.localdate(),
    )
    return couple, a, b, clinician


def form_data(continuing: str = "a", **overrides) -> dict:
    data = {
        "continuing": continuing,
        "separated_on": timezone.localdate().isoformat(),
        "separation_reason": "relationship_ended",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def state(couple) -> tuple:
    return (
        list(Couple.objects.order_by("pk").values_list("pk", "status")),
        list(Partner.objects.order_by("pk").values_list("pk", "couple_id", "is_active")),
        AuditEvent.objects.count(),
    )


# WHO MAY OPEN IT
# ------------------------------------------------------------------------------
def test_signed_out_goes_to_login(client, case):
    couple, *_ = case
    response = client.get(url(couple))
    # Wherever the site's sign-in page is (settings.LOGIN_URL), back here afterwards.
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))
    assert f"next={url(couple)}" in response["Location"]


@pytest.mark.parametrize("who", ["colleague", "admin", "other_practice"])
def test_out_of_clinical_scope_is_not_found_and_changes_nothing(client, case, who):
    couple, _, _, clinician = case
    user = {
        "colleague": lambda: ClinicianFactory(practice=couple.practice).user,
        "admin": lambda: ClinicianFactory(practice=couple.practice, role=Clinician.Role.PRACTICE_ADMIN).user,
        "other_practice": lambda: ClinicianFactory().user,
    }[who]()
    client.force_login(user)
    before = state(couple)
    assert client.get(url(couple)).status_code == 404
    assert client.post(url(couple), form_data(step="confirm")).status_code == 404
    assert state(couple) == before


def test_the_supervisor_may_open_it(client, case):
    couple, _, _, clinician = case
    supervisor = ClinicianFactory(practice=couple.practice, role=Clinician.Role.SUPERVISOR)
    Clinician.objects.filter(pk=clinician.pk).update(supervisor=supervisor)
    client.force_login(supervisor.user)
    assert client.get(url(couple)).status_code == 200


# THE PAGE
# ------------------------------------------------------------------------------
def test_the_page_explains_what_will_happen_with_counts(client, case):
    couple, a, b, clinician = case
    client.force_login(clinician.user)
    response = client.get(url(couple))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Separation: Rivera &amp; Chen" in body
    assert "The couple&#x27;s record closes" in body or "The couple's record closes" in body
    assert "1 joint session" in body
    assert "1 homework assignment still running for the couple ends" in body
    # Per partner: Alex has two check-ins, Bo none.
    rows = re.findall(r'<th scope="row">([^<]+)</th>\s*<td>(\d+)</td>', body)
    assert rows == [("Alex Rivera", "2"), ("Bo Chen", "0")]
    for choice in ("neither", "a", "b", "both"):
        assert f'value="{choice}"' in body
    assert "Only Alex Rivera continues, individually" in body
    assert 'type="date"' in body and "relationship_ended" in body
    assert "separation.css" in body
    assert "style=" not in body and "<script" not in body.split("</main>")[0]


def test_a_couple_with_one_active_partner_offers_only_that_partner(client, case):
    couple, a, b, clinician = case
    services.partner_deactivate(user=clinician.user, partner=b)
    client.force_login(clinician.user)
    body = client.get(url(couple)).content.decode()
    assert 'value="a"' in body and 'value="b"' not in body and 'value="both"' not in body


def test_an_unresolved_flag_is_explained(client, case):
    couple, a, _, clinician = case
    cycle.safety_flag_raise(partner=a, source="clinician")
    client.force_login(clinician.user)
    body = client.get(url(couple)).content.decode()
    assert "Alex Rivera has an unresolved safety flag. It moves with Alex Rivera" in body


# REVIEW, CONFIRM, REDIRECT
# ------------------------------------------------------------------------------
def test_review_shows_the_confirm_step_and_changes_nothing(client, case):
    couple, *_, clinician = case
    client.force_login(clinician.user)
    before = state(couple)
    response = client.post(url(couple), form_data("a"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Confirm the separation of Rivera &amp; Chen" in body
    assert "Alex Rivera continues in an individual case of their own, taking 2 check-ins" in body
    assert "Bo Chen leaves treatment on that date" in body
    assert "The relationship ended" in body
    assert 'type="hidden" name="continuing" value="a"' in body
    assert 'name="step" value="confirm"' in body
    assert state(couple) == before


def test_going_back_keeps_the_answers(client, case):
    couple, *_, clinician = case
    client.force_login(clinician.user)
    response = client.post(url(couple), form_data("b", step="edit"))
    body = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'value="b" id="[^"]+" checked', body)
    assert '<option value="relationship_ended" selected>' in body


def test_confirm_separates_and_lands_on_the_new_individual_case(client, case):
    couple, a, b, clinician = case
    client.force_login(clinician.user)
    response = client.post(url(couple), form_data("a", step="confirm"))
    continuation = Couple.objects.get(continued_from=couple)
    assert response.status_code == 302
    assert response["Location"] == couple_url(continuation.pk)
    assert Couple.objects.get(pk=couple.pk).status == Couple.Status.SEPARATED
    assert Partner.objects.get(pk=a.pk).couple_id == continuation.pk
    assert not Partner.objects.get(pk=b.pk).is_active


def test_both_continuing_lands_on_partner_as_case(client, case):
    couple, a, _, clinician = case
    client.force_login(clinician.user)
    response = client.post(url(couple), form_data("both", step="confirm"))
    assert response.status_code == 302
    assert response["Location"] == couple_url(Partner.objects.get(pk=a.pk).couple_id)
    assert Couple.objects.filter(continued_from=couple).count() == 2


def test_nobody_continuing_lands_on_the_closed_couple(client, case):
    couple, *_, clinician = case
    client.force_login(clinician.user)
    response = client.post(url(couple), form_data("neither", step="confirm"))
    assert response.status_code == 302 and response["Location"] == couple_url(couple.pk)
    assert Couple.objects.get(pk=couple.pk).status == Couple.Status.SEPARATED


# BAD INPUT
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (form_data(separation_reason=None), "This field is required."),
        (form_data(separation_reason="because"), "Select a valid choice."),
        (form_data(continuing="c"), "Select a valid choice."),
        (form_data(separated_on="not a date"), "Enter a valid date."),
        (
            form_data(separated_on=(timezone.localdate() + datetime.timedelta(days=2)).isoformat()),
            "The separation date cannot be in the future.",
        ),
        (form_data(separated_on="2001-01-01"), "before the couple&#x27;s treatment started"),
    ],
)
@pytest.mark.parametrize("step", ["review", "confirm"])
def test_bad_input_re_renders_with_a_message_and_changes_nothing(client, case, data, message, step):
    couple, *_, clinician = case
    client.force_login(clinician.user)
    before = state(couple)
    response = client.post(url(couple), {**data, "step": step})
    body = response.content.decode()
    assert response.status_code == 400
    assert "Please check the answers marked below." in body and message in body
    assert 'aria-invalid="true"' in body or "field-error" in body
    assert state(couple) == before


def test_a_refusal_from_the_service_is_shown_and_changes_nothing(client, case):
    couple, *_, clinician = case
    TherapySessionFactory(couple=couple, starts_at=timezone.now() - datetime.timedelta(hours=1))
    client.force_login(clinician.user)
    before = state(couple)
    page = client.get(url(couple)).content.decode()
    assert "1 session has started but is still marked scheduled" in page
    response = client.post(url(couple), form_data("a", step="confirm"))
    assert response.status_code == 400
    assert "Record what happened in the sessions that have started" in response.content.decode()
    assert state(couple) == before


def test_a_separated_couple_shows_its_continuations_and_refuses_again(client, case):
    couple, a, _, clinician = case
    client.force_login(clinician.user)
    client.post(url(couple), form_data("a", step="confirm"))
    continuation = Couple.objects.get(continued_from=couple)
    page = client.get(url(couple))
    body = page.content.decode()
    assert page.status_code == 200
    assert "This couple has already separated." in body and 'name="step"' not in body
    assert couple_url(continuation.pk) in body and "Alex Rivera" in body
    before = state(couple)
    again = client.post(url(couple), form_data("neither", step="confirm"))
    assert again.status_code == 400
    assert state(couple) == before
    individual = client.get(url(continuation))
    assert "This is an individual case" in individual.content.decode()
    assert couple_url(couple.pk) in individual.content.decode()
