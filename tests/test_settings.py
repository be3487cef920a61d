"""Start-up safety: production refuses missing secrets; cyclecare's settings are checked."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from clinician.conf import cyclecare_settings
from clinician.logging import RedactSecretsFilter, redact

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "x" * 20 + "throwaway-production-secret-for-a-test-only-0123456789",
    "FIELD_ENCRYPTION_SALTS": "salt-one,salt-two",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DJANGO_ALLOWED_HOSTS": "clinic.example",
    "CYCLECARE_SITE_URL": "https://clinic.example",
}


def load_production(**overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in GOOD}
    env.update({k: v for k, v in {**GOOD, **overrides}.items() if v is not None})
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.SECURE_SSL_REDIRECT)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_starts_with_every_secret():
    result = load_production()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY"),
        ("FIELD_ENCRYPTION_SALTS", "FIELD_ENCRYPTION_SALTS"),
        ("DATABASE_URL", "DATABASE_URL"),
        ("REDIS_URL", "REDIS_URL"),
        ("CYCLECARE_SITE_URL", "CYCLECARE_SITE_URL"),
    ],
)
def test_production_refuses_to_start_without_a_secret(missing, message):
    result = load_production(**{missing: None})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_links_use_the_clinics_https_address():
    result = load_production(CYCLECARE_SITE_URL="http://clinic.example")
    assert result.returncode != 0 and "CYCLECARE_SITE_URL" in result.stderr
    code = "import django; django.setup(); from clinician.conf import cyclecare_settings; "
    code += "print(cyclecare_settings.SITE_URL)"
    env = {k: v for k, v in os.environ.items() if k not in GOOD}
    env.update(GOOD)
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "https://clinic.example"


def test_production_refuses_sqlite():
    result = load_production(DATABASE_URL="sqlite:////tmp/x.sqlite3")
    assert result.returncode != 0 and "PostgreSQL" in result.stderr


def test_unknown_cyclecare_setting_is_an_error():
    with override_settings(CYCLECARE={"SITE_URL": "https://clinic.example", "REMINDR_HOUR": 3}):
        ids = {message.id for message in run_checks()}
        assert "cyclecare.E003" in ids
        assert cyclecare_settings.SITE_URL == "https://clinic.example"
    with override_settings(CYCLECARE={"SAFETY_NOTIFY_RETRY_AFTER_SECONDS": "soon"}):
        assert "cyclecare.E004" in {message.id for message in run_checks()}
    with pytest.raises(AttributeError):
        _ = cyclecare_settings.NOT_A_SETTING


def test_missing_encryption_salt_is_an_error():
    with override_settings(SALT_KEY=[]):
        assert "cyclecare.E001" in {message.id for message in run_checks()}


def test_log_lines_lose_tokens_and_query_strings():
    token = "AbCdEf0123456789AbCdEf0123456789xyz"
    assert token not in redact(f"GET /c/{token}/ 404")
    assert "email=" not in redact("GET /api/v1/partners/?email=a@b.example")
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/c/{token}/",), None
    )
    RedactSecretsFilter().filter(record)
    assert token not in record.getMessage()


def test_runserver_access_lines_are_redacted():
    import io

    token = "AbCdEf0123456789AbCdEf0123456789xyz"
    handlers = [h for h in logging.getLogger("django.server").handlers if type(h) is logging.StreamHandler]
    assert handlers
    for handler in handlers:
        buffer = io.StringIO()
        previous = handler.setStream(buffer)
        try:
            record = logging.LogRecord(
                "django.server",
                logging.INFO,
                __file__,
                1,
                '"%s" %s',
                (f"GET /p/c/{token}/ HTTP/1.1", "200"),
                None,
            )
            handler.handle(record)
        finally:
            handler.setStream(previous)
        assert "/p/c/[redacted]/" in buffer.getvalue() and token not in buffer.getvalue()
