"""Property-based tests of the whole API from its own OpenAPI schema (schemathesis).

Every operation in ``/api/schema/`` is called in-process (WSGI, no server) with generated
requests — valid and invalid bodies, query strings and path ids — as a real integration client
(an OAuth2 client-credentials token from ``/o/token/`` holding every scope there is) and as
signed-in clinicians (a session cookie plus a CSRF token). Every response must be no 5xx and must
match the schema: a documented status code, a documented content type, a body that validates
(formats included), documented headers.

Generated bodies rarely get past the rules (a third partner, a session in the past, answers that
fit no instrument), so the first request of each operation is a valid one (``VALID``) and every
operation must have answered each caller the schema documents for it with a 2xx at least once:
otherwise its success responses, the ones integrations read, would never be checked. The
integration client is documented for every operation but the clinical writes and the safety
flags (clinicians only); the clinicians for all of them.

Checks that judge business rules are left out on purpose: ``positive_data_acceptance`` expects a
schema-valid body to be accepted, but a schema-valid check-in can still name another practice's
partner, an inactive partner or a completed occurrence, and the services rightly answer 400/404/409;
likewise ``negative_data_rejection`` / ``missing_required_header`` / ``unsupported_method`` /
``use_after_free`` / ``ignored_auth`` judge behaviour the schema cannot express (e.g. DRF ignores
unknown query parameters). What is checked here is that the contract (the schema) holds.
"""

import datetime
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import StringIO
from types import SimpleNamespace

import pytest
import schemathesis
from django.core.cache import cache
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from django.utils import timezone
from hypothesis import HealthCheck, settings
from oauth2_provider.settings import oauth2_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import config.wsgi

pytestmark = [pytest.mark.schemathesis, pytest.mark.django_db]


def _pytest_nodeid_shim() -> None:
    """schemathesis 4.32 renames the running item through ``node._nodeid`` (so each operation is
    reported as ``test[GET /api/v1/...]``); pytest 9.2 keeps the id as ``node._id`` (a NodeId)
    and has no ``_nodeid``. Give Node that attribute back until schemathesis follows."""
    from _pytest.nodeid import coerce_node_id
    from _pytest.nodes import Node

    if "_nodeid" in vars(Node) or not hasattr(Node, "id"):
        return
    Node._nodeid = property(
        lambda node: str(node._id), lambda node, value: setattr(node, "_id", coerce_node_id(value))
    )


_pytest_nodeid_shim()

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
SCOPES = " ".join(oauth2_settings.SCOPES)  # every scope there is, so no operation is refused for one
# Small enough that the whole module runs well inside two minutes on two cores (pytest -n 2),
# and derandomized so CI sees the same cases every run.
HYPOTHESIS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


