"""Provisioning in the admin portal: hosts (register, capacity, enable / drain / disable,
refresh, delete) and every tenant's jobs (filters, admin detail, retry, cancel).

Hosts are simulated (real Redis, one fleet per test) and jobs run in-process with their real
bodies (``run_jobs``), as in tests/compute.
"""

# The compute fixtures are imported from tests/compute/conftest.py, so the test arguments
# that use them look like redefinitions to ruff.
# ruff: noqa: F811

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compute import services
from compute.models import Host, VirtualMachine
from portal.models import AuditEvent, Job
from tests.compute.conftest import fleet, host, offered, run_jobs  # noqa: F401 (fixtures, see the top)
from tests.factories import TenantFactory
from tests.gallery.helpers import ssh_key

pytestmark = pytest.mark.django_db

SIM_URI = "sim://rack2-node7?vcpus=16&ram_gib=64&disk_gib=1000"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def register_data(**overrides) -> dict:
    data = {
        "name": "rack2-node7",
        "driver": "simulated",
        "uri": SIM_URI,
        "cpu_allocation_ratio": "4",
        "ram_allocation_ratio": "1",
        "disk_allocation_ratio": "1.5",
        "notes": "Second rack.",
    }
    data.update(overrides)
    return data


def deploy(acme, alice, acme_subscription, offered, count: int = 2):
    return services.deployment_create(
        tenant=acme,
        actor=alice,
        version=offered["web-farm"],
        subscription=acme_subscription,
        values={"ssh_key": ssh_key()},
        instance_count=count,
    )


@pytest.fixture
def failed_deploy(fleet, host, alice, acme, acme_subscription, offered):
    """A web farm of two whose VMs both failed to build (every spawn fails for good)."""
    fleet.configure(permanent_rate=1.0)
    deployment = deploy(acme, alice, acme_subscription, offered)
    run_jobs()
    fleet.configure(permanent_rate=0.0)
    return deployment


# --- hosts -----------------------------------------------------------------------------------


def test_the_hosts_page_shows_state_capacity_bars_and_vm_counts(
    client_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deploy(acme, alice, acme_subscription, offered)
    response = client_admin.get(reverse("adminportal:hosts"))
    assert response.status_code == 200
    (row_host, usage) = response.context["rows"][0]
    assert row_host.vm_count == 2
    by_dimension = {row["dimension"]: row for row in usage}
    # 32 vCPUs at the default ratio of 4 schedule 128; the web farm's VMs hold some of them.
    assert by_dimension["vcpus"]["limit"] == 128
    assert by_dimension["vcpus"]["used"] == 2 * VirtualMachine.objects.first().vcpus
    body = response.content.decode()
    assert "node-1" in body and "Enabled" in body
    assert 'data-width="' in body and "vCPUs" in body


def test_registering_a_simulated_host_reads_its_capacity(client_admin, fleet, admin):
    response = client_admin.post(reverse("adminportal:host_create"), register_data())
    new = Host.objects.get(name="rack2-node7")
    assert response.status_code == 302
    assert response["Location"] == reverse("adminportal:host_detail", args=[new.pk])
    assert (new.vcpus, new.ram_gib, new.disk_gib) == (16, 64, 1000)
    assert (new.disk_allocation_ratio, new.notes, new.state) == (1.5, "Second rack.", "enabled")
    assert new.last_seen_at is not None
    assert AuditEvent.objects.filter(action="host.register", actor=admin, target_id=str(new.pk)).exists()


def test_the_register_form_explains_the_uri_and_offers_the_configured_drivers(client_admin, settings):
    settings.COMPUTE_DRIVERS = {
        **settings.COMPUTE_DRIVERS,
        "libvirt": "controller.libvirt.LibvirtComputeDriver",
    }
    body = client_admin.get(reverse("adminportal:host_create")).content.decode()
    assert "<code>sim://&lt;name&gt;?vcpus=64&amp;ram_gib=256&amp;disk_gib=4000</code>" in body
    assert '<option value="simulated" selected>' in body and '<option value="libvirt">' in body


def test_a_host_that_does_not_answer_is_a_form_error_and_keeps_the_input(client_admin, fleet):
    response = client_admin.post(
        reverse("adminportal:host_create"), register_data(uri="qemu+ssh://nowhere/system")
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "did not answer" in form.errors["uri"][0]
    assert "is-invalid" in form["uri"].field.widget.attrs["class"]
    body = response.content.decode()
    assert 'value="rack2-node7"' in body and 'value="qemu+ssh://nowhere/system"' in body
    assert not Host.objects.exists()


def test_a_duplicate_name_is_refused_beside_the_name(client_admin, host):
    response = client_admin.post(reverse("adminportal:host_create"), register_data(name="node-1"))
    assert "name" in response.context["form"].errors
    assert Host.objects.count() == 1


def test_an_unknown_driver_and_an_out_of_range_ratio_are_refused(client_admin, fleet):
    response = client_admin.post(
        reverse("adminportal:host_create"), register_data(driver="vmware", cpu_allocation_ratio="100")
    )
    errors = response.context["form"].errors
    assert set(errors) == {"driver", "cpu_allocation_ratio"}
    assert not Host.objects.exists()


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("draining", "is draining: it keeps its VMs and takes no new ones."),
        ("disabled", "is disabled"),
    ],
)
def test_admins_drain_and_disable_a_host(client_admin, host, admin, state, expected):
    response = client_admin.post(reverse("adminportal:host_state", args=[host.pk]), {"state": state})
    assert response["Location"] == reverse("adminportal:host_detail", args=[host.pk])
    host.refresh_from_db()
    assert host.state == state
    assert any(expected in m for m in _messages(response))
    assert AuditEvent.objects.filter(action=f"host.{state}", actor=admin).exists()


