"""A safety answer reaches the treating clinician and nobody else, on any surface.

``cyclecare.disclosure`` is the one rule; this module walks every surface that shows check-ins —
every GET route of the API (lists, details, filters, CSV, FHIR), the webhook outbox, the Django
admin, the clinician pages and the partner pages — as every principal who is not the treating
clinician, and finds no safety answer: not the daily check-in's "felt unsafe", not a HITS
screen's answers or scores, not a safety flag. The treating clinician, the control, sees them.
"""

import datetime
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from clinician.models import Clinician
from couples.services import consent_record
from cyclecare import services, webhooks
from cyclecare.disclosure import Reader, checkin_disclosed, clinician_only_items
from cyclecare.models import CheckIn, Instrument, SafetyFlag, WebhookDelivery, WebhookEvent
from cyclecare.partner_access import partner_link_issue
from tests.api.test_scope_matrix import ROUTES
from tests.factories import ClinicianFactory, build_practice_world, integration_client

pytestmark = pytest.mark.django_db

SCOPES = ("read", "write", "notes:read", "reports:read", "read write notes:read reports:read")
HITS_ANSWERS = {"hurt": 5, "insult": 5, "threaten": 5, "scream": 5}
# What a page would show of a safety answer or flag: the questions' words and the flag marks.
PAGE_MARKERS = (
    "afraid or unsafe",
    "miedo o se sintió inseguro",
    "physically hurt you",
    "threaten you with harm",
    "flag-badge",
    "is-flagged",
    "flag-total",
)


@pytest.fixture
def clinic(django_capture_on_commit_callbacks):
    """Practice "alpha": couple 0 is treated by ``clinician`` (supervised by ``supervisor``);
    partner A answered "felt unsafe" (shared with B) and screened positive on HITS."""
    world = build_practice_world("alpha", practice_rows=True)
    case = world.couples[0]
    webhooks.webhook_endpoint_create(
        user=world.admin.user,
        url="https://hooks.alpha.invalid/everything",
        events=list(WebhookEvent.values),
    )
    instruments = {i.code: i for i in Instrument.objects.filter(practice=None, is_active=True)}
    shared = services.checkin_submit(
        partner=case.a,
        instrument=instruments["cycle-checkin"],
        answers={"cycle_showed_up": True, "connection": 3, "felt_unsafe": True},
        shared_with_partner=True,
    )
    # Two screens, so the outcomes report would have a HITS row to show.
    services.checkin_submit(
        partner=case.a,
        instrument=instruments["hits"],
        answers={code: 1 for code in HITS_ANSWERS},
        submitted_at=timezone.now() - datetime.timedelta(days=7),
    )
    hits = services.checkin_submit(partner=case.a, instrument=instruments["hits"], answers=HITS_ANSWERS)
    other_supervisor = ClinicianFactory(
        practice=world.practice, role=Clinician.Role.SUPERVISOR, display_name="alpha other sup"
    )
    operator = get_user_model().objects.create_superuser(
        username="operator", email="operator@alpha.invalid", password="operator-pass-0123"
    )
    for partner in (case.a, case.b):
        consent_record(
            actor=world.clinician.user, partner=partner, kind="email", granted=True, method="written"
        )
    return SimpleNamespace(
        world=world,
        case=case,
        safety_checkins=[case.checkin, shared],
        hits=hits,
        flags=list(SafetyFlag.objects.filter(couple=case.couple)),
        other_supervisor=other_supervisor,
        operator=operator,
    )


# WHAT COUNTS AS A SAFETY ANSWER IN A RESPONSE
# ------------------------------------------------------------------------------
def _safety_codes() -> set[str]:
    codes: set[str] = set()
    for instrument in Instrument.objects.all():
        codes |= clinician_only_items(instrument.definition)
    return codes


def _walk(value: Any) -> Iterator[dict]:
    if isinstance(value, dict):
        yield value
        for inner in value.values():
            yield from _walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner)


