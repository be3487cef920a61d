"""The API's scoping matrix: every route under /api/v1/ × every role × an object of the caller's
own practice and one of another practice. Routes are found by walking the URL conf, so a new
route without an entry in the tables below fails the suite (test_every_api_route_is_in_the_matrix)
and its cells fail too.

The rule (DESIGN §4; DECISIONS 6 and 9): an integration client sees only its practice; a
clinician their couples (a supervisor also their supervisees'); a practice admin the practice's
administrative records and aggregates, but no note bodies, answers or flags of couples they do
not treat. An object outside the caller's scope is a 404 on every method — the same answer as
an id that does not exist — and never appears in a list; a foreign key to one in a body is a
400 naming the field, and nothing is written.

Two practices ("alpha", the callers'; "bravo", the foreign one) are built once per module (and
per xdist worker) in a transaction rolled back at the end; each test runs in a savepoint of it,
so a write that wrongly succeeds cannot leak into the next cell.
"""

import datetime
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import urlencode

import django_filters
import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework import serializers
from rest_framework.relations import ManyRelatedField, RelatedField
from rest_framework.test import APIClient

from clinician.api.permissions import integrations_may_call
from clinician.models import AuditEvent, Clinician
from couples.api import serializers as couples_serializers
from couples.api import sessions as sessions_api
from couples.models import Couple, Partner, SessionNote, TherapySession
from cyclecare.api import checkins as checkins_api
from cyclecare.api import cycle as cycle_api
from cyclecare.api import homework as homework_api
from cyclecare.models import (
    Assignment,
    CheckIn,
    CycleEpisode,
    CycleMap,
    HomeworkTemplate,
    Instrument,
    Occurrence,
    ReminderDelivery,
    SafetyFlag,
    WebhookDelivery,
    WebhookEndpoint,
)
from cyclecare.services import homework_template_create
from tests.api.conftest import assert_problem
from tests.factories import build_practice_world, integration_client

API_PREFIX = "api/v1/"
PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROLES = ("admin", "supervisor", "clinician", "prelicensed", "outsider", "integration")
INTEGRATION_SCOPES = "read write notes:read reports:read audit:read"
# An id no row has: out of scope and nonexistent must look the same.
MISSING_ID = 2_147_483_647


# THE ROUTES, FROM THE URL CONF
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiRoute:
    name: str  # relative to the API's version namespace: "v1:session-detail"
    reverse_name: str  # with the namespaces the host mounted it under
    text: str
    id_kwarg: str | None  # "pk" (or "id") on detail routes
    other_kwargs: frozenset[str]
    methods: frozenset[str]
    view: type

    @property
    def detail(self) -> bool:
        return self.id_kwarg is not None

    def url(self, pk: int | None = None, query: dict | None = None) -> str:
        kwargs = {self.id_kwarg: pk} if self.detail else None
        path = reverse(self.reverse_name, kwargs=kwargs)
        return f"{path}?{urlencode(query)}" if query else path


def _walk(resolver, prefix: str = "", namespaces: tuple[str, ...] = ()) -> Iterator[tuple]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = (*namespaces, pattern.namespace) if pattern.namespace else namespaces
            yield from _walk(pattern, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), namespaces, pattern


UNPROBED_METHODS = ("options", "head", "trace")


def _view(callback) -> type:
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback


def _methods(callback) -> frozenset[str]:
    """What the route answers: a viewset's bound actions, an APIView's handlers (a plain
    function view: anything)."""
    actions = getattr(callback, "actions", None)
    if actions:
        # DRF adds "head" to a viewset's actions on its first GET.
        return frozenset(method.upper() for method in actions if method not in UNPROBED_METHODS)
    view = _view(callback)
    if not isinstance(view, type):
        return frozenset(PROBED_METHODS)
    return frozenset(
        method.upper()
        for method in view.http_method_names
        if method not in UNPROBED_METHODS and hasattr(view, method)
    )


def api_routes() -> list[ApiRoute]:
    routes = []
    for text, namespaces, pattern in _walk(get_resolver()):
        if not text.startswith(API_PREFIX):
            continue
        callback = pattern.callback
        kwargs = set(pattern.pattern.regex.groupindex)
        id_kwarg = next((name for name in ("pk", "id") if name in kwargs), None)
        short = ":".join((*namespaces[-1:], pattern.name or f"<unnamed {text}>"))
        routes.append(
            ApiRoute(
                name=short,
                reverse_name=":".join((*namespaces, pattern.name or "")),
                text=text,
                id_kwarg=id_kwarg,
                other_kwargs=frozenset(kwargs - {id_kwarg}),
                methods=_methods(callback),
                view=_view(callback),
            )
        )
    return routes


ROUTES = api_routes()