def test_an_enabled_host_can_be_drained_and_enabled_again_and_the_buttons_follow(client_admin, host):
    url = reverse("adminportal:host_detail", args=[host.pk])
    assert 'value="draining"' in client_admin.get(url).content.decode()
    client_admin.post(reverse("adminportal:host_state", args=[host.pk]), {"state": "draining"})
    body = client_admin.get(url).content.decode()
    assert 'value="enabled"' in body and 'value="draining"' not in body
    client_admin.post(reverse("adminportal:host_state", args=[host.pk]), {"state": "enabled"})
    host.refresh_from_db()
    assert host.state == "enabled"


def test_an_unknown_state_changes_nothing(client_admin, host):
    response = client_admin.post(reverse("adminportal:host_state", args=[host.pk]), {"state": "asleep"})
    host.refresh_from_db()
    assert host.state == "enabled"
    assert "Choose enabled, draining or disabled." in _messages(response)


def test_refreshing_reads_the_capacity_again(client_admin, host):
    Host.objects.filter(pk=host.pk).update(vcpus=1, last_seen_at=None)
    response = client_admin.post(reverse("adminportal:host_refresh", args=[host.pk]))
    host.refresh_from_db()
    assert (host.vcpus, host.ram_gib) == (32, 128)
    assert host.last_seen_at is not None
    assert "node-1 reports 32 vCPUs, 128 GiB RAM and 4000 GiB disk." in _messages(response)


def test_refreshing_a_host_that_does_not_answer_says_so(client_admin, fleet):
    broken = Host.objects.create(name="ghost", uri="qemu+ssh://ghost/system", vcpus=8)
    response = client_admin.post(reverse("adminportal:host_refresh", args=[broken.pk]))
    assert response.status_code == 302
    assert any("did not answer" in m for m in _messages(response))
    broken.refresh_from_db()
    assert broken.vcpus == 8