def json_leaks(body: Any, clinic: SimpleNamespace) -> list[str]:
    """Safety answers in a JSON body: an answer keyed by a safety item's code, a FHIR item or
    score of one, a HITS check-in's scores, a safety flag, a report row of HITS."""
    codes = _safety_codes()
    hits_id = clinic.hits.instrument_id
    flag_ids = {flag.pk for flag in clinic.flags}
    found = []
    for row in _walk(body):
        if codes & set(row):
            found.append(f"answer {sorted(codes & set(row))}")
        if row.get("linkId") in codes:
            found.append(f"FHIR item {row['linkId']}")
        if (
            str(row.get("system", "")).startswith("urn:cyclecare:instrument:hits")
            and row.get("code") == "total"
        ):
            found.append("FHIR HITS score")
        if row.get("instrument") == hits_id and (row.get("total_score") is not None or row.get("clinical")):
            found.append("HITS scores")
        if row.get("instrument_code") == "hits" and "mean_first_total" in row:
            found.append("HITS outcome row")
        if {"raised_at", "source"} <= set(row) and row.get("id") in flag_ids:
            found.append("safety flag")
    return found


def text_leaks(text: str) -> list[str]:
    return [marker for marker in PAGE_MARKERS if marker in text] + (
        ["felt_unsafe"] if "felt_unsafe" in text else []
    )


def response_leaks(response, clinic: SimpleNamespace) -> list[str]:
    if response.status_code >= 300:
        return []
    content_type = response.get("Content-Type", "")
    if "json" in content_type:
        return json_leaks(json.loads(response.content), clinic)
    return text_leaks(response.content.decode("utf-8", errors="replace"))


# THE SURFACES
# ------------------------------------------------------------------------------
def _rows(body: Any) -> list[dict]:
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return body["results"]
    return body if isinstance(body, list) else []


def _known_ids(clinic: SimpleNamespace) -> dict[str, set[int]]:
    """Ids to try on detail routes even when a list hides them."""
    case = clinic.case
    return {
        "checkin": {c.pk for c in (*clinic.safety_checkins, clinic.hits)},
        "safety-flag": {flag.pk for flag in clinic.flags},
        "couple": {case.couple.pk},
        "partner": {case.a.pk, case.b.pk},
        "note": {case.note.pk},
    }


def api_responses(api: APIClient, clinic: SimpleNamespace) -> Iterator[tuple[str, Any]]:
    """Every GET route of the API: each list (with the check-in filters and as CSV where a
    route speaks it), then each detail or action route for every id listed or known."""
    ids = {name: set(ids) for name, ids in _known_ids(clinic).items()}
    get_routes = [route for route in ROUTES if "GET" in route.methods]
    for route in get_routes:
        if route.detail:
            continue
        url = route.url()
        response = api.get(url)
        yield url, response
        basename = route.name.split(":")[-1].rsplit("-", 1)[0]
        if response.status_code == 200 and "json" in response.get("Content-Type", ""):
            ids.setdefault(basename, set()).update(
                row["id"] for row in _rows(response.json()) if isinstance(row.get("id"), int)
            )
        if "report" in route.name:
            yield f"{url} (csv)", api.get(url, {"format": "csv"})
    checkins = reverse("cyclecare:v1:checkin-list")
    for query in (
        {"instrument_code": "hits"},
        {"instrument_code": "cycle-checkin"},
        {"partner": clinic.case.a.pk},
        {"instrument": clinic.hits.instrument_id},
    ):
        yield f"{checkins}?{query}", api.get(checkins, query)
    for route in get_routes:
        if not route.detail:
            continue
        basename = route.name.split(":")[-1].rsplit("-", 1)[0]
        for pk in sorted(ids.get(basename, ())):
            url = route.url(pk)
            yield url, api.get(url)


