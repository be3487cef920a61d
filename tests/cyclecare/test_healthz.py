"""GET /healthz: 200 when the database and the Celery broker answer, 503 otherwise."""

import logging

import pytest
from django.db import OperationalError, connections
from django.urls import reverse
from kombu import Connection

# Text a driver might put in an exception; it must reach neither the response nor the log.
SECRET_DETAIL = "db.internal:5432 user=cyclecare password=hunter2"


@pytest.fixture
def healthz_url() -> str:
    return reverse("cyclecare:healthz")


def test_healthz_path_is_stable(healthz_url: str) -> None:
    # Load balancers and SECURE_REDIRECT_EXEMPT name this path literally.
    assert healthz_url == "/healthz"


@pytest.mark.django_db
def test_healthz_ok_when_database_and_broker_answer(client, healthz_url: str) -> None:
    response = client.get(healthz_url)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_503_when_broker_unreachable(client, healthz_url: str, monkeypatch, caplog) -> None:
    def refuse(self: Connection, *args: object, **kwargs: object) -> Connection:
        raise ConnectionRefusedError(SECRET_DETAIL)

    monkeypatch.setattr(Connection, "ensure_connection", refuse)

    with caplog.at_level(logging.WARNING, logger="cyclecare.views"):
        response = client.get(healthz_url)

    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "ok", "broker": "error"}
    assert "hunter2" not in response.content.decode()
    assert "ConnectionRefusedError" in caplog.text
    assert "hunter2" not in caplog.text


@pytest.mark.django_db
def test_healthz_503_when_database_unreachable(client, healthz_url: str, monkeypatch, caplog) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError(SECRET_DETAIL)

    monkeypatch.setattr(connections["default"], "cursor", refuse)

    with caplog.at_level(logging.WARNING, logger="cyclecare.views"):
        response = client.get(healthz_url)

    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "error", "broker": "ok"}
    assert "hunter2" not in response.content.decode()
    assert "OperationalError" in caplog.text
    assert "hunter2" not in caplog.text


def test_healthz_is_get_only(client, healthz_url: str) -> None:
    response = client.post(healthz_url)

    assert response.status_code == 405
