"""Reports through the API: figures checked on a small hand-built practice, administrative
scope (admin and integration: the practice; clinician: the caseload; never another practice),
CSV export without PHI, date validation, and query counts that do not grow with the data."""

import csv
import datetime
import io
import zoneinfo
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from clinician.models import Clinician
from cyclecare import services
from cyclecare.models import Assignment, Instrument, SafetyFlag
from cyclecare.reports.registry import REPORTS
from cyclecare.reports.rollups import refresh_rollups
from cyclecare.reports.router import ReportTimeout
from tests.api.conftest import assert_problem
from tests.factories import (
    AssignmentFactory,
    ClinicianFactory,
    OccurrenceFactory,
    PracticeFactory,
    SafetyFlagFactory,
    TherapySessionFactory,
    couple_with_partners,
)

pytestmark = pytest.mark.django_db

CASELOAD = "/api/v1/reports/caseload/"
ADHERENCE = "/api/v1/reports/adherence/"
OUTCOMES = "/api/v1/reports/outcomes/"
ZONE = zoneinfo.ZoneInfo("America/Chicago")
ORS_LIKE = {
    "higher_is_better": True,
    "items": [{"code": f"o{n}", "type": "vas", "min": 0, "max": 10} for n in range(1, 5)],
    "total": {"items": ["o1", "o2", "o3", "o4"]},
    "cutoff": {"value": 25, "clinical_when": "below", "label": "clinical"},
    "reliable_change": {"threshold": 5},
}


def today() -> datetime.date:
    return timezone.now().astimezone(ZONE).date()


def local_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=ZONE)


