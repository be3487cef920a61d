"""Couples, partners and consents through the API: scoped lists, service-validated writes,
problem details, idempotent creates, integration scopes, constant query counts."""

import datetime
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from couples.models import Consent, Couple, Partner
from tests.api.conftest import assert_problem
from tests.factories import ClinicianFactory, CoupleFactory, couple_with_partners

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic():
    """One practice (admin, supervisor, a clinician and a colleague with a couple each) and a
    foreign practice with a couple of its own."""
    supervisor = ClinicianFactory(role="supervisor")
    practice = supervisor.practice
    clinician = ClinicianFactory(practice=practice, supervisor=supervisor)
    colleague = ClinicianFactory(practice=practice)
    admin = ClinicianFactory(practice=practice, role="practice_admin")
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen")
    colleague_couple, _, _ = couple_with_partners(colleague, label="Okafor & Lund")
    foreign_clinician = ClinicianFactory()
    foreign_couple, x, _ = couple_with_partners(foreign_clinician)
    return SimpleNamespace(
        practice=practice,
        supervisor=supervisor,
        clinician=clinician,
        colleague=colleague,
        admin=admin,
        couple=couple,
        a=a,
        b=b,
        colleague_couple=colleague_couple,
        foreign_clinician=foreign_clinician,
        foreign_couple=foreign_couple,
        foreign_partner=x,
    )


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content[:500]
    return [row["id"] for row in response.json()["results"]]


def fresh_client(clinician) -> APIClient:
    """A client for a freshly loaded user, so no per-user cache hides a query."""
    api = APIClient()
    api.force_authenticate(user=get_user_model().objects.get(pk=clinician.user_id))
    return api


def queries_for(clinician, url: str) -> int:
    api = fresh_client(clinician)
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


# COUPLES: READ
# ------------------------------------------------------------------------------
def test_couple_list_is_scoped_and_shows_active_partners_and_stage(clinic, api_as):
    listed = api_as(clinic.clinician.user).get("/api/v1/couples/")
    assert ids(listed) == [clinic.couple.pk]
    row = listed.json()["results"][0]
    assert row["active_partners"] == [clinic.a.pk, clinic.b.pk]
    assert row["eft_step"] == 3 and row["eft_stage"] == 1
    assert row["primary_clinician"] == clinic.clinician.pk
    assert "count" in listed.json()
    # A supervisor sees their supervisee's couple; a practice admin sees the practice's couples.
    assert ids(api_as(clinic.supervisor.user).get("/api/v1/couples/")) == [clinic.couple.pk]
    assert set(ids(api_as(clinic.admin.user).get("/api/v1/couples/"))) == {
        clinic.couple.pk,
        clinic.colleague_couple.pk,
    }


def test_couple_list_filters_and_ordering(clinic, api_as):
    api = api_as(clinic.admin.user)
    later = CoupleFactory(
        primary_clinician=clinic.clinician, label="Adams & Bell", started_on=datetime.date(2026, 3, 1)
    )
    Couple.objects.filter(pk=clinic.couple.pk).update(started_on=datetime.date(2026, 1, 10))
    Couple.objects.filter(pk=clinic.colleague_couple.pk).update(
        started_on=datetime.date(2025, 6, 1), status="paused"
    )
    assert ids(api.get("/api/v1/couples/", {"status": "paused"})) == [clinic.colleague_couple.pk]
    assert set(ids(api.get("/api/v1/couples/", {"primary_clinician": clinic.clinician.pk}))) == {
        clinic.couple.pk,
        later.pk,
    }
    window = {"started_after": "2026-01-01", "started_before": "2026-02-01"}
    assert ids(api.get("/api/v1/couples/", window)) == [clinic.couple.pk]
    assert ids(api.get("/api/v1/couples/")) == [later.pk, clinic.colleague_couple.pk, clinic.couple.pk]
    assert ids(api.get("/api/v1/couples/", {"ordering": "-started_on"})) == [
        later.pk,
        clinic.couple.pk,
        clinic.colleague_couple.pk,
    ]
    # An id outside the caller's practice filters to nothing, exactly like an unknown id.
    assert ids(api.get("/api/v1/couples/", {"primary_clinician": clinic.foreign_clinician.pk})) == []


