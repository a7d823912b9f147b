"""In a real browser: a tenant owner walks the web farm's deploy wizard from the gallery to the
review. The sections are the steps; changing a controlling field re-renders the form through
htmx (a dependent choice list, a field that appears); the review flags every problem at once,
inline and in a list that names each field by its label, and shows the quota needed against
what remains, per dimension.

The web farm comes from the shipped sample packages (gallery/samples/web-farm.json), offered
with every standard size by the plan of alice's subscription, on which 2 VMs are already
reserved.
"""

from __future__ import annotations

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from gallery.models import GalleryItem, VMSize
from gallery.services import gallery_item_attach_plan, gallery_load_samples, vm_size_attach_plan
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tests.gallery.helpers import SSH_KEY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEPS = ["Subscription", "Nodes", "Load balancer", "Site", "Administrator access", "How many", "Review"]
# Already in use on the plan of 10 VMs, 20 vCPUs, 40 GiB RAM, 500 GiB disk, 5 networks, 2 IPs.
IN_USE = Demand(vms=2, vcpus=4, ram_gib=8, disk_gib=100)


@pytest.fixture
def web_farm(admin, plan, acme_subscription) -> GalleryItem:
    gallery_load_samples(actor=admin)
    item = GalleryItem.objects.get(slug="web-farm")
    gallery_item_attach_plan(item=item, plan=plan, actor=admin)
    for size in VMSize.objects.all():
        vm_size_attach_plan(size=size, plan=plan, actor=admin)
    with transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=IN_USE, resource_type="vm")
    return item


def refreshed(page):
    """Expect the htmx round trip a controlling field's change sends."""
    return page.expect_response(lambda r: r.url.endswith("/deploy/fields/") and r.request.method == "POST")


def full_page(page, screenshot, name: str) -> None:
    """A full-page screenshot taken from the top: scrolled down, the sticky step list would be
    drawn where the viewport happened to be."""
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(name)


def quota_table(page) -> dict[str, tuple[int, int, bool]]:
    """dimension: (needed, remaining, exceeds), as the review's table shows them."""
    rows = page.locator("table.quota-impact tbody tr").evaluate_all(
        """rows => rows.map(row => [
            row.dataset.dimension,
            Number(row.querySelector('.quota-needed').textContent),
            Number(row.querySelector('.quota-remaining').textContent),
            row.classList.contains('table-danger'),
        ])"""
    )
    return {d: (needed, remaining, exceeds) for d, needed, remaining, exceeds in rows}


def step_problems(page) -> dict[str, str]:
    """The step list's problem badges: step label -> badge text."""
    out = {}
    for link in page.locator("#wizard-steps li").all():
        badge = link.locator(".badge")
        if badge.count():
            out[link.locator(".flex-grow-1").inner_text()] = badge.inner_text().split()[0]
    return out