def csi4(partner, total: int, days_ago: float):
    first = min(total, 6)
    rest = total - first
    answers = {"csi1": first}
    for code in ("csi12", "csi19", "csi22"):
        answers[code] = min(rest, 5)
        rest -= answers[code]
    return services.checkin_submit(
        partner=partner,
        instrument=Instrument.objects.get(practice=None, code="csi-4"),
        answers=answers,
        submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


def ors(partner, instrument, total: float, days_ago: float):
    each = total / 4
    return services.checkin_submit(
        partner=partner,
        instrument=instrument,
        answers={f"o{n}": each for n in range(1, 5)},
        submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
    )


def held(couple, days_ago: float, status: str = "held"):
    return TherapySessionFactory(
        couple=couple, starts_at=timezone.now() - datetime.timedelta(days=days_ago), status=status
    )


def flag(couple, status: str) -> SafetyFlag:
    return SafetyFlagFactory(couple=couple, status=status)


def homework(couple) -> Assignment:
    return AssignmentFactory(couple=couple, starts_on=today() - datetime.timedelta(days=90))


def occurrence(assignment, partner, *, days_ago: int, status: str, due_in_future: bool = False):
    due_at = timezone.now() + (
        datetime.timedelta(hours=1) if due_in_future else -datetime.timedelta(days=days_ago, hours=1)
    )
    return OccurrenceFactory(
        assignment=assignment,
        partner=partner,
        local_due_date=today() - datetime.timedelta(days=days_ago),
        local_due_time=datetime.time(20),
        due_at=due_at,
        status=status,
    )


@pytest.fixture
def clinic():
    """Practice A: an admin and a supervisor with no couples of their own, Casey (supervised)
    with two active couples and a paused one, Dana with an active and a discharged couple.
    Practice B: Blake with one couple and figures of their own."""
    services.instruments_install_shipped()
    practice = PracticeFactory(time_zone="America/Chicago")
    admin = ClinicianFactory(
        practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name="Avery Admin"
    )
    supervisor = ClinicianFactory(practice=practice, role=Clinician.Role.SUPERVISOR, display_name="Sam Super")
    casey = ClinicianFactory(practice=practice, supervisor=supervisor, display_name="Casey One")
    dana = ClinicianFactory(practice=practice, display_name="Dana Two")
    c1, c1a, c1b = couple_with_partners(casey)
    c2, c2a, c2b = couple_with_partners(casey)
    c3, _, _ = couple_with_partners(casey, status="paused")
    d1, d1a, _ = couple_with_partners(dana)
    d2, _, _ = couple_with_partners(dana, status="discharged", discharged_on=today())

    # Sessions: Casey held 2 in the last 30 days (one more 40 days ago, one cancelled); Dana 1.
    held(c1, 2)
    held(c1, 5)
    held(c2, 40)
    held(c2, 3, status="cancelled")
    held(d1, 1)
    # Flags: Casey has two open (and one resolved); Dana's only flag is acknowledged.
    flag(c1, "open")
    flag(c3, "open")
    flag(c2, "resolved")
    flag(d1, "acknowledged")

    # Homework: Casey 4 due (2 completed, 1 missed, 1 pending); Dana 1 due, completed.
    work = homework(c1)
    for days_ago, status in ((1, "completed"), (2, "completed"), (3, "missed"), (4, "pending")):
        occurrence(work, c1a, days_ago=days_ago, status=status)
    occurrence(work, c1a, days_ago=5, status="cancelled")  # cancelled: not due
    occurrence(work, c1a, days_ago=60, status="completed")  # before the period
    occurrence(work, c1a, days_ago=0, status="pending", due_in_future=True)  # not due yet
    occurrence(homework(d1), d1a, days_ago=2, status="completed")

    # Outcomes: a licensed instrument with reliable change (5 points) and a cutoff of 25.
    ors_like = services.instrument_create(
        code="ors-like", name="ORS-like", definition=ORS_LIKE, practice=practice
    )
    for partner, totals in (
        (c1a, (20, 18, 30)),  # +10, from clinical to not: recovered
        (c1b, (30, 36)),  # +6: improved
        (c2a, (22, 24)),  # +2: unchanged
        (c2b, (30, 22)),  # −8: deteriorated
        (d1a, (20,)),  # one score: not counted
    ):
        for position, total in enumerate(totals):
            ors(partner, ors_like, total, days_ago=50 - 10 * position)
    for partner, totals in ((c1a, (8, 11, 15)), (d1a, (10, 12))):
        for position, total in enumerate(totals):
            csi4(partner, total, days_ago=45 - 10 * position)

    other = PracticeFactory(time_zone="America/Chicago")
    blake = ClinicianFactory(practice=other, display_name="Blake Bravo")
    other_admin = ClinicianFactory(
        practice=other, role=Clinician.Role.PRACTICE_ADMIN, display_name="Bo Admin"
    )
    b1, b1a, _ = couple_with_partners(blake)
    held(b1, 1)
    held(b1, 2)
    flag(b1, "open")
    occurrence(homework(b1), b1a, days_ago=1, status="missed")
    csi4(b1a, 2, days_ago=20)
    csi4(b1a, 21, days_ago=10)
    # Adherence reads the report rollups, which the beat refreshes every minute.
    refresh_rollups()
    return SimpleNamespace(
        practice=practice,
        admin=admin,
        supervisor=supervisor,
        casey=casey,
        dana=dana,
        couples=[c1, c2, c3, d1, d2],
        other=other,
        blake=blake,
        other_admin=other_admin,
        other_couple=b1,
    )


def fresh_client(clinician) -> APIClient:
    api = APIClient()
    api.force_authenticate(user=get_user_model().objects.get(pk=clinician.user_id))
    return api


def get_ok(api, url: str, params: dict | None = None) -> dict:
    response = api.get(url, params or {})
    assert response.status_code == 200, response.content[:500]
    return response.json()


# Outcomes take a period (partners whose latest score falls in it): every score of the fixture.
ALL_TIME = {"from": str(datetime.date.today() - datetime.timedelta(days=3000))}


def instrument_totals(report: dict) -> dict[str, dict]:
    """Outcomes: each instrument's practice row (the rows with no clinician), by code."""
    return {row["instrument_code"]: row for row in report["rows"] if row["clinician"] is None}


def by_name(report: dict) -> dict[str, dict]:
    return {row["display_name"]: row for row in report["rows"]}


def figures(row: dict, *names: str) -> tuple:
    return tuple(row[name] for name in names)


CASELOAD_FIGURES = (
    "active_couples",
    "paused_couples",
    "discharged_couples",
    "separated_couples",
    "open_individual_cases",
    "closed_individual_cases",
    "sessions_held",
    "open_safety_flags",
)
ADHERENCE_FIGURES = ("due", "completed", "missed", "pending", "adherence_pct")


# CASELOAD
# ------------------------------------------------------------------------------
def test_caseload_figures_for_the_practice_admin(clinic):
    report = get_ok(fresh_client(clinic.admin), CASELOAD)
    assert report["period"] == {"from": str(today() - datetime.timedelta(days=29)), "to": str(today())}
    rows = by_name(report)
    assert list(rows) == ["Avery Admin", "Casey One", "Dana Two", "Sam Super"]
    assert rows["Casey One"]["clinician"] == clinic.casey.pk
    assert figures(rows["Casey One"], *CASELOAD_FIGURES) == (2, 1, 0, 0, 0, 0, 2, 2)
    assert figures(rows["Dana Two"], *CASELOAD_FIGURES) == (1, 0, 1, 0, 0, 0, 1, 0)
    assert figures(rows["Sam Super"], *CASELOAD_FIGURES) == (0, 0, 0, 0, 0, 0, 0, 0)
    assert report["total"]["clinician"] is None
    assert figures(report["total"], *CASELOAD_FIGURES) == (3, 1, 1, 0, 0, 0, 3, 2)


def test_caseload_of_a_clinician_and_of_a_supervisor(clinic):
    casey = get_ok(fresh_client(clinic.casey), CASELOAD)
    assert [row["clinician"] for row in casey["rows"]] == [clinic.casey.pk]
    assert figures(casey["total"], *CASELOAD_FIGURES) == (2, 1, 0, 0, 0, 0, 2, 2)
    supervisor = by_name(get_ok(fresh_client(clinic.supervisor), CASELOAD))
    assert list(supervisor) == ["Casey One", "Sam Super"]
    dana = get_ok(fresh_client(clinic.dana), CASELOAD)
    assert [row["clinician"] for row in dana["rows"]] == [clinic.dana.pk]


def test_a_separation_shows_as_a_separated_couple_and_an_open_individual_case(clinic):
    from couples.models import Couple
    from cyclecare.separation import couple_separate

    couple = clinic.couples[3]  # Dana's active couple
    continuing = list(couple.partners.order_by("seat"))[:1]
    couple_separate(
        user=clinic.dana.user,
        couple=couple,
        continuing=continuing,
        separation_reason=Couple.SeparationReason.RELATIONSHIP_ENDED,
    )
    columns = ("active_couples", "discharged_couples", "separated_couples", "open_individual_cases")
    dana = by_name(get_ok(fresh_client(clinic.admin), CASELOAD))["Dana Two"]
    assert figures(dana, *columns, "closed_individual_cases") == (0, 1, 1, 1, 0)
    individual = Couple.objects.get(continued_from=couple)
    individual.status, individual.discharged_on = Couple.Status.DISCHARGED, today()
    individual.save(update_fields=["status", "discharged_on"])
    dana = by_name(get_ok(fresh_client(clinic.admin), CASELOAD))["Dana Two"]
    assert figures(dana, *columns, "closed_individual_cases") == (0, 1, 1, 0, 1)


def test_sessions_count_by_the_practices_calendar_days(clinic):
    day = today() - datetime.timedelta(days=10)
    couple = clinic.couples[3]  # Dana's active couple
    TherapySessionFactory(
        couple=couple, starts_at=local_midnight(day) + datetime.timedelta(minutes=1), status="held"
    )
    TherapySessionFactory(
        couple=couple, starts_at=local_midnight(day) - datetime.timedelta(minutes=1), status="held"
    )
    api = fresh_client(clinic.dana)
    on_the_day = get_ok(api, CASELOAD, {"from": str(day), "to": str(day)})
    assert on_the_day["total"]["sessions_held"] == 1
    the_day_before = get_ok(api, CASELOAD, {"from": str(day - datetime.timedelta(days=1)), "to": str(day)})
    assert the_day_before["total"]["sessions_held"] == 2
    # Only `from`: up to today.
    since = get_ok(api, CASELOAD, {"from": str(day)})
    assert since["period"] == {"from": str(day), "to": str(today())}
    assert since["total"]["sessions_held"] == 2


# ADHERENCE
# ------------------------------------------------------------------------------
def test_adherence_figures(clinic):
    report = get_ok(fresh_client(clinic.admin), ADHERENCE)
    rows = by_name(report)
    assert figures(rows["Casey One"], *ADHERENCE_FIGURES) == (4, 2, 1, 1, 50.0)
    assert figures(rows["Dana Two"], *ADHERENCE_FIGURES) == (1, 1, 0, 0, 100.0)
    assert figures(rows["Avery Admin"], *ADHERENCE_FIGURES) == (0, 0, 0, 0, None)
    assert figures(report["total"], *ADHERENCE_FIGURES) == (5, 3, 1, 1, 60.0)
    # A period that starts after the missed and pending ones.
    recent = get_ok(
        fresh_client(clinic.casey), ADHERENCE, {"from": str(today() - datetime.timedelta(days=2))}
    )
    assert figures(recent["total"], *ADHERENCE_FIGURES) == (2, 2, 0, 0, 100.0)


# OUTCOMES
# ------------------------------------------------------------------------------
def test_outcomes_figures_with_and_without_reliable_change(clinic):
    report = get_ok(fresh_client(clinic.admin), OUTCOMES, ALL_TIME)
    rows = instrument_totals(report)
    assert list(rows) == ["csi-4", "ors-like"]
    expected = {
        "instrument_code": "ors-like",
        "instrument_name": "ORS-like",
        "partners": 4,
        "mean_first_total": 25.5,
        "mean_latest_total": 28.0,
        "mean_change": 2.5,
        "recovered": 1,
        "improved": 1,
        "unchanged": 1,
        "deteriorated": 1,
    }
    assert {name: rows["ors-like"][name] for name in expected} == expected
    csi = rows["csi-4"]
    assert (csi["partners"], csi["mean_first_total"], csi["mean_latest_total"], csi["mean_change"]) == (
        2,
        9.0,
        13.5,
        4.5,
    )
    # CSI-4's reliable change needs the practice's intake baseline of 20 partners: not yet.
    assert [csi[name] for name in ("recovered", "improved", "unchanged", "deteriorated")] == [None] * 4
    assert any("csi-4" in note.lower() or "CSI-4" in note for note in report["notes"])


def test_outcomes_of_one_caseload(clinic):
    rows = instrument_totals(get_ok(fresh_client(clinic.dana), OUTCOMES, ALL_TIME))
    # Dana's partner has two CSI-4 scores and one ORS-like score (not enough for a change).
    assert list(rows) == ["csi-4"]
    assert (rows["csi-4"]["partners"], rows["csi-4"]["mean_change"]) == (1, 2.0)


# SCOPE
# ------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [CASELOAD, ADHERENCE, OUTCOMES])
def test_nothing_of_another_practice_appears_in_any_report(clinic, url):
    a_names = {"Avery Admin", "Sam Super", "Casey One", "Dana Two"}
    for viewer in (clinic.blake, clinic.other_admin):
        body = fresh_client(viewer).get(url)
        assert body.status_code == 200
        text = body.content.decode()
        assert not any(name in text for name in a_names)
    for viewer in (clinic.casey, clinic.admin, clinic.supervisor, clinic.dana):
        report = get_ok(fresh_client(viewer), url)
        assert "Blake Bravo" not in str(report) and "Bo Admin" not in str(report)
        assert clinic.blake.pk not in [row.get("clinician") for row in report["rows"]]
    if url == CASELOAD:
        assert figures(get_ok(fresh_client(clinic.blake), url)["total"], *CASELOAD_FIGURES) == (
            1,
            0,
            0,
            0,
            0,
            0,
            2,
            1,
        )
    if url == ADHERENCE:
        assert figures(get_ok(fresh_client(clinic.blake), url)["total"], *ADHERENCE_FIGURES) == (
            1,
            0,
            1,
            0,
            0.0,
        )
    if url == OUTCOMES:
        rows = instrument_totals(get_ok(fresh_client(clinic.blake), url, ALL_TIME)).values()
        assert [(r["instrument_code"], r["partners"], r["mean_change"]) for r in rows] == [("csi-4", 1, 19.0)]
        casey = instrument_totals(get_ok(fresh_client(clinic.casey), url, ALL_TIME)).values()
        assert {r["instrument_code"]: r["partners"] for r in casey} == {"csi-4": 1, "ors-like": 4}


def test_integration_needs_reports_read_and_then_sees_the_practice(clinic, integration_for):
    without = integration_for(clinic.practice, scopes="read").api
    body = assert_problem(without.get(CASELOAD), 403)
    assert "reports:read" in body["detail"]
    api = integration_for(clinic.practice, scopes="read reports:read").api
    caseload = get_ok(api, CASELOAD)
    assert list(by_name(caseload)) == ["Avery Admin", "Casey One", "Dana Two", "Sam Super"]
    assert figures(caseload["total"], *CASELOAD_FIGURES) == (3, 1, 1, 0, 0, 0, 3, 2)
    assert figures(get_ok(api, ADHERENCE)["total"], *ADHERENCE_FIGURES) == (5, 3, 1, 1, 60.0)
    outcomes = instrument_totals(get_ok(api, OUTCOMES, ALL_TIME))
    assert [row["partners"] for row in outcomes.values()] == [2, 4]


def test_reports_are_read_only(clinic):
    assert_problem(fresh_client(clinic.admin).post(CASELOAD, {}, format="json"), 405)


# CSV
# ------------------------------------------------------------------------------
def parse_csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


@pytest.mark.parametrize(
    ("url", "header"),
    [
        (
            CASELOAD,
            [
                "clinician",
                "display_name",
                *CASELOAD_FIGURES[:6],
                "new_intakes",
                "sessions_held",
                "sessions_cancelled",
                "sessions_no_show",
                "open_safety_flags",
                "cancellation_rate_pct",
                "no_show_rate_pct",
            ],
        ),
        (ADHERENCE, ["clinician", "display_name", *ADHERENCE_FIGURES]),
        (
            OUTCOMES,
            [
                "clinician",
                "instrument_code",
                "display_name",
                "instrument_name",
                "partners",
                "couples",
                "recovered",
                "improved",
                "unchanged",
                "deteriorated",
                "couples_recovered",
                "couples_improved",
                "couples_unchanged",
                "couples_deteriorated",
                "couples_both_improved",
                "couples_one_improved",
                "couples_none_improved",
                "mean_first_total",
                "mean_latest_total",
                "mean_change",
            ],
        ),
    ],
)
def test_csv_has_a_header_row_and_no_partner_names(clinic, url, header):
    api = fresh_client(clinic.admin)
    by_format = parse_csv(api.get(url, {"format": "csv"}))
    by_accept = parse_csv(api.get(url, HTTP_ACCEPT="text/csv"))
    assert by_format == by_accept
    assert by_format[0] == header
    text = api.get(url, {"format": "csv"}).content.decode()
    for couple in clinic.couples:
        assert couple.label not in text
        for partner in couple.partners.all():
            assert partner.display_name not in text and partner.email not in text
    if url == CASELOAD:
        period = f"{today() - datetime.timedelta(days=29)}-{today()}"
        disposition = api.get(url, {"format": "csv"})["Content-Disposition"]
        assert disposition == f'attachment; filename="caseload-report-{period}.csv"'
        assert [row[1] for row in by_format[1:]] == [
            "Avery Admin",
            "Casey One",
            "Dana Two",
            "Sam Super",
            "Total",
        ]
        total = dict(zip(by_format[0], by_format[-1], strict=True))
        assert [total[name] for name in ("clinician", "display_name", *CASELOAD_FIGURES)] == [
            "",
            "Total",
            "3",
            "1",
            "1",
            "0",
            "0",
            "0",
            "3",
            "2",
        ]
    if url == ADHERENCE:
        assert by_format[-1] == ["", "Total", "5", "3", "1", "1", "60.0"]
    if url == OUTCOMES:
        # A row per clinician and instrument, then each instrument's total (no clinician).
        assert {row[1] for row in by_format[1:]} <= {"csi-4", "ors-like"}
        totals = [row[1] for row in by_format[1:] if row[0] == ""]
        assert totals == sorted(totals) and len(totals) == len(set(totals))


def test_csv_cells_cannot_run_as_spreadsheet_formulas(clinic):
    clinic.dana.display_name = "=HYPERLINK(1)"
    clinic.dana.save(update_fields=["display_name"])
    rows = parse_csv(fresh_client(clinic.admin).get(CASELOAD, {"format": "csv"}))
    assert "'=HYPERLINK(1)" in [row[1] for row in rows]


def test_csv_request_with_a_bad_date_answers_a_json_problem(clinic):
    response = fresh_client(clinic.admin).get(CASELOAD, {"format": "csv", "from": "yesterday"})
    body = assert_problem(response, 400)
    assert "from" in body["errors"]


# DATES
# ------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [CASELOAD, ADHERENCE])
def test_bad_dates_are_a_400_naming_the_parameter(clinic, url):
    api = fresh_client(clinic.casey)
    assert "from" in assert_problem(api.get(url, {"from": "2025-13-01"}), 400)["errors"]
    assert "to" in assert_problem(api.get(url, {"to": "not-a-date"}), 400)["errors"]
    inverted = assert_problem(api.get(url, {"from": "2025-03-02", "to": "2025-03-01"}), 400)
    assert "from" in inverted["errors"]
    # One rule for every surface (cyclecare.reports.filters): at most ten years.
    too_long = assert_problem(api.get(url, {"from": "2014-01-01", "to": "2025-03-01"}), 400)
    assert "10 years" in too_long["errors"]["from"][0]
    assert get_ok(api, url, {"from": "2024-01-01", "to": "2025-03-01"})["period"]["from"] == "2024-01-01"
    assert get_ok(api, url, {"from": "2025-03-01", "to": "2025-03-01"})["period"] == {
        "from": "2025-03-01",
        "to": "2025-03-01",
    }


# QUERY COUNTS
# ------------------------------------------------------------------------------
def count_queries(clinician, url: str) -> int:
    api = fresh_client(clinician)
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured.captured_queries)