def session_api(user) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def clinician_pages(user, clinic: SimpleNamespace) -> Iterator[tuple[str, Any]]:
    browser = Client()
    browser.force_login(user)
    couple_id = clinic.case.couple.pk
    for name, kwargs in (
        ("caseload", {}),
        ("couple", {"couple_id": couple_id}),
        ("sessions", {"couple_id": couple_id}),
        ("homework", {"couple_id": couple_id}),
        ("deliveries", {"couple_id": couple_id}),
        ("cycle_map", {"couple_id": couple_id}),
        ("separation", {"couple_id": couple_id}),
        ("note", {"note_id": clinic.case.note.pk}),
    ):
        url = reverse(f"cyclecare:clinician:{name}", kwargs=kwargs)
        yield url, browser.get(url)


def admin_pages(user, clinic: SimpleNamespace) -> Iterator[tuple[str, Any]]:
    browser = Client()
    browser.force_login(user)
    for url in ("/admin/cyclecare/checkin/", "/admin/cyclecare/safetyflag/"):
        yield url, browser.get(url)
    for checkin in (*clinic.safety_checkins, clinic.hits):
        url = f"/admin/cyclecare/checkin/{checkin.pk}/change/"
        yield url, browser.get(url)
    for flag in clinic.flags:
        url = f"/admin/cyclecare/safetyflag/{flag.pk}/change/"
        yield url, browser.get(url)


def partner_pages(partner) -> Iterator[tuple[str, Any]]:
    browser = Client()
    _, token = partner_link_issue(partner=partner, purpose="home")
    browser.get(reverse("cyclecare:partner:home-link", args=[token]))
    for name in ("home", "episode", "thanks"):
        url = reverse(f"cyclecare:partner:{name}")
        yield url, browser.get(url)


def assert_no_leaks(responses: Iterator[tuple[str, Any]], clinic: SimpleNamespace, who: str) -> int:
    seen, leaks = 0, []
    for url, response in responses:
        assert response.status_code < 500, (who, url, response.status_code)
        seen += response.status_code == 200
        leaks += [(url, leak) for leak in response_leaks(response, clinic)]
    assert leaks == [], f"{who} saw safety answers: {leaks}"
    return seen


# THE WALK
# ------------------------------------------------------------------------------
def test_the_treating_clinician_sees_the_safety_answers(clinic):
    """The control: the same detectors find the answers where they belong."""
    api = session_api(clinic.world.clinician.user)
    leaks = []
    for _url, response in api_responses(api, clinic):
        leaks += response_leaks(response, clinic)
    assert any(leak.startswith("answer") for leak in leaks)
    assert "HITS scores" in leaks and "safety flag" in leaks
    pages = [
        text_leaks(response.content.decode())
        for _, response in clinician_pages(clinic.world.clinician.user, clinic)
    ]
    assert any("flag-badge" in found or "is-flagged" in found for found in pages)


@pytest.mark.parametrize("scopes", SCOPES)
def test_no_integration_token_sees_a_safety_answer(clinic, scopes):
    integration = integration_client(clinic.world.practice, scopes=scopes)
    seen = assert_no_leaks(api_responses(integration.api, clinic), clinic, f"a token with {scopes!r}")
    if "read" in scopes.split():
        assert seen > 20  # the walk reached the data, not only refusals
    # What an integration receives by webhook: ids and codes, never answers or scores.
    payloads = list(
        WebhookDelivery.objects.filter(practice=clinic.world.practice).values_list("payload", flat=True)
    )
    assert payloads and json_leaks(payloads, clinic) == []


def test_a_practice_admin_who_does_not_treat_the_couple_sees_no_safety_answer(clinic):
    admin = clinic.world.admin.user
    assert_no_leaks(api_responses(session_api(admin), clinic), clinic, "the practice admin (API)")
    assert_no_leaks(clinician_pages(admin, clinic), clinic, "the practice admin (pages)")
    assert_no_leaks(admin_pages(admin, clinic), clinic, "the practice admin (Django admin)")


def test_a_supervisor_who_does_not_treat_the_couple_sees_no_safety_answer(clinic):
    supervisor = clinic.other_supervisor.user
    assert_no_leaks(api_responses(session_api(supervisor), clinic), clinic, "another supervisor (API)")
    assert_no_leaks(clinician_pages(supervisor, clinic), clinic, "another supervisor (pages)")


