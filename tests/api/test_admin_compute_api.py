"""/api/v1/admin/hosts/ and /api/v1/admin/jobs/: hosts and every tenant's jobs for service
admins (tests/api/test_admin.py checks that tenant users, tokens and anonymous callers are
refused on every admin route, these included)."""

# The compute fixtures are imported from tests/compute/conftest.py, so the test arguments
# that use them look like redefinitions to ruff.
# ruff: noqa: F811

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compute import services
from compute.models import Host, VirtualMachine
from portal.models import AuditEvent, Job
from tests.api.conftest import Api, make_token
from tests.compute.conftest import fleet, host, offered, run_jobs  # noqa: F401 (fixtures, see the top)
from tests.factories import TenantFactory
from tests.gallery.helpers import ssh_key

pytestmark = pytest.mark.django_db

URI = "sim://rack3-node1?vcpus=8&ram_gib=32&disk_gib=500"


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
    fleet.configure(permanent_rate=1.0)
    deployment = deploy(acme, alice, acme_subscription, offered)
    run_jobs()
    fleet.configure(permanent_rate=0.0)
    return deployment


def test_the_routes_have_the_agreed_names():
    pk = uuid.uuid4()
    assert reverse("api:admin-host-list") == "/api/v1/admin/hosts/"
    assert reverse("api:admin-host-detail", args=[pk]) == f"/api/v1/admin/hosts/{pk}/"
    assert reverse("api:admin-host-state", args=[pk]) == f"/api/v1/admin/hosts/{pk}/state/"
    assert reverse("api:admin-job-list") == "/api/v1/admin/jobs/"
    assert reverse("api:admin-job-detail", args=[pk]) == f"/api/v1/admin/jobs/{pk}/"
    assert reverse("api:admin-job-retry", args=[pk]) == f"/api/v1/admin/jobs/{pk}/retry/"
    assert reverse("api:admin-job-cancel", args=[pk]) == f"/api/v1/admin/jobs/{pk}/cancel/"


# --- hosts -----------------------------------------------------------------------------------


def test_admins_register_a_host_and_get_its_capacity(api_admin, fleet, admin):
    response = api_admin.post(
        "/admin/hosts/", {"name": "rack3-node1", "uri": URI, "cpu_allocation_ratio": 2, "notes": "new"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["driver"], body["state"], body["notes"]) == (
        "rack3-node1",
        "simulated",
        "enabled",
        "new",
    )
    assert body["capacity"]["vcpus"] == {"total": 8, "ratio": 2.0, "schedulable": 16, "used": 0, "free": 16}
    assert body["capacity"]["ram_gib"]["total"] == 32
    assert body["vms"] == [] and body["vm_count"] == 0 and body["last_seen_at"]
    assert AuditEvent.objects.filter(action="host.register", actor=admin).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "uri": "qemu+ssh://nowhere/system"}, "uri"),
        ({"name": "x", "uri": URI, "driver": "vmware"}, "driver"),
        ({"name": "x", "uri": URI, "ram_allocation_ratio": 9}, "ram_allocation_ratio"),
        ({"uri": URI}, "name"),
    ],
)
def test_a_bad_registration_is_a_400_on_its_field(api_admin, fleet, payload, field):
    response = api_admin.post("/admin/hosts/", payload)
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Host.objects.exists()


def test_a_host_that_does_not_answer_says_so(api_admin, fleet):
    response = api_admin.post("/admin/hosts/", {"name": "x", "uri": "qemu+ssh://nowhere/system"})
    assert response.json()["uri"][0].startswith("The host did not answer")