def test_report_query_counts_do_not_grow_with_the_data(clinic, django_assert_max_num_queries):
    urls = (CASELOAD, ADHERENCE, OUTCOMES)
    few = {url: count_queries(clinic.admin, url) for url in urls}
    ors_like = Instrument.objects.get(code="ors-like")
    for n in range(4):
        clinician = ClinicianFactory(practice=clinic.practice, display_name=f"Extra {n}")
        for _ in range(2):
            couple, a, b = couple_with_partners(clinician)
            held(couple, 3)
            flag(couple, "open")
            work = homework(couple)
            for days_ago in range(1, 4):
                occurrence(work, a, days_ago=days_ago, status="completed")
            for partner in (a, b):
                ors(partner, ors_like, 20, days_ago=20)
                ors(partner, ors_like, 32, days_ago=10)
    refresh_rollups()
    many = {url: count_queries(clinic.admin, url) for url in urls}
    assert many == few
    assert len(get_ok(fresh_client(clinic.admin), CASELOAD)["rows"]) == 8
    # On PostgreSQL a rollup report runs in a savepoint with its statement timeout set and put
    # back (cyclecare.reports.router.report_reads): four statements more, whatever the data.
    timeout_statements = 4 if connection.vendor == "postgresql" else 0
    for url in urls:
        with django_assert_max_num_queries(6 + timeout_statements):
            get_ok(fresh_client(clinic.admin), url)


