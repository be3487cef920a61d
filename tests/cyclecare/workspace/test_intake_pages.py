"""The intake page (/clinic/couples/new/) and "Resend welcome" on the couple page.

Rules under test: the caseload links to it; a valid form opens the case and lands on the couple
page, which shows each partner's welcome (sent / opened / first check-in); bad input re-renders
with the message on its field and saves and sends nothing; a repeated POST of the same form
makes one case; a partner with no consent gets no welcome and the page says why; a practice
admin who does not treat the couple, and another practice's clinician, get 404s.
"""

import datetime
import re

import pytest
from django.core import mail
from django.urls import reverse

from clinician.models import Clinician
from couples.models import Consent, Couple, Partner
from cyclecare import services
from cyclecare.models import WelcomeMessage
from cyclecare.reminders.channels import LocmemSmsBackend
from tests.factories import ClinicianFactory

pytestmark = pytest.mark.django_db

NEW = reverse("cyclecare:clinician:couple_new")


def form_data(nonce: str = "tok-page-1", **changes) -> dict:
    data = {
        "intake_token": nonce,
        "kind": "couple",
        "label": "Rivera & Chen",
        "a_display_name": "Alex Rivera",
        "a_pronouns": "they/them",
        "a_email": "alex@example.test",
        "a_phone": "",
        "a_time_zone": "America/Chicago",
        "a_language": "en",
        "a_preferred_channel": "email",
        "a_consent_treatment": "on",
        "a_consent_email": "on",
        "a_consent_method": "in_session",
        "b_display_name": "Bo Chen",
        "b_email": "",
        "b_phone": "+34600111222",
        "b_time_zone": "Europe/Madrid",
        "b_language": "es",
        "b_preferred_channel": "sms",
        "b_quiet_hours_start": "22:00",
        "b_quiet_hours_end": "07:00",
        "b_consent_treatment": "on",
        "b_consent_sms": "on",
        "b_consent_method": "written",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def clinician(client):
    clinician = ClinicianFactory(display_name="Dr Okafor")
    client.force_login(clinician.user)
    return clinician


@pytest.fixture(autouse=True)
def _sms():
    LocmemSmsBackend.outbox.clear()
    yield
    LocmemSmsBackend.outbox.clear()


def post(client, data, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(NEW, data)


def test_the_caseload_has_a_new_couple_button(client, clinician):
    page = client.get(reverse("cyclecare:clinician:caseload")).content.decode()
    assert f'href="{NEW}"' in page and "New couple" in page


def test_the_form_labels_every_field_and_defaults_the_zone_to_the_practices(client, clinician):
    response = client.get(NEW)
    page = response.content.decode()
    assert response.status_code == 200
    ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', page)
    visible = [i for i in ids if i != "id_intake_token"]
    assert visible and all(f'for="{i}"' in page for i in visible), "every field has a label"
    assert 'value="America/Chicago"' in page  # the practice's zone (factory)
    assert '<datalist id="time-zones">' in page and '<option value="Europe/Madrid">' in page
    assert re.search(r'name="intake_token" value="[^"]{20,}"', page)


def test_a_valid_intake_lands_on_the_couple_page_with_each_welcome(
    client, clinician, django_capture_on_commit_callbacks
):
    response = post(client, form_data(), django_capture_on_commit_callbacks)
    couple = Couple.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cyclecare:clinician:couple", args=[couple.pk])
    a, b = couple.partners.order_by("seat")
    assert (a.pronouns, b.quiet_hours_start.hour, b.language) == ("they/them", 22, "es")
    assert set(Consent.objects.filter(partner=b).values_list("kind", "method")) == {
        ("treatment", "written"),
        ("sms", "written"),
    }
    assert len(mail.outbox) == 1 and len(LocmemSmsBackend.outbox) == 1

    page = client.get(response["Location"]).content.decode()
    assert "Rivera &amp; Chen is on your caseload." in page
    assert 'id="welcome-heading"' in page
    assert page.count("Resend welcome") == 2
    assert reverse("cyclecare:clinician:welcome_resend", args=[couple.pk, a.pk]) in page


def test_a_repeated_post_of_the_same_form_makes_one_couple(
    client, clinician, django_capture_on_commit_callbacks
):
    first = post(client, form_data(), django_capture_on_commit_callbacks)
    again = post(client, form_data(), django_capture_on_commit_callbacks)
    assert first["Location"] == again["Location"]
    assert Couple.objects.count() == 1 and len(mail.outbox) == 1


def test_an_individual_case_from_the_same_page(client, clinician, django_capture_on_commit_callbacks):
    data = form_data(
        kind="individual",
        label="Alex Rivera",
        b_display_name="",
        b_phone="",
        b_quiet_hours_start="",
        b_quiet_hours_end="",
        b_consent_treatment=None,
        b_consent_sms=None,
    )
    response = post(client, data, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    couple = Couple.objects.get()
    assert couple.kind == "individual" and couple.partners.count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"b_phone": "600 111 222"}, "b_phone", "international form"),
        ({"a_time_zone": "Mars/Olympus"}, "a_time_zone", "IANA"),
        ({"b_email": "alex@example.test"}, "b_email", "own email"),
        ({"a_email": "", "a_preferred_channel": "none"}, "a_consent_email", "email address"),
        ({"b_phone": "", "b_preferred_channel": "none"}, "b_consent_sms", "mobile"),
        ({"b_display_name": ""}, "b_display_name", "required"),
        ({"kind": "individual"}, "b_display_name", "leave partner B empty"),
        (
            {
                "kind": "individual",
                "b_display_name": "",
                "b_phone": "",
                "b_quiet_hours_start": "",
                "b_quiet_hours_end": "",
            },
            "b_display_name",
            "leave partner B empty",
        ),
    ],
)
def test_bad_input_is_shown_on_its_field_and_nothing_is_saved_or_sent(
    client, clinician, django_capture_on_commit_callbacks, changes, field, words
):
    response = post(client, form_data(**changes), django_capture_on_commit_callbacks)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was saved" in page
    error = re.search(rf'<p class="field-error" id="id_{field}-error">([^<]*)</p>', page)
    assert error and words.lower() in error.group(1).lower(), error
    assert not Couple.objects.exists() and not Partner.objects.exists() and not Consent.objects.exists()
    assert mail.outbox == [] and LocmemSmsBackend.outbox == [] and not WelcomeMessage.objects.exists()


