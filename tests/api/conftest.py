"""API fixtures: DRF clients for clinicians (session) and integration clients (real OAuth2
bearer tokens bound to one practice)."""

import pytest
from rest_framework.test import APIClient

from tests.factories import integration_client


@pytest.fixture
def integration_for():
    return integration_client


@pytest.fixture
def api_as():
    """api_as(user) → an APIClient signed in as that user (session authentication)."""

    def build(user):
        api = APIClient()
        api.force_authenticate(user=user)
        return api

    return build


def assert_problem(response, status: int) -> dict:
    """The response is a problem-details body with this status."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body