# WHAT EACH ROUTE IS PROBED WITH
# ------------------------------------------------------------------------------
# Who in a practice may read an object (couple 0 is treated by "clinician", supervised by
# "supervisor"; "prelicensed" treats couple 1; "outsider" treats nobody).
PRACTICE = "practice"  # every clinician and integration client of the practice
ADMINISTRATIVE = "administrative"  # the treating clinician, supervisor, practice admin, integrations
CLINICAL = "clinical"  # the treating clinician and supervisor, integrations (notes: notes:read)
PLUMBING = "plumbing"  # the practice admin and integrations (webhooks)
WHO_SEES = {
    PRACTICE: set(ROLES),
    ADMINISTRATIVE: {"admin", "supervisor", "clinician", "integration"},
    CLINICAL: {"supervisor", "clinician", "integration"},
    PLUMBING: {"admin", "integration"},
}


@dataclass(frozen=True)
class Probe:
    """How a route that addresses one object is probed: which object of a practice's world
    (couple 0's row, or the practice's own), who in that practice may read it, and a valid body
    for its writes (so a refusal can only be about scope)."""

    pk: Callable[[SimpleNamespace], int]
    scope: str
    body: dict = field(default_factory=dict)
    # Set on list-level routes that name their object in the query string.
    query: str | None = None
    # False: integration tokens are refused the whole endpoint (403), whatever the object.
    integrations: bool = True
    # False: integration tokens may read it, but every other method is refused (403), whatever the
    # object: the clinical record, which only clinicians write.
    integration_writes: bool = True


def couple0(attribute: str) -> Callable[[SimpleNamespace], int]:
    return lambda world: getattr(world.couples[0], attribute).pk


OBJECT_FOR_ROUTE: dict[str, Probe] = {
    "v1:practice-detail": Probe(lambda world: world.practice.pk, PRACTICE),
    "v1:clinician-detail": Probe(lambda world: world.clinician.pk, PRACTICE),
    "v1:instrument-detail": Probe(lambda world: world.instrument.pk, PRACTICE),
    "v1:session-detail": Probe(couple0("session"), ADMINISTRATIVE),
    "v1:session-reschedule": Probe(
        couple0("session"), ADMINISTRATIVE, body={"starts_at": "2030-01-07T15:00:00Z"}
    ),
    "v1:session-outcome": Probe(couple0("session"), ADMINISTRATIVE, body={"status": "held"}),
    "v1:note-detail": Probe(
        couple0("note"), CLINICAL, body={"plan": "Keep practising the pause."}, integration_writes=False
    ),
    "v1:note-addenda": Probe(
        couple0("note"), CLINICAL, body={"body": "Called them back."}, integration_writes=False
    ),
    "v1:note-sign": Probe(couple0("note"), CLINICAL, integration_writes=False),
    "v1:note-cosign": Probe(couple0("note"), CLINICAL, integration_writes=False),
    "v1:couple-detail": Probe(couple0("couple"), ADMINISTRATIVE, body={"label": "Renamed"}),
    "v1:couple-set-status": Probe(couple0("couple"), ADMINISTRATIVE, body={"status": "paused"}),
    "v1:couple-fhir": Probe(couple0("couple"), ADMINISTRATIVE),
    "v1:partner-detail": Probe(couple0("a"), ADMINISTRATIVE, body={"display_name": "Renamed"}),
    "v1:partner-consents": Probe(
        couple0("a"), ADMINISTRATIVE, body={"kind": "email", "granted": True, "method": "verbal"}
    ),
    "v1:partner-deactivate": Probe(couple0("a"), ADMINISTRATIVE),
    "v1:cycle-map-detail": Probe(couple0("cycle_map"), CLINICAL, integration_writes=False),
    "v1:cycle-map-current": Probe(couple0("couple"), CLINICAL, query="couple", integration_writes=False),
    "v1:episode-detail": Probe(couple0("episode"), CLINICAL, integration_writes=False),
    "v1:assignment-detail": Probe(couple0("assignment"), CLINICAL, integration_writes=False),
    "v1:assignment-set-status": Probe(
        couple0("assignment"), CLINICAL, body={"status": "paused"}, integration_writes=False
    ),
    "v1:occurrence-detail": Probe(couple0("occurrence"), CLINICAL),
    # The homework library is the practice's: every clinician reads it; assigning is clinical,
    # but a template out of scope is a 404 before the body (its couple) is looked at.
    "v1:homework-template-detail": Probe(
        lambda world: world.homework_template.pk, PRACTICE, integration_writes=False
    ),
    "v1:homework-template-assign": Probe(
        lambda world: world.homework_template.pk, PRACTICE, integration_writes=False
    ),
    "v1:checkin-detail": Probe(couple0("checkin"), CLINICAL),
    # The reminder log is administrative: a practice admin sees the practice's.
    "v1:reminder-delivery-detail": Probe(couple0("reminder"), ADMINISTRATIVE),
    "v1:safety-flag-detail": Probe(couple0("flag"), CLINICAL, integrations=False),
    "v1:safety-flag-acknowledge": Probe(couple0("flag"), CLINICAL, integrations=False),
    "v1:safety-flag-resolve": Probe(
        couple0("flag"), CLINICAL, body={"resolution_note": "Safety plan reviewed."}, integrations=False
    ),
    "v1:webhook-endpoint-detail": Probe(
        lambda world: world.webhook_endpoint.pk, PLUMBING, body={"description": "Renamed"}
    ),
    "v1:webhook-delivery-detail": Probe(couple0("delivery"), PLUMBING),
}