def test_no_consent_no_welcome_and_the_page_says_why(client, clinician, django_capture_on_commit_callbacks):
    response = post(client, form_data(a_consent_email=None), django_capture_on_commit_callbacks)
    page = client.get(response["Location"]).content.decode()
    assert mail.outbox == []
    assert "No welcome for Alex Rivera: no consent to email is recorded" in page
    assert page.count("Resend welcome") == 1  # Bo's only


def test_resend_and_the_welcome_status_on_the_couple_page(
    client, clinician, django_capture_on_commit_callbacks
):
    response = post(client, form_data(), django_capture_on_commit_callbacks)
    couple = Couple.objects.get()
    a = couple.partners.get(seat=1)
    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(reverse("cyclecare:clinician:welcome_resend", args=[couple.pk, a.pk]))
    assert resent["Location"] == response["Location"]
    assert len(mail.outbox) == 2
    WelcomeMessage.objects.filter(partner=a).update(opened_at=WelcomeMessage.objects.first().sent_at)
    instrument = next(i for i in services.instruments_install_shipped() if i.code == "cycle-checkin")
    services.checkin_submit(
        partner=a, instrument=instrument, answers={"cycle_showed_up": False, "connection": 6}
    )
    page = client.get(response["Location"]).content.decode()
    row = re.search(rf'<tr data-partner="{a.pk}">(.*?)</tr>', page, re.S).group(1)
    assert row.count("<time") == 3  # sent, opened, first check-in
    assert "A welcome is on its way to Alex Rivera." in page


def test_another_practices_clinician_gets_404(client, clinician, django_capture_on_commit_callbacks):
    post(client, form_data(), django_capture_on_commit_callbacks)
    couple = Couple.objects.get()
    a = couple.partners.get(seat=1)
    client.force_login(ClinicianFactory().user)
    assert client.get(reverse("cyclecare:clinician:couple", args=[couple.pk])).status_code == 404
    resend = reverse("cyclecare:clinician:welcome_resend", args=[couple.pk, a.pk])
    assert client.post(resend).status_code == 404
    assert WelcomeMessage.objects.count() == 2


def test_a_practice_admin_who_does_not_treat_the_couple_gets_404(
    client, clinician, django_capture_on_commit_callbacks
):
    post(client, form_data(), django_capture_on_commit_callbacks)
    couple = Couple.objects.get()
    admin = ClinicianFactory(practice=clinician.practice, role=Clinician.Role.PRACTICE_ADMIN)
    client.force_login(admin.user)
    assert client.get(reverse("cyclecare:clinician:couple", args=[couple.pk])).status_code == 404
    resend = reverse("cyclecare:clinician:welcome_resend", args=[couple.pk, couple.partners.first().pk])
    assert client.post(resend).status_code == 404


def test_a_partner_of_another_couple_by_id_is_404(client, clinician, django_capture_on_commit_callbacks):
    post(client, form_data(), django_capture_on_commit_callbacks)
    post(
        client,
        form_data(nonce="tok-2", label="Other", b_email="", a_email="x@example.test"),
        django_capture_on_commit_callbacks,
    )
    first, second = Couple.objects.order_by("pk")
    other_partner = second.partners.first()
    resend = reverse("cyclecare:clinician:welcome_resend", args=[first.pk, other_partner.pk])
    assert client.post(resend).status_code == 404


def test_the_welcomes_are_in_the_couples_delivery_log(client, clinician, django_capture_on_commit_callbacks):
    post(client, form_data(), django_capture_on_commit_callbacks)
    couple = Couple.objects.get()
    page = client.get(reverse("cyclecare:clinician:deliveries", args=[couple.pk])).content.decode()
    assert 'id="welcome-log"' in page
    assert len(re.findall(r'<tr data-welcome="\d+" class="delivery delivery--sent">', page)) == 2


def test_the_form_starts_each_partner_from_the_practices_quiet_hours(client, clinician):
    practice = clinician.practice
    practice.quiet_hours_start, practice.quiet_hours_end = datetime.time(21, 30), datetime.time(8, 0)
    practice.save()
    page = client.get(NEW).content.decode()
    for seat in ("a", "b"):
        assert re.search(rf'name="{seat}_quiet_hours_start" value="21:30"', page), seat
        assert re.search(rf'name="{seat}_quiet_hours_end" value="08:00"', page), seat
