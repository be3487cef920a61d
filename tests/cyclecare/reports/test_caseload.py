"""cyclecare.reports.caseload: couples by status, new intakes, sessions held, cancellation and
no-show rates, open flags — per clinician with a total, scoped and filtered."""

import datetime

import pytest
from django.utils import timezone

from couples.models import Couple
from cyclecare.reports.caseload import CASELOAD_COLUMNS, caseload_report
from tests.factories import SafetyFlagFactory, TherapySessionFactory

from .outcomes_world import SECRET_WORDS, ZONE, build_world, filters, today

pytestmark = pytest.mark.django_db


def session(couple, days_ago: int, status: str):
    """A session at noon in the practice's zone, ``days_ago`` calendar days ago."""
    day = today() - datetime.timedelta(days=days_ago)
    return TherapySessionFactory(
        couple=couple, starts_at=datetime.datetime.combine(day, datetime.time(12), tzinfo=ZONE), status=status
    )


@pytest.fixture
def world():
    """Casey (C1, C2): in the last 30 days 3 held, 1 cancelled, 1 no-show on C1; 1 held on C2;
    a held one 40 days ago and a scheduled one tomorrow. Dana (D1, D2 paused): 1 held, 1 no-show.
    C2 was created 45 days ago (not a new intake); the others today. Open flags: C1 one, D1 one
    (and an acknowledged one). Blake: 2 held."""
    world = build_world()
    c1, c2, d1 = world.c1[0], world.c2[0], world.d1[0]
    for days_ago in (1, 2, 3):
        session(c1, days_ago, "held")
    session(c1, 4, "cancelled")
    session(c1, 5, "no_show")
    session(c2, 6, "held")
    session(c2, 40, "held")
    session(c2, -1, "scheduled")
    session(d1, 2, "held")
    session(d1, 3, "no_show")
    session(world.q1[0], 1, "held")
    session(world.q1[0], 2, "held")
    Couple.objects.filter(pk=c2.pk).update(created_at=timezone.now() - datetime.timedelta(days=45))
    SafetyFlagFactory(couple=c1)
    SafetyFlagFactory(couple=d1)
    SafetyFlagFactory(couple=d1, status="acknowledged")
    return world


def by_name(report):
    return {row["display_name"]: row for row in report["rows"]}


def pick(row, *names):
    return tuple(row[name] for name in names)


FIGURES = (
    "active_couples",
    "paused_couples",
    "new_intakes",
    "sessions_held",
    "sessions_cancelled",
    "sessions_no_show",
)


def test_figures_per_clinician_with_rates_and_a_total(world):
    report = caseload_report(user=world.admin.user, filters=filters())
    rows = by_name(report)
    assert list(rows) == ["Avery Admin", "Casey One", "Dana Two", "Sam Super"]
    casey, dana = rows["Casey One"], rows["Dana Two"]
    assert pick(casey, *FIGURES) == (2, 0, 1, 4, 1, 1)
    # 6 sessions were due (4 held, 1 cancelled, 1 no-show): 16.7 % each.
    assert pick(casey, "cancellation_rate_pct", "no_show_rate_pct") == (16.7, 16.7)
    assert pick(dana, *FIGURES) == (1, 1, 2, 1, 0, 1)
    assert pick(dana, "cancellation_rate_pct", "no_show_rate_pct") == (0.0, 50.0)
    assert pick(rows["Avery Admin"], "cancellation_rate_pct", "no_show_rate_pct") == (None, None)
    assert (casey["open_safety_flags"], dana["open_safety_flags"]) == (1, 1)
    total = report["total"]
    assert pick(total, *FIGURES) == (3, 1, 3, 5, 1, 2)
    # The total's rates come from the summed counts (8 due), not from the rows' rates.
    assert pick(total, "cancellation_rate_pct", "no_show_rate_pct") == (12.5, 25.0)
    assert set(CASELOAD_COLUMNS) <= set(total)
    assert report["fresh_at"] is None and report["notes"]


def test_the_period_is_the_practices_calendar_days(world):
    week = caseload_report(user=world.admin.user, filters=filters(days=3))
    casey = by_name(week)["Casey One"]
    # Today and the two days before: the sessions held 1 and 2 days ago, not 3.
    assert casey["sessions_held"] == 2
    assert casey["sessions_cancelled"] == 0 and casey["sessions_no_show"] == 0


def test_scope_clinician_supervisor_and_other_practice(world):
    assert list(by_name(caseload_report(user=world.casey.user, filters=filters()))) == ["Casey One"]
    assert list(by_name(caseload_report(user=world.supervisor.user, filters=filters()))) == [
        "Casey One",
        "Sam Super",
    ]
    theirs = caseload_report(user=world.other_admin.user, filters=filters())
    assert pick(theirs["total"], "sessions_held", "active_couples") == (2, 1)
    assert "Casey One" not in str(theirs)


def test_clinician_and_status_filters(world):
    only_dana = caseload_report(user=world.admin.user, filters=filters(clinician=world.dana.pk))
    assert list(by_name(only_dana)) == ["Dana Two"]
    assert only_dana["total"]["sessions_held"] == 1
    paused = caseload_report(user=world.admin.user, filters=filters(status="paused"))
    assert pick(
        paused["total"], "active_couples", "paused_couples", "sessions_held", "open_safety_flags"
    ) == (0, 1, 0, 0)


def test_no_names_or_labels(world):
    text = str(caseload_report(user=world.admin.user, filters=filters()))
    assert not any(word in text for word in SECRET_WORDS)