def _practice_of(model: type) -> Callable[[dict], int | None]:
    return lambda row: model.objects.values_list("practice_id", flat=True).get(pk=row["id"])


def _clinician_row_practice(row: dict) -> int | None:
    return Clinician.objects.values_list("practice_id", flat=True).get(pk=row["clinician"])


def _instrument_row_practice(row: dict) -> int | None:
    # Each practice's licensed measure has its own code; shipped ones have no practice.
    (practice_id,) = set(
        Instrument.objects.filter(code=row["instrument_code"]).values_list("practice_id", flat=True)
    )
    return practice_id


# List routes (and aggregates): the practice a returned row belongs to (None: shared by all).
LIST_ROW_PRACTICE: dict[str, Callable[[dict], int | None]] = {
    "v1:practice-list": lambda row: row["id"],
    "v1:clinician-list": _practice_of(Clinician),
    "v1:instrument-list": _practice_of(Instrument),
    "v1:session-list": _practice_of(TherapySession),
    "v1:note-list": _practice_of(SessionNote),
    "v1:couple-list": _practice_of(Couple),
    "v1:partner-list": _practice_of(Partner),
    "v1:cycle-map-list": _practice_of(CycleMap),
    "v1:episode-list": _practice_of(CycleEpisode),
    "v1:assignment-list": _practice_of(Assignment),
    "v1:homework-template-list": _practice_of(HomeworkTemplate),
    "v1:occurrence-list": _practice_of(Occurrence),
    "v1:checkin-list": _practice_of(CheckIn),
    "v1:safety-flag-list": _practice_of(SafetyFlag),
    "v1:reminder-delivery-list": _practice_of(ReminderDelivery),
    "v1:webhook-endpoint-list": _practice_of(WebhookEndpoint),
    "v1:webhook-delivery-list": _practice_of(WebhookDelivery),
    "v1:report-caseload": _clinician_row_practice,
    "v1:report-adherence": _clinician_row_practice,
    "v1:report-engagement": _clinician_row_practice,
    "v1:report-outcomes": _instrument_row_practice,
    "v1:report-delivery": _clinician_row_practice,
    "v1:report-cycle-trends": _clinician_row_practice,
    "v1:report-safety": _clinician_row_practice,
    "v1:audit-event-list": _practice_of(AuditEvent),
}
LISTS_REFUSED_TO_INTEGRATIONS = {"v1:safety-flag-list"}
# The audit trail is the practice admin's (and an integration's with audit:read): to any other
# clinician it does not exist.
LISTS_FOR_PRACTICE_ADMINS = {"v1:audit-event-list"}

# Every id filter the lists offer, pointed at a practice's couple 0 — consistently, so that
# together they would still match its rows if a filter crossed practices.
ID_FILTERS: dict[str, Callable[[SimpleNamespace], int]] = {
    "couple": couple0("couple"),
    "partner": couple0("a"),
    "session": couple0("session"),
    "assignment": couple0("assignment"),
    "occurrence": couple0("occurrence"),
    "instrument": lambda world: world.instrument.pk,
    "clinician": lambda world: world.clinician.pk,
    "author": lambda world: world.clinician.pk,
    "primary_clinician": lambda world: world.clinician.pk,
    "supervisor": lambda world: world.supervisor.pk,
    "endpoint": lambda world: world.webhook_endpoint.pk,
}

# Aggregates must count the caller's scope only: couples in each role's administrative scope
# (every couple has one held session, one open flag and one partner scored twice).
COUPLES_IN_REPORT_SCOPE = {
    "admin": 2,
    "supervisor": 2,
    "clinician": 1,
    "prelicensed": 1,
    "outsider": 0,
    "integration": 2,
}
REPORT_FIGURES: dict[str, Callable[[dict], tuple[int, ...]]] = {
    "v1:report-caseload": lambda body: (
        sum(body["total"][f"{status}_couples"] for status in ("active", "paused", "discharged")),
        body["total"]["sessions_held"],
        body["total"]["open_safety_flags"],
    ),
    # Per clinician rows only: each instrument's practice total follows them (clinician null).
    "v1:report-outcomes": lambda body: (
        sum(row["partners"] for row in body["rows"] if row["clinician"] is not None),
    ),
}


