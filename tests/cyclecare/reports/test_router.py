"""Report reads go to DATABASES["reports"] when it is configured (the refresh stays on the
primary), and on PostgreSQL a report query past REPORT_STATEMENT_TIMEOUT_MS is cancelled with
a clear ReportTimeout instead of being left running."""

import datetime

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cyclecare.models import EngagementDay, Occurrence, ReportRollup
from cyclecare.reports.engagement import engagement_report
from cyclecare.reports.filters import ReportFilters
from cyclecare.reports.rollups import refresh_rollups
from cyclecare.reports.router import REPORTS_DB, ReportsRouter, ReportTimeout, report_reads, reports_db
from tests.cyclecare.reports.world import build_world
from tests.factories import OccurrenceFactory


def with_reports_alias():
    return override_settings(
        DATABASES={**settings.DATABASES, REPORTS_DB: dict(settings.DATABASES[DEFAULT_DB_ALIAS])}
    )


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_router_sends_rollup_reads_to_the_alias_only_when_it_is_configured():
    router = ReportsRouter()
    assert reports_db() == DEFAULT_DB_ALIAS
    assert router.db_for_read(EngagementDay) == DEFAULT_DB_ALIAS
    with with_reports_alias():
        assert reports_db() == REPORTS_DB
        assert router.db_for_read(EngagementDay) == REPORTS_DB
        assert router.db_for_read(ReportRollup) == REPORTS_DB
        assert router.db_for_read(Occurrence) is None  # everything else: Django's default
        assert router.db_for_write(EngagementDay) is None
        assert router.allow_migrate(REPORTS_DB, "cyclecare") is False
        assert router.allow_migrate(DEFAULT_DB_ALIAS, "cyclecare") is None


@pytest.fixture
def reports_alias():
    """Report reads routed to the "reports" connection (tests/cyclecare/reports/conftest.py): a
    second connection to the test database that sees committed rows only, like a replica."""
    with with_reports_alias():
        yield connections[REPORTS_DB]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPORTS_DB])
def test_a_report_reads_the_rollups_from_the_reports_database(reports_alias):
    world = build_world()
    couple, a, _ = world.couples[0]
    due = timezone.now() - datetime.timedelta(hours=3)
    OccurrenceFactory(
        assignment=world.assignments[couple.pk],
        partner=a,
        due_at=due,
        local_due_date=timezone.now().date(),
        local_due_time=datetime.time(6),
        status="completed",
    )
    with CaptureQueriesContext(reports_alias) as on_replica, CaptureQueriesContext(connection) as on_primary:
        refresh_rollups()
    assert on_replica.captured_queries == []  # the refresh reads and writes the primary
    assert any("cyclecare_engagementday" in q["sql"] for q in on_primary.captured_queries)

    today = timezone.now().date()
    with CaptureQueriesContext(reports_alias) as on_replica, CaptureQueriesContext(connection) as on_primary:
        report = engagement_report(
            user=world.casey.user, filters=ReportFilters(date_from=today, date_to=today)
        )
    assert report["total"]["completed"] == 1 and report["fresh_at"] is not None
    replica_sql = " ".join(q["sql"] for q in on_replica.captured_queries)
    assert "cyclecare_engagementday" in replica_sql and "cyclecare_reportrollup" in replica_sql
    assert not any("cyclecare_engagementday" in q["sql"] for q in on_primary.captured_queries)


def test_report_reads_is_a_no_op_off_postgresql(db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    with CaptureQueriesContext(connection) as captured, report_reads() as alias:
        assert alias == DEFAULT_DB_ALIAS
    assert captured.captured_queries == []


@pytest.mark.postgres
def test_a_slow_report_query_is_cancelled_with_a_clear_error(postgres):
    def timeout() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            return cursor.fetchone()[0]

    before = timeout()
    with override_settings(CYCLECARE={"REPORT_STATEMENT_TIMEOUT_MS": 200}):
        with report_reads() as alias:
            assert timeout() == "200ms"
        assert timeout() == before  # put back, even inside the test's own transaction
        with pytest.raises(ReportTimeout, match="took longer than 0.2 seconds"):
            with report_reads() as alias, connections[alias].cursor() as cursor:
                cursor.execute("SELECT pg_sleep(2)")
    # The connection is usable afterwards, with its own timeout.
    assert timeout() == before
    with transaction.atomic():
        assert EngagementDay.objects.count() == 0
