"""Where report reads go, and how long they may run.

With a ``DATABASES["reports"]`` alias (a read replica, or the primary under a role with its own
limits), reads of the rollup tables go there; without one, to the default database. The
refresh (cyclecare.reports.rollups) always reads and writes the primary: a replica may lag.

Every report runs its queries inside ``report_reads()``: on PostgreSQL a transaction-local
``statement_timeout`` (``REPORT_STATEMENT_TIMEOUT_MS``) cancels a report query that runs too
long, and the caller gets ReportTimeout instead of a query left running; on SQLite it is a no-op.
"""

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction

from clinician.conf import cyclecare_settings

REPORTS_DB = "reports"
ROLLUP_MODELS = frozenset(
    {
        "cyclecare.engagementday",
        "cyclecare.deliveryday",
        "cyclecare.partnerscoreday",
        "cyclecare.reportrollup",
    }
)
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout


class ReportTimeout(Exception):
    """A report query ran past the statement timeout and was cancelled."""

    def __init__(self, seconds: float):
        super().__init__(
            f"The report took longer than {seconds:g} seconds and was stopped. "
            "Choose a shorter period or narrow it to one clinician."
        )
        self.seconds = seconds


def reports_db() -> str:
    """The alias report reads use: ``reports`` when configured, else the default database."""
    return REPORTS_DB if REPORTS_DB in settings.DATABASES else DEFAULT_DB_ALIAS


class ReportsRouter:
    """Reads of the rollup tables go to ``reports_db()``; everything else is left to Django
    (the default database). Nothing is migrated on the reports alias: it mirrors the primary."""

    def db_for_read(self, model, **hints) -> str | None:
        if model._meta.label_lower in ROLLUP_MODELS:
            return reports_db()
        return None

    def db_for_write(self, model, **hints) -> str | None:
        return None

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        return False if db == REPORTS_DB else None


def _canceled(exc: BaseException) -> bool:
    cause = exc.__cause__
    return (
        getattr(cause, "sqlstate", None) == QUERY_CANCELED or getattr(cause, "pgcode", None) == QUERY_CANCELED
    )


@contextlib.contextmanager
def report_reads() -> Iterator[str]:
    """Run a report's queries: yields the alias to read from. On PostgreSQL the queries run in
    a transaction (a savepoint inside one already open) with ``statement_timeout`` set locally
    and put back afterwards; a cancelled query raises ReportTimeout."""
    alias = reports_db()
    connection = connections[alias]
    timeout_ms = cyclecare_settings.REPORT_STATEMENT_TIMEOUT_MS
    if connection.vendor != "postgresql" or not timeout_ms:
        yield alias
        return
    try:
        with transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                    [f"{int(timeout_ms)}ms"],
                )
                previous = cursor.fetchone()[0]
            yield alias
            # Inside a transaction opened by the caller the local setting would outlive the
            # report: put it back (a rollback, on error, undoes it by itself).
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except OperationalError as exc:
        if _canceled(exc):
            raise ReportTimeout(timeout_ms / 1000) from exc
        raise