@dataclass(frozen=True)
class ForeignKeyProbe:
    """A write whose body names other rows: a valid body from the caller's own practice, and
    for each foreign key in it (a dotted path into nested input), the value that points into
    the other practice instead."""

    serializer: type
    model: type
    body: Callable[[SimpleNamespace], dict]
    foreign: dict[str, Callable[[SimpleNamespace, SimpleNamespace], object]]
    method: str = "POST"
    # The caller's own object a detail route writes to (None: a create on a list route).
    target: Callable[[SimpleNamespace], int] | None = None


def _episode_body(world: SimpleNamespace) -> dict:
    case = world.couples[0]
    return {
        "couple": case.couple.pk,
        "occurred_at": "2025-01-05T19:30:00Z",
        "intensity": 4,
        "pursuer": case.a.pk,
        "withdrawer": case.b.pk,
        "session": case.session.pk,
    }


def _assignment_body(world: SimpleNamespace) -> dict:
    case = world.couples[0]
    return {
        "couple": case.couple.pk,
        "partners": [case.a.pk, case.b.pk],
        "kind": "check_in",
        "title": "Weekly measure",
        "instrument": world.instrument.pk,
        "schedule": "daily",
        "local_time": "20:00",
        "starts_on": "2030-01-01",
    }


def _homework_assign_body(world: SimpleNamespace) -> dict:
    case = world.couples[0]
    return {"couple": case.couple.pk, "partners": [case.a.pk, case.b.pk], "starts_on": "2030-01-01"}


def _homework_template_body(world: SimpleNamespace) -> dict:
    return {
        "code": "check-in-template",
        "name": "Evening measure",
        "kind": "check_in",
        "instructions": "Answer the five questions.",
        "instrument": world.instrument.pk,
        "schedule": "daily",
        "local_time": "20:00",
    }


def _cycle_map_body(world: SimpleNamespace) -> dict:
    case = world.couples[0]
    return {
        "couple": case.couple.pk,
        "positions": [
            {"partner": case.a.pk, "move": "pursue"},
            {"partner": case.b.pk, "move": "withdraw"},
        ],
        "summary": "Pursue–withdraw at bedtime.",
    }


# Every write whose body carries a foreign key; None marks a create that carries none.
FOREIGN_KEY_PROBES: dict[str, ForeignKeyProbe | None] = {
    "v1:session-list": ForeignKeyProbe(
        sessions_api.SessionScheduleSerializer,
        TherapySession,
        lambda w: {
            "couple": w.couples[0].couple.pk,
            "starts_at": "2030-01-07T15:00:00Z",
            "kind": "individual",
            "partner": w.couples[0].a.pk,
        },
        {
            "couple": lambda own, other: other.couples[0].couple.pk,
            "partner": lambda own, other: other.couples[0].a.pk,
        },
    ),
    "v1:session-outcome": ForeignKeyProbe(
        sessions_api.SessionOutcomeSerializer,
        TherapySession,
        lambda w: {"status": "held", "attendees": [w.couples[0].a.pk, w.couples[0].b.pk]},
        {"attendees": lambda own, other: [own.couples[0].a.pk, other.couples[0].b.pk]},
        target=couple0("session"),
    ),
    "v1:note-list": ForeignKeyProbe(
        sessions_api.NoteCreateSerializer,
        SessionNote,
        lambda w: {"session": w.couples[0].session.pk, "format": "dap", "data": "They slowed it down."},
        {"session": lambda own, other: other.couples[0].session.pk},
    ),
    "v1:couple-list": ForeignKeyProbe(
        couples_serializers.CoupleCreateSerializer,
        Couple,
        lambda w: {"label": "New couple", "primary_clinician": w.clinician.pk},
        {"primary_clinician": lambda own, other: other.clinician.pk},
    ),
    "v1:couple-detail": ForeignKeyProbe(
        couples_serializers.CoupleUpdateSerializer,
        Couple,
        lambda w: {"label": "Renamed", "primary_clinician": w.clinician.pk},
        {"primary_clinician": lambda own, other: other.clinician.pk},
        method="PATCH",
        target=couple0("couple"),
    ),
    "v1:partner-list": ForeignKeyProbe(
        couples_serializers.PartnerAddSerializer,
        Partner,
        lambda w: {
            "couple": w.couples[0].couple.pk,
            "display_name": "Third partner",
            "time_zone": "America/Chicago",
        },
        {"couple": lambda own, other: other.couples[0].couple.pk},
    ),
    "v1:cycle-map-list": ForeignKeyProbe(
        cycle_api.CycleMapSaveSerializer,
        CycleMap,
        _cycle_map_body,
        {
            "couple": lambda own, other: other.couples[0].couple.pk,
            "positions.partner": lambda own, other: other.couples[0].a.pk,
        },
    ),
    "v1:episode-list": ForeignKeyProbe(
        cycle_api.EpisodeRecordSerializer,
        CycleEpisode,
        _episode_body,
        {
            "couple": lambda own, other: other.couples[0].couple.pk,
            "pursuer": lambda own, other: other.couples[0].a.pk,
            "withdrawer": lambda own, other: other.couples[0].b.pk,
            "session": lambda own, other: other.couples[0].session.pk,
        },
    ),
    "v1:assignment-list": ForeignKeyProbe(
        cycle_api.AssignmentCreateSerializer,
        Assignment,
        _assignment_body,
        {
            "couple": lambda own, other: other.couples[0].couple.pk,
            "partners": lambda own, other: [own.couples[0].a.pk, other.couples[0].b.pk],
            "instrument": lambda own, other: other.instrument.pk,
        },
    ),
    "v1:homework-template-list": ForeignKeyProbe(
        homework_api.HomeworkTemplateCreateSerializer,
        HomeworkTemplate,
        _homework_template_body,
        {"instrument": lambda own, other: other.instrument.pk},
    ),
    # The target is the template; the assignment it would create shows in the audit count.
    "v1:homework-template-assign": ForeignKeyProbe(
        homework_api.HomeworkAssignSerializer,
        HomeworkTemplate,
        _homework_assign_body,
        {
            "couple": lambda own, other: other.couples[0].couple.pk,
            "partners": lambda own, other: [own.couples[0].a.pk, other.couples[0].b.pk],
        },
        target=lambda world: world.homework_template.pk,
    ),
    "v1:checkin-list": ForeignKeyProbe(
        checkins_api.CheckInRecordSerializer,
        CheckIn,
        lambda w: {
            "partner": w.couples[0].a.pk,
            "instrument": w.instrument.pk,
            "answers": {"q1": 2},
            "occurrence": w.couples[0].occurrence.pk,
        },
        {
            "partner": lambda own, other: other.couples[0].a.pk,
            "instrument": lambda own, other: other.instrument.pk,
            "occurrence": lambda own, other: other.couples[0].occurrence.pk,
        },
    ),
    # A URL, events and a description: nothing that names another row.
    "v1:webhook-endpoint-list": None,
}