def test_couple_out_of_scope_is_404_problem(clinic, api_as):
    api = api_as(clinic.clinician.user)
    assert api.get(f"/api/v1/couples/{clinic.couple.pk}/").status_code == 200
    for couple in (clinic.foreign_couple, clinic.colleague_couple):
        body = assert_problem(api.get(f"/api/v1/couples/{couple.pk}/"), 404)
        assert body["type"] == "urn:cyclecare:problem:not_found"
        assert_problem(api.patch(f"/api/v1/couples/{couple.pk}/", {"label": "x"}, format="json"), 404)
        assert_problem(api.post(f"/api/v1/couples/{couple.pk}/status/", {"status": "paused"}), 404)
    assert Couple.objects.get(pk=clinic.colleague_couple.pk).label == "Okafor & Lund"


def test_couple_list_uses_constant_queries(django_assert_max_num_queries):
    clinician = ClinicianFactory()
    couple_with_partners(clinician)
    with_one = queries_for(clinician, "/api/v1/couples/")
    for _ in range(19):
        couple_with_partners(clinician)
    api = fresh_client(clinician)
    with django_assert_max_num_queries(with_one):
        response = api.get("/api/v1/couples/")
    assert len(response.json()["results"]) == 20
    assert all(len(row["active_partners"]) == 2 for row in response.json()["results"])