def test_a_host_with_vms_is_not_deleted_and_the_admin_is_told_why(
    client_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deploy(acme, alice, acme_subscription, offered)
    response = client_admin.post(reverse("adminportal:host_delete", args=[host.pk]))
    assert response["Location"] == reverse("adminportal:host_detail", args=[host.pk])
    assert "node-1 still has VMs: drain it and move or delete them first." in _messages(response)
    assert Host.objects.filter(pk=host.pk).exists()


def test_a_free_host_is_deleted(client_admin, host, admin):
    response = client_admin.post(reverse("adminportal:host_delete", args=[host.pk]))
    assert response["Location"] == reverse("adminportal:hosts")
    assert not Host.objects.exists()
    assert AuditEvent.objects.filter(action="host.delete", actor=admin).exists()


def test_the_detail_page_lists_the_hosts_vms_with_their_tenants(
    client_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deployment = deploy(acme, alice, acme_subscription, offered, count=3)
    response = client_admin.get(reverse("adminportal:host_detail", args=[host.pk]))
    assert response.status_code == 200
    assert response.context["vm_page"].paginator.count == 3
    body = response.content.decode()
    for vm in deployment.vms.all():
        assert vm.name in body
    assert f'href="{reverse("adminportal:tenant_detail", args=[acme.pk])}">Acme</a>' in body
    assert "Delete node-1?" in body  # the confirmation names what is deleted


def test_admins_change_the_allocation_ratios(client_admin, host, admin):
    url = reverse("adminportal:host_detail", args=[host.pk])
    data = {
        "name": "node-1",
        "cpu_allocation_ratio": "8",
        "ram_allocation_ratio": "1.5",
        "disk_allocation_ratio": "1",
    }
    response = client_admin.post(url, data)
    assert response["Location"] == url
    host.refresh_from_db()
    assert (host.cpu_allocation_ratio, host.ram_allocation_ratio) == (8.0, 1.5)
    event = AuditEvent.objects.get(action="host.update")
    assert set(event.data) == {"cpu_allocation_ratio", "ram_allocation_ratio"}  # only what changed


def test_a_ratio_out_of_range_is_shown_beside_the_field_and_nothing_is_saved(client_admin, host):
    url = reverse("adminportal:host_detail", args=[host.pk])
    response = client_admin.post(
        url,
        {
            "name": "renamed",
            "cpu_allocation_ratio": "65",
            "ram_allocation_ratio": "1",
            "disk_allocation_ratio": "1",
        },
    )
    assert response.status_code == 200
    assert "cpu_allocation_ratio" in response.context["form"].errors
    assert 'value="65"' in response.content.decode()
    host.refresh_from_db()
    assert (host.name, host.cpu_allocation_ratio) == ("node-1", 4.0)


def test_renaming_to_another_hosts_name_is_refused(client_admin, host, admin):
    services.host_register(actor=admin, name="node-2", uri="sim://node-2?vcpus=4")
    response = client_admin.post(
        reverse("adminportal:host_detail", args=[host.pk]),
        {
            "name": "node-2",
            "cpu_allocation_ratio": "4",
            "ram_allocation_ratio": "1",
            "disk_allocation_ratio": "1",
        },
    )
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert response.context["host"].name == "node-1"


# --- jobs ------------------------------------------------------------------------------------


def _jobs(n: int, tenant, state: str = Job.State.SUCCEEDED, kind: str = "start", **extra) -> list[Job]:
    now = timezone.now()
    return Job.objects.bulk_create(
        Job(
            tenant=tenant,
            kind=kind,
            target_type="virtualmachine",
            target_id=uuid.uuid4(),
            target_repr=f"{tenant.slug}-vm-{i}",
            state=state,
            deadline=now,
            **extra,
        )
        for i in range(n)
    )


def test_the_jobs_page_shows_every_tenants_jobs_and_filters_them(client_admin, acme, globex, alice):
    _jobs(2, acme, created_by=alice)
    _jobs(1, globex, state=Job.State.FAILED, kind="create_vm", message="The host is full.")
    url = reverse("adminportal:jobs")

    def shown(**params) -> list[str]:
        response = client_admin.get(url, params)
        assert response.status_code == 200
        return sorted(job.target_repr for job in response.context["page_obj"])

    assert shown() == ["acme-vm-0", "acme-vm-1", "globex-vm-0"]
    assert shown(state="failed") == ["globex-vm-0"]
    assert shown(kind="create_vm") == ["globex-vm-0"]
    assert shown(tenant=str(acme.pk)) == ["acme-vm-0", "acme-vm-1"]
    assert shown(q="vm-1") == ["acme-vm-1"]
    assert shown(q="host is full") == ["globex-vm-0"]
    job = Job.objects.get(target_repr="acme-vm-0")
    assert shown(q=str(job.pk)) == ["acme-vm-0"]
    assert shown(q=str(job.target_id)) == ["acme-vm-0"]
    # An unknown filter value is ignored rather than an error page.
    assert len(shown(state="sleeping")) == 3
    body = client_admin.get(url, {"state": "failed"}).content.decode()
    assert "The host is full." in body and "Globex" in body


def test_the_jobs_page_paginates(client_admin, acme):
    _jobs(30, acme)
    response = client_admin.get(reverse("adminportal:jobs"), {"page": 2})
    assert len(response.context["page_obj"].object_list) == 5
    assert "26–30 of 30" in response.content.decode()


def test_the_jobs_table_polls_itself_only_while_a_job_on_it_is_active(client_admin, acme):
    """No socket in the admin portal: the table re-reads itself (htmx, every 2 s) while it
    shows an active job, and the reply without one carries no trigger, which ends it."""
    _jobs(2, acme, state=Job.State.SUCCEEDED)
    url = reverse("adminportal:jobs")
    body = client_admin.get(url).content.decode()
    assert 'id="jobs-live"' in body and "data-polling" not in body and "hx-trigger" not in body
    _jobs(1, acme, state=Job.State.RUNNING)
    body = client_admin.get(url, {"state": "running"}).content.decode()
    assert 'hx-trigger="every 2s"' in body and 'hx-select="#jobs-live"' in body
    assert 'hx-get="/manage/jobs/?state=running"' in body  # the same filters, re-read
    # Another page of the same list with only finished jobs does not poll.
    assert "data-polling" not in client_admin.get(url, {"state": "succeeded"}).content.decode()


def test_empty_lists_say_what_to_do_next(client_admin):
    assert "Register a host" in client_admin.get(reverse("adminportal:hosts")).content.decode()
    assert "No jobs yet" in client_admin.get(reverse("adminportal:jobs")).content.decode()


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_jobs_list_runs_the_same_queries_for_3_and_25_rows(client_admin, alice, admin):
    url = reverse("adminportal:jobs")
    _jobs(3, TenantFactory(), created_by=alice)
    few = _count(client_admin, url)
    for _ in range(11):
        _jobs(2, TenantFactory(), created_by=admin, state=Job.State.RUNNING, progress=40, step="spawning")
    many = _count(client_admin, url)
    assert many == few, f"{few} queries for 3 rows, {many} for 25"


def test_the_hosts_list_runs_the_same_queries_for_3_and_25_rows(
    client_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deploy(acme, alice, acme_subscription, offered)
    url = reverse("adminportal:hosts")
    Host.objects.bulk_create(Host(name=f"extra-{i}", uri=f"sim://extra-{i}", vcpus=8) for i in range(2))
    few = _count(client_admin, url)
    Host.objects.bulk_create(Host(name=f"more-{i}", uri=f"sim://more-{i}", vcpus=8) for i in range(22))
    many = _count(client_admin, url)
    assert many == few, f"{few} queries for 3 rows, {many} for 25"


def test_a_failed_job_shows_the_admin_detail_and_the_tenant_message(client_admin, failed_deploy):
    job = Job.objects.filter(kind="create_vm", state="failed").first()
    assert job.detail  # the controller's own words
    response = client_admin.get(reverse("adminportal:job_detail", args=[job.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "admins only" in body and '<pre class="job-detail' in body
    assert job.message in body
    assert f'action="{reverse("adminportal:job_retry", args=[job.pk])}"' in body
    assert reverse("adminportal:host_detail", args=[Host.objects.get().pk]) in body


def test_a_failed_group_job_lists_its_steps_with_their_retry_buttons(client_admin, failed_deploy):
    group = Job.objects.get(kind="deploy")
    assert group.state == "failed"
    response = client_admin.get(reverse("adminportal:job_detail", args=[group.pk]))
    body = response.content.decode()
    assert len(response.context["children"]) == 2
    assert "2 of its 2 steps failed" in body
    assert not response.context["can_retry"]
    for child in group.children.all():
        assert reverse("adminportal:job_retry", args=[child.pk]) in body


def test_retrying_a_failed_create_job_rebuilds_the_vm(client_admin, failed_deploy, admin):
    failed = Job.objects.filter(kind="create_vm", state="failed").order_by("target_repr").first()
    vm = VirtualMachine.objects.get(pk=failed.target_id)
    assert vm.provisioning_state == "error"
    response = client_admin.post(reverse("adminportal:job_retry", args=[failed.pk]))
    new = Job.objects.filter(kind="create_vm", target_id=vm.pk, state="queued").get()
    assert response["Location"] == reverse("adminportal:job_detail", args=[new.pk])
    assert f"Queued a new job: Create VM {vm.name}." in _messages(response)
    assert new.created_by == admin
    run_jobs()
    vm.refresh_from_db()
    new.refresh_from_db()
    assert new.state == "succeeded"
    assert (vm.provisioning_state, vm.power_state) == ("active", "running")


def test_retrying_a_job_that_did_not_fail_is_refused_with_a_message(client_admin, acme):
    (job,) = _jobs(1, acme)
    response = client_admin.post(reverse("adminportal:job_retry", args=[job.pk]))
    assert response["Location"] == reverse("adminportal:job_detail", args=[job.pk])
    assert "Not retried: Only a failed job can be retried." in _messages(response)
    assert Job.objects.count() == 1


def test_retrying_a_group_job_is_refused_with_a_message(client_admin, failed_deploy):
    group = Job.objects.get(kind="deploy")
    response = client_admin.post(reverse("adminportal:job_retry", args=[group.pk]))
    assert "Not retried: Retry the failed VMs of this job one by one." in _messages(response)


def test_admins_cancel_a_queued_job(
    client_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deploy(acme, alice, acme_subscription, offered)
    child = Job.objects.filter(kind="create_vm").first()
    page = client_admin.get(reverse("adminportal:job_detail", args=[child.pk])).content.decode()
    assert "Cancel job" in page
    response = client_admin.post(reverse("adminportal:job_cancel", args=[child.pk]))
    child.refresh_from_db()
    assert child.state == "cancelled"
    assert response["Location"] == reverse("adminportal:job_detail", args=[child.pk])
    assert any(m.endswith("Cancelled.") for m in _messages(response))


def test_cancelling_a_group_cancels_its_steps(
    client_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deploy(acme, alice, acme_subscription, offered)
    group = Job.objects.get(kind="deploy")
    client_admin.post(reverse("adminportal:job_cancel", args=[group.pk]))
    assert set(group.children.values_list("state", flat=True)) == {"cancelled"}


def test_cancelling_a_finished_job_is_refused_with_a_message(client_admin, acme):
    (job,) = _jobs(1, acme)
    response = client_admin.post(reverse("adminportal:job_cancel", args=[job.pk]))
    assert "This job has already succeeded." in _messages(response)


# --- access and the overview -----------------------------------------------------------------

PAGES = ["hosts", "host_create", "jobs"]
OBJECT_ROUTES = [
    "host_detail",
    "host_state",
    "host_refresh",
    "host_delete",
    "job_detail",
    "job_retry",
    "job_cancel",
]


@pytest.fixture
def objects(acme) -> dict[str, uuid.UUID]:
    node = Host.objects.create(name="node-9", uri="sim://node-9?vcpus=4", vcpus=4)
    (job,) = _jobs(1, acme, state=Job.State.FAILED)
    return {"host": node.pk, "job": job.pk}


def _urls(objects) -> list[str]:
    return [reverse(f"adminportal:{name}") for name in PAGES] + [
        reverse(f"adminportal:{name}", args=[objects[name.split("_")[0]]]) for name in OBJECT_ROUTES
    ]


def test_tenant_users_are_refused_everywhere_and_nothing_changes(client_alice, objects):
    for url in _urls(objects):
        assert client_alice.get(url).status_code == 403, url
        assert client_alice.post(url, {"state": "disabled"}).status_code == 403, url
    assert Host.objects.get().state == "enabled"
    assert Job.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(client, objects):
    for url in _urls(objects):
        response = client.post(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_an_unknown_host_or_job_is_a_404(client_admin, db):
    missing = uuid.uuid4()
    assert client_admin.get(reverse("adminportal:host_detail", args=[missing])).status_code == 404
    assert client_admin.get(reverse("adminportal:job_detail", args=[missing])).status_code == 404
    assert client_admin.post(reverse("adminportal:job_retry", args=[missing])).status_code == 404


def test_the_overview_has_a_provisioning_card(client_admin, acme, objects):
    Host.objects.create(name="node-10", uri="sim://node-10", state=Host.State.DRAINING)
    _jobs(2, acme, state=Job.State.RUNNING)
    _jobs(1, acme, state=Job.State.QUEUED)
    # Failed long ago: not in the last 24 hours.
    _jobs(1, acme, state=Job.State.FAILED, finished_at=timezone.now() - timedelta(days=2))
    Job.objects.filter(state="failed", finished_at__isnull=True).update(finished_at=timezone.now())
    response = client_admin.get(reverse("adminportal:overview"))
    assert response.context["provisioning"] == {
        "hosts_enabled": 1,
        "hosts_draining": 1,
        "hosts_disabled": 0,
        "jobs_running": 2,
        "jobs_queued": 1,
        "jobs_failed": 1,
    }
    body = response.content.decode()
    assert 'id="provisioning-card"' in body
    assert f'href="{reverse("adminportal:jobs")}?state=failed">1 failed</a>' in body