# THE ROUTE TABLE IS COMPLETE
# ------------------------------------------------------------------------------
def _object_routes() -> list[ApiRoute]:
    """Routes that address one object: detail routes, and list-level ones naming it in the query."""
    return [route for route in ROUTES if route.detail or route.name in OBJECT_FOR_ROUTE]


def _list_routes() -> list[ApiRoute]:
    return [route for route in ROUTES if route not in _object_routes()]


def test_every_api_route_is_in_the_matrix():
    """A new route (or method, or foreign key in a body) needs an entry here before it ships."""
    assert len(ROUTES) > 20, "the URL conf walk found too few API routes"
    names = {route.name for route in ROUTES}
    problems = []
    for route in ROUTES:
        if "<unnamed" in route.name:
            problems.append(f"{route.text}: name the route")
        if route.other_kwargs:
            problems.append(f"{route.name}: teach the matrix the URL kwargs {sorted(route.other_kwargs)}")
        if route.detail and route.name not in OBJECT_FOR_ROUTE:
            problems.append(f"{route.name}: add the object it is probed with to OBJECT_FOR_ROUTE")
        if not route.detail and route.name not in OBJECT_FOR_ROUTE and route.name not in LIST_ROW_PRACTICE:
            problems.append(f"{route.name}: add how to tell a row's practice to LIST_ROW_PRACTICE")
        if not route.detail and "POST" in route.methods and route.name not in OBJECT_FOR_ROUTE:
            if route.name not in FOREIGN_KEY_PROBES:
                problems.append(f"{route.name}: add its create body to FOREIGN_KEY_PROBES")
    for table in (OBJECT_FOR_ROUTE, LIST_ROW_PRACTICE, FOREIGN_KEY_PROBES, REPORT_FIGURES):
        problems += [f"{name}: no such route any more" for name in set(table) - names]
    problems += [f"{name}: not a list route" for name in LISTS_REFUSED_TO_INTEGRATIONS - names]
    for name, probe in OBJECT_FOR_ROUTE.items():
        if probe.query and any(route.name == name and route.detail for route in ROUTES):
            problems.append(f"{name}: a detail route takes its object from the URL, not the query")
    for name, probe in FOREIGN_KEY_PROBES.items():
        route = next((route for route in ROUTES if route.name == name), None)
        if probe is None or route is None:
            continue
        if probe.method not in route.methods:
            problems.append(f"{name}: does not answer {probe.method}")
        creates_with = getattr(route.view, "create_serializer_class", None)
        if probe.target is None and creates_with is not None and creates_with is not probe.serializer:
            problems.append(f"{name}: creates with {creates_with.__name__}, not {probe.serializer.__name__}")
    problems += [
        f"{route.name}: add its id filter {name!r} to ID_FILTERS"
        for route in ROUTES
        for name in _id_filters(route.view)
        if name not in ID_FILTERS
    ]
    assert not problems, "\n".join(problems)


