"""In a real browser: a tenant owner signs in, subscribes to a public plan and sees the
quota bars fill as resources are reserved; a reader cannot subscribe; the tenant switcher
changes the tenant the portal acts in.

The bars prove the CSP-safe width mechanism: templates only write ``data-width`` (inline
``style`` attributes are blocked by the CSP) and static/portal/app.js turns it into a width.
"""

from __future__ import annotations

import re

import pytest
from django.db import transaction

from subscriptions.models import Subscription
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tenants.models import Role
from tests.factories import MembershipFactory, PlanFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Reserved on a plan of 10 VMs, 20 vCPUs, 40 GiB RAM, 500 GiB disk, 5 networks, 2 public IPs.
DEMAND = Demand(vms=3, vcpus=6, ram_gib=30, disk_gib=100, networks=0, public_ips=2)
# label: (figure, percent, Bootstrap colour)
EXPECTED_BARS = {
    "VMs": ("3 / 10", 30, "success"),
    "vCPUs": ("6 / 20", 30, "success"),
    "RAM (GiB)": ("30 / 40", 75, "warning"),
    "Disk (GiB)": ("100 / 500", 20, "success"),
    "Networks": ("0 / 5", 0, "success"),
    "Public IPs": ("2 / 2", 100, "danger"),
}


def read_bars(container) -> dict[str, dict]:
    """Every quota row in ``container`` as the browser renders it: label, figure, the bar's
    data-width, the width app.js set inline, and the drawn widths of the bar and its track."""
    return {
        row["label"]: row
        for row in container.locator(".quota-row").evaluate_all(
            """rows => rows.map(row => {
                const bar = row.querySelector('.progress-bar');
                const track = row.querySelector('.progress');
                return {
                    label: row.querySelector('dt').textContent.trim(),
                    figure: row.querySelector('.quota-figure').textContent.trim(),
                    dataWidth: Number(bar.dataset.width),
                    styleWidth: bar.style.width,
                    drawn: bar.getBoundingClientRect().width,
                    track: track.getBoundingClientRect().width,
                    classes: bar.className,
                };
            })"""
        )
    }


def assert_bars_show(container, expected: dict[str, tuple[str, int, str]]) -> None:
    bars = read_bars(container)
    assert list(bars) == list(expected)
    for label, (figure, percent, colour) in expected.items():
        bar = bars[label]
        assert bar["figure"] == figure, bar
        assert bar["dataWidth"] == percent, bar
        # app.js applied the width (an inline style="" from the template would be refused).
        assert bar["styleWidth"] == f"{percent}%", bar
        assert f"bg-{colour}" in bar["classes"], bar
        if percent:
            assert bar["drawn"] > 0, bar
            assert bar["drawn"] == pytest.approx(bar["track"] * percent / 100, abs=2), bar
        else:
            assert bar["drawn"] == 0, bar


