"""A "reports" connection to the test database, as a mirror of the default one (Django's
TEST["MIRROR"]: in tests it opens the same database), so a test can route report reads to it
with ``override_settings(DATABASES=...)``. Registered with the connection handler only (a copy
of its settings, not settings.DATABASES) at collection, before the test databases are set up:
the router routes by settings.DATABASES, so no other test reads through it."""

from django.db import DEFAULT_DB_ALIAS, connections

from cyclecare.reports.router import REPORTS_DB

if REPORTS_DB not in connections.settings:
    default = connections.settings[DEFAULT_DB_ALIAS]
    connections.settings = {
        **connections.settings,
        REPORTS_DB: {**default, "TEST": {**default.get("TEST", {}), "MIRROR": DEFAULT_DB_ALIAS}},
    }