def _id_filters(view: type) -> set[str]:
    """The query parameters of a view's filter set that take another row's id."""
    filterset = getattr(view, "filterset_class", None)
    if filterset is None:
        return set()
    names = set()
    for name, declared in filterset.base_filters.items():
        if not isinstance(declared, django_filters.NumberFilter | django_filters.ModelChoiceFilter):
            continue
        try:
            model_field = filterset._meta.model._meta.get_field(declared.field_name.split("__")[0])
        except FieldDoesNotExist:
            continue
        if model_field.is_relation or model_field.primary_key:
            names.add(name)
    return names


def _api_serializer_classes() -> set[type]:
    """Serializers defined by the modules of the API's views and the serializer modules those
    import (the input shapes live there)."""
    packages = {route.view.__module__.split(".")[0] for route in ROUTES}
    modules = {sys.modules[route.view.__module__] for route in ROUTES}
    for module in list(modules):
        modules |= {
            value
            for value in vars(module).values()
            if inspect.ismodule(value)
            and value.__name__.endswith("serializers")
            and value.__name__.split(".")[0] in packages
        }

    def ours(cls: type) -> bool:
        # Classes built with type() report DRF's module (its metaclass made them), but DRF
        # does not hold them under their name.
        home = sys.modules.get(cls.__module__)
        return cls.__module__.split(".")[0] in packages or getattr(home, cls.__name__, None) is not cls

    return {
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, serializers.BaseSerializer) and ours(value)
    }


def _writable_foreign_keys(serializer, prefix: str, nested: set[type]) -> Iterator[str]:
    for name, declared in serializer.fields.items():
        if declared.read_only:
            continue
        if isinstance(declared, RelatedField | ManyRelatedField):
            yield prefix + name
        elif isinstance(declared, serializers.ListField) and isinstance(declared.child, RelatedField):
            yield prefix + name
        elif isinstance(declared, serializers.ListSerializer):
            nested.add(type(declared.child))
            yield from _writable_foreign_keys(declared.child, f"{prefix}{name}.", nested)
        elif isinstance(declared, serializers.BaseSerializer):
            nested.add(type(declared))
            yield from _writable_foreign_keys(declared, f"{prefix}{name}.", nested)


def test_every_foreign_key_in_a_request_body_is_probed():
    """Each writable foreign key of every input serializer has a cross-practice probe below."""
    nested: set[type] = set()
    found = {
        (cls, path) for cls in _api_serializer_classes() for path in _writable_foreign_keys(cls(), "", nested)
    }
    # An output serializer may leave a key writable (ClinicianSerializer.supervisor: any
    # practice's clinician) only while every route that renders with it is read-only.
    read_only = {
        cls
        for cls, _ in found
        if (routes := [route for route in ROUTES if getattr(route.view, "serializer_class", None) is cls])
        and all(route.methods == {"GET"} for route in routes)
    }
    required = {(cls.__name__, path) for cls, path in found if cls not in nested | read_only}
    probed = {
        (probe.serializer.__name__, path)
        for probe in FOREIGN_KEY_PROBES.values()
        if probe is not None
        for path in probe.foreign
    }
    assert len(required) > 10, "the serializer scan found too few foreign keys"
    assert required - probed == set(), "foreign keys without a probe in FOREIGN_KEY_PROBES"
    assert probed - required == set(), "probes of foreign keys that no longer exist"


# THE TWO PRACTICES
# ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_practices(django_db_setup, django_db_blocker):
    """Practice alpha (the callers) and practice bravo (the foreign rows), built once for the
    module inside a transaction that is rolled back when the module is done."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            own = build_practice_world("alpha", practice_rows=True)
            other = build_practice_world("bravo", practice_rows=True)
            for practice_world in (own, other):
                practice_world.homework_template = homework_template_create(
                    user=practice_world.clinician.user,
                    code="pause-practice",
                    name="Pause practice",
                    kind="practice",
                    instructions="Take a pause and come back.",
                    schedule="daily",
                    local_time=datetime.time(20, 0),
                )
            tokens = {
                world.practice.pk: integration_client(world.practice, scopes=INTEGRATION_SCOPES).token
                for world in (own, other)
            }
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield SimpleNamespace(own=own, other=other, tokens=tokens, markers=_markers(other))
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def world(two_practices, db):
    """The two practices, with this test's writes in a savepoint rolled back after it."""
    return two_practices


def _markers(world: SimpleNamespace) -> list[re.Pattern]:
    """What would betray the foreign practice in a body: its name (every practice-level name
    in the world builder carries it) and its couples' labels and partners' names and emails."""
    texts = [world.practice.slug]
    for case in world.couples:
        texts.append(case.couple.label)
        for partner in (case.a, case.b):
            texts += [partner.display_name, partner.email]
    # Sequence-numbered names: "Couple 1" must not match "Couple 12".
    return [re.compile(rf"{re.escape(text)}(?!\d)", re.IGNORECASE) for text in texts]


