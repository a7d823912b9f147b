"""In a real browser: the interactive API docs render under the strict CSP, and "Try it out"
calls the API with a bearer token."""

from __future__ import annotations

import pytest

from tenants.models import Role
from tenants.services import api_token_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_and_calls_the_api_in_a_real_browser(page, screenshot, alice, acme):
    _, token = api_token_create(
        tenant=acme, user=alice, name="Swagger UI", role=Role.OWNER, expires_in_days=1, actor_role=Role.OWNER
    )
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 50
    screenshot("01_docs", full_page=False)

    # Authorise with the token, then try GET /api/v1/me/ from the page.
    page.click("button.authorize")
    bearer = page.locator(".auth-container").filter(has_text="bearerAuth")
    bearer.locator("input").fill(token)
    bearer.locator("button.authorize").click()
    page.locator(".btn-done").first.click()
    operation = page.locator("#operations-me-me_retrieve")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=10_000)
    assert status.inner_text().strip().startswith("200")
    assert "alice@example.com" in operation.locator(".live-responses-table").inner_text()
    operation.scroll_into_view_if_needed()
    screenshot("02_me_called_with_a_token", full_page=False)