# FILTERS (cyclecare.reports.filters, the same rules as the report pages)
# ------------------------------------------------------------------------------
ENGAGEMENT = "/api/v1/reports/engagement/"


def test_every_bad_filter_is_named_in_one_problem(clinic):
    api = fresh_client(clinic.admin)
    body = assert_problem(
        api.get(
            CASELOAD,
            {"from": "soon", "clinician": "seven", "status": "asleep", "instrument": "no-such-thing"},
        ),
        400,
    )
    assert set(body["errors"]) == {"from", "clinician", "status", "instrument"}
    assert body["errors"]["status"] == ["Choose one of: active, paused, discharged, separated."]
    # Another practice's clinician reads as one that does not exist; so does a colleague
    # outside a clinician's own caseload.
    foreign = assert_problem(api.get(CASELOAD, {"clinician": clinic.blake.pk}), 400)
    missing = assert_problem(api.get(CASELOAD, {"clinician": 999_999}), 400)
    assert foreign == missing
    assert (
        "clinician"
        in assert_problem(fresh_client(clinic.casey).get(ENGAGEMENT, {"clinician": clinic.dana.pk}), 400)[
            "errors"
        ]
    )


def test_the_clinician_filter_narrows_to_that_caseload(clinic):
    api = fresh_client(clinic.admin)
    caseload = get_ok(api, CASELOAD, {"clinician": clinic.casey.pk})
    assert [row["display_name"] for row in caseload["rows"]] == ["Casey One"]
    assert figures(caseload["total"], *CASELOAD_FIGURES) == (2, 1, 0, 0, 0, 0, 2, 2)
    assert caseload["filters"] == {"clinician": clinic.casey.pk, "status": None, "instrument": None}
    engagement = get_ok(api, ENGAGEMENT, {"clinician": clinic.dana.pk})
    assert figures(engagement["total"], *ADHERENCE_FIGURES) == (1, 1, 0, 0, 100.0)
    # A supervisor may name a supervisee.
    assert get_ok(fresh_client(clinic.supervisor), CASELOAD, {"clinician": clinic.casey.pk})["rows"]


