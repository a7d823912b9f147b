"""The compute API: deployments, VMs, jobs, and the Idempotency-Key on writes.

alice owns Acme, bob operates there, carol reads; charlie is elsewhere. VMs reach "running"
through ``run_jobs`` (the real job bodies against the simulated fleet in Redis).
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compute.api.serializers import VM_STATUSES, VmSerializer, vm_list_data, vm_status
from compute.models import Deployment, VirtualMachine
from compute.selectors import VM_LIST_COLUMNS
from compute.services import host_register
from controller.base import PowerState
from gallery.models import GalleryItemVersion
from portal.api import idempotency
from portal.models import IdempotencyKey, Job
from subscriptions.models import Allocation, Plan
from tenants.models import Role
from tests.api.conftest import Api, make_token
from tests.backends import require_postgres
from tests.compute import conftest as compute_fixtures
from tests.compute.conftest import run_jobs
from tests.factories import SubscriptionFactory
from tests.gallery.helpers import ssh_key

pytestmark = pytest.mark.django_db

# The compute fixtures (a simulated fleet in Redis, a host, the sample items on offer).
fleet, host, offered = compute_fixtures.fleet, compute_fixtures.host, compute_fixtures.offered

VM = VirtualMachine


def _farm(version_, subscription_, **extra) -> dict:
    body = {
        "version": str(version_.pk),
        "subscription": str(subscription_.pk),
        "parameters": {"ssh_key": ssh_key()},
        "instance_count": 2,
    }
    body.update(extra)
    return body


def _post(api: Api, path: str, data=None, key: str | None = None):
    headers = dict(api.headers)
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    body = json.dumps(data) if data is not None else ""
    return api.client.post(f"/api/v1{path}", body, content_type="application/json", **headers)


@pytest.fixture
def farm(offered):
    return offered["web-farm"]


@pytest.fixture
def deployed(api_bob, farm, acme_subscription, host):
    """bob's two-node web farm, provisioned: both VMs active and running."""
    response = api_bob.post("/deployments/", _farm(farm, acme_subscription, name="shop"))
    assert response.status_code == 201, response.json()
    run_jobs()
    deployment = Deployment.objects.get(pk=response.json()["id"])
    assert deployment.state == Deployment.State.READY
    return deployment


def _vm(deployment, index: int = 1) -> VirtualMachine:
    return deployment.vms.get(index=index)


# --- deploying ---------------------------------------------------------------------------


def test_an_operator_deploys_and_gets_the_deployment_with_its_job(
    api_bob, bob, farm, acme_subscription, host
):
    response = api_bob.post("/deployments/", _farm(farm, acme_subscription, name="shop", instance_count=3))
    assert response.status_code == 201, response.json()
    body = response.json()
    deployment = Deployment.objects.get(pk=body["id"])
    assert body["name"] == "shop"
    assert body["state"] == "deploying"
    assert body["item"]["slug"] == "web-farm"
    assert body["version"] == {"id": str(farm.pk), "version": farm.version}
    assert body["subscription"] == {"id": str(acme_subscription.pk), "name": "Acme production"}
    assert body["size"] == {"name": "small", "vcpus": 1, "ram_gib": 2, "disk_gib": 20}
    assert body["vms"] == {"total": 3, "running": 0, "error": 0}
    assert [vm["status"] for vm in body["instances"]] == ["spawning"] * 3
    assert body["configuration"]["number"] == 1
    assert body["configuration"]["values"]["ssh_key"] == ssh_key()
    job = body["job"]
    assert job["kind"] == "deploy" and job["state"] == "queued"
    assert job["target"] == {"type": "deployment", "id": str(deployment.pk), "name": "shop"}
    assert job["created_by"]["email"] == bob.email
    assert Job.objects.get(pk=job["id"]).children.count() == 3
    assert deployment.vms.count() == 3


def test_an_item_id_deploys_its_newest_published_version(api_bob, farm, acme_subscription, host):
    body = _farm(farm, acme_subscription)
    del body["version"]
    body["item"] = str(farm.item_id)
    response = api_bob.post("/deployments/", body)
    assert response.status_code == 201, response.json()
    assert response.json()["version"]["id"] == str(farm.pk)


def test_the_instance_count_defaults_to_the_versions_default(api_bob, farm, acme_subscription, host):
    body = _farm(farm, acme_subscription)
    del body["instance_count"]
    response = api_bob.post("/deployments/", body)
    assert response.status_code == 201
    assert response.json()["instance_count"] == farm.instance_bounds[2]


