"""In a real browser: a service admin creates a plan (fixing validation errors on the way) and
sees it on the overview chart, with no Content-Security-Policy violation anywhere."""

from __future__ import annotations

import pytest

from subscriptions.models import Plan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_creates_a_plan_in_the_browser(page, log_in, screenshot, admin):
    log_in(admin)
    page.wait_for_url("**/manage/")
    screenshot("01_overview_before")

    page.goto("/manage/plans/new/")
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
    screenshot("02_plan_form_errors")

    page.fill("#id_invitation_code", "GOLD-2026")
    page.fill("#id_vcpus", "40")
    page.click("button:has-text('Create plan')")
    page.wait_for_url("**/manage/plans/*/")
    plan = Plan.objects.get(name="Gold")
    assert page.url.endswith(f"/manage/plans/{plan.pk}/")
    assert "Created the Gold plan." in page.inner_text(".messages")
    assert (plan.vms, plan.vcpus, plan.invitation_code) == (20, 40, "GOLD-2026")
    screenshot("03_plan_detail")

    page.goto("/manage/")
    page.wait_for_function("window.Chart && Chart.getChart(document.getElementById('plan-chart'))")
    screenshot("04_overview_with_chart")
