"""Reconciliation: what the hosts really run against what the database says."""

from __future__ import annotations

import uuid

import pytest

from compute import services
from compute.drivers import driver_for
from compute.models import Deployment, Host, VirtualMachine
from compute.reconcile import reconcile_hosts
from controller.base import ControllerError, PowerAction, VMSpec
from controller.simulated import SimulatedComputeDriver
from portal.models import AuditEvent, Job
from subscriptions.models import Allocation, Subscription
from tests.compute.conftest import run_jobs

pytestmark = pytest.mark.django_db

VM = VirtualMachine


def refreshed(obj):
    obj.refresh_from_db()
    return obj


@pytest.fixture
def ready(deploy):
    deployment = deploy(2)
    run_jobs()
    assert refreshed(deployment).state == Deployment.State.READY
    return deployment


def vms_of(deployment: Deployment) -> list[VirtualMachine]:
    return list(deployment.vms.order_by("index"))


def stray(host: Host) -> str:
    """A VM made on the host outside the portal."""
    uid = str(uuid.uuid4())
    driver_for(host).ensure_vm(
        VMSpec(uuid=uid, name="handmade", hostname="handmade", vcpus=1, ram_mib=1024, disk_gib=10, image="x")
    )
    return uid


def test_a_consistent_fleet_needs_nothing(ready, host):
    report = reconcile_hosts()
    assert (report.hosts, report.orphans, report.lost, report.power_updated) == (1, [], [], 0)
    assert (report.leftovers_removed, report.orphans_removed, report.unreachable) == (0, 0, [])
    host.refresh_from_db()
    assert host.last_seen_at is not None and host.last_error == ""


def test_an_orphan_is_reported_and_kept_by_default(ready, host, fleet, settings):
    settings.RECONCILE_REMOVE_ORPHANS = False
    orphan = stray(host)
    report = reconcile_hosts()
    assert report.orphans == [orphan]
    assert report.orphans_removed == 0
    assert orphan in fleet.all_vms()  # may be someone's VM made outside the portal
    event = AuditEvent.objects.get(action="host.orphan_found")
    assert (event.target_id, event.data, event.tenant_id) == (str(host.pk), {"vm": orphan}, None)
    assert not VM.objects.filter(pk=orphan).exists()


def test_an_orphan_is_removed_when_the_setting_says_so(ready, host, fleet, settings):
    settings.RECONCILE_REMOVE_ORPHANS = True
    orphan = stray(host)
    report = reconcile_hosts()
    assert (report.orphans, report.orphans_removed) == ([orphan], 1)
    assert orphan not in fleet.all_vms()
    assert len(fleet.all_vms()) == 2  # the portal's VMs stay
    # The argument wins over the setting.
    orphan = stray(host)
    assert reconcile_hosts(remove_orphans=False).orphans_removed == 0
    assert orphan in fleet.all_vms()


def test_a_leftover_of_a_deleted_vm_is_removed(ready, host, fleet):
    vm = vms_of(ready)[0]
    # A delete job marked it deleted but its host call was lost (the host kept the VM).
    VM.objects.filter(pk=vm.pk).update(provisioning_state=VM.Provisioning.DELETED)
    report = reconcile_hosts()
    assert report.leftovers_removed == 1
    assert report.orphans == []
    assert str(vm.pk) not in fleet.all_vms()


def test_a_leftover_of_a_failed_vm_is_removed(
    deploy, host, fleet, monkeypatch, django_capture_on_commit_callbacks
):
    deployment = deploy(2)
    vm = vms_of(deployment)[0]
    # The VM was made (the reply lost), then the job failed and could not clean up.
    fleet.configure(lost_reply_rate=1.0)
    Job.objects.filter(kind="create_vm").update(max_attempts=1)
    with monkeypatch.context() as patch, django_capture_on_commit_callbacks(execute=True):
        patch.setattr(SimulatedComputeDriver, "delete_vm", _unreachable)
        run_jobs()
    fleet.configure(lost_reply_rate=0.0)
    assert refreshed(vm).provisioning_state == "error"
    assert str(vm.pk) in fleet.all_vms()
    assert reconcile_hosts().leftovers_removed == 2  # both VMs of the deployment failed alike
    assert fleet.all_vms() == {}


def _unreachable(self, uuid: str) -> bool:
    raise ControllerError("The host did not answer in time; the operation will be retried.")


def test_a_vm_missing_from_its_host_is_marked_lost_and_its_quota_released(ready, host, fleet):
    vm, kept = vms_of(ready)
    fleet.vanish(str(vm.pk))
    report = reconcile_hosts()
    assert report.lost == [str(vm.pk)]
    vm.refresh_from_db()
    assert (vm.provisioning_state, vm.power_state) == ("error", "nostate")
    assert vm.message == "The VM was not found on its host."
    assert not Allocation.objects.filter(resource_id=vm.pk).exists()
    assert Allocation.objects.filter(resource_id=kept.pk).exists()
    event = AuditEvent.objects.get(action="vm.lost")
    assert (event.tenant_id, event.data) == (ready.tenant_id, {"host": "node-1"})
    assert reconcile_hosts().lost == []  # once


