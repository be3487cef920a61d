"""GET /api/v1/audit-events/: the practice's trail for a token with ``audit:read`` or a signed-in
practice admin — searchable as on the page, a partner's access report with ``record_of``, every
bad filter a problem-details 400, anyone else refused."""

import pytest

from clinician.audit import audit_record
from clinician.models import AuditEvent
from tests.api.conftest import assert_problem
from tests.factories import build_practice_world

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events/"


@pytest.fixture
def worlds():
    return build_practice_world("alpha"), build_practice_world("bravo")


def test_a_token_with_audit_read_searches_its_practice_only(worlds, integration_for):
    alpha, bravo = worlds
    api = integration_for(alpha.practice, scopes="read audit:read").api
    response = api.get(URL, {"page_size": 200})
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids and ids <= set(AuditEvent.objects.filter(practice=alpha.practice).values_list("pk", flat=True))
    row = response.json()["results"][0]
    assert set(row) == {
        "id",
        "occurred_at",
        "actor_kind",
        "actor_id",
        "who",
        "action",
        "object_type",
        "object_id",
        "couple",
        "partner",
        "surface",
        "source",
        "changes",
    }
    # The search itself came through the API, and says so.
    audit_record(actor=alpha.clinician.user, action="test.marker", target=alpha.couples[0].a)
    found = api.get(URL, {"action": "test.marker"}).json()["results"]
    assert [(r["action"], r["partner"]) for r in found] == [("test.marker", alpha.couples[0].a.pk)]


def test_record_of_is_a_partners_access_report(worlds, integration_for):
    alpha, _ = worlds
    couple = alpha.couples[0]
    audit_record(actor=alpha.clinician.user, action="test.mine", target=couple.a)
    audit_record(actor=alpha.clinician.user, action="test.theirs", target=couple.b)
    audit_record(actor=alpha.clinician.user, action="test.shared", target=couple.couple)
    api = integration_for(alpha.practice, scopes="read audit:read").api
    report = api.get(URL, {"record_of": couple.a.pk, "page_size": 200}).json()["results"]
    actions = {row["action"] for row in report}
    assert {"test.mine", "test.shared"} <= actions and "test.theirs" not in actions


def test_without_the_scope_or_the_role_nothing_is_shown(worlds, integration_for, api_as):
    alpha, _ = worlds
    body = assert_problem(integration_for(alpha.practice, scopes="read reports:read").api.get(URL), 403)
    assert "audit:read" in body["detail"]
    assert api_as(alpha.clinician.user).get(URL).status_code == 404
    assert api_as(alpha.supervisor.user).get(URL).status_code == 404
    assert api_as(alpha.admin.user).get(URL).status_code == 200


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "from"),
        ({"from": "2015-01-01", "to": "2026-01-01"}, "from"),
        ({"partner": "1.5"}, "partner"),
        ({"surface": "fax"}, "surface"),
        ({"object_type": "x" * 65}, "object_type"),
    ],
)
def test_a_bad_filter_is_a_problem_naming_it(worlds, integration_for, params, field):
    alpha, _ = worlds
    body = assert_problem(integration_for(alpha.practice, scopes="read audit:read").api.get(URL, params), 400)
    assert field in body.get("errors", body.get("invalid_params", body))  # named in the problem


def test_another_practices_partner_is_refused_as_unknown(worlds, integration_for):
    alpha, bravo = worlds
    api = integration_for(alpha.practice, scopes="read audit:read").api
    for name in ("partner", "record_of"):
        assert_problem(api.get(URL, {name: bravo.couples[0].a.pk}), 400)
