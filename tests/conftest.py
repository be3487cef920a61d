"""Shared fixtures. Services a test needs are real; with CI=true a missing one fails the test."""

import os
from pathlib import Path

import pytest
from django.db import connection

ARTIFACTS = Path(
    os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).resolve().parent.parent / "test-artifacts")
)


def service_missing(reason: str) -> None:
    """Skip locally; in CI a test that needs a service must not pass by skipping."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def postgres(db) -> None:
    if connection.vendor != "postgresql":
        service_missing("this test needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ.get("REDIS_URL", "")
    if not url:
        service_missing("this test needs Redis (set REDIS_URL)")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at REDIS_URL is unreachable ({type(exc).__name__})")
    return url


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def tenants(db):
    """Two practices, each with an admin, a supervisor, a clinician and a pre-licensed clinician
    who treat one couple each (two partners), plus history on every couple."""
    from tests.factories import build_practice_world

    return {"a": build_practice_world("alpha"), "b": build_practice_world("bravo")}


@pytest.fixture
def clinician():
    """A clinician of a practice of their own, named as the page tests read it."""
    from tests.factories import ClinicianFactory

    return ClinicianFactory(display_name="Dr Okafor")


@pytest.fixture
def on_the_minute(settings):
    """Reminders spread over one minute, so a reminder goes out in the minute it is due."""
    settings.CYCLECARE = {**settings.CYCLECARE, "REMINDER_SPREAD_MINUTES": 1}


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and other cached state never leak from one test into the next."""
    from django.core.cache import cache

    from clinician.writes import key_blocks

    cache.clear()
    key_blocks.clear()  # reserved primary keys: a test may reset a sequence
    yield
