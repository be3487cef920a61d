"""The homework library through the API: the shipped templates and the practice's own (never
another practice's), writing a template, and assigning one to a couple in a single call."""

import datetime
from types import SimpleNamespace

import pytest

from cyclecare import services as cycle
from cyclecare.models import Assignment, HomeworkTemplate
from tests.api.conftest import assert_problem
from tests.factories import ClinicianFactory, couple_with_partners

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/homework-templates/"


def assign_url(template_id: int) -> str:
    return f"{LIST_URL}{template_id}/assign/"


def own_template(clinician, code: str = "gratitude", **fields):
    values = {
        "name": "Gratitude note",
        "kind": "practice",
        "instructions": "Write one thing you appreciated today.",
        "schedule": "weekdays",
        "local_time": datetime.time(21, 15),
        "weekdays": 1 | 4 | 16,
    }
    values.update(fields)
    return cycle.homework_template_create(user=clinician.user, code=code, **values)


@pytest.fixture
def library():
    """The shipped library installed; a clinician treating a couple, with one template of their
    practice's own; a foreign practice with its own template and couple."""
    shipped = cycle.homework_templates_install_shipped()
    clinician = ClinicianFactory()
    couple, a, b = couple_with_partners(clinician)
    foreign_clinician = ClinicianFactory()
    foreign_couple, x, _ = couple_with_partners(foreign_clinician)
    return SimpleNamespace(
        shipped=shipped,
        clinician=clinician,
        couple=couple,
        a=a,
        b=b,
        template=own_template(clinician),
        foreign_clinician=foreign_clinician,
        foreign_couple=foreign_couple,
        foreign_partner=x,
        foreign_template=own_template(foreign_clinician, code="foreign-only", name="Foreign only"),
    )


def codes(response) -> set[str]:
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return {row["code"] for row in rows}


def test_list_shows_the_shipped_library_and_the_practices_own_only(library, api_as):
    api = api_as(library.clinician.user)
    shipped_codes = {t.code for t in library.shipped}
    assert len(shipped_codes) == 6

    assert codes(api.get(LIST_URL, {"page_size": 200})) == shipped_codes | {"gratitude"}
    assert codes(api.get(LIST_URL, {"shipped": "true"})) == shipped_codes
    assert codes(api.get(LIST_URL, {"shipped": "false"})) == {"gratitude"}
    assert codes(api.get(LIST_URL, {"kind": "check_in"})) == {
        t.code for t in library.shipped if t.kind == "check_in"
    }
    # The other practice sees its own template, not ours.
    foreign = codes(api_as(library.foreign_clinician.user).get(LIST_URL, {"shipped": "false"}))
    assert foreign == {"foreign-only"}


def test_detail_of_own_and_shipped_but_not_anothers(library, api_as):
    api = api_as(library.clinician.user)
    row = api.get(f"{LIST_URL}{library.template.pk}/").json()
    assert (row["code"], row["shipped"], row["practice"]) == (
        "gratitude",
        False,
        library.clinician.practice_id,
    )
    assert api.get(f"{LIST_URL}{library.shipped[0].pk}/").json()["shipped"] is True
    assert_problem(api.get(f"{LIST_URL}{library.foreign_template.pk}/"), 404)


def test_clinician_writes_a_template_for_their_practice(library, api_as):
    api = api_as(library.clinician.user)
    response = api.post(
        LIST_URL,
        {
            "code": "soft-landing",
            "name": "Soft landing",
            "kind": "practice",
            "instructions": "Greet each other before anything else.",
            "schedule": "daily",
            "local_time": "18:30",
            "for_both_partners": False,
        },
        format="json",
    )
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    template = HomeworkTemplate.objects.get(pk=body["id"])
    assert template.practice_id == library.clinician.practice_id
    assert template.created_by == library.clinician
    assert (body["shipped"], body["for_both_partners"], body["local_time"]) == (False, False, "18:30:00")
    assert "soft-landing" in codes(api.get(LIST_URL, {"shipped": "false"}))
    assert "soft-landing" not in codes(api_as(library.foreign_clinician.user).get(LIST_URL))

    again = api.post(LIST_URL, {**response.json(), "code": "soft-landing"}, format="json")
    assert "code" in assert_problem(again, 400)["errors"]