# COUPLES: WRITE
# ------------------------------------------------------------------------------
def test_clinician_opens_a_couple_for_themselves(clinic, api_as):
    created = api_as(clinic.clinician.user).post(
        "/api/v1/couples/",
        {"label": "  Park & Diaz ", "eft_step": 5, "started_on": "2026-02-02"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["label"] == "Park & Diaz"
    assert body["primary_clinician"] == clinic.clinician.pk
    assert body["eft_stage"] == 2 and body["active_partners"] == [] and body["status"] == "active"
    assert Couple.objects.get(pk=body["id"]).practice_id == clinic.practice.pk


def test_practice_admin_assigns_the_treating_clinician(clinic, api_as):
    created = api_as(clinic.admin.user).post(
        "/api/v1/couples/", {"label": "Nguyen & Ito", "primary_clinician": clinic.colleague.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["primary_clinician"] == clinic.colleague.pk


def test_couple_create_names_the_invalid_fields(clinic, api_as):
    api = api_as(clinic.admin.user)
    body = assert_problem(
        api.post(
            "/api/v1/couples/",
            {"label": "X", "primary_clinician": clinic.foreign_clinician.pk},
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {"primary_clinician"}
    body = assert_problem(api.post("/api/v1/couples/", {"eft_step": 10}, format="json"), 400)
    assert {"label", "eft_step"} <= set(body["errors"])
    assert body["type"] == "urn:cyclecare:problem:validation"
    # A plain clinician may not open a case for a colleague (the service's rule, named).
    body = assert_problem(
        api_as(clinic.clinician.user).post(
            "/api/v1/couples/", {"label": "X", "primary_clinician": clinic.colleague.pk}, format="json"
        ),
        400,
    )
    assert set(body["errors"]) == {"primary_clinician"}
    assert not Couple.objects.filter(label="X").exists()


def test_couple_create_replays_on_the_same_idempotency_key(clinic, api_as):
    api = api_as(clinic.clinician.user)
    payload = {"label": "Once & Only"}
    first = api.post("/api/v1/couples/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-couple-1")
    again = api.post("/api/v1/couples/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-couple-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Couple.objects.filter(label="Once & Only").count() == 1
    conflict = api.post(
        "/api/v1/couples/", {"label": "Something else"}, format="json", HTTP_IDEMPOTENCY_KEY="k-couple-1"
    )
    assert_problem(conflict, 409)
    assert not Couple.objects.filter(label="Something else").exists()


def test_couple_update_and_status(clinic, api_as):
    api = api_as(clinic.clinician.user)
    url = f"/api/v1/couples/{clinic.couple.pk}/"
    patched = api.patch(url, {"label": "Rivera–Chen", "eft_step": 8}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["label"] == "Rivera–Chen" and patched.json()["eft_stage"] == 3
    assert patched.json()["active_partners"] == [clinic.a.pk, clinic.b.pk]
    body = assert_problem(api.patch(url, {"eft_step": 0}, format="json"), 400)
    assert set(body["errors"]) == {"eft_step"}
    # Only a practice admin reassigns; a foreign clinician is not even a valid id.
    body = assert_problem(api.patch(url, {"primary_clinician": clinic.colleague.pk}, format="json"), 400)
    assert set(body["errors"]) == {"primary_clinician"}
    body = assert_problem(
        api_as(clinic.admin.user).patch(
            url, {"primary_clinician": clinic.foreign_clinician.pk}, format="json"
        ),
        400,
    )
    assert set(body["errors"]) == {"primary_clinician"}
    reassigned = api_as(clinic.admin.user).patch(
        url, {"primary_clinician": clinic.colleague.pk}, format="json"
    )
    assert reassigned.status_code == 200 and reassigned.json()["primary_clinician"] == clinic.colleague.pk

    admin = api_as(clinic.admin.user)
    paused = admin.post(f"{url}status/", {"status": "paused"}, format="json")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    discharged = admin.post(f"{url}status/", {"status": "discharged"}, format="json")
    assert discharged.json()["status"] == "discharged" and discharged.json()["discharged_on"]
    body = assert_problem(admin.post(f"{url}status/", {"status": "gone"}, format="json"), 400)
    assert set(body["errors"]) == {"status"}


# PARTNERS
# ------------------------------------------------------------------------------
PARTNER = {"display_name": "Sam Rivera", "time_zone": "America/Chicago", "email": "sam@example.test"}


def test_partner_list_is_scoped_and_filters(clinic, api_as):
    api = api_as(clinic.clinician.user)
    assert ids(api.get("/api/v1/partners/")) == [clinic.a.pk, clinic.b.pk]
    Partner.objects.filter(pk=clinic.b.pk).update(is_active=False)
    assert ids(api.get("/api/v1/partners/", {"is_active": "true"})) == [clinic.a.pk]
    assert ids(api.get("/api/v1/partners/", {"couple": clinic.foreign_couple.pk})) == []
    assert (
        len(ids(api_as(clinic.admin.user).get("/api/v1/partners/", {"couple": clinic.colleague_couple.pk})))
        == 2
    )
    row = api.get(f"/api/v1/partners/{clinic.a.pk}/").json()
    assert row["couple"] == clinic.couple.pk and row["seat"] == 1 and row["time_zone"] == "America/Chicago"
    assert "user" not in row


def test_partner_out_of_scope_is_404_problem(clinic, api_as):
    api = api_as(clinic.clinician.user)
    partner = clinic.foreign_partner
    assert_problem(api.get(f"/api/v1/partners/{partner.pk}/"), 404)
    assert_problem(api.patch(f"/api/v1/partners/{partner.pk}/", {"pronouns": "they"}, format="json"), 404)
    assert_problem(api.post(f"/api/v1/partners/{partner.pk}/deactivate/"), 404)
    assert_problem(api.get(f"/api/v1/partners/{partner.pk}/consents/"), 404)
    assert Partner.objects.get(pk=partner.pk).pronouns == ""


def test_partner_add_update_and_deactivate(clinic, api_as):
    api = api_as(clinic.clinician.user)
    couple = CoupleFactory(primary_clinician=clinic.clinician)
    created = api.post(
        "/api/v1/partners/",
        {**PARTNER, "couple": couple.pk, "pronouns": "they/them", "quiet_hours_start": "22:00",
         "quiet_hours_end": "07:00"},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    partner = created.json()
    assert partner["seat"] == 1 and partner["quiet_hours_start"] == "22:00:00" and partner["is_active"]
    patched = api.patch(
        f"/api/v1/partners/{partner['id']}/",
        {"time_zone": "Europe/Berlin", "preferred_channel": "sms", "phone": "+15551234567"},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["time_zone"] == "Europe/Berlin" and patched.json()["preferred_channel"] == "sms"
    gone = api.post(f"/api/v1/partners/{partner['id']}/deactivate/")
    assert gone.status_code == 200 and gone.json()["is_active"] is False and gone.json()["left_on"]
    body = assert_problem(api.post(f"/api/v1/partners/{partner['id']}/deactivate/"), 400)
    assert set(body["errors"]) == {"partner"}


def test_partner_time_zone_and_contact_errors_name_their_fields(clinic, api_as):
    api = api_as(clinic.clinician.user)
    couple = CoupleFactory(primary_clinician=clinic.clinician)
    body = assert_problem(
        api.post(
            "/api/v1/partners/", {**PARTNER, "couple": couple.pk, "time_zone": "Mars/Olympus"}, format="json"
        ),
        400,
    )
    assert set(body["errors"]) == {"time_zone"}
    body = assert_problem(
        api.patch(f"/api/v1/partners/{clinic.a.pk}/", {"time_zone": "Not/AZone"}, format="json"), 400
    )
    assert set(body["errors"]) == {"time_zone"}
    body = assert_problem(
        api.patch(f"/api/v1/partners/{clinic.a.pk}/", {"preferred_channel": "sms"}, format="json"), 400
    )
    assert set(body["errors"]) == {"phone"}
    body = assert_problem(api.post("/api/v1/partners/", {"couple": couple.pk}, format="json"), 400)
    assert {"display_name", "time_zone"} <= set(body["errors"])
    assert Partner.objects.get(pk=clinic.a.pk).time_zone == "America/Chicago"
    assert not couple.partners.exists()


def test_no_email_or_phone_is_null_and_null_or_blank_clears_them(clinic, api_as):
    """The schema says ``format: email``, which "" is not: a partner without one reads null (and
    so does a missing phone); null and "" are both accepted as "none" and stored as ""."""
    api = api_as(clinic.clinician.user)
    url = f"/api/v1/partners/{clinic.a.pk}/"
    cleared = api.patch(url, {"email": None, "phone": None, "preferred_channel": "none"}, format="json")
    assert cleared.status_code == 200, cleared.content
    assert (cleared.json()["email"], cleared.json()["phone"]) == (None, None)
    assert Partner.objects.values_list("email", "phone").get(pk=clinic.a.pk) == ("", "")
    assert api.get(url).json()["email"] is None
    listed = {row["id"]: row for row in api.get("/api/v1/partners/").json()["results"]}
    assert listed[clinic.a.pk]["email"] is None and listed[clinic.b.pk]["email"] == clinic.b.email

    restored = api.patch(url, {"email": "a@example.test", "phone": "+15551234567"}, format="json")
    assert (restored.json()["email"], restored.json()["phone"]) == ("a@example.test", "+15551234567")
    blanked = api.patch(url, {"email": "", "phone": ""}, format="json")
    assert blanked.status_code == 200, blanked.content
    assert (blanked.json()["email"], blanked.json()["phone"]) == (None, None)

    couple = CoupleFactory(primary_clinician=clinic.clinician)
    created = api.post(
        "/api/v1/partners/",
        {**PARTNER, "couple": couple.pk, "email": None, "preferred_channel": "none"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (created.json()["email"], created.json()["phone"]) == (None, None)
    assert couple.partners.get().email == ""


def test_partner_add_refuses_a_foreign_couple_and_a_third_partner(clinic, api_as):
    api = api_as(clinic.clinician.user)
    body = assert_problem(
        api.post("/api/v1/partners/", {**PARTNER, "couple": clinic.foreign_couple.pk}, format="json"), 400
    )
    assert set(body["errors"]) == {"couple"}
    body = assert_problem(
        api.post("/api/v1/partners/", {**PARTNER, "couple": clinic.couple.pk}, format="json"), 409
    )
    assert set(body["errors"]) == {"couple"}
    assert clinic.foreign_couple.partners.count() == 2 and clinic.couple.partners.count() == 2


def test_consents_recorded_and_listed_latest_first(clinic, api_as):
    api = api_as(clinic.clinician.user)
    url = f"/api/v1/partners/{clinic.a.pk}/consents/"
    assert api.get(url).json() == []
    # Text-message consent needs a mobile number on file (issue 13); without one it is a 400.
    body = assert_problem(
        api.post(url, {"kind": "sms", "granted": True, "method": "written"}, format="json"), 400
    )
    assert set(body["errors"]) == {"kind"}
    Partner.objects.filter(pk=clinic.a.pk).update(phone="+15555550100")
    first = api.post(url, {"kind": "sms", "granted": True, "method": "written"}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["recorded_by"] == clinic.clinician.pk and first.json()["partner"] == clinic.a.pk
    second = api.post(url, {"kind": "sms", "granted": False, "method": "verbal"}, format="json")
    listed = api.get(url).json()
    assert [c["id"] for c in listed] == [second.json()["id"], first.json()["id"]]
    assert listed[0]["granted"] is False
    # A practice admin manages the practice's partners, consents included.
    assert len(api_as(clinic.admin.user).get(url).json()) == 2
    body = assert_problem(api.post(url, {"kind": "telepathy", "method": "written"}, format="json"), 400)
    assert {"kind", "granted"} <= set(body["errors"])
    assert Consent.objects.filter(partner=clinic.a).count() == 2


def test_partner_list_uses_constant_queries(django_assert_max_num_queries):
    clinician = ClinicianFactory()
    couple_with_partners(clinician)
    with_one_couple = queries_for(clinician, "/api/v1/partners/")
    for _ in range(9):
        couple_with_partners(clinician)
    api = fresh_client(clinician)
    with django_assert_max_num_queries(with_one_couple):
        response = api.get("/api/v1/partners/")
    assert len(response.json()["results"]) == 20


# INTEGRATION CLIENTS
# ------------------------------------------------------------------------------
def test_integration_client_reads_and_writes_its_practice_only(clinic, integration_for):
    integration = integration_for(clinic.practice, scopes="read write")
    api = integration.api
    assert set(ids(api.get("/api/v1/couples/"))) == {clinic.couple.pk, clinic.colleague_couple.pk}
    assert_problem(api.get(f"/api/v1/couples/{clinic.foreign_couple.pk}/"), 404)
    body = assert_problem(api.post("/api/v1/couples/", {"label": "No clinician"}, format="json"), 400)
    assert set(body["errors"]) == {"primary_clinician"}
    created = api.post(
        "/api/v1/couples/", {"label": "From the EHR", "primary_clinician": clinic.clinician.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    partner = api.post("/api/v1/partners/", {**PARTNER, "couple": created.json()["id"]}, format="json")
    assert partner.status_code == 201, partner.content
    consent = api.post(
        f"/api/v1/partners/{partner.json()['id']}/consents/",
        {"kind": "treatment", "granted": True, "method": "written"},
        format="json",
    )
    assert consent.status_code == 201 and consent.json()["recorded_by"] is None


def test_integration_token_with_read_scope_only_cannot_write(clinic, integration_for):
    api = integration_for(clinic.practice, scopes="read").api
    assert api.get("/api/v1/couples/").status_code == 200
    body = assert_problem(
        api.post("/api/v1/couples/", {"label": "X", "primary_clinician": clinic.clinician.pk}, format="json"),
        403,
    )
    assert "write" in body["detail"]
    assert_problem(api.patch(f"/api/v1/partners/{clinic.a.pk}/", {"pronouns": "she"}, format="json"), 403)
    assert not Couple.objects.filter(label="X").exists()


def test_anonymous_caller_gets_401_problem(clinic):
    assert_problem(APIClient().get("/api/v1/couples/"), 401)