def test_the_instrument_filter_narrows_outcomes(clinic):
    rows = get_ok(fresh_client(clinic.admin), OUTCOMES, {"instrument": "ors-like", **ALL_TIME})["rows"]
    assert rows and {row["instrument_code"] for row in rows} == {"ors-like"}
    # Another practice's licensed instrument is unknown here.
    assert (
        "instrument"
        in assert_problem(fresh_client(clinic.other_admin).get(OUTCOMES, {"instrument": "ors-like"}), 400)[
            "errors"
        ]
    )


def test_engagement_and_its_former_name_answer_the_same(clinic):
    api = fresh_client(clinic.admin)
    assert get_ok(api, ENGAGEMENT) == get_ok(api, ADHERENCE)
    report = get_ok(api, ENGAGEMENT)
    # Read from the rollups, refreshed when the fixture was built.
    assert report["fresh_at"] is not None and report["notes"]
    text = parse_csv(api.get(ENGAGEMENT, {"format": "csv", "clinician": clinic.casey.pk}))
    assert text[0] == ["clinician", "display_name", *ADHERENCE_FIGURES]
    assert [row[1] for row in text[1:]] == ["Casey One", "Total"]


def test_a_bad_filter_in_a_csv_request_is_a_json_problem(clinic):
    response = fresh_client(clinic.admin).get(ENGAGEMENT, {"format": "csv", "status": "x"})
    assert "status" in assert_problem(response, 400)["errors"]


def test_every_report_route_is_in_the_schema_with_its_filters():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for key in [*(report.key for report in REPORTS), "adherence"]:
        operation = schema["paths"][f"/api/v1/reports/{key}/"]["get"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"from", "to", "clinician", "status", "instrument", "format"} <= names, key
        assert {"application/json", "text/csv"} <= set(operation["responses"]["200"]["content"])
        assert operation["security"][0]["oauth2"] == ["read", "reports:read"]


def test_a_report_cancelled_by_the_statement_timeout_is_a_503_problem(clinic, monkeypatch):
    @contextmanager
    def cancelled():
        raise ReportTimeout(15)
        yield

    monkeypatch.setattr("cyclecare.reports.engagement.report_reads", cancelled)
    body = assert_problem(fresh_client(clinic.admin).get(ADHERENCE), 503)
    assert body["type"] == "urn:cyclecare:problem:report_timeout"
    assert "took longer than 15 seconds" in body["detail"]
