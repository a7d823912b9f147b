"""In a real browser: a service admin registers a simulated host (after a URI the host does not
answer on), drains it, then finds a tenant's failed job, reads the controller's detail that
only admins see, and retries it."""

# The compute fixtures are imported from tests/compute/conftest.py, so the test arguments
# that use them look like redefinitions to ruff.
# ruff: noqa: F811

from __future__ import annotations

import pytest

from compute import services
from compute.models import Host
from portal.models import Job
from tests.compute.conftest import fleet, offered, run_jobs  # noqa: F401 (fixtures, see the top)
from tests.gallery.helpers import ssh_key

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_registers_and_drains_a_host_and_retries_a_failed_job(
    page,
    log_in,
    screenshot,
    admin,
    alice,
    acme,
    acme_subscription,
    fleet,
    offered,
):
    log_in(admin)
    page.goto("/manage/hosts/")
    assert page.locator(".navbar .nav-link.active", has_text="Hosts").count() == 1
    screenshot("01_no_hosts")

    # A URI nobody answers on: the error is beside the field and what was typed stays.
    page.click("a:has-text('Register a host')")
    page.wait_for_url("**/manage/hosts/new/")
    page.fill("#id_name", "rack1-node1")
    page.fill("#id_uri", "qemu+ssh://nowhere.example/system")
    page.fill("#id_cpu_allocation_ratio", "2")
    with page.expect_navigation():
        page.click("button:has-text('Register host')")
    assert page.locator("#id_uri.is-invalid").count() == 1
    assert "did not answer" in page.inner_text(".invalid-feedback")
    assert page.input_value("#id_name") == "rack1-node1"
    assert page.input_value("#id_cpu_allocation_ratio") == "2"
    screenshot("02_host_does_not_answer")

    page.fill("#id_uri", "sim://rack1-node1?vcpus=16&ram_gib=64&disk_gib=2000")
    page.click("button:has-text('Register host')")
    page.wait_for_url("**/manage/hosts/*/")
    host = Host.objects.get(name="rack1-node1")
    assert "Registered rack1-node1: 16 vCPUs, 64 GiB RAM, 2000 GiB disk." in page.inner_text(".messages")

    # A tenant deploys while every spawn fails for good: two failed VM jobs.
    fleet.configure(permanent_rate=1.0)
    services.deployment_create(
        tenant=acme,
        actor=alice,
        version=offered["web-farm"],
        subscription=acme_subscription,
        values={"ssh_key": ssh_key()},
        instance_count=2,
    )
    run_jobs()
    fleet.configure(permanent_rate=0.0)
    assert Job.objects.filter(kind="create_vm", state="failed").count() == 2

    page.reload()
    assert page.locator("#capacity-title").is_visible()
    screenshot("03_host_detail")

    # The form posts and redirects back to the same URL: wait for that navigation itself.
    with page.expect_navigation():
        page.click("button:has-text('Drain')")
    assert "is draining" in page.inner_text(".messages")
    assert page.locator("h1 .badge", has_text="Draining").count() == 1
    host.refresh_from_db()
    assert host.state == "draining"
    page.goto("/manage/hosts/")
    screenshot("04_hosts_list_draining")

    # Enable it again so the retry has somewhere to go.
    page.goto(f"/manage/hosts/{host.pk}/")
    with page.expect_navigation():
        page.click("button:has-text('Enable')")
    assert "is enabled" in page.inner_text(".messages")

    page.click(".navbar a:has-text('Jobs')")
    page.wait_for_url("**/manage/jobs/")
    page.select_option("#id_state", "failed")
    page.select_option("#id_kind", "create_vm")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**/manage/jobs/?*")
    assert page.locator("tbody tr").count() == 2
    screenshot("05_failed_jobs")

    page.locator("tbody tr a.fw-semibold").first.click()
    page.wait_for_url("**/manage/jobs/*/")
    detail = page.locator("pre.job-detail")
    assert detail.is_visible()
    failed = Job.objects.get(pk=page.url.rstrip("/").split("/")[-1])
    assert failed.detail.splitlines()[0] in detail.inner_text()
    screenshot("06_failed_job_detail")

    page.click("button:has-text('Retry')")
    page.wait_for_url(lambda url: str(failed.pk) not in url and "/manage/jobs/" in url)
    assert "Queued a new job: Create VM" in page.inner_text(".messages")
    assert page.locator("h1 .badge", has_text="Queued").count() == 1
    assert page.locator("#history-title").is_visible()  # the failed attempt, linked
    screenshot("07_retried_job")

    # The page follows the job without a reload: a worker runs it, the progress card says so.
    assert page.locator("#job-live[data-polling]").count() == 1
    url = page.url
    # A poll never swaps an open dialog away: open the cancel confirmation, let two polls'
    # worth of time pass, and it is still there.
    page.click("button:has-text('Cancel job')")
    dialog = page.locator("#cancel-job")
    dialog.wait_for(state="visible")
    page.wait_for_timeout(4500)
    assert dialog.is_visible()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    run_jobs()
    page.wait_for_selector("h1 .badge:has-text('Succeeded')", timeout=10_000)
    assert page.locator("button:has-text('Cancel job')").count() == 0
    assert page.url == url
    assert page.locator("#job-live .progress-bar.bg-success").count() == 1
    assert page.locator("#job-live .progress-bar").evaluate("el => el.style.width") == "100%"
    assert page.locator("#job-live[data-polling]").count() == 0  # done: it stopped asking
    screenshot("07b_retried_job_done_live")

    page.click(".navbar a:has-text('Overview')")
    card = page.locator("#provisioning-card")
    # The retried job has run; the 2 failed VMs and their group stay failed.
    assert "0 queued" in card.inner_text() and "3 failed" in card.inner_text()
    screenshot("08_overview")
