"""The couple's settings page (/clinic/couples/<id>/settings/): every action says what it did,
bad input is a message on its form with nothing saved, pause/discharge/transfer ask first, and
only those who may write the couple open it (another practice's couple: 404)."""

import datetime

import pytest
from django.urls import reverse

from clinician.models import AuditEvent, Clinician
from couples.models import Consent, Couple, Partner
from tests.factories import ClinicianFactory, CoupleFactory, PartnerFactory, couple_with_partners

pytestmark = pytest.mark.django_db


def url(couple) -> str:
    return reverse("cyclecare:clinician:couple_settings", args=[couple.pk])


@pytest.fixture
def case(client):
    couple, a, b = couple_with_partners(label="Rivera & Chen")
    client.force_login(couple.primary_clinician.user)
    return couple, a, b


def partner_post(partner, **changes) -> dict:
    values = {
        "display_name": partner.display_name,
        "pronouns": partner.pronouns,
        "email": partner.email,
        "phone": partner.phone,
        "time_zone": partner.time_zone,
        "language": partner.language,
        "preferred_channel": partner.preferred_channel,
        "quiet_hours_start": "",
        "quiet_hours_end": "",
        **changes,
    }
    return {
        "action": "partner",
        "partner_id": partner.pk,
        **{f"p{partner.pk}-{k}": v for k, v in values.items()},
    }


def test_the_page_is_linked_from_the_couple_page_and_labels_every_field(client, case):
    couple, a, b = case
    ClinicianFactory(practice=couple.practice)
    assert url(couple) in client.get(reverse("cyclecare:clinician:couple", args=[couple.pk])).text
    page = client.get(url(couple))
    assert page.status_code == 200
    html = page.text
    for partner in (a, b):
        for name in ("display_name", "email", "phone", "time_zone", "language", "quiet_hours_start"):
            assert f'<label class="label" for="id_p{partner.pk}-{name}">' in html
    assert 'for="id_to_clinician"' in html and 'for="id_status"' in html and 'for="id_kind"' in html
    assert '<datalist id="time-zones">' in html and 'value="America/Chicago"' in html


def test_editing_a_partners_time_zone_and_quiet_hours_saves_and_says_so(client, case):
    couple, a, _ = case
    answer = client.post(
        url(couple),
        partner_post(a, time_zone="Europe/Madrid", quiet_hours_start="22:00", quiet_hours_end="07:00"),
        follow=True,
    )
    a.refresh_from_db()
    assert (a.time_zone, a.quiet_hours_start, a.quiet_hours_end) == (
        "Europe/Madrid",
        datetime.time(22),
        datetime.time(7),
    )
    assert f"Saved {a.display_name}&#x27;s details." in answer.text
    assert AuditEvent.objects.filter(action="partner.update", target_id=str(a.pk)).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Nowhere/Special"}, "time zone"),
        ({"phone": "555 0101"}, "international form"),
        ({"preferred_channel": "sms", "phone": ""}, "need a phone number"),
        ({"quiet_hours_start": "22:00"}, "both ends"),
    ],
)
def test_bad_partner_details_show_a_message_and_save_nothing(client, case, changes, message):
    couple, a, _ = case
    before = Partner.objects.filter(pk=a.pk).values().get()
    answer = client.post(url(couple), partner_post(a, **changes))
    assert answer.status_code == 400
    assert "Nothing was saved" in answer.text
    assert message in answer.text.lower()
    assert 'aria-invalid="true"' in answer.text
    assert Partner.objects.filter(pk=a.pk).values().get() == before


def test_the_same_email_for_both_partners_is_refused_on_the_form(client, case):
    couple, a, b = case
    answer = client.post(url(couple), partner_post(b, email=a.email))
    assert answer.status_code == 400 and "already uses this email" in answer.text
    assert Partner.objects.get(pk=b.pk).email == b.email


def test_a_second_partner_joins_an_individual_case_and_a_third_is_not_offered(client):
    case = CoupleFactory(kind=Couple.Kind.INDIVIDUAL)
    PartnerFactory(couple=case)
    client.force_login(case.primary_clinician.user)
    assert "Add a partner" in client.get(url(case)).text
    fields = {
        "new-display_name": "Sam Chen",
        "new-email": "sam.chen@example.test",
        "new-time_zone": "America/Chicago",
        "new-language": "es",
        "new-preferred_channel": "email",
    }
    answer = client.post(url(case), {"action": "add_partner", **fields}, follow=True)
    assert "Added Sam Chen to the case." in answer.text
    case.refresh_from_db()
    assert case.kind == Couple.Kind.COUPLE and case.partners.filter(is_active=True).count() == 2
    assert "Add a partner" not in answer.text
    third = client.post(url(case), {"action": "add_partner", **fields, "new-email": "x@example.test"})
    assert third.status_code == 400 and "two active partners" in third.text
    assert case.partners.count() == 2