def test_a_vm_with_an_operation_in_flight_is_not_called_lost(ready, alice, fleet):
    vm = vms_of(ready)[0]
    services.vm_power(vm=vm, action="power_off", actor=alice)
    fleet.vanish(str(vm.pk))
    assert reconcile_hosts().lost == []
    assert refreshed(vm).provisioning_state == "active"


def test_power_drift_is_recorded(ready, host):
    vm = vms_of(ready)[0]
    driver_for(host).power(str(vm.pk), PowerAction.POWER_OFF)  # the guest shut itself down
    report = reconcile_hosts()
    assert report.power_updated == 1
    assert refreshed(vm).power_state == "shutdown"
    driver_for(host).power(str(vm.pk), PowerAction.START)
    assert reconcile_hosts().power_updated == 1
    assert refreshed(vm).power_state == "running"


def test_power_drift_leaves_a_vm_with_a_task_alone(ready, host, alice):
    vm = vms_of(ready)[0]
    services.vm_power(vm=vm, action="shutdown", actor=alice)
    driver_for(host).power(str(vm.pk), PowerAction.POWER_OFF)
    assert reconcile_hosts().power_updated == 0
    assert refreshed(vm).power_state == "running"  # the shutdown job will record it


def test_an_unreachable_host_is_noted_and_nothing_changes(ready, host, monkeypatch):
    def down(self):
        raise ControllerError("The host did not answer.", detail="connection refused")

    monkeypatch.setattr(SimulatedComputeDriver, "list_vms", down)
    report = reconcile_hosts()
    assert report.unreachable == ["node-1"]
    assert refreshed(host).last_error == "The host did not answer."
    assert {vm.provisioning_state for vm in vms_of(ready)} == {"active"}


def test_disabled_hosts_are_skipped(ready, host, admin, fleet):
    services.host_set_state(host=host, state=Host.State.DISABLED, actor=admin)
    fleet.vanish(str(vms_of(ready)[0].pk))
    report = reconcile_hosts()
    assert (report.hosts, report.lost) == (0, [])


def test_a_vm_still_running_under_a_suspended_subscription_is_powered_off(ready, acme_subscription, fleet):
    """The state a start ending while the suspension commits can leave (each transaction
    read the other's rows before the other committed): suspended, and a VM idle and running.
    The next pass powers it off; one that is busy is left to its operation."""
    first, second = vms_of(ready)
    assert {first.power_state, second.power_state} == {"running"}
    VM.objects.filter(pk=second.pk).update(task_state=VM.Task.REBOOTING)
    Subscription.objects.filter(pk=acme_subscription.pk).update(state=Subscription.State.SUSPENDED)

    report = reconcile_hosts()
    assert report.suspended_powered_off == 1
    assert Job.objects.filter(kind="power_off", target_id=first.pk).count() == 1
    assert not Job.objects.filter(kind="power_off", target_id=second.pk).exists()
    run_jobs()
    assert refreshed(first).power_state == "shutdown"
    assert driver_for(first.host).observe(str(first.pk)).power_state == "shutdown"
    assert reconcile_hosts().suspended_powered_off == 0  # nothing left running that may stop


def test_an_active_subscriptions_running_vms_are_left_alone(ready):
    assert reconcile_hosts().suspended_powered_off == 0
    assert not Job.objects.filter(kind="power_off").exists()


def test_host_usage_follows_each_vm_and_drift_is_recounted(ready, host, deploy, fleet, monkeypatch):
    """Every path out of building or active gives the VM's share back in the transaction
    that records it; reconciliation finds nothing to fix, and fixes and reports a drift."""

    def used() -> tuple[int, int, int]:
        host.refresh_from_db()
        return (host.used_vcpus, host.used_ram_gib, host.used_disk_gib)

    first, second = vms_of(ready)
    assert used() == (first.vcpus * 2, first.ram_gib * 2, first.disk_gib * 2)
    services.vm_delete(vm=first, actor=None)
    run_jobs()
    assert used() == (second.vcpus, second.ram_gib, second.disk_gib)
    # A failed build gives its share back; so does a VM found lost.
    monkeypatch.setattr(
        SimulatedComputeDriver,
        "ensure_vm",
        lambda self, spec: (_ for _ in ()).throw(ControllerError("No.", permanent=True)),
    )
    deploy(2, name="doomed")
    run_jobs()
    monkeypatch.undo()
    assert used() == (second.vcpus, second.ram_gib, second.disk_gib)
    driver_for(host).delete_vm(str(second.pk))
    assert reconcile_hosts().lost == [str(second.pk)]
    assert used() == (0, 0, 0)
    assert reconcile_hosts().usage_fixed == []
    Host.objects.filter(pk=host.pk).update(used_vcpus=5)
    assert reconcile_hosts().usage_fixed == [host.name]
    assert used() == (0, 0, 0)