def client(world: SimpleNamespace, practice: SimpleNamespace, role: str) -> APIClient:
    api = APIClient()
    if role == "integration":
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[practice.practice.pk]}")
    else:
        api.force_authenticate(user=getattr(practice, role).user)
    return api


def call(api: APIClient, method: str, url: str, body: dict | None = None):
    if method == "GET":
        return api.get(url)
    return api.generic(method, url, json.dumps(body or {}), content_type="application/json")


def assert_nothing_foreign(world: SimpleNamespace, response) -> None:
    text = response.content.decode()
    leaked = [marker.pattern for marker in world.markers if marker.search(text)]
    assert not leaked, f"the body shows the other practice's {leaked}: {text[:500]}"


# EVERY OBJECT ROUTE × ROLE × METHOD, ON THE OTHER PRACTICE'S OBJECT
# ------------------------------------------------------------------------------
def _object_cells() -> Iterator:
    for route in _object_routes():
        for role in ROLES:
            for method in PROBED_METHODS:
                yield pytest.param(route, role, method, id=f"{route.name}-{role}-{method}")


def _probe(route: ApiRoute) -> Probe:
    probe = OBJECT_FOR_ROUTE.get(route.name)
    if probe is None:
        pytest.fail(f"{route.name} has no entry in OBJECT_FOR_ROUTE", pytrace=False)
    return probe


def _url(route: ApiRoute, probe: Probe, pk: int) -> str:
    return route.url(query={probe.query: pk}) if probe.query else route.url(pk)


@pytest.mark.parametrize(("route", "role", "method"), list(_object_cells()))
def test_another_practices_object_is_not_found(world, route, role, method):
    """404 on every method the route answers (405 on the rest), or 403 where the endpoint
    refuses the caller the method; never 2xx, always problem details, nothing of the foreign
    object — and the very answer an id that does not exist gets."""
    probe = _probe(route)
    if role == "integration" and not probe.integrations:
        expected = 403
    elif role == "integration" and method != "GET" and not probe.integration_writes:
        expected = 403
    elif method not in route.methods:
        expected = 405
    else:
        expected = 404
    api = client(world, world.own, role)
    response = call(api, method, _url(route, probe, probe.pk(world.other)), probe.body)
    assert_problem(response, expected)
    assert_nothing_foreign(world, response)
    missing = call(api, method, _url(route, probe, MISSING_ID), probe.body)
    assert (missing.status_code, missing.json()) == (response.status_code, response.json())


# OWN PRACTICE: WHO SEES COUPLE 0'S OBJECTS
# ------------------------------------------------------------------------------
def _own_cells() -> Iterator:
    for route in _object_routes():
        if "GET" in route.methods:
            for role in ROLES:
                yield pytest.param(route, role, id=f"{route.name}-{role}")


@pytest.mark.parametrize(("route", "role"), list(_own_cells()))
def test_own_practice_objects_by_role(world, route, role):
    """The treating clinician and supervisor read couple 0's records; a practice admin its
    administrative ones (couple, partners, sessions) but no note, answer, map or flag; the
    outsider and the clinician treating couple 1 nothing of couple 0; an integration client
    everything of its practice except safety flags (403)."""
    probe = _probe(route)
    pk = probe.pk(world.own)
    response = client(world, world.own, role).get(_url(route, probe, pk))
    if role == "integration" and not probe.integrations:
        assert_problem(response, 403)
    elif role in WHO_SEES[probe.scope]:
        assert response.status_code == 200, (response.status_code, response.content[:500])
        if route.name.endswith("-detail"):
            assert response.json()["id"] == pk
    else:
        assert_problem(response, 404)


# EVERY LIST ROUTE × ROLE: NO ROW OF THE OTHER PRACTICE
# ------------------------------------------------------------------------------
def _rows(body: dict) -> list[dict]:
    if "results" in body:
        return body["results"]
    return body["rows"]


def _all_rows(api: APIClient, url: str) -> tuple[list, list[dict]]:
    """Every page's rows (following ``next``), and the responses."""
    responses, rows = [], []
    while url:
        response = api.get(url)
        responses.append(response)
        if response.status_code != 200:
            break
        body = response.json()
        rows += _rows(body)
        url = body.get("next")
    return responses, rows


def _foreign_filters(world: SimpleNamespace) -> dict[str, int]:
    return {name: value(world) for name, value in ID_FILTERS.items()}


def _list_cells() -> Iterator:
    for route in _list_routes():
        for role in ROLES:
            yield pytest.param(route, role, id=f"{route.name}-{role}")


def _row_practice(route: ApiRoute) -> Callable[[dict], int | None]:
    practice_of = LIST_ROW_PRACTICE.get(route.name)
    if practice_of is None:
        pytest.fail(f"{route.name} has no entry in LIST_ROW_PRACTICE", pytrace=False)
    return practice_of


