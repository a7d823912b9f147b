"""In a real browser: a service admin creates a plan (fixing a validation error on the way)
and sees it on the overview chart, with no Content-Security-Policy violation anywhere.

Screenshots land in var/screenshots/adminportal/ for people to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from subscriptions.models import Plan
from tests.backends import require_chromium
from tests.factories import ServiceAdminFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "adminportal"


@pytest.fixture
def browser_page(monkeypatch):
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        # CSP violations and script errors show up as console errors; failed loads are
        # checked by URL instead, so the browser's own /favicon.ico probe does not count.
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "response",
            lambda r: (
                problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.problems = problems
        yield page
        browser.close()


def test_an_admin_creates_a_plan_in_the_browser(live_server, browser_page):
    ServiceAdminFactory(email="admin@example.com", password="a-long-test-password")
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "a-long-test-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/manage/")

    page.goto(f"{live_server.url}/manage/plans/new/")
    page.fill("#id_name", "Gold")
    page.check("input[name=visibility][value=code]")
    page.fill("#id_vms", "20")
    page.fill("#id_vcpus", "-1")
    page.click("button:has-text('Create plan')")
    # Both errors at once, beside their fields, and nothing typed is lost.
    assert page.locator("#id_invitation_code.is-invalid").count() == 1
    assert page.locator("#id_vcpus.is-invalid").count() == 1
    assert page.input_value("#id_name") == "Gold"
    assert page.input_value("#id_vms") == "20"
    page.screenshot(path=str(SHOTS / "plan_form_errors.png"), full_page=True)

    page.fill("#id_invitation_code", "GOLD-2026")
    page.fill("#id_vcpus", "40")
    page.click("button:has-text('Create plan')")
    plan = Plan.objects.get(name="Gold")
    page.wait_for_url(f"{live_server.url}/manage/plans/{plan.pk}/")
    assert "Created the Gold plan." in page.inner_text(".messages")
    page.screenshot(path=str(SHOTS / "plan_detail.png"), full_page=True)
    assert (plan.vms, plan.vcpus, plan.invitation_code) == (20, 40, "GOLD-2026")

    page.goto(f"{live_server.url}/manage/")
    page.wait_for_function("window.Chart && Chart.getChart(document.getElementById('plan-chart'))")
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
    assert page.problems == [], page.problems
    assert os.path.exists(SHOTS / "overview.png")
