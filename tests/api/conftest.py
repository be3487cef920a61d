"""API fixtures: DRF clients for clinicians (session) and integration clients (real OAuth2
bearer tokens bound to one practice)."""

import datetime
import secrets
from types import SimpleNamespace

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, get_application_model
from rest_framework.test import APIClient

from clinician.models import IntegrationClient


def make_integration(practice, scopes: str = "read write", name: str = "Test integration"):
    """An integration client of ``practice`` with a live bearer token carrying ``scopes``."""
    Application = get_application_model()
    secret = secrets.token_urlsafe(24)
    application = Application.objects.create(
        name=f"{practice.slug}: {name}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    client = IntegrationClient.objects.create(
        application=application, practice=practice, name=name, scopes=scopes
    )
    token = AccessToken.objects.create(
        application=application,
        token=secrets.token_urlsafe(30),
        scope=scopes,
        expires=timezone.now() + datetime.timedelta(hours=1),
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    return SimpleNamespace(client=client, application=application, secret=secret, token=token.token, api=api)


@pytest.fixture
def integration_for():
    return make_integration


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