@pytest.mark.parametrize(("route", "role"), list(_list_cells()))
def test_lists_hold_no_row_of_another_practice(world, route, role):
    """No row of practice bravo, unfiltered or filtered by bravo's ids (which answer exactly as
    ids that do not exist); aggregates count the caller's scope only."""
    practice_of = _row_practice(route)
    api = client(world, world.own, role)
    if route.name in LISTS_FOR_PRACTICE_ADMINS and role not in ("admin", "integration"):
        assert_problem(api.get(route.url()), 404)
        return
    refused = role == "integration" and route.name in LISTS_REFUSED_TO_INTEGRATIONS
    responses, rows = _all_rows(api, route.url())
    if refused:
        assert_problem(responses[0], 403)
    for response in responses:
        assert response.status_code == (403 if refused else 200), response.content[:500]
        assert_nothing_foreign(world, response)
    assert {practice_of(row) for row in rows} <= {world.own.practice.pk, None}

    filters = _foreign_filters(world.other)
    filtered = api.get(route.url(query=filters))
    assert_nothing_foreign(world, filtered)
    if route.name.startswith("v1:report-"):
        # Reports check their filters (cyclecare.reports.filters): another practice's clinician
        # or instrument is refused by name — exactly as one that does not exist (below).
        assert {"clinician", "instrument"} <= set(assert_problem(filtered, 400)["errors"])
    # A list that checks its id filters refuses bravo's with a 400 — as it refuses a missing id.
    elif not refused and filtered.status_code == 200:
        assert {practice_of(row) for row in _rows(filtered.json())} <= {world.own.practice.pk, None}
    missing = api.get(route.url(query=dict.fromkeys(filters, MISSING_ID)))
    assert (missing.status_code, missing.json()) == (filtered.status_code, filtered.json())

    if route.name in REPORT_FIGURES and not refused:
        expected = COUPLES_IN_REPORT_SCOPE[role]
        figures = REPORT_FIGURES[route.name](responses[0].json())
        assert figures == (expected,) * len(figures), f"{route.name} counts outside {role}'s scope"


@pytest.mark.parametrize("route", _list_routes(), ids=lambda route: route.name)
def test_the_other_practice_does_see_its_rows(world, route):
    """The control: every list shows practice bravo's rows to bravo's own integration client
    (or, where integrations are refused, bravo's supervisor), so alpha's empty view of them is
    scope, not an empty table."""
    practice_of = _row_practice(route)
    role = "supervisor" if route.name in LISTS_REFUSED_TO_INTEGRATIONS else "integration"
    responses, rows = _all_rows(client(world, world.other, role), route.url())
    assert responses[-1].status_code == 200, responses[-1].content[:500]
    assert world.other.practice.pk in {practice_of(row) for row in rows}


# FOREIGN KEYS IN BODIES
# ------------------------------------------------------------------------------
def _set_path(body: dict, path: str, value: object) -> None:
    """``positions.partner`` sets the partner of the first position."""
    head, _, rest = path.partition(".")
    if not rest:
        body[head] = value
    else:
        _set_path(body[head][0], rest, value)


def _error_at(errors: object, path: str) -> object:
    head, _, rest = path.partition(".")
    assert isinstance(errors, dict) and head in errors, (path, errors)
    if not rest:
        return errors[head]
    # The first item's errors: a list, or a dict keyed by the item's index.
    items = errors[head]
    return _error_at(items[0] if isinstance(items, list) else items["0"], rest)


def _foreign_key_cells() -> Iterator:
    for route in ROUTES:
        probe = FOREIGN_KEY_PROBES.get(route.name)
        if probe is None:
            continue
        roles = ["clinician"]
        if integrations_may_call(route.view, probe.method):
            roles.append("integration")
        for path in probe.foreign:
            for role in roles:
                yield pytest.param(route, path, role, id=f"{route.name}-{path}-{role}")


def _written(probe: ForeignKeyProbe, world: SimpleNamespace) -> tuple:
    row = None
    if probe.target is not None:
        row = probe.model.objects.filter(pk=probe.target(world.own)).values().get()
    return probe.model.objects.count(), row, AuditEvent.objects.count()


@pytest.mark.parametrize(("route", "path", "role"), list(_foreign_key_cells()))
def test_a_foreign_key_into_another_practice_is_a_400_naming_it(world, route, path, role):
    """The caller's own valid body with one foreign key pointed at practice bravo: a 400 whose
    only error is that field, nothing of bravo in it, and nothing written."""
    probe = FOREIGN_KEY_PROBES[route.name]
    body = probe.body(world.own)
    _set_path(body, path, probe.foreign[path](world.own, world.other))
    before = _written(probe, world)
    url = route.url(probe.target(world.own)) if probe.target else route.url()
    response = call(client(world, world.own, role), probe.method, url, body)
    problem = assert_problem(response, 400)
    assert set(problem["errors"]) == {path.partition(".")[0]}, problem["errors"]
    assert _error_at(problem["errors"], path)
    assert_nothing_foreign(world, response)
    assert _written(probe, world) == before