def test_a_tenant_walks_the_web_farm_wizard_to_the_review(
    page, log_in, screenshot, alice, acme_subscription, web_farm
):
    # No smooth scrolling (Bootstrap's, unless the user asks for less motion): a screenshot
    # then shows where the page settles, not a frame of the animation.
    page.emulate_media(reduced_motion="reduce")
    log_in(alice)
    page.locator("#topnav").get_by_role("link", name="Gallery").click()
    page.wait_for_url("**/gallery/")
    expect(page.locator("article.card h2")).to_have_text(["Load-balanced web farm"])
    screenshot("01_gallery")

    page.get_by_role("link", name="Load-balanced web farm").click()
    page.get_by_role("link", name="Deploy 1.0.0").click()
    page.wait_for_url(re.compile(r"/deploy/$"))

    # The sections are the steps, between our own subscription and instance steps.
    expect(page.locator("#wizard-steps li .flex-grow-1")).to_have_text(STEPS)
    headings = page.locator("#deploy-fields section.wizard-step h2")
    expect(headings).to_have_text(
        [re.compile(rf"Step {n}: {re.escape(s)}$") for n, s in enumerate(STEPS[:-1], 1)]
    )
    expect(page.get_by_role("combobox", name="Subscription")).to_have_value(str(acme_subscription.pk))
    screenshot("02_wizard")

    # Step 2, Nodes: the image list depends on the operating system (choices_from).
    image = page.get_by_role("combobox", name="Image", exact=True)
    expect(image.locator("option")).to_have_text(["Debian 12 (bookworm)", "Debian 11 (bullseye)"])
    with refreshed(page):
        page.get_by_role("combobox", name="Operating system").select_option(label="Ubuntu")
    expect(image.locator("option")).to_have_text(["Ubuntu 24.04 LTS", "Ubuntu 22.04 LTS"])
    image.select_option(label="Ubuntu 22.04 LTS")
    page.get_by_role("combobox", name="Size", exact=True).select_option("medium")
    screenshot("03_nodes_ubuntu")

    # Step 3, Load balancer: sticky sessions make no sense with an IP hash (visible_if).
    sticky = page.get_by_label("Sticky sessions (cookie)")
    expect(sticky).to_be_visible()
    algorithm = page.get_by_role("combobox", name="Balancing algorithm")
    with refreshed(page):
        algorithm.select_option(label="Client address hash (sticky by IP)")
    expect(sticky).to_have_count(0)
    screenshot("04_sticky_hidden")
    with refreshed(page):
        algorithm.select_option(label="Fewest connections")
    expect(sticky).to_be_visible()
    sticky.check()
    # The round trips kept what was chosen before them.
    expect(page.get_by_role("combobox", name="Image", exact=True)).to_have_value(
        "ubuntu-22.04-server-cloudimg-amd64"
    )
    expect(page.get_by_role("combobox", name="Size", exact=True)).to_have_value("medium")
    screenshot("05_sticky_shown")

    # Two invalid values and a missing key, and more instances than the quota has room for.
    page.get_by_label("Health check path").fill("healthz")
    page.get_by_label("Administrator user name").fill("root")
    page.get_by_role("spinbutton", name="Instances").fill("9")
    page.get_by_role("button", name="Review").click()
    page.wait_for_load_state()

    review = page.locator("#review")
    expect(review).to_be_focused()  # the verdict, not the first field, takes the focus
    screenshot("06_review_landing", full_page=False)
    problems = review.locator("#review-problems li")
    # Every problem at once, in the order of the form, named by label with the name beside it.
    expect(problems).to_have_text(
        [
            re.compile(r"^Health check path health_check_path: Start with /"),
            re.compile(r"^Administrator user name admin_user: Use up to 32"),
            re.compile(r"^SSH public key ssh_key: This field is required\."),
            re.compile(r"^VMs: needs 9, but only 8 of 10 remain\."),
            re.compile(r"^vCPUs: needs 18, but only 16 of 20 remain\."),
            re.compile(r"^RAM \(GiB\): needs 36, but only 32 of 40 remain\."),
        ]
    )
    assert quota_table(page) == {
        "vms": (9, 8, True),
        "vcpus": (18, 16, True),
        "ram_gib": (36, 32, True),
        "disk_gib": (360, 400, False),
        "networks": (0, 5, False),
        "public_ips": (0, 2, False),
    }
    assert step_problems(page) == {"Load balancer": "1", "Administrator access": "2", "How many": "3"}
    # Inline, beside each field, with what was typed kept.
    path = page.get_by_label("Health check path")
    expect(path).to_have_value("healthz")
    expect(path).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(path).to_have_accessible_description(re.compile(r"Start with / and use letters"))
    expect(page.get_by_label("SSH public key")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.get_by_label("Sticky sessions (cookie)")).to_be_checked()
    expect(page.get_by_role("button", name="Deploy")).to_be_disabled()
    full_page(page, screenshot, "07_review_problems")

    # A problem's link jumps to its field.
    problems.get_by_role("link", name="SSH public key").click()
    expect(page).to_have_url(re.compile(r"#id_p_ssh_key$"))

    page.get_by_label("Health check path").fill("/healthz/ready")
    page.get_by_label("Administrator user name").fill("ops")
    page.get_by_label("SSH public key").fill(SSH_KEY)
    page.get_by_role("spinbutton", name="Instances").fill("4")
    page.get_by_role("button", name="Review again").click()
    page.wait_for_load_state()

    review = page.locator("#review")
    expect(review).to_be_focused()
    expect(review.locator("#review-problems")).to_have_count(0)
    expect(review).to_contain_text("Everything checks out and fits your quota.")
    assert quota_table(page) == {
        "vms": (4, 8, False),
        "vcpus": (8, 16, False),
        "ram_gib": (16, 32, False),
        "disk_gib": (160, 400, False),
        "networks": (0, 5, False),
        "public_ips": (0, 2, False),
    }
    assert step_problems(page) == {}
    settings = review.locator("dl.wizard-settings")
    for label, value in [
        ("Image", "Ubuntu 22.04 LTS"),
        ("Balancing algorithm", "Fewest connections"),
        ("Sticky sessions (cookie)", "Yes"),
        ("Health check path", "/healthz/ready"),
    ]:
        expect(
            settings.locator("dt", has_text=re.compile(rf"^{re.escape(label)}$")).locator("+ dd")
        ).to_have_text(value)
    full_page(page, screenshot, "08_review_valid")

    # On a phone the step list gives way to the cards, and the quota bars to the figures.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#wizard-steps")).to_be_hidden()
    expect(page.locator("table.quota-impact .progress-stacked").first).to_be_hidden()
    page.locator("#review-title").evaluate("el => el.scrollIntoView()")
    screenshot("09_review_phone", full_page=False)