# THE APPLICATION IN-PROCESS
# ------------------------------------------------------------------------------
@contextmanager
def _on_the_test_connection() -> Iterator[None]:
    """The WSGI app runs in this thread, so it uses the test's own database connection and sees
    the rows this test created inside pytest-django's transaction (so ``transaction=False`` is
    right, and everything is rolled back at the end). But Django's WSGI handler closes a
    connection that is not in autocommit after each request (``close_old_connections`` on
    request_started/finished), which on PostgreSQL would end the test's transaction: keep the
    handler off it for the call, as Django's test Client does (and, like it, per request: the
    Client reconnects the handler when it is done)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(db):
    """Two practices with every role and a row of every PHI model (built by the services), the
    practice's own rows too (a webhook endpoint and its deliveries, a licensed instrument,
    reminders, a homework template), and a partner with neither email nor phone."""
    from couples.services import partner_update
    from tests.factories import build_practice_world

    alpha = build_practice_world("alpha", practice_rows=True)
    partner_update(
        user=alpha.clinician.user, partner=alpha.couples[0].b, email="", phone="", preferred_channel="none"
    )
    return {"alpha": alpha, "bravo": build_practice_world("bravo", practice_rows=True)}


# Path ids and body references are generated as random integers, which would almost always be a
# 404 or a 400. Half of the generated ids are replaced by ids that exist (in either practice, so
# out-of-scope rows are exercised too), to reach the code behind them.
def _known_ids() -> dict[str, list[int]]:
    """Resource (the first path part after /api/v1/) → existing ids, from the API's own router,
    so a resource added later is covered too."""
    from cyclecare.api.urls import router

    return {
        prefix: sorted(viewset.model.objects.values_list("pk", flat=True))
        for prefix, viewset, _ in router.registry
        if getattr(viewset, "model", None) is not None
    }


# A request-body field → the resource its id names.
BODY_REFERENCES = {
    "couple": "couples",
    "partner": "partners",
    "pursuer": "partners",
    "withdrawer": "partners",
    "instrument": "instruments",
    "occurrence": "occurrences",
    "session": "sessions",
    "primary_clinician": "clinicians",
}


def _pick(ids: list[int], value: object) -> object:
    """Every other generated integer becomes an existing id (deterministically). Path
    parameters arrive as strings, body fields as numbers."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        return value
    if not ids or number % 2:
        return value
    return ids[(number // 2) % len(ids)]


@pytest.fixture
def api_schema(world):
    with _on_the_test_connection():
        schema = schemathesis.openapi.from_wsgi("/api/schema/", config.wsgi.application)
    known = _known_ids()

    @schema.hook
    def map_path_parameters(context, path_parameters):
        resource = context.operation.path.removeprefix("/api/v1/").split("/")[0]
        if path_parameters and "id" in path_parameters:
            path_parameters["id"] = _pick(known.get(resource, []), path_parameters["id"])
        return path_parameters

    @schema.hook
    def map_body(context, body):
        if isinstance(body, dict):
            for field, resource in BODY_REFERENCES.items():
                if field in body:
                    body[field] = _pick(known[resource], body[field])
            if isinstance(body.get("partners"), list):
                body["partners"] = [_pick(known["partners"], value) for value in body["partners"]]
            if isinstance(body.get("positions"), list):
                for position in body["positions"]:
                    if isinstance(position, dict) and "partner" in position:
                        position["partner"] = _pick(known["partners"], position["partner"])
        return body

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


# A VALID REQUEST FOR EVERY OPERATION
# ------------------------------------------------------------------------------
# Practice alpha's rows that detail routes are called with (resource: the first path part after
# /api/v1/). Couple 0 is treated by alpha's clinician, whom alpha's supervisor supervises.
ROW: dict[str, Callable[[SimpleNamespace], object]] = {
    "assignments": lambda w: w.couples[0].assignment,
    "checkins": lambda w: w.couples[0].checkin,
    "clinicians": lambda w: w.clinician,
    "couples": lambda w: w.couples[0].couple,
    "cycle-maps": lambda w: w.couples[0].cycle_map,
    "episodes": lambda w: w.couples[0].episode,
    "homework-templates": lambda w: w.own_homework_template,
    "instruments": lambda w: w.instrument,
    "notes": lambda w: w.couples[0].note,
    "occurrences": lambda w: w.couples[0].occurrence,
    "partners": lambda w: w.couples[0].a,
    "practices": lambda w: w.practice,
    "reminder-deliveries": lambda w: w.couples[0].reminder,
    "safety-flags": lambda w: w.couples[0].flag,
    "sessions": lambda w: w.couples[0].session,
    "webhook-deliveries": lambda w: w.couples[0].delivery,
    "webhook-endpoints": lambda w: w.webhook_endpoint,
}


def _at(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _hours_from_now(hours: float) -> str:
    return _at(timezone.now() + datetime.timedelta(hours=hours))


def _scheduled_session(w: SimpleNamespace, *, hours_from_now: float):
    from tests.factories import TherapySessionFactory

    return TherapySessionFactory(
        couple=w.couples[0].couple,
        clinician=w.clinician,
        starts_at=timezone.now() + datetime.timedelta(hours=hours_from_now),
    )


def _held_session_without_note(w: SimpleNamespace):
    from tests.factories import held_session

    return held_session(w.couples[0].couple, days_ago=2, clinician=w.clinician)


def _draft_note(w: SimpleNamespace):
    """A complete draft by alpha's supervisor (the signed-in clinician), on a new held session."""
    from couples.services import note_create

    return note_create(
        user=w.supervisor.user, session=_held_session_without_note(w), data="d", assessment="a", plan="p"
    )


def _couple_without_partners(w: SimpleNamespace):
    from tests.factories import CoupleFactory

    return CoupleFactory(primary_clinician=w.clinician)


def _both_partners(w: SimpleNamespace) -> list[int]:
    return [w.couples[0].a.pk, w.couples[0].b.pk]


# What a valid request sends besides the path id from ROW: a callable of practice alpha's world
# returning ``Case`` arguments. It may make the rows it needs: every request is rolled back.
VALID: dict[str, Callable[[SimpleNamespace], dict]] = {
    "GET /api/v1/cycle-maps/current/": lambda w: {"query": {"couple": w.couples[0].couple.pk}},
    # A supervisor may name themselves; an integration client must name someone.
    "POST /api/v1/couples/": lambda w: {
        "body": {"label": "New couple", "primary_clinician": w.supervisor.pk}
    },
    "PATCH /api/v1/couples/{id}/": lambda w: {"body": {"label": "Renamed", "eft_step": 4}},
    "POST /api/v1/couples/{id}/status/": lambda w: {"body": {"status": "paused"}},
    "POST /api/v1/partners/": lambda w: {
        "body": {
            "couple": _couple_without_partners(w).pk,
            "display_name": "New partner",
            "time_zone": "America/Chicago",
            "email": None,
            "preferred_channel": "none",
        }
    },
    "PATCH /api/v1/partners/{id}/": lambda w: {"body": {"display_name": "Renamed", "phone": "+15551234567"}},
    "POST /api/v1/partners/{id}/consents/": lambda w: {
        "body": {"kind": "email", "granted": True, "method": "verbal"}
    },
    "POST /api/v1/sessions/": lambda w: {
        "body": {
            "couple": w.couples[0].couple.pk,
            "starts_at": _hours_from_now(7 * 24),
            "kind": "individual",
            "partner": w.couples[0].a.pk,
        }
    },
    "POST /api/v1/sessions/{id}/reschedule/": lambda w: {
        "path_parameters": {"id": _scheduled_session(w, hours_from_now=24).pk},
        "body": {"starts_at": _hours_from_now(48)},
    },
    "POST /api/v1/sessions/{id}/outcome/": lambda w: {
        "path_parameters": {"id": _scheduled_session(w, hours_from_now=-1).pk},
        "body": {"status": "held", "attendees": _both_partners(w)},
    },
    "POST /api/v1/notes/": lambda w: {
        "body": {"session": _held_session_without_note(w).pk, "format": "dap", "data": "They slowed it down."}
    },
    "PATCH /api/v1/notes/{id}/": lambda w: {
        "path_parameters": {"id": _draft_note(w).pk},
        "body": {"plan": "Keep practising the pause."},
    },
    "POST /api/v1/notes/{id}/sign/": lambda w: {"path_parameters": {"id": _draft_note(w).pk}},
    # Couple 1's note is signed by a pre-licensed clinician whom alpha's supervisor supervises.
    "POST /api/v1/notes/{id}/co-sign/": lambda w: {"path_parameters": {"id": w.couples[1].note.pk}},
    "POST /api/v1/notes/{id}/addenda/": lambda w: {"body": {"body": "Called them back."}},
    "POST /api/v1/cycle-maps/": lambda w: {
        "body": {
            "couple": w.couples[0].couple.pk,
            "positions": [
                {"partner": w.couples[0].a.pk, "move": "pursue"},
                {"partner": w.couples[0].b.pk, "move": "withdraw"},
            ],
            "summary": "Pursue–withdraw at bedtime.",
        }
    },
    "POST /api/v1/episodes/": lambda w: {
        "body": {
            "couple": w.couples[0].couple.pk,
            "occurred_at": _hours_from_now(-2),
            "intensity": 4,
            "pursuer": w.couples[0].a.pk,
            "withdrawer": w.couples[0].b.pk,
            "session": w.couples[0].session.pk,
        }
    },
    "POST /api/v1/assignments/": lambda w: {
        "body": {
            "couple": w.couples[0].couple.pk,
            "partners": _both_partners(w),
            "kind": "check_in",
            "title": "Weekly measure",
            "instrument": w.instrument.pk,
            "schedule": "daily",
            "local_time": "20:00",
            "starts_on": timezone.localdate().isoformat(),
        }
    },
    "POST /api/v1/assignments/{id}/status/": lambda w: {"body": {"status": "paused"}},
    "POST /api/v1/homework-templates/": lambda w: {
        "body": {
            "code": "evening-measure",
            "name": "Evening measure",
            "kind": "check_in",
            "instructions": "Answer the question.",
            "instrument": w.instrument.pk,
            "schedule": "daily",
            "local_time": "20:00",
        }
    },
    "POST /api/v1/homework-templates/{id}/assign/": lambda w: {
        "body": {"couple": w.couples[0].couple.pk, "partners": _both_partners(w)}
    },
    "POST /api/v1/checkins/": lambda w: {
        "body": {"partner": w.couples[0].a.pk, "instrument": w.instrument.pk, "answers": {"q1": 2}}
    },
    "POST /api/v1/safety-flags/{id}/resolve/": lambda w: {
        "body": {"resolution_note": "Safety plan reviewed."}
    },
    "POST /api/v1/webhook-endpoints/": lambda w: {
        "body": {"url": "https://hooks.alpha.invalid/new", "events": ["note.signed", "checkin.completed"]}
    },
    "PATCH /api/v1/webhook-endpoints/{id}/": lambda w: {"body": {"description": "Renamed"}},
}


def _resource(path: str) -> str:
    return path.removeprefix("/api/v1/").split("/")[0]


def _valid_case(operation, w: SimpleNamespace):
    arguments: dict = {}
    if "{id}" in operation.path:
        arguments["path_parameters"] = {"id": ROW[_resource(operation.path)](w).pk}
    recipe = VALID.get(operation.label)
    if recipe is not None:
        arguments.update(recipe(w))
    if "body" in arguments:
        arguments["media_type"] = "application/json"
    return operation.Case(**arguments)


# WHO CALLS, AND WHAT EACH OPERATION ANSWERED
# ------------------------------------------------------------------------------
@dataclass
class Caller:
    """A principal: its credentials for an operation, the operations the schema documents it
    for (its security scheme), and the status codes each operation answered it with."""

    scheme: str
    credentials: Callable[[str], tuple[dict[str, str], dict[str, str]]]  # resource → headers, cookies
    world: SimpleNamespace
    documented: set[str] = field(default_factory=set)
    answers: defaultdict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    valid_sent: set[str] = field(default_factory=set)

    def never_succeeded(self) -> list[str]:
        return sorted(
            label
            for label in self.documented
            if not any(200 <= status < 300 for status in self.answers[label])
        )


def _documented(raw_schema: dict, scheme: str) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, operations in raw_schema["paths"].items()
        for method, operation in operations.items()
        if any(scheme in requirement for requirement in operation.get("security", []))
    }


@contextmanager
def _caller(api_schema, scheme: str, credentials, world) -> Iterator[Caller]:
    caller = Caller(scheme, credentials, world["alpha"], _documented(api_schema.raw_schema, scheme))
    yield caller
    never = caller.never_succeeded()
    assert not never, (
        f"operations documented for {scheme} that never answered it with a 2xx, so their success "
        f"responses were not checked against the schema (fix VALID or the operation): {never}"
    )


def _send(caller: Caller, make_case: Callable[[], object]):
    """One request, validated, and rolled back so that every case starts from the same rows
    (reproducible) and a failed statement cannot poison the test's transaction. ``make_case``
    runs inside the transaction, so the rows it makes are rolled back too."""
    cache.clear()  # no case is throttled by the ones before it
    with _on_the_test_connection(), transaction.atomic():
        try:
            case = make_case()
            headers, cookies = caller.credentials(_resource(case.operation.path))
            response = case.call(headers=headers, cookies=cookies)
            if case.method.upper() == case.operation.method.upper():  # not a probe of another method
                caller.answers[case.operation.label].add(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers)
            return response
        finally:
            transaction.set_rollback(True)


def _call(case, caller: Caller) -> None:
    """The generated case, after (once per operation) a valid request of the caller's."""
    operation = case.operation
    if operation.label in caller.documented and operation.label not in caller.valid_sent:
        response = _send(caller, lambda: _valid_case(operation, caller.world))
        assert 200 <= response.status_code < 300, (
            f"the valid request of VALID/ROW for {operation.label} was answered "
            f"{response.status_code}: {response.text[:500]}"
        )
        caller.valid_sent.add(operation.label)
    _send(caller, lambda: case)


# AS AN INTEGRATION CLIENT
# ------------------------------------------------------------------------------
@pytest.fixture
def integration(api_schema, world) -> Iterator[Caller]:
    """A real token of practice alpha: a client made by the management command with every
    scope, its credentials POSTed to /o/token/."""
    out = StringIO()
    call_command(
        "create_integration_client",
        practice="alpha",
        name="Schemathesis",
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
    token = response.json()
    assert set(token["scope"].split()) == set(SCOPES.split())
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    with _caller(api_schema, "oauth2", lambda resource: (headers, {}), world) as caller:
        yield caller


@schema.parametrize()
@HYPOTHESIS
def test_api_as_integration_client(case, integration):
    _call(case, integration)


# AS SIGNED-IN CLINICIANS
# ------------------------------------------------------------------------------
# Webhooks are the practice's plumbing: its admin manages them (a supervisor sees none). The
# rest is called by practice alpha's supervisor, who sees both treating clinicians' couples.
ROLE_FOR_RESOURCE = {"webhook-endpoints": "admin", "webhook-deliveries": "admin", "audit-events": "admin"}


@pytest.fixture
def clinicians(api_schema, world) -> Iterator[Caller]:
    """Session cookies from force_login, and a CSRF token so unsafe methods get past CSRF to
    the code."""
    csrf_token = get_token(RequestFactory().get("/"))
    sessions = {}
    for role in ("supervisor", "admin"):
        client = Client()
        client.force_login(getattr(world["alpha"], role).user)
        sessions[role] = client.cookies["sessionid"].value

    def credentials(resource: str) -> tuple[dict[str, str], dict[str, str]]:
        session_id = sessions[ROLE_FOR_RESOURCE.get(resource, "supervisor")]
        return {"X-CSRFToken": csrf_token}, {"sessionid": session_id, "csrftoken": csrf_token}

    with _caller(api_schema, "cookieAuth", credentials, world) as caller:
        yield caller


@schema.parametrize()
@HYPOTHESIS
def test_api_as_clinician(case, clinicians):
    _call(case, clinicians)
