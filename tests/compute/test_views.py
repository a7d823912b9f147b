"""The tenant compute pages: deployments, virtual machines and jobs.

The cast: alice owns Acme, bob operates in it, carol only reads; charlie is in Globex. VMs
are made by the real services on a simulated host (real Redis) and brought up by running
their jobs in-process (tests/compute/conftest.run_jobs).
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compute import services
from compute.models import Deployment, ResourceConfiguration, VirtualMachine
from portal import jobs
from portal.models import Job
from subscriptions.quota import Demand
from subscriptions.services import quota_reserve
from tests.compute.conftest import run_jobs
from tests.gallery.helpers import ssh_key

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture
def farm(alice, acme, acme_subscription, offered, host, fleet) -> Deployment:
    """A web farm of 2 VMs, not yet built (its jobs are queued)."""
    with transaction.atomic():
        return services.deployment_create(
            tenant=acme,
            actor=alice,
            version=offered["web-farm"],
            subscription=acme_subscription,
            values={"ssh_key": ssh_key()},
            instance_count=2,
            name="shop-frontend",
        )


@pytest.fixture
def running_farm(farm) -> Deployment:
    run_jobs()
    farm.refresh_from_db()
    assert farm.state == Deployment.State.READY
    return farm


def _client(client, user):
    client.force_login(user)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- pages ---------------------------------------------------------------------------------------


def test_a_reader_sees_every_page_and_no_action(client, carol, running_farm):
    c = _client(client, carol)
    vm = running_farm.vms.order_by("index").first()
    job = Job.objects.get(kind="deploy")
    pages = {
        "deployments": reverse("compute:deployments"),
        "deployment": reverse("compute:deployment", args=[running_farm.pk]),
        "deployment-row": reverse("compute:deployment-row", args=[running_farm.pk]),
        "vms": reverse("compute:vms"),
        "vm": reverse("compute:vm", args=[vm.pk]),
        "vm-row": reverse("compute:vm-row", args=[vm.pk]),
        "vm-card": reverse("compute:vm-row", args=[vm.pk]) + "?view=card",
        "jobs": reverse("compute:jobs"),
        "job": reverse("compute:job", args=[job.pk]),
        "job-progress": reverse("compute:job-progress", args=[job.pk]),
    }
    for name, url in pages.items():
        response = c.get(url)
        assert response.status_code == 200, name
        body = response.content.decode()
        assert "shop-frontend" in body or name in ("job-progress", "vm-row", "vm-card"), name
        # Readers act on nothing: no power, bulk, scale, delete or cancel forms.
        assert "/actions/" not in body and "vms/bulk/" not in body, name
        assert "/scale/" not in body and "/cancel/" not in body and "/delete/" not in body, name
    detail = c.get(pages["deployment"]).content.decode()
    assert "Load-balanced web farm" in detail and "Ready" in detail
    assert detail.count('data-live-vm="') == 2


def test_the_vm_page_shows_its_state_but_never_its_host(client, bob, running_farm, host):
    vm = running_farm.vms.order_by("index").first()
    body = _client(client, bob).get(reverse("compute:vm", args=[vm.pk])).content.decode()
    assert vm.name in body and "Running" in body and vm.hostname in body
    assert host.name not in body and host.uri not in body and str(host.pk) not in body
    # Power buttons follow the state: a running VM can be shut down, not started.
    assert 'data-vm-action="start" disabled' in body
    assert 'data-vm-action="shutdown">' in body
    assert "arrives with the console issue" in body


def test_the_deployment_page_shows_settings_with_secrets_masked(
    client, alice, acme, acme_subscription, offered, host
):
    with transaction.atomic():
        db = services.deployment_create(
            tenant=acme,
            actor=alice,
            version=offered["postgresql"],
            subscription=acme_subscription,
            values={"ssh_key": ssh_key(), "db_password": PASSWORD, "db_name": "orders"},
            instance_count=1,
            name="orders-db",
        )
    body = _client(client, alice).get(reverse("compute:deployment", args=[db.pk])).content.decode()
    assert PASSWORD not in body
    assert 'data-setting="db_password">********<' in body
    assert 'data-setting="db_name">orders<' in body
    assert "Every day at 02:00" in body or 'data-setting="backup_schedule"' in body


def test_a_job_page_shows_the_tenant_message_never_the_admin_detail(client, carol, farm):
    child = Job.objects.filter(kind="create_vm").first()
    Job.objects.filter(pk=child.pk).update(
        state=Job.State.FAILED, message="The host ran out of room.", detail="Traceback: host node-1 ENOSPC"
    )
    c = _client(client, carol)
    for job in (child, Job.objects.get(kind="deploy")):
        body = c.get(reverse("compute:job", args=[job.pk])).content.decode()
        assert "Traceback" not in body and "ENOSPC" not in body
    assert "The host ran out of room." in c.get(reverse("compute:job", args=[child.pk])).content.decode()
    group = c.get(reverse("compute:job", args=[Job.objects.get(kind="deploy").pk])).content.decode()
    assert group.count('data-live-job="') == 3  # the group and its two children


def test_lists_filter_and_search(client, carol, running_farm):
    c = _client(client, carol)
    vm = running_farm.vms.order_by("index").first()
    assert vm.name in c.get(reverse("compute:vms"), {"status": "running"}).content.decode()
    assert vm.name not in c.get(reverse("compute:vms"), {"status": "shutdown"}).content.decode()
    assert vm.name not in c.get(reverse("compute:vms"), {"q": "nothing-like-it"}).content.decode()
    assert vm.name in c.get(reverse("compute:vms"), {"deployment": str(running_farm.pk)}).content.decode()
    assert vm.name not in c.get(reverse("compute:vms"), {"deployment": str(uuid.uuid4())}).content.decode()
    assert "shop-frontend" not in c.get(reverse("compute:deployments"), {"state": "failed"}).content.decode()
    assert "shop-frontend" in c.get(reverse("compute:deployments"), {"q": "shop"}).content.decode()
    jobs_page = c.get(reverse("compute:jobs"), {"state": "succeeded"}).content.decode()
    assert "Deploy" in jobs_page and "Create VM" not in jobs_page  # top-level jobs only


def test_the_lists_show_an_empty_state_with_what_to_do(client, bob, acme):
    c = _client(client, bob)
    assert "No deployments yet" in c.get(reverse("compute:deployments")).content.decode()
    assert "No virtual machines yet" in c.get(reverse("compute:vms")).content.decode()
    assert "No jobs yet" in c.get(reverse("compute:jobs")).content.decode()


# --- actions -------------------------------------------------------------------------------------


def test_an_operator_shuts_a_vm_down(client, bob, running_farm):
    vm = running_farm.vms.order_by("index").first()
    url = reverse("compute:vm-action", args=[vm.pk, "shutdown"])
    response = _client(client, bob).post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("compute:vm", args=[vm.pk])
    assert _messages(response) == [f"Shut down: queued for {vm.name}."]
    vm.refresh_from_db()
    assert vm.task_state == VirtualMachine.Task.SHUTTING_DOWN
    assert Job.objects.filter(kind="shutdown", target_id=vm.pk, state=Job.State.QUEUED).exists()
    run_jobs()
    vm.refresh_from_db()
    assert (vm.power_state, vm.task_state) == ("shutdown", "")


def test_an_action_in_the_wrong_state_is_a_message_not_an_error(client, bob, running_farm):
    vm = running_farm.vms.order_by("index").first()
    response = _client(client, bob).post(reverse("compute:vm-action", args=[vm.pk, "start"]), follow=True)
    assert response.status_code == 200
    assert _messages(response) == [f"Cannot start {vm.name}: it is running."]
    assert not Job.objects.filter(kind="start").exists()


def test_an_unknown_action_is_404(client, bob, running_farm):
    vm = running_farm.vms.first()
    assert _client(client, bob).post(reverse("compute:vm-action", args=[vm.pk, "explode"])).status_code == 404


def test_a_reader_is_refused_every_action_with_403(client, carol, running_farm):
    c = _client(client, carol)
    vm = running_farm.vms.first()
    job = Job.objects.get(kind="deploy")
    posts = [
        (reverse("compute:vm-action", args=[vm.pk, "shutdown"]), {}),
        (reverse("compute:vm-action", args=[vm.pk, "delete"]), {}),
        (reverse("compute:vms-bulk"), {"action": "shutdown", "vm": [str(vm.pk)]}),
        (reverse("compute:deployment-scale", args=[running_farm.pk]), {"instance_count": 3}),
        (reverse("compute:deployment-delete", args=[running_farm.pk]), {}),
        (reverse("compute:job-cancel", args=[job.pk]), {}),
    ]
    before = Job.objects.count()
    for url, data in posts:
        assert c.post(url, data).status_code == 403, url
    assert Job.objects.count() == before
    assert set(running_farm.vms.values_list("task_state", flat=True)) == {""}


def test_bulk_actions_queue_what_fits_and_say_what_was_skipped(client, bob, running_farm):
    first, second = running_farm.vms.order_by("index")
    with transaction.atomic():
        services.vm_power(vm=first, action="shutdown", actor=bob)
    run_jobs()
    c = _client(client, bob)
    back = reverse("compute:vms") + "?status=running"
    response = c.post(
        reverse("compute:vms-bulk"),
        {"action": "start", "vm": [str(first.pk), str(second.pk)], "next": back},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == back
    assert _messages(response) == [
        "Start: queued for 1 virtual machine(s).",
        f"Skipped 1: Cannot start {second.name}: it is running.",
    ]
    assert Job.objects.filter(kind="start", target_id=first.pk).count() == 1


def test_bulk_delete_and_an_empty_selection(client, bob, running_farm):
    c = _client(client, bob)
    response = c.post(reverse("compute:vms-bulk"), {"action": "delete"}, follow=True)
    assert _messages(response) == ["Select at least one virtual machine."]
    ids = [str(pk) for pk in running_farm.vms.values_list("pk", flat=True)]
    response = c.post(reverse("compute:vms-bulk"), {"action": "delete", "vm": ids}, follow=True)
    assert _messages(response) == ["Delete: queued for 2 virtual machine(s)."]
    run_jobs()
    assert set(running_farm.vms.values_list("provisioning_state", flat=True)) == {"deleted"}


def test_bulk_actions_never_reach_another_tenants_vms(client, charlie, running_farm):
    ids = [str(pk) for pk in running_farm.vms.values_list("pk", flat=True)]
    response = _client(client, charlie).post(
        reverse("compute:vms-bulk"), {"action": "power_off", "vm": ids}, follow=True
    )
    assert _messages(response) == [
        "Skipped 2: " + " ".join(["A selected virtual machine no longer exists."] * 2)
    ]
    assert not Job.objects.filter(kind="power_off").exists()


def test_scaling_out_and_in_through_the_slider(client, bob, running_farm):
    c = _client(client, bob)
    url = reverse("compute:deployment-scale", args=[running_farm.pk])
    response = c.post(url, {"instance_count": 3}, follow=True)
    assert _messages(response) == ["Scaling shop-frontend to 3 instance(s)."]
    assert Job.objects.filter(kind="scale_out", target_id=running_farm.pk).exists()
    run_jobs()
    running_farm.refresh_from_db()
    assert (running_farm.state, running_farm.vms.filter(provisioning_state="active").count()) == ("ready", 3)
    c.post(url, {"instance_count": 2})
    run_jobs()
    assert running_farm.vms.filter(provisioning_state="active").count() == 2


def test_a_scale_out_of_bounds_or_quota_is_shown_beside_the_slider(
    client, bob, running_farm, acme_subscription
):
    c = _client(client, bob)
    url = reverse("compute:deployment-scale", args=[running_farm.pk])
    response = c.post(url, {"instance_count": 11})
    assert response.status_code == 400
    assert "Choose between 2 and 10 instances." in response.content.decode()
    with transaction.atomic():
        quota_reserve(subscription=acme_subscription, demand=Demand(vcpus=17), resource_type="test")
    response = c.post(url, {"instance_count": 5})
    assert response.status_code == 409
    body = response.content.decode()
    assert "Not enough quota on Acme production." in body and "vCPUs: 19 used of 20, 3 requested" in body
    running_farm.refresh_from_db()
    assert (running_farm.state, running_farm.instance_count) == ("ready", 2)


def test_scaling_a_busy_deployment_is_a_message(client, bob, farm):
    response = _client(client, bob).post(
        reverse("compute:deployment-scale", args=[farm.pk]), {"instance_count": 3}, follow=True
    )
    assert _messages(response) == ["Cannot scale shop-frontend while it is deploying."]


def test_deleting_a_deployment(client, alice, running_farm):
    c = _client(client, alice)
    url = reverse("compute:deployment-delete", args=[running_farm.pk])
    response = c.post(url, follow=True)
    assert _messages(response) == ["Deleting shop-frontend: its virtual machines are being deleted."]
    run_jobs()
    running_farm.refresh_from_db()
    assert running_farm.state == Deployment.State.DELETED
    assert "Deleted" in c.get(reverse("compute:deployment", args=[running_farm.pk])).content.decode()
    response = c.post(url, follow=True)
    assert _messages(response) == ["shop-frontend is already deleted."]


def test_cancelling_a_queued_deploy(client, bob, farm):
    group = Job.objects.get(kind="deploy")
    c = _client(client, bob)
    url = reverse("compute:job-cancel", args=[group.pk])
    response = c.post(url, {"next": reverse("compute:jobs")}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("compute:jobs")
    assert _messages(response) == ["Deploy shop-frontend is cancelled."]
    group.refresh_from_db()
    assert group.state == Job.State.CANCELLED
    # Cancelling again: the job has ended, a 409 shown as a message.
    response = c.post(url, follow=True)
    assert _messages(response) == ["This job has already cancelled."]


def test_cancelling_a_running_job_asks_it_to_stop(client, bob, running_farm):
    vm = running_farm.vms.first()
    with transaction.atomic():
        job = services.vm_power(vm=vm, action="reset", actor=bob)
    Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING)
    response = _client(client, bob).post(reverse("compute:job-cancel", args=[job.pk]), follow=True)
    assert _messages(response) == [f"Cancelling Reset {vm.name}: it stops after its current step."]
    assert Job.objects.get(pk=job.pk).cancel_requested


def test_another_tenants_objects_are_404(client, charlie, running_farm):
    c = _client(client, charlie)
    vm = running_farm.vms.first()
    job = Job.objects.get(kind="deploy")
    for url in (
        reverse("compute:deployment", args=[running_farm.pk]),
        reverse("compute:vm", args=[vm.pk]),
        reverse("compute:job", args=[job.pk]),
    ):
        assert c.get(url).status_code == 404
    assert c.post(reverse("compute:vm-action", args=[vm.pk, "power_off"])).status_code == 404
    assert "shop-frontend" not in c.get(reverse("compute:vms")).content.decode()


# --- query counts --------------------------------------------------------------------------------


def _grow(deployment: Deployment, *, deployments: int, vms_each: int) -> None:
    """Copies of ``deployment`` with VMs and an active job each, written directly (the
    services' quota would stop at 10 VMs; the pages only read)."""
    configuration = deployment.configurations.get()
    have = Deployment.objects.filter(tenant=deployment.tenant).count()
    for n in range(have, deployments):
        copy = Deployment.objects.create(
            tenant=deployment.tenant,
            subscription=deployment.subscription,
            version=deployment.version,
            name=f"copy-{n:03d}",
            hostname_prefix=f"copy{n}",
            size=deployment.size,
            instance_count=vms_each,
            state=Deployment.State.SCALING if n % 2 else Deployment.State.READY,
        )
        config = ResourceConfiguration.objects.create(deployment=copy, number=1, values=configuration.values)
        VirtualMachine.objects.bulk_create(
            VirtualMachine(
                tenant=copy.tenant,
                subscription=copy.subscription,
                deployment=copy,
                configuration=config,
                index=i,
                name=f"copy-{n:03d}-{i:02d}",
                hostname=f"copy{n}-{i:02d}",
                size_name="small",
                vcpus=1,
                ram_gib=2,
                disk_gib=20,
                image="debian",
                provisioning_state="active" if i % 3 else "error",
                power_state="running",
            )
            for i in range(vms_each)
        )
        if n % 2:
            jobs.job_create(kind="scale_out", target=copy, tenant=copy.tenant)


def _queries(client, url: str) -> int:
    client.get(url)  # warm: sessions, caches
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", ["compute:vms", "compute:deployments", "compute:jobs"])
def test_list_pages_run_a_constant_number_of_queries(client, carol, farm, name):
    c = _client(client, carol)
    url = reverse(name) + ("?per_page=100" if name == "compute:vms" else "")
    _grow(farm, deployments=3, vms_each=2)
    small = _queries(c, url)
    _grow(farm, deployments=30, vms_each=5)
    large = _queries(c, url)
    assert small == large, (small, large)
    assert large <= 7, large


# --- the gallery wizard's Deploy button ----------------------------------------------------------


def _wizard_url(version) -> str:
    return reverse("gallery:deploy", args=[version.item_id, version.pk])


def _wizard_post(version, subscription, **values) -> dict:
    return {
        "subscription": str(subscription.pk),
        "instance_count": "2",
        "action": "deploy",
        **{f"p_{name}": value for name, value in values.items()},
    }


def test_the_wizard_deploys_and_goes_to_the_deployment(client, bob, acme_subscription, offered, host):
    version = offered["web-farm"]
    data = _wizard_post(version, acme_subscription, ssh_key=ssh_key(), site_title="Shop")
    response = _client(client, bob).post(_wizard_url(version), data, follow=True)
    deployment = Deployment.objects.get()
    assert response.redirect_chain == [(reverse("compute:deployment", args=[deployment.pk]), 302)]
    assert _messages(response) == [f"Deploying {deployment.name}: its virtual machines are queued."]
    assert deployment.vms.count() == 2 and deployment.created_by == bob
    assert deployment.configurations.get().values["site_title"] == "Shop"
    assert Job.objects.get(kind="deploy").target_id == deployment.pk


def test_the_wizard_shows_why_it_could_not_deploy(client, bob, acme_subscription, offered):
    # No host at all: the service's 409 (no valid host) comes back as a message on the review.
    version = offered["web-farm"]
    response = _client(client, bob).post(
        _wizard_url(version), _wizard_post(version, acme_subscription, ssh_key=ssh_key())
    )
    assert response.status_code == 200
    assert _messages(response)[0].startswith("Could not deploy: ")
    assert 'id="review"' in response.content.decode()
    assert not Deployment.objects.exists()


def test_a_secret_not_typed_again_is_a_problem_on_the_review(client, bob, acme_subscription, offered, host):
    version = offered["postgresql"]
    data = {**_wizard_post(version, acme_subscription, ssh_key=ssh_key()), "instance_count": "1"}
    response = _client(client, bob).post(_wizard_url(version), data)
    body = response.content.decode()
    assert 'data-field="db_password"' in body and "This field is required." in body
    assert not Deployment.objects.exists()
    data["p_db_password"] = PASSWORD
    response = client.post(_wizard_url(version), data)
    assert response.status_code == 302
    assert PASSWORD not in str(Deployment.objects.get().configurations.get().values)


def test_a_reader_reviews_but_cannot_deploy(client, carol, acme_subscription, offered, host):
    version = offered["web-farm"]
    c = _client(client, carol)
    data = _wizard_post(version, acme_subscription, ssh_key=ssh_key())
    review = c.post(_wizard_url(version), {**data, "action": "review"}).content.decode()
    assert "Deploying needs the operator or owner role" in review and 'value="deploy"' not in review
    assert c.post(_wizard_url(version), data).status_code == 403
    assert not Deployment.objects.exists()


def test_a_deployment_page_reloads_its_vm_table_through_htmx(client, carol, running_farm):
    url = reverse("compute:vms") + f"?deployment={running_farm.pk}&rows=1"
    body = _client(client, carol).get(url, HTTP_HX_REQUEST="true").content.decode()
    assert body.lstrip().startswith("<tbody") and body.count('data-live-vm="') == 2
    assert "<html" not in body