def test_a_template_schedule_is_validated(library, api_as):
    response = api_as(library.clinician.user).post(
        LIST_URL,
        {"code": "no-time", "name": "No time", "kind": "practice", "instructions": "x", "schedule": "daily"},
        format="json",
    )
    assert "local_time" in assert_problem(response, 400)["errors"]


def test_assign_in_one_call_uses_the_templates_schedule_for_both_partners(library, api_as):
    api = api_as(library.clinician.user)
    response = api.post(
        assign_url(library.template.pk),
        {"couple": library.couple.pk, "starts_on": "2030-01-01"},
        format="json",
    )
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assignment = Assignment.objects.get(pk=body["id"])
    assert assignment.status == Assignment.Status.ACTIVE
    assert set(assignment.partners.all()) == {library.a, library.b}
    assert (assignment.couple, assignment.assigned_by) == (library.couple, library.clinician)
    assert (assignment.title, assignment.kind, assignment.schedule) == (
        "Gratitude note",
        "practice",
        "weekdays",
    )
    assert (assignment.local_time, assignment.weekdays) == (datetime.time(21, 15), 1 | 4 | 16)
    assert assignment.starts_on == datetime.date(2030, 1, 1)
    # The same shape as the assignments endpoint.
    assert body == api.get(f"/api/v1/assignments/{assignment.pk}/").json()


def test_assign_with_overrides_and_one_partner(library, api_as):
    shipped = next(t for t in library.shipped if t.code == "pause-and-return")
    response = api_as(library.clinician.user).post(
        assign_url(shipped.pk),
        {
            "couple": library.couple.pk,
            "partners": [library.a.pk],
            "local_time": "07:45",
            "title": "Morning pause",
        },
        format="json",
    )
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert (body["partners"], body["title"], body["local_time"]) == (
        [library.a.pk],
        "Morning pause",
        "07:45:00",
    )
    assert body["status"] == "active"
    assert body["starts_on"]  # today in the practice's zone


def test_a_foreign_couple_is_a_400_naming_couple(library, api_as):
    before = Assignment.objects.count()
    response = api_as(library.clinician.user).post(
        assign_url(library.template.pk), {"couple": library.foreign_couple.pk}, format="json"
    )
    assert set(assert_problem(response, 400)["errors"]) == {"couple"}
    response = api_as(library.clinician.user).post(
        assign_url(library.template.pk),
        {"couple": library.couple.pk, "partners": [library.a.pk, library.foreign_partner.pk]},
        format="json",
    )
    assert set(assert_problem(response, 400)["errors"]) == {"partners"}
    assert Assignment.objects.count() == before


def test_an_out_of_scope_template_is_a_404(library, api_as):
    response = api_as(library.clinician.user).post(
        assign_url(library.foreign_template.pk), {"couple": library.couple.pk}, format="json"
    )
    assert_problem(response, 404)
    inactive = own_template(library.clinician, code="retired")
    HomeworkTemplate.objects.filter(pk=inactive.pk).update(is_active=False)
    response = api_as(library.clinician.user).post(
        assign_url(inactive.pk), {"couple": library.couple.pk}, format="json"
    )
    assert_problem(response, 404)
    assert not Assignment.objects.exists()


def test_integration_tokens_read_the_library_but_do_not_write(library, integration_for):
    reader = integration_for(library.clinician.practice, scopes="read")
    assert codes(reader.api.get(LIST_URL, {"shipped": "false"})) == {"gratitude"}
    body = {"code": "x", "name": "X", "kind": "practice", "instructions": "x", "schedule": "daily"}
    assert_problem(reader.api.post(LIST_URL, body, format="json"), 403)
    assign = {"couple": library.couple.pk}
    assert_problem(reader.api.post(assign_url(library.template.pk), assign, format="json"), 403)

    # Even with the write scope, the services keep these writes for clinicians.
    writer = integration_for(library.clinician.practice, scopes="read write")
    body["local_time"] = "20:00"
    assert_problem(writer.api.post(LIST_URL, body, format="json"), 403)
    assert_problem(writer.api.post(assign_url(library.template.pk), assign, format="json"), 403)
    assert not HomeworkTemplate.objects.filter(code="x").exists()
    assert not Assignment.objects.exists()