def test_pause_asks_first_then_stops_and_resume_starts_again(client, case):
    couple, _, _ = case
    ask = client.post(url(couple), {"action": "status", "status": "paused"})
    assert ask.status_code == 200 and "Please confirm" in ask.text
    assert Couple.objects.get(pk=couple.pk).status == "active"
    done = client.post(url(couple), {"action": "status", "status": "paused", "confirmed": "yes"}, follow=True)
    assert "Paused. No reminders go out until you resume." in done.text
    assert Couple.objects.get(pk=couple.pk).status == "paused"
    client.post(url(couple), {"action": "status", "status": "active", "confirmed": "yes"})
    assert Couple.objects.get(pk=couple.pk).status == "active"
    bad = client.post(url(couple), {"action": "status", "status": "separated", "confirmed": "yes"})
    assert bad.status_code == 400 and Couple.objects.get(pk=couple.pk).status == "active"


def test_transfer_offers_active_colleagues_only_and_moves_access(client, case):
    couple, _, _ = case
    practice = couple.practice
    colleague = ClinicianFactory(practice=practice, display_name="Dr Colleague")
    ClinicianFactory(practice=practice, display_name="Dr Gone", is_active=False)
    ClinicianFactory(display_name="Dr Elsewhere")
    ClinicianFactory(practice=practice, display_name="Ms Admin", role=Clinician.Role.PRACTICE_ADMIN)
    page = client.get(url(couple)).text
    assert "Dr Colleague" in page
    assert "Dr Gone" not in page and "Dr Elsewhere" not in page and "Ms Admin" not in page
    ask = client.post(url(couple), {"action": "transfer", "to_clinician": colleague.pk})
    assert "Please confirm" in ask.text and Couple.objects.get(pk=couple.pk).primary_clinician != colleague
    done = client.post(url(couple), {"action": "transfer", "to_clinician": colleague.pk, "confirmed": "yes"})
    assert done.status_code == 302 and done["Location"] == reverse("cyclecare:clinician:caseload")
    assert Couple.objects.get(pk=couple.pk).primary_clinician == colleague
    assert client.get(url(couple)).status_code == 404
    assert client.get(reverse("cyclecare:clinician:couple", args=[couple.pk])).status_code == 404


def test_a_crafted_transfer_to_another_practice_is_refused(client, case):
    couple, _, _ = case
    stranger = ClinicianFactory()
    answer = client.post(url(couple), {"action": "transfer", "to_clinician": stranger.pk, "confirmed": "yes"})
    assert answer.status_code == 400
    assert Couple.objects.get(pk=couple.pk).primary_clinician != stranger


def test_consent_is_recorded_and_one_without_its_contact_is_refused(client, case):
    couple, a, _ = case
    answer = client.post(
        url(couple),
        {"action": "consent", "partner": a.pk, "kind": "email", "granted": "yes", "method": "written"},
        follow=True,
    )
    assert f"Consent recorded for {a.display_name}." in answer.text
    assert Consent.objects.filter(partner=a, kind="email", granted=True).exists()
    refused = client.post(
        url(couple),
        {"action": "consent", "partner": a.pk, "kind": "sms", "granted": "yes", "method": "verbal"},
    )
    assert refused.status_code == 400 and "Add a mobile number before recording this consent." in refused.text
    assert not Consent.objects.filter(kind="sms").exists()


def test_another_practices_couple_and_an_unrelated_colleague_get_404(client):
    couple, a, _ = couple_with_partners()
    outsider = ClinicianFactory()
    client.force_login(outsider.user)
    assert client.get(url(couple)).status_code == 404
    assert client.post(url(couple), partner_post(a, time_zone="UTC")).status_code == 404
    colleague = ClinicianFactory(practice=couple.practice)
    client.force_login(colleague.user)
    assert client.get(url(couple)).status_code == 404
    assert Partner.objects.get(pk=a.pk).time_zone == a.time_zone


def test_a_partner_of_another_couple_cannot_be_edited_through_this_page(client, case):
    couple, _, _ = case
    _, other, _ = couple_with_partners(couple.primary_clinician)
    answer = client.post(url(couple), partner_post(other, time_zone="UTC"))
    assert answer.status_code == 404
    assert Partner.objects.get(pk=other.pk).time_zone == other.time_zone


def test_the_supervisor_and_the_practice_admin_may_use_it_the_admin_without_clinical_links(client):
    supervisor = ClinicianFactory(role=Clinician.Role.SUPERVISOR)
    clinician = ClinicianFactory(practice=supervisor.practice, supervisor=supervisor)
    couple, a, _ = couple_with_partners(clinician)
    admin = ClinicianFactory(practice=couple.practice, role=Clinician.Role.PRACTICE_ADMIN)
    couple_link = f'href="{reverse("cyclecare:clinician:couple", args=[couple.pk])}"'
    client.force_login(supervisor.user)
    assert couple_link in client.get(url(couple)).text
    client.force_login(admin.user)
    page = client.get(url(couple))
    assert page.status_code == 200 and couple_link not in page.text
    client.post(url(couple), partner_post(a, time_zone="Europe/Lisbon"))
    assert Partner.objects.get(pk=a.pk).time_zone == "Europe/Lisbon"
