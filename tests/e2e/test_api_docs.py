"""Swagger UI renders under our Content-Security-Policy, from assets we serve ourselves."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_lists_the_api(page, artifacts_dir):
    blocked = []
    page.on(
        "console",
        lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None,
    )
    external = []
    page.on(
        "request", lambda request: external.append(request.url) if "localhost" not in request.url else None
    )
    page.goto("/api/docs/")
    expect(page.get_by_text("cyclecare API").first).to_be_visible()
    expect(page.get_by_role("link", name="/api/v1/sessions/", exact=True).first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "api-docs.png"), full_page=False)
    assert blocked == []
    assert external == []
