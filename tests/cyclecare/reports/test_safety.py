"""cyclecare.reports.safety: flags opened, acknowledged, closed and the median minutes to
acknowledge — counts only, per clinician with a total, scoped and filtered."""

import datetime

import pytest
from django.utils import timezone

from cyclecare.models import SafetyFlag
from cyclecare.reports.safety import safety_report
from tests.factories import SafetyFlagFactory

from .outcomes_world import SECRET_WORDS, build_world, filters

pytestmark = pytest.mark.django_db


def flag(couple, *, days_ago: float, ack_after: float | None = None, resolve_after: float | None = None):
    """A flag raised ``days_ago``, acknowledged ``ack_after`` minutes later, resolved
    ``resolve_after`` minutes after raising."""
    raised = timezone.now() - datetime.timedelta(days=days_ago)
    status = "resolved" if resolve_after is not None else "acknowledged" if ack_after is not None else "open"
    return SafetyFlagFactory(
        couple=couple,
        raised_at=raised,
        status=status,
        acknowledged_at=None if ack_after is None else raised + datetime.timedelta(minutes=ack_after),
        resolved_at=None if resolve_after is None else raised + datetime.timedelta(minutes=resolve_after),
    )


@pytest.fixture
def world():
    """Casey: in the last 30 days 3 raised (acknowledged after 10 and 30 minutes, one open), one
    of them resolved; one raised 40 days ago and acknowledged 35 days ago after 5 days. Dana: one
    raised and acknowledged after 90 minutes, then resolved. Blake: one open."""
    world = build_world()
    c1, c2, d1 = world.c1[0], world.c2[0], world.d1[0]
    flag(c1, days_ago=3, ack_after=10, resolve_after=600)
    flag(c2, days_ago=2, ack_after=30)
    flag(c1, days_ago=1)
    flag(c2, days_ago=40, ack_after=5 * 24 * 60)
    flag(d1, days_ago=5, ack_after=90, resolve_after=200)
    flag(world.q1[0], days_ago=1)
    return world


FIGURES = ("flags_opened", "flags_acknowledged", "flags_closed", "median_minutes_to_acknowledge")


def pick(row):
    return tuple(row[name] for name in FIGURES)


def by_name(report):
    return {row["display_name"]: row for row in report["rows"]}


def test_counts_and_median_per_clinician_with_a_total(world):
    report = safety_report(user=world.admin.user, filters=filters())
    rows = by_name(report)
    assert list(rows) == ["Avery Admin", "Casey One", "Dana Two", "Sam Super"]
    assert pick(rows["Casey One"]) == (3, 2, 1, 20.0)  # median of 10 and 30 minutes
    assert pick(rows["Dana Two"]) == (1, 1, 1, 90.0)
    assert pick(rows["Avery Admin"]) == (0, 0, 0, None)
    assert pick(report["total"]) == (4, 3, 2, 30.0)  # median of 10, 30, 90
    assert report["fresh_at"] is None and report["notes"]


def test_a_flag_counts_in_the_period_each_event_happened_in(world):
    older = filters(days=45)
    casey = by_name(safety_report(user=world.admin.user, filters=older))["Casey One"]
    # The flag raised 40 days ago and acknowledged 35 days ago (after 7,200 minutes) now counts.
    assert pick(casey) == (4, 3, 1, 30.0)


def test_scope_and_filters(world):
    assert list(by_name(safety_report(user=world.casey.user, filters=filters()))) == ["Casey One"]
    assert set(by_name(safety_report(user=world.supervisor.user, filters=filters()))) == {
        "Casey One",
        "Sam Super",
    }
    theirs = safety_report(user=world.other_admin.user, filters=filters())
    assert pick(theirs["total"]) == (1, 0, 0, None) and "Casey One" not in str(theirs)
    only_dana = safety_report(user=world.admin.user, filters=filters(clinician=world.dana.pk))
    assert list(by_name(only_dana)) == ["Dana Two"] and pick(only_dana["total"]) == (1, 1, 1, 90.0)
    world.c2[0].status = "paused"
    world.c2[0].save(update_fields=["status"])
    paused = safety_report(user=world.admin.user, filters=filters(status="paused"))
    assert pick(paused["total"]) == (1, 1, 0, 30.0)


def test_nothing_of_a_flag_but_counts(world):
    report = safety_report(user=world.admin.user, filters=filters())
    text = str(report)
    assert not any(word in text for word in SECRET_WORDS)
    # A flag's source is not a figure ("clinician" is also a column's name, so not that one).
    for source in (SafetyFlag.Source.CHECK_IN, SafetyFlag.Source.SCREEN):
        assert source not in text
    allowed = {"clinician", "display_name", *FIGURES}
    assert all(set(row) == allowed for row in [*report["rows"], report["total"]])