def test_the_other_partner_sees_no_safety_answer(clinic):
    seen = assert_no_leaks(partner_pages(clinic.case.b), clinic, "the other partner")
    assert seen == 3
    # The shared check-in is on B's page, without its safety item.
    page = next(r for url, r in partner_pages(clinic.case.b) if url.endswith("/home/"))
    assert "connected" in page.content.decode()


def test_the_operator_sees_no_safety_answer_in_the_django_admin(clinic):
    seen = assert_no_leaks(admin_pages(clinic.operator, clinic), clinic, "the operator")
    assert seen == 4  # the check-in list and each check-in; no safety flag pages


def test_the_rule_itself(clinic):
    """One function decides; each reader's view of the two kinds of safety answer."""
    unsafe, hits = clinic.safety_checkins[1], clinic.hits
    for reader in (Reader.AUTHOR, Reader.PARTNER, Reader.OUTSIDE):
        assert "felt_unsafe" not in checkin_disclosed(unsafe, to=reader).answers
        shown = checkin_disclosed(hits, to=reader)
        assert (shown.answers, shown.total_score, shown.subscale_scores, shown.clinical) == (
            {},
            None,
            {},
            None,
        )
    assert checkin_disclosed(unsafe, to=Reader.TREATING).answers["felt_unsafe"] is True
    assert checkin_disclosed(hits, to=Reader.TREATING).total_score == 20
    assert checkin_disclosed(unsafe, to=Reader.OUTSIDE).answers["connection"] == 3
    assert checkin_disclosed(unsafe, to=Reader.PARTNER).total_score is None
    assert CheckIn.objects.filter(pk=hits.pk, total_score=20).exists()
    assert timezone.now() - hits.submitted_at < datetime.timedelta(minutes=5)


def test_the_author_sees_their_own_answers_but_not_the_safety_ones(clinic):
    """A phone's screen can be seen over a shoulder: the author's history leaves out the safety
    item and the HITS screen, and shows the rest of their answers."""
    pages = dict(partner_pages(clinic.case.a))
    home = pages[reverse("cyclecare:partner:home")].content.decode()
    assert "How connected did you feel" in home
    assert [marker for marker in PAGE_MARKERS if marker in home] == []
    assert "How often does your partner" not in home


def test_an_item_an_instrument_marks_clinician_only_is_the_treating_clinicians_alone(clinic):
    instrument = services.instrument_create(
        practice=clinic.world.practice,
        code="alpha-notes",
        name="Alpha intake screen",
        definition={
            "higher_is_better": True,
            "items": [
                {
                    "code": "mood",
                    "type": "likert",
                    "min": 0,
                    "max": 4,
                    "privacy": "shareable",
                    "text": {"en": "Mood", "es": "Ánimo"},
                },
                {
                    "code": "worry",
                    "type": "likert",
                    "min": 0,
                    "max": 4,
                    "privacy": "clinician",
                    "text": {"en": "Worry", "es": "Preocupación"},
                },
            ],
            "total": {"items": ["mood", "worry"]},
        },
    )
    checkin = services.checkin_submit(
        partner=clinic.case.a,
        instrument=instrument,
        answers={"mood": 3, "worry": 4},
        shared_with_partner=True,
    )
    assert checkin_disclosed(checkin, to=Reader.TREATING).answers == {"mood": 3, "worry": 4}
    for reader in (Reader.AUTHOR, Reader.PARTNER, Reader.OUTSIDE):
        assert checkin_disclosed(checkin, to=reader).answers == {"mood": 3}
    row = integration_client(clinic.world.practice).api.get(f"/api/v1/checkins/{checkin.pk}/").json()
    assert row["answers"] == {"mood": 3}
    row = session_api(clinic.world.clinician.user).get(f"/api/v1/checkins/{checkin.pk}/").json()
    assert row["answers"] == {"mood": 3, "worry": 4}