def test_a_tenant_owner_subscribes_to_a_plan_and_sees_the_quota_bars(
    page, log_in, screenshot, alice, acme, plan
):
    PlanFactory(name="Starter", vms=2, vcpus=4, ram_gib=8, disk_gib=100, networks=1, public_ips=1)
    log_in(alice)

    # The dashboard's empty state points an owner at the plans.
    page.wait_for_url("**/dashboard/")
    assert page.locator("h1").inner_text() == "Acme"
    empty = page.locator(".empty-state")
    assert "No subscriptions yet" in empty.inner_text()
    assert empty.get_by_role("link", name="Subscribe to a plan").is_visible()
    screenshot("01_dashboard_empty")

    page.locator("#topnav").get_by_role("link", name="Plans").click()
    page.wait_for_url("**/subscriptions/plans/")
    cards = page.locator("article.card")
    assert cards.locator("h2").all_inner_texts() == ["Standard", "Starter"]
    screenshot("02_plans")

    card = cards.filter(has=page.get_by_role("heading", name="Standard"))
    card.get_by_label("Subscription name").fill("Acme production")
    card.get_by_role("button", name="Subscribe to Standard").click()
    page.wait_for_url(re.compile(r"/subscriptions/[0-9a-f-]{36}/$"))
    subscription = Subscription.objects.get(tenant=acme)
    assert (subscription.name, subscription.plan, subscription.state) == ("Acme production", plan, "active")
    assert page.url.endswith(f"/subscriptions/{subscription.pk}/")
    assert "Subscribed to Standard." in page.locator(".messages").inner_text()
    quota = page.locator("section[aria-labelledby=quota-title]")
    assert_bars_show(
        quota,
        {
            label: (f"0 / {figure.split(' / ')[1]}", 0, "success")
            for label, (figure, _, _) in EXPECTED_BARS.items()
        },
    )
    screenshot("03_subscribed")

    # Resources are reserved elsewhere (later: VMs, networks); the page shows them on reload.
    with transaction.atomic():
        quota_reserve(subscription=subscription, demand=DEMAND, resource_type="vm")
    page.reload()
    assert_bars_show(page.locator("section[aria-labelledby=quota-title]"), EXPECTED_BARS)
    screenshot("04_subscription_with_usage")

    page.locator("#topnav").get_by_role("link", name="Dashboard").click()
    page.wait_for_url("**/dashboard/")
    assert page.locator(".empty-state").count() == 0
    card = page.locator("article.card").filter(has=page.get_by_role("link", name="Acme production"))
    assert_bars_show(card, EXPECTED_BARS)
    screenshot("05_dashboard_with_quota")


def test_a_reader_sees_the_plans_but_no_subscribe_button(page, log_in, screenshot, carol, acme, plan):
    log_in(carol)
    page.wait_for_url("**/dashboard/")
    # A reader's empty state offers to look at the plans, not to subscribe.
    assert page.locator(".empty-state").get_by_role("link", name="See the plans").is_visible()
    assert page.get_by_role("link", name="Subscribe to a plan").count() == 0
    screenshot("01_dashboard_reader")

    page.locator("#topnav").get_by_role("link", name="Plans").click()
    page.wait_for_url("**/subscriptions/plans/")
    assert page.get_by_role("heading", name="Standard").is_visible()
    assert (
        "Only owners of Acme can subscribe. Your role here is reader."
        in page.get_by_role("note").inner_text()
    )
    assert page.get_by_role("button", name=re.compile("Subscribe")).count() == 0
    assert page.locator("form input[name=form][value=subscribe]").count() == 0
    # Nor can a reader unlock a plan by its invitation code.
    assert page.get_by_label("Invitation code").count() == 0
    screenshot("02_plans_reader")


def test_the_tenant_switcher_switches_to_a_second_tenant(
    page, log_in, screenshot, alice, acme, globex, acme_subscription
):
    MembershipFactory(tenant=globex, user=alice, role=Role.READER)
    log_in(alice)
    page.wait_for_url("**/dashboard/")
    switcher = page.locator("#tenant-switcher")
    assert page.locator("h1").inner_text() == "Acme"
    assert re.fullmatch(r"Acme\s+owner", switcher.inner_text().strip())
    assert page.get_by_role("link", name="Acme production").is_visible()

    switcher.click()
    menu = page.locator("[aria-labelledby=tenant-switcher]")
    menu.wait_for(state="visible")
    assert [t.split()[0] for t in menu.locator("form button").all_inner_texts()] == ["Acme", "Globex"]
    screenshot("01_switcher_open")

    menu.locator("form button", has_text="Globex").click()
    page.wait_for_url("**/dashboard/")
    page.locator("h1", has_text="Globex").wait_for()
    assert "You are now working in Globex." in page.locator(".messages").inner_text()
    assert re.fullmatch(r"Globex\s+reader", switcher.inner_text().strip())
    # Globex has no subscription; Acme's is not shown here.
    assert page.get_by_role("link", name="Acme production").count() == 0
    assert "No subscriptions yet" in page.locator(".empty-state").inner_text()
    screenshot("02_switched_to_globex")

    # The choice sticks for the rest of the session.
    page.locator("#topnav").get_by_role("link", name="Plans").click()
    page.wait_for_url("**/subscriptions/plans/")
    assert re.fullmatch(r"Globex\s+reader", switcher.inner_text().strip())