def test_every_problem_comes_back_at_once_and_nothing_is_written(api_bob, farm, acme_subscription, host):
    response = api_bob.post(
        "/deployments/",
        _farm(
            farm,
            acme_subscription,
            name="Not A Name",
            instance_count=11,
            parameters={"ssh_key": "not a key", "health_check_interval": 1},
        ),
    )
    assert response.status_code == 400
    errors = response.json()
    assert {"name", "instance_count", "parameters.ssh_key", "parameters.health_check_interval"} <= set(errors)
    assert "between 2 and 10" in errors["instance_count"][0]
    assert not Deployment.objects.exists()
    assert not Job.objects.exists()


def test_a_malformed_body_is_a_400_on_its_fields(api_bob, host):
    response = api_bob.post(
        "/deployments/", {"version": "v1", "subscription": "nope", "parameters": [], "instance_count": "x"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"version", "subscription", "parameters", "instance_count"}
    response = api_bob.post("/deployments/", {"subscription": str(uuid.uuid4())})
    assert response.status_code == 400
    assert list(response.json()) == ["version"]


def test_an_unknown_version_and_another_tenants_subscription_are_400(
    api_bob, farm, globex_subscription, host
):
    body = _farm(farm, globex_subscription, version=str(uuid.uuid4()))
    response = api_bob.post("/deployments/", body)
    assert response.status_code == 400
    assert set(response.json()) == {"version", "subscription"}
    assert "Globex" not in response.content.decode()


def test_a_draft_version_is_as_unknown_as_in_the_gallery_api(api_bob, farm, acme_subscription, host):
    GalleryItemVersion.objects.filter(pk=farm.pk).update(state=GalleryItemVersion.State.DRAFT)
    response = api_bob.post("/deployments/", _farm(farm, acme_subscription))
    assert response.status_code == 400
    assert list(response.json()) == ["version"]


def test_a_version_no_longer_published_is_a_409(api_bob, farm, acme_subscription, host):
    GalleryItemVersion.objects.filter(pk=farm.pk).update(state=GalleryItemVersion.State.DEPRECATED)
    response = api_bob.post("/deployments/", _farm(farm, acme_subscription))
    assert response.status_code == 409
    assert response.json()["code"] == "version_not_published"


def test_quota_is_a_409_with_every_exceeded_dimension(api_bob, farm, acme_subscription, host):
    # Ten large nodes: 40 vCPUs, 80 GiB RAM and 800 GiB disk against 20, 40 and 500.
    body = _farm(farm, acme_subscription, instance_count=10)
    body["parameters"]["size"] = "large"
    response = api_bob.post("/deployments/", body)
    assert response.status_code == 409
    data = response.json()
    assert data["code"] == "quota_exceeded"
    assert set(data["exceeded"]) == {"vcpus", "ram_gib", "disk_gib"}
    assert data["exceeded"]["vcpus"] == {"used": 0, "limit": 20, "requested": 40}
    assert not Deployment.objects.exists()
    assert not Allocation.objects.exists()


def test_no_host_with_room_is_a_409(api_bob, farm, acme_subscription, fleet, admin):
    host_register(actor=admin, name="tiny", uri="sim://tiny?vcpus=1&ram_gib=1&disk_gib=10")
    response = api_bob.post("/deployments/", _farm(farm, acme_subscription))
    assert response.status_code == 409
    assert response.json()["code"] == "no_valid_host"
    assert "tiny" not in response.json()["detail"]  # host names are the service team's business
    assert not Deployment.objects.exists()


def test_a_suspended_subscription_takes_no_new_deployment(api_bob, acme, plan, farm, acme_subscription, host):
    suspended = SubscriptionFactory(tenant=acme, plan=plan, name="Paused", state="suspended")
    response = api_bob.post("/deployments/", _farm(farm, suspended))
    assert response.status_code == 409
    assert "suspended" in response.json()["detail"]
    assert not Deployment.objects.exists()


def test_readers_may_not_deploy(api_carol, farm, acme_subscription, host):
    response = api_carol.post("/deployments/", _farm(farm, acme_subscription))
    assert response.status_code == 403
    assert not Deployment.objects.exists()


def test_a_reader_token_may_not_deploy_but_an_operator_token_may(alice, acme, farm, acme_subscription, host):
    reader = Api(token=make_token(alice, acme, Role.READER, actor_role=Role.OWNER))
    assert reader.post("/deployments/", _farm(farm, acme_subscription)).status_code == 403
    operator = Api(token=make_token(alice, acme, Role.OPERATOR, actor_role=Role.OWNER))
    response = operator.post("/deployments/", _farm(farm, acme_subscription))
    assert response.status_code == 201
    assert Deployment.objects.get().tenant == acme


# --- the Idempotency-Key -----------------------------------------------------------------


def test_a_repeated_key_replays_the_first_response_and_deploys_once(api_bob, farm, acme_subscription, host):
    body = _farm(farm, acme_subscription, name="shop")
    first = _post(api_bob, "/deployments/", body, key="deploy-shop-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = _post(api_bob, "/deployments/", body, key="deploy-shop-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Deployment.objects.count() == 1
    assert Job.objects.filter(kind="deploy").count() == 1


def test_the_same_body_with_other_key_order_and_spacing_is_the_same_request(
    api_bob, farm, acme_subscription, host
):
    body = _farm(farm, acme_subscription)
    assert _post(api_bob, "/deployments/", body, key="k").status_code == 201
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = api_bob.client.post(
        "/api/v1/deployments/", reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_request_is_a_422(api_bob, farm, acme_subscription, host):
    assert _post(api_bob, "/deployments/", _farm(farm, acme_subscription), key="k").status_code == 201
    response = _post(api_bob, "/deployments/", _farm(farm, acme_subscription, instance_count=3), key="k")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Deployment.objects.count() == 1


def test_keys_belong_to_one_user_in_one_tenant(api_alice, api_bob, farm, acme_subscription, host):
    assert _post(api_bob, "/deployments/", _farm(farm, acme_subscription), key="k").status_code == 201
    response = _post(api_alice, "/deployments/", _farm(farm, acme_subscription), key="k")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Deployment.objects.count() == 2


def test_a_validation_error_is_kept_and_replayed(api_bob, farm, acme_subscription, host):
    body = _farm(farm, acme_subscription, instance_count=99)
    first = _post(api_bob, "/deployments/", body, key="k")
    assert first.status_code == 400
    again = _post(api_bob, "/deployments/", body, key="k")
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_a_conflict_is_not_kept_so_the_key_works_once_the_cause_is_gone(
    api_bob, farm, acme_subscription, host
):
    GalleryItemVersion.objects.filter(pk=farm.pk).update(state=GalleryItemVersion.State.DEPRECATED)
    body = _farm(farm, acme_subscription)
    assert _post(api_bob, "/deployments/", body, key="k").status_code == 409
    assert not IdempotencyKey.objects.exists()
    GalleryItemVersion.objects.filter(pk=farm.pk).update(state=GalleryItemVersion.State.PUBLISHED)
    assert _post(api_bob, "/deployments/", body, key="k").status_code == 201


def test_a_request_arriving_while_the_first_runs_gets_a_409_in_progress(
    api_bob, bob, farm, acme_subscription, host, monkeypatch
):
    """The second request comes in while the first is inside the service (same key)."""
    from compute.api import views

    body = _farm(farm, acme_subscription)
    seen = {}
    real = views.deployment_create

    def slow_create(**kwargs):
        seen["second"] = _post(Api(user=bob), "/deployments/", body, key="k")
        return real(**kwargs)

    monkeypatch.setattr(views, "deployment_create", slow_create)
    first = _post(api_bob, "/deployments/", body, key="k")
    assert first.status_code == 201
    assert seen["second"].status_code == 409
    assert seen["second"].json()["code"] == "idempotency_key_in_progress"
    assert Deployment.objects.count() == 1
    monkeypatch.setattr(views, "deployment_create", real)
    assert _post(api_bob, "/deployments/", body, key="k")["Idempotent-Replayed"] == "true"


def test_a_key_left_by_a_dead_request_is_taken_over_after_a_while(api_bob, farm, acme_subscription, host):
    body = _farm(farm, acme_subscription)
    assert _post(api_bob, "/deployments/", body, key="k").status_code == 201
    # As if that request had died before finishing: unfinished, and its work rolled back.
    Deployment.objects.all().delete()
    Job.objects.all().delete()
    Allocation.objects.all().delete()
    IdempotencyKey.objects.update(status_code=None, response=None)
    assert _post(api_bob, "/deployments/", body, key="k").status_code == 409
    IdempotencyKey.objects.update(
        created=timezone.now() - idempotency.IN_PROGRESS_TIMEOUT - timedelta(seconds=1)
    )
    response = _post(api_bob, "/deployments/", body, key="k")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Deployment.objects.count() == 1


def test_keys_expire_after_a_day(api_bob, farm, acme_subscription, host):
    body = _farm(farm, acme_subscription)
    assert _post(api_bob, "/deployments/", body, key="k").status_code == 201
    assert idempotency.idempotency_keys_expire() == 0
    later = timezone.now() + idempotency.KEY_TTL + timedelta(minutes=1)
    assert idempotency.idempotency_keys_expire(now=later) == 1
    assert not IdempotencyKey.objects.exists()


def test_an_expired_key_is_a_new_request(api_bob, farm, acme_subscription, host):
    body = _farm(farm, acme_subscription)
    assert _post(api_bob, "/deployments/", body, key="k").status_code == 201
    IdempotencyKey.objects.update(created=timezone.now() - idempotency.KEY_TTL - timedelta(minutes=1))
    response = _post(api_bob, "/deployments/", _farm(farm, acme_subscription, instance_count=3), key="k")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Deployment.objects.count() == 2


def test_an_overlong_key_is_a_400(api_bob, farm, acme_subscription, host):
    response = _post(api_bob, "/deployments/", _farm(farm, acme_subscription), key="k" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Deployment.objects.exists()


def test_actions_take_a_key_too(api_bob, deployed):
    vm = _vm(deployed)
    first = _post(api_bob, f"/vms/{vm.pk}/shutdown/", key="stop-web-01")
    assert first.status_code == 202
    again = _post(api_bob, f"/vms/{vm.pk}/shutdown/", key="stop-web-01")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    # Without the key the repeat is what it is: the VM is already shutting down.
    assert _post(api_bob, f"/vms/{vm.pk}/shutdown/").status_code == 409


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_deploy_once(bob, farm, acme_subscription, host):
    require_postgres()
    body = _farm(farm, acme_subscription)
    threads, barrier = 8, threading.Barrier(8, timeout=30)
    results: list = [None] * threads

    def worker(i: int) -> None:
        api = Api(user=bob)
        try:
            barrier.wait()
            results[i] = _post(api, "/deployments/", body, key="race")
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    codes = sorted(r.status_code for r in results)
    fresh = [r for r in results if r.status_code == 201 and "Idempotent-Replayed" not in r]
    assert len(fresh) == 1, codes
    assert set(codes) <= {201, 409}
    assert all(r.json()["code"] == "idempotency_key_in_progress" for r in results if r.status_code == 409)
    assert Deployment.objects.count() == 1
    assert Job.objects.filter(kind="deploy").count() == 1


# --- deployments: read, scale, delete ----------------------------------------------------


def test_the_detail_shows_vms_and_configuration_with_secrets_redacted(
    api_carol, api_bob, offered, acme_subscription, host
):
    body = {
        "version": str(offered["postgresql"].pk),
        "subscription": str(acme_subscription.pk),
        "parameters": {"ssh_key": ssh_key(), "db_password": "correct horse battery staple"},
        "name": "db",
    }
    response = api_bob.post("/deployments/", body)
    assert response.status_code == 201, response.json()
    assert "correct horse" not in response.content.decode()
    run_jobs()
    detail = api_carol.get(f"/deployments/{response.json()['id']}/")
    assert detail.status_code == 200
    data = detail.json()
    assert data["configuration"]["values"]["db_password"] == "********"
    assert "correct horse" not in detail.content.decode()
    assert data["state"] == "ready"
    assert data["vms"] == {"total": 1, "running": 1, "error": 0}
    assert [vm["status"] for vm in data["instances"]] == ["running"]
    assert data["job"] is None


def test_the_list_filters_by_state_and_name(api_carol, api_bob, deployed, farm, acme_subscription):
    assert api_bob.post("/deployments/", _farm(farm, acme_subscription, name="blog")).status_code == 201
    everything = api_carol.get("/deployments/").json()
    assert [d["name"] for d in everything["results"]] == ["blog", "shop"]
    shop = everything["results"][1]
    assert shop["vms"] == {"total": 2, "running": 2, "error": 0}
    assert [d["name"] for d in api_carol.get("/deployments/", state="ready").json()["results"]] == ["shop"]
    assert [d["name"] for d in api_carol.get("/deployments/", search="blo").json()["results"]] == ["blog"]
    assert api_carol.get("/deployments/", state="asleep").status_code == 400


def test_scaling_out_queues_a_job_and_a_busy_deployment_is_a_409(api_bob, deployed):
    response = api_bob.post(f"/deployments/{deployed.pk}/scale/", {"instance_count": 4})
    assert response.status_code == 202
    assert response.json()["kind"] == "scale_out"
    assert deployed.vms.count() == 4
    busy = api_bob.post(f"/deployments/{deployed.pk}/scale/", {"instance_count": 3})
    assert busy.status_code == 409
    assert busy.json()["code"] == "wrong_state"
    run_jobs()
    deployed.refresh_from_db()
    assert deployed.state == Deployment.State.READY and deployed.instance_count == 4


@pytest.mark.parametrize("count", [1, 11, 2])
def test_scaling_outside_the_bounds_or_to_the_same_count_is_a_400(api_bob, deployed, count):
    response = api_bob.post(f"/deployments/{deployed.pk}/scale/", {"instance_count": count})
    assert response.status_code == 400
    assert "instance_count" in response.json()


def test_deleting_a_deployment_queues_its_deletion(api_bob, deployed):
    response = api_bob.delete(f"/deployments/{deployed.pk}/")
    assert response.status_code == 202
    assert response.json()["kind"] == "delete_deployment"
    assert api_bob.delete(f"/deployments/{deployed.pk}/").status_code == 409
    run_jobs()
    deployed.refresh_from_db()
    assert deployed.state == Deployment.State.DELETED
    assert api_bob.get("/deployments/").json()["count"] == 0


def test_readers_may_not_scale_or_delete(api_carol, deployed):
    assert api_carol.post(f"/deployments/{deployed.pk}/scale/", {"instance_count": 3}).status_code == 403
    assert api_carol.delete(f"/deployments/{deployed.pk}/").status_code == 403
    deployed.refresh_from_db()
    assert deployed.state == Deployment.State.READY


# --- VMs ---------------------------------------------------------------------------------


def test_power_actions_queue_jobs_and_the_wrong_state_is_a_409(api_bob, deployed):
    vm = _vm(deployed)
    response = api_bob.post(f"/vms/{vm.pk}/shutdown/")
    assert response.status_code == 202
    job = response.json()
    assert job["kind"] == "shutdown" and job["target"]["id"] == str(vm.pk)
    busy = api_bob.post(f"/vms/{vm.pk}/start/")
    assert busy.status_code == 409
    assert busy.json() == {
        "detail": f"Cannot start {vm.name}: it is busy (shutting down).",
        "code": "wrong_state",
    }
    run_jobs()
    vm.refresh_from_db()
    assert vm.power_state == PowerState.SHUTDOWN
    stopped = api_bob.post(f"/vms/{vm.pk}/reset/")
    assert stopped.status_code == 409
    assert stopped.json()["detail"] == f"Cannot reset {vm.name}: it is shut down."
    assert api_bob.post(f"/vms/{vm.pk}/start/").status_code == 202
    run_jobs()
    assert api_bob.post(f"/vms/{vm.pk}/reset/").status_code == 202
    run_jobs()
    assert api_bob.post(f"/vms/{vm.pk}/power-off/").status_code == 202
    run_jobs()
    vm.refresh_from_db()
    assert (vm.power_state, vm.task_state) == (PowerState.SHUTDOWN, "")


def test_readers_see_vms_but_may_not_act_on_them(api_carol, deployed):
    vm = _vm(deployed)
    assert api_carol.get(f"/vms/{vm.pk}/").status_code == 200
    for action in ("start", "shutdown", "power-off", "reset"):
        assert api_carol.post(f"/vms/{vm.pk}/{action}/").status_code == 403, action
    assert api_carol.delete(f"/vms/{vm.pk}/").status_code == 403
    vm.refresh_from_db()
    assert vm.task_state == ""


def test_the_vm_detail_says_what_may_be_done_and_what_runs(api_carol, api_bob, deployed):
    vm = _vm(deployed)
    data = api_carol.get(f"/vms/{vm.pk}/").json()
    assert data["status"] == "running"
    assert data["actions"] == ["shutdown", "power_off", "reset", "delete"]
    assert data["job"] is None
    assert data["item"]["slug"] == "web-farm"
    assert data["deployment"] == {"id": str(deployed.pk), "name": "shop"}
    assert "host" not in data and "node-1" not in json.dumps(data)
    job = api_bob.post(f"/vms/{vm.pk}/shutdown/").json()
    data = api_carol.get(f"/vms/{vm.pk}/").json()
    assert data["status"] == "shutting_down"
    assert data["actions"] == ["delete"]
    assert data["job"]["id"] == job["id"]


def test_deleting_a_vm_queues_its_deletion(api_bob, deployed):
    vm = _vm(deployed)
    response = api_bob.delete(f"/vms/{vm.pk}/")
    assert response.status_code == 202
    assert response.json()["kind"] == "delete_vm"
    assert api_bob.delete(f"/vms/{vm.pk}/").status_code == 409
    run_jobs()
    assert api_bob.get("/vms/").json()["count"] == 1
    assert api_bob.get("/vms/", status="deleted").json()["results"][0]["id"] == str(vm.pk)


def test_the_vm_list_filters_by_status_deployment_and_name(
    api_carol, api_bob, deployed, farm, acme_subscription
):
    other = api_bob.post("/deployments/", _farm(farm, acme_subscription, name="blog")).json()
    run_jobs()
    api_bob.post(f"/vms/{_vm(deployed).pk}/power-off/")
    run_jobs()
    names = lambda **q: sorted(vm["name"] for vm in api_carol.get("/vms/", **q).json()["results"])  # noqa: E731
    assert names() == ["blog-01", "blog-02", "shop-01", "shop-02"]
    assert names(status="shutdown") == ["shop-01"]
    assert names(status="running") == ["blog-01", "blog-02", "shop-02"]
    assert names(deployment=other["id"]) == ["blog-01", "blog-02"]
    assert names(search="shop-0") == ["shop-01", "shop-02"]
    assert api_carol.get("/vms/", status="asleep").status_code == 400
    assert api_carol.get("/vms/", deployment="nope").status_code == 400


def test_the_fast_vm_list_renders_what_the_serializer_documents(deployed):
    vm = VM.objects.select_related("deployment", "subscription").get(pk=_vm(deployed).pk)
    row = VM.objects.filter(pk=vm.pk).values(*VM_LIST_COLUMNS).get()
    assert vm_list_data([row]) == [json.loads(json.dumps(VmSerializer(vm).data))]


def test_vm_status_is_the_models_status():
    states = itertools.product(VM.Provisioning.values, [s.value for s in PowerState], VM.Task.values)
    for provisioning, power, task in states:
        vm = VM(provisioning_state=provisioning, power_state=power, task_state=task)
        assert vm_status(provisioning, power, task) == vm.status
        assert vm.status in VM_STATUSES


# --- jobs --------------------------------------------------------------------------------


def test_the_job_list_shows_top_level_jobs_unless_asked_for_children(api_carol, deployed):
    jobs = api_carol.get("/jobs/").json()
    assert [j["kind"] for j in jobs["results"]] == ["deploy"]
    group = jobs["results"][0]
    assert group["state"] == "succeeded" and group["progress"] == 100
    children = api_carol.get("/jobs/", parent=group["id"]).json()
    assert sorted(j["kind"] for j in children["results"]) == ["create_vm", "create_vm"]
    assert all(j["parent"] == group["id"] for j in children["results"])
    vm = _vm(deployed)
    assert [j["kind"] for j in api_carol.get("/jobs/", target=str(vm.pk)).json()["results"]] == ["create_vm"]
    assert api_carol.get("/jobs/", state="failed").json()["count"] == 0
    assert api_carol.get("/jobs/", state="asleep").status_code == 400


def test_a_job_shows_only_tenant_safe_fields(api_carol, deployed):
    Job.objects.update(detail="Traceback: secret-host-7 exploded", worker="celery@secret-host-7")
    group = Job.objects.get(kind="deploy")
    response = api_carol.get(f"/jobs/{group.pk}/")
    assert response.status_code == 200
    data = response.json()
    assert not {"detail", "worker", "claim", "celery_task_id"} & set(data)
    assert len(data["children"]) == 2
    assert not {"detail", "worker", "claim"} & set(data["children"][0])
    assert "secret-host-7" not in response.content.decode()
    assert "secret-host-7" not in api_carol.get("/jobs/").content.decode()


def test_cancelling_a_queued_job_is_a_200_and_a_finished_one_a_409(api_bob, api_carol, deployed):
    vm = _vm(deployed)
    job = api_bob.post(f"/vms/{vm.pk}/shutdown/").json()
    assert api_carol.post(f"/jobs/{job['id']}/cancel/").status_code == 403
    response = api_bob.post(f"/jobs/{job['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    vm.refresh_from_db()
    assert vm.task_state == ""
    again = api_bob.post(f"/jobs/{job['id']}/cancel/")
    assert again.status_code == 409
    assert again.json()["code"] == "job_finished"


def test_cancelling_a_running_job_asks_it_to_stop(api_bob, deployed):
    vm = _vm(deployed)
    job = api_bob.post(f"/vms/{vm.pk}/shutdown/").json()
    Job.objects.filter(pk=job["id"]).update(state=Job.State.RUNNING)
    response = api_bob.post(f"/jobs/{job['id']}/cancel/")
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True


def test_cancelling_a_deploy_cancels_its_vms(api_bob, farm, acme_subscription, host):
    deployment = api_bob.post("/deployments/", _farm(farm, acme_subscription)).json()
    response = api_bob.post(f"/jobs/{deployment['job']['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert set(VM.objects.values_list("provisioning_state", flat=True)) == {"deleted"}


# --- other tenants -----------------------------------------------------------------------


def test_another_tenants_deployments_vms_and_jobs_are_404(api_charlie, api_charlie_token, deployed):
    vm = _vm(deployed)
    job = Job.objects.get(kind="deploy")
    for api in (api_charlie, api_charlie_token):
        assert api.get(f"/deployments/{deployed.pk}/").status_code == 404
        assert api.post(f"/deployments/{deployed.pk}/scale/", {"instance_count": 3}).status_code == 404
        assert api.delete(f"/deployments/{deployed.pk}/").status_code == 404
        assert api.get(f"/vms/{vm.pk}/").status_code == 404
        assert api.post(f"/vms/{vm.pk}/shutdown/").status_code == 404
        assert api.delete(f"/vms/{vm.pk}/").status_code == 404
        assert api.get(f"/jobs/{job.pk}/").status_code == 404
        assert api.post(f"/jobs/{job.pk}/cancel/").status_code == 404
        assert api.get("/vms/").json()["count"] == 0
        assert api.get("/vms/", deployment=str(deployed.pk)).json()["count"] == 0
        assert api.get("/deployments/").json()["count"] == 0
        assert api.get("/jobs/", parent=str(job.pk)).json()["count"] == 0
    deployed.refresh_from_db()
    assert deployed.state == Deployment.State.READY
    vm.refresh_from_db()
    assert vm.task_state == ""


# --- query counts ------------------------------------------------------------------------


def _count_queries(api, path: str, **params) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path, **params)
    assert response.status_code == 200
    return len(queries), response.json()


@pytest.fixture
def roomy_plan(plan):
    Plan.objects.filter(pk=plan.pk).update(vms=100, vcpus=200, ram_gib=400, disk_gib=5000)


@pytest.mark.parametrize("by", ["session", "token"])
@pytest.mark.parametrize("path", ["/vms/", "/deployments/", "/jobs/"])
def test_lists_run_the_same_queries_for_few_or_many_rows(
    by, path, alice, acme, roomy_plan, api_bob, farm, acme_subscription, host
):
    api = Api(user=alice) if by == "session" else Api(token=make_token(alice, acme))
    api.get("/me/")  # the token's first use writes last_used_at; later ones within a minute do not
    assert api_bob.post("/deployments/", _farm(farm, acme_subscription)).status_code == 201
    run_jobs()
    few, body = _count_queries(api, path, page_size=100)
    assert body["count"] in (1, 2)
    for _ in range(4):
        assert (
            api_bob.post("/deployments/", _farm(farm, acme_subscription, instance_count=5)).status_code == 201
        )
    run_jobs()
    many, body = _count_queries(api, path, page_size=100)
    assert body["count"] in (5, 22)
    assert many == few
    # A token: the token with its tenant, user and role, then the page with its total. A
    # session (read from the cache): its user with their memberships, then the page.
    assert few == 2, f"{few} queries for {path}"
