"""Stateful API fuzzing with two practices' tokens (schemathesis state machine).

schemathesis infers the links between operations from the schema (a ``POST /couples/`` answers a
couple whose id ``GET /couples/{id}/``, ``PATCH`` and the sub-routes take) and chains calls with
the rows the API really returned. Practice alpha's integration client drives the chain; after
every call that reached one of alpha's rows by its id (answered anything but a 404), the same
request is sent with practice bravo's token (every scope too) and must be a 404 that changes
nothing — or the very answer bravo gets for an id that exists nowhere (a refusal by role that
looks at no row), never a 2xx, and never a 400 or 403 that would tell bravo the row exists — a row of another
practice does not exist for you, whatever you do to it. Every response is checked against the
schema, as in test_schemathesis.py.
"""

import json
from collections import Counter
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, settings

from cyclecare.models import HomeworkTemplate, Instrument
from tests.api.test_schemathesis import CHECKS, SCOPES, _on_the_test_connection
from tests.api.test_schemathesis import api_schema as api_schema  # fixtures
from tests.api.test_schemathesis import world as world

pytestmark = [pytest.mark.schemathesis, pytest.mark.django_db]
MISSING_ID = 2**31 - 1

# Rows every practice reads by design: the instruments and homework templates cyclecare ships
# (they belong to no practice).
SHARED = {
    "instruments": lambda pk: Instrument.objects.filter(pk=pk, practice=None).exists(),
    "homework-templates": lambda pk: HomeworkTemplate.objects.filter(pk=pk, practice=None).exists(),
}

STATEFUL = settings(
    max_examples=60,
    stateful_step_count=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _token(practice: str) -> dict[str, str]:
    out = StringIO()
    call_command(
        "create_integration_client",
        practice=practice,
        name=f"Stateful {practice}",
        scopes=SCOPES.replace(" ", ","),
        stdout=out,
    )
    credentials = json.loads(out.getvalue().strip().splitlines()[-1])
    response = Client().post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "scope": SCOPES,
        },
    )
    assert response.status_code == 200, response.content
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_links_followed_with_one_practice_are_404_for_the_other(api_schema):
    """``api_schema`` (test_schemathesis.py) turns half the generated ids into rows that exist,
    in either practice, so chains get past their first step."""
    alpha, bravo = _token("alpha"), _token("bravo")
    replayed: Counter[str] = Counter()
    leaks: list[str] = []

    class TwoPractices(api_schema.as_state_machine()):
        def setup(self):
            # Each scenario starts from the same rows (hypothesis replays and shrinks them).
            self.scenario = transaction.atomic()
            self.scenario.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.scenario.__exit__(None, None, None)

        def get_call_kwargs(self, case):
            return {"headers": alpha}

        def call(self, case, **kwargs):
            cache.clear()  # no call is throttled by the ones before it
            # A savepoint per call: a request that fails half-way leaves the chain's rows intact.
            with _on_the_test_connection(), transaction.atomic():
                return case.call(**kwargs)

        def after_call(self, response, case):
            # Alpha reached the row (whatever it then said of the request: done, invalid, refused
            # for its role): for bravo it must not exist, so not even a 400 may tell it apart.
            if response.status_code == 404 or not case.path_parameters or response.status_code >= 500:
                return
            with _on_the_test_connection(), transaction.atomic():
                other = case.call(headers=bravo)
                transaction.set_rollback(True)  # if it were not refused, nothing it did is kept
            resource = case.operation.path.removeprefix("/api/v1/").split("/")[0]
            shared = SHARED.get(resource, lambda pk: False)(case.path_parameters.get("id"))
            replayed[case.operation.label] += 1
            if other.status_code == 404 or shared:
                return
            # Refused before any row is looked at (an integration client may not write notes):
            # the same answer as for a row that does not exist tells bravo nothing.
            asked = dict(case.path_parameters)
            case.path_parameters["id"] = MISSING_ID
            try:
                with _on_the_test_connection(), transaction.atomic():
                    missing = case.call(headers=bravo)
                    transaction.set_rollback(True)
            finally:
                case.path_parameters.clear()
                case.path_parameters.update(asked)
            if 200 <= other.status_code < 300 or other.status_code != missing.status_code:
                leaks.append(
                    f"{case.method} {case.formatted_path} as bravo → {other.status_code} "
                    f"(a row that does not exist → {missing.status_code})"
                )

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, headers=kwargs.get("headers"))

    TwoPractices.run(settings=STATEFUL)
    assert not leaks, leaks
    # The links were really followed: rows created in the chain were read and changed by id.
    assert len(replayed) >= 5, replayed
    assert any(label.startswith(("PATCH", "POST", "DELETE")) for label in replayed), replayed