def test_admins_list_hosts_with_usage_and_filters(
    api_admin,
    host,
    admin,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deploy(acme, alice, acme_subscription, offered)
    services.host_register(actor=admin, name="spare", uri="sim://spare?vcpus=4")
    Host.objects.filter(name="spare").update(state=Host.State.DRAINING)
    rows = api_admin.get("/admin/hosts/").json()["results"]
    assert [(h["name"], h["state"], h["vm_count"]) for h in rows] == [
        ("node-1", "enabled", 2),
        ("spare", "draining", 0),
    ]
    vcpus_per_vm = VirtualMachine.objects.first().vcpus
    assert rows[0]["capacity"]["vcpus"]["used"] == 2 * vcpus_per_vm
    assert [h["name"] for h in api_admin.get("/admin/hosts/", state="draining").json()["results"]] == [
        "spare"
    ]
    assert [h["name"] for h in api_admin.get("/admin/hosts/", q="sim://node").json()["results"]] == ["node-1"]
    assert api_admin.get("/admin/hosts/", state="asleep").status_code == 400


def test_the_host_list_runs_the_same_queries_for_2_and_20_hosts(api_admin, db):
    Host.objects.bulk_create(Host(name=f"a-{i}", uri=f"sim://a-{i}", vcpus=4) for i in range(2))
    with CaptureQueriesContext(connection) as few:
        api_admin.get("/admin/hosts/")
    Host.objects.bulk_create(Host(name=f"b-{i}", uri=f"sim://b-{i}", vcpus=4) for i in range(18))
    with CaptureQueriesContext(connection) as many:
        assert api_admin.get("/admin/hosts/").json()["count"] == 20
    assert len(many) == len(few)


def test_the_host_detail_lists_its_vms_with_tenants(
    api_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deployment = deploy(acme, alice, acme_subscription, offered, count=3)
    body = api_admin.get(f"/admin/hosts/{host.pk}/").json()
    assert sorted(vm["name"] for vm in body["vms"]) == sorted(deployment.vms.values_list("name", flat=True))
    assert {vm["tenant"]["name"] for vm in body["vms"]} == {"Acme"}
    assert {vm["deployment"] for vm in body["vms"]} == {str(deployment.pk)}


def test_admins_change_ratios_name_and_notes(api_admin, host, admin):
    response = api_admin.patch(
        f"/admin/hosts/{host.pk}/", {"name": "node-one", "cpu_allocation_ratio": 8, "notes": "Rack 1"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["notes"], body["capacity"]["vcpus"]["schedulable"]) == (
        "node-one",
        "Rack 1",
        256,
    )
    host.refresh_from_db()
    assert (host.name, host.cpu_allocation_ratio, host.ram_allocation_ratio) == ("node-one", 8.0, 1.0)
    assert AuditEvent.objects.filter(action="host.update", actor=admin).exists()


def test_the_uri_and_driver_cannot_be_patched(api_admin, host):
    response = api_admin.patch(f"/admin/hosts/{host.pk}/", {"uri": "sim://elsewhere", "driver": "x"})
    # Unknown fields are ignored by the input serializer: nothing to change, nothing changed.
    assert response.status_code == 200
    host.refresh_from_db()
    assert host.uri.startswith("sim://node-1")


def test_a_ratio_out_of_range_is_a_400(api_admin, host):
    response = api_admin.patch(f"/admin/hosts/{host.pk}/", {"cpu_allocation_ratio": 0})
    assert response.status_code == 400
    assert "cpu_allocation_ratio" in response.json()


def test_admins_drain_and_enable_a_host(api_admin, host, admin):
    response = api_admin.post(f"/admin/hosts/{host.pk}/state/", {"state": "draining"})
    assert response.status_code == 200 and response.json()["state"] == "draining"
    assert api_admin.post(f"/admin/hosts/{host.pk}/state/", {"state": "enabled"}).json()["state"] == "enabled"
    assert api_admin.post(f"/admin/hosts/{host.pk}/state/", {"state": "asleep"}).status_code == 400
    assert list(
        AuditEvent.objects.filter(target_id=str(host.pk), action__in=["host.draining", "host.enabled"])
        .order_by("created")
        .values_list("action", flat=True)
    ) == ["host.draining", "host.enabled"]


def test_a_host_in_use_cannot_be_deleted(
    api_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deploy(acme, alice, acme_subscription, offered)
    response = api_admin.delete(f"/admin/hosts/{host.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "host_in_use"
    assert Host.objects.filter(pk=host.pk).exists()


def test_a_free_host_is_deleted(api_admin, host):
    assert api_admin.delete(f"/admin/hosts/{host.pk}/").status_code == 204
    assert api_admin.get(f"/admin/hosts/{host.pk}/").status_code == 404


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


def test_admins_list_every_tenants_jobs_with_filters(api_admin, acme, globex, alice):
    _jobs(2, acme, created_by=alice)
    _jobs(1, globex, state=Job.State.FAILED, kind="create_vm", message="No room.", detail="secret detail")

    def names(**params) -> list[str]:
        response = api_admin.get("/admin/jobs/", **params)
        assert response.status_code == 200, response.content
        return sorted(job["target"]["name"] for job in response.json()["results"])

    assert names() == ["acme-vm-0", "acme-vm-1", "globex-vm-0"]
    assert names(state="failed") == ["globex-vm-0"]
    assert names(kind="create_vm") == ["globex-vm-0"]
    assert names(tenant=str(acme.pk)) == ["acme-vm-0", "acme-vm-1"]
    assert names(q="no room") == ["globex-vm-0"]
    rows = api_admin.get("/admin/jobs/", state="failed").json()["results"]
    assert rows[0]["tenant"]["name"] == "Globex" and rows[0]["label"] == "Create VM"
    assert "detail" not in rows[0]  # the detail is on the job's own endpoint
    assert api_admin.get("/admin/jobs/", state="sleeping").status_code == 400
    assert api_admin.get("/admin/jobs/", kind="explode").status_code == 400
    alice_jobs = [j for j in api_admin.get("/admin/jobs/", tenant=str(acme.pk)).json()["results"]]
    assert {j["created_by"] for j in alice_jobs} == {"alice@example.com"}


def test_the_job_list_runs_the_same_queries_for_2_and_20_jobs(api_admin, alice):
    _jobs(2, TenantFactory(), created_by=alice)
    with CaptureQueriesContext(connection) as few:
        api_admin.get("/admin/jobs/")
    for _ in range(9):
        _jobs(2, TenantFactory(), created_by=alice)
    with CaptureQueriesContext(connection) as many:
        assert api_admin.get("/admin/jobs/").json()["count"] == 20
    assert len(many) == len(few)


def test_a_failed_job_has_its_admin_detail_and_a_group_its_steps(api_admin, failed_deploy):
    failed = Job.objects.filter(kind="create_vm", state="failed").first()
    body = api_admin.get(f"/admin/jobs/{failed.pk}/").json()
    assert body["state"] == "failed" and body["detail"] == failed.detail and body["detail"]
    assert body["message"] == failed.message
    assert body["worker"] == "test" and body["attempts"] == 1
    assert body["parent"] == str(failed.parent_id)
    group = api_admin.get(f"/admin/jobs/{failed.parent_id}/").json()
    assert group["kind"] == "deploy" and len(group["children"]) == 2
    assert {c["state"] for c in group["children"]} == {"failed"}


def test_retrying_a_failed_create_job_queues_a_new_one_that_succeeds(api_admin, failed_deploy, admin):
    failed = Job.objects.filter(kind="create_vm", state="failed").first()
    response = api_admin.post(f"/admin/jobs/{failed.pk}/retry/")
    assert response.status_code == 202, response.content
    new = response.json()
    assert new["id"] != str(failed.pk)
    assert (new["kind"], new["state"], new["target"]["id"]) == ("create_vm", "queued", str(failed.target_id))
    assert new["created_by"] == admin.email
    run_jobs()
    assert api_admin.get(f"/admin/jobs/{new['id']}/").json()["state"] == "succeeded"
    assert VirtualMachine.objects.get(pk=failed.target_id).provisioning_state == "active"


def test_retrying_what_cannot_be_retried_is_a_409(api_admin, failed_deploy, acme):
    group = Job.objects.get(kind="deploy")
    response = api_admin.post(f"/admin/jobs/{group.pk}/retry/")
    assert (response.status_code, response.json()["code"]) == (409, "job_is_group")
    (done,) = _jobs(1, acme)
    response = api_admin.post(f"/admin/jobs/{done.pk}/retry/")
    assert (response.status_code, response.json()["code"]) == (409, "job_not_failed")


def test_admins_cancel_a_queued_job_and_not_a_finished_one(
    api_admin,
    host,
    alice,
    acme,
    acme_subscription,
    offered,
):
    deploy(acme, alice, acme_subscription, offered)
    child = Job.objects.filter(kind="create_vm").first()
    response = api_admin.post(f"/admin/jobs/{child.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    response = api_admin.post(f"/admin/jobs/{child.pk}/cancel/")
    assert (response.status_code, response.json()["code"]) == (409, "job_finished")


def test_an_unknown_job_or_host_is_a_404(api_admin):
    missing = uuid.uuid4()
    for path in (f"/admin/jobs/{missing}/", f"/admin/hosts/{missing}/"):
        assert api_admin.get(path).status_code == 404
    assert api_admin.post(f"/admin/jobs/{missing}/retry/").status_code == 404


def test_a_tenant_token_cannot_read_jobs_even_of_its_own_tenant(alice, acme):
    _jobs(1, acme, state=Job.State.FAILED, detail="controller said no")
    response = Api(token=make_token(alice, acme)).get("/admin/jobs/")
    assert response.status_code == 403
    assert "controller said no" not in response.content.decode()
