"""Placement: filter hosts by state and free capacity (with allocation ratios), spread a
deployment, weigh by free RAM, and explain "no valid host" without naming hosts to tenants."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from compute import placement
from compute.models import Deployment, Host, ResourceConfiguration, VirtualMachine
from compute.placement import NoValidHost, place
from gallery.models import VMSize

pytestmark = pytest.mark.django_db


def make_host(name: str, *, vcpus: int = 16, ram_gib: int = 32, disk_gib: int = 1000, **extra) -> Host:
    return Host.objects.create(
        name=name, uri=f"sim://{name}", vcpus=vcpus, ram_gib=ram_gib, disk_gib=disk_gib, **extra
    )


@pytest.fixture
def deployment_factory(acme, acme_subscription, offered):
    def make(name: str = "") -> Deployment:
        deployment = Deployment.objects.create(
            tenant=acme,
            subscription=acme_subscription,
            version=offered["web-farm"],
            name=name or f"d-{uuid.uuid4().hex[:6]}",
            hostname_prefix="web",
            size=VMSize.objects.get(name="small"),
            instance_count=2,
        )
        ResourceConfiguration.objects.create(deployment=deployment, number=1, values={})
        return deployment

    return make


@pytest.fixture
def deployment(deployment_factory):
    return deployment_factory("web")


def new_vm(deployment: Deployment, *, vcpus: int = 1, ram_gib: int = 2, disk_gib: int = 20, **extra):
    """An unsaved VM of ``deployment``, as services build them before placing."""
    deployment.next_index += 1
    return VirtualMachine(
        id=uuid.uuid4(),
        tenant_id=deployment.tenant_id,
        subscription_id=deployment.subscription_id,
        deployment=deployment,
        configuration=deployment.configurations.first(),
        index=deployment.next_index,
        name=f"{deployment.name}-{deployment.next_index:02d}",
        hostname=f"web-{deployment.next_index:02d}",
        size_name="custom",
        vcpus=vcpus,
        ram_gib=ram_gib,
        disk_gib=disk_gib,
        image="debian-12-genericcloud-amd64",
        **extra,
    )


def existing_vm(deployment: Deployment, host: Host, state: str = "active", **size) -> VirtualMachine:
    """A VM already on ``host``, counted there as placement and release would have."""
    vm = new_vm(deployment, host=host, provisioning_state=state, **size)
    vm.save(force_insert=True)
    placement.recount()
    return vm


def placed(vms) -> list[str]:
    """Place and save ``vms`` as a service does (in one transaction); their hosts' names."""
    with transaction.atomic():
        place(vms)
        VirtualMachine.objects.bulk_create(vms)
    return [vm.host.name for vm in vms]


def test_nothing_to_place_is_fine(deployment):
    place([])


def test_it_skips_draining_and_disabled_hosts(deployment):
    make_host("small", ram_gib=8)
    make_host("big-draining", ram_gib=256, state=Host.State.DRAINING)
    make_host("big-disabled", ram_gib=256, state=Host.State.DISABLED)
    assert placed([new_vm(deployment) for _ in range(3)]) == ["small"] * 3


def test_it_spreads_a_deployment_across_hosts(deployment):
    make_host("a", ram_gib=64)
    make_host("b", ram_gib=32)
    make_host("c", ram_gib=16)
    names = placed([new_vm(deployment) for _ in range(6)])
    assert sorted(names) == ["a", "a", "b", "b", "c", "c"]


def test_spreading_counts_the_deployments_existing_vms(deployment):
    a, b = make_host("a", ram_gib=64), make_host("b", ram_gib=64)
    existing_vm(deployment, a)
    existing_vm(deployment, a)
    # Scaling out: the new VMs go where the deployment has fewest, although "a" has as much room.
    assert placed([new_vm(deployment), new_vm(deployment)]) == ["b", "b"]
    assert b.name == "b"


def test_other_deployments_do_not_count_as_siblings(deployment, deployment_factory):
    a = make_host("a", ram_gib=64)
    make_host("b", ram_gib=32)
    other = deployment_factory("other")
    existing_vm(other, a, ram_gib=4)
    # "a" still has the most free RAM (60 GiB against 32) and no VM of this deployment.
    assert placed([new_vm(deployment)]) == ["a"]


def test_it_weighs_by_free_ram(deployment, deployment_factory):
    a, b = make_host("a", ram_gib=64), make_host("b", ram_gib=48)
    other = deployment_factory("other")
    existing_vm(other, a, ram_gib=32)  # a: 32 free, b: 48 free
    assert placed([new_vm(deployment)]) == ["b"]
    existing_vm(other, b, ram_gib=24)  # a: 32 free, b: 48 - 2 - 24 = 22 free
    assert placed([new_vm(deployment_factory("third"))]) == ["a"]


def test_error_and_deleted_vms_hold_no_capacity(deployment):
    a = make_host("a", vcpus=1, ram_gib=2, disk_gib=20, cpu_allocation_ratio=1.0)
    existing_vm(deployment, a, state=VirtualMachine.Provisioning.ERROR)
    existing_vm(deployment, a, state=VirtualMachine.Provisioning.DELETED)
    assert placed([new_vm(deployment)]) == ["a"]


def test_building_vms_hold_capacity(deployment):
    a = make_host("a", vcpus=1, ram_gib=2, disk_gib=20, cpu_allocation_ratio=1.0)
    existing_vm(deployment, a, state=VirtualMachine.Provisioning.BUILDING)
    with pytest.raises(NoValidHost):
        placed([new_vm(deployment)])


def test_allocation_ratios_scale_what_can_be_scheduled(deployment):
    make_host("a", vcpus=2, ram_gib=6, disk_gib=40, cpu_allocation_ratio=4.0, ram_allocation_ratio=1.5)
    # 2 vCPUs × 4 = 8 schedulable; 6 GiB × 1.5 = 9 GiB: four 1-vCPU / 2-GiB VMs fit, disk 40 × 1 does
    # not (20 GiB each): give them small disks.
    assert placed([new_vm(deployment, disk_gib=10) for _ in range(4)]) == ["a"] * 4
    with pytest.raises(NoValidHost) as caught:
        placed([new_vm(deployment, disk_gib=0)])
    assert "RAM (1 GiB free, 2 needed)" in caught.value.detail


def test_the_cpu_ratio_limits_vcpus(deployment):
    make_host("a", vcpus=2, ram_gib=512, cpu_allocation_ratio=2.0)
    assert placed([new_vm(deployment) for _ in range(4)]) == ["a"] * 4
    with pytest.raises(NoValidHost) as caught:
        placed([new_vm(deployment)])
    assert "vCPUs (0 free, 1 needed)" in caught.value.detail


def test_a_vm_too_big_for_any_host_says_what_was_short(deployment):
    make_host("node-a", vcpus=4, ram_gib=8, disk_gib=100, cpu_allocation_ratio=1.0)
    make_host("node-b", ram_gib=512, state=Host.State.DRAINING)
    with pytest.raises(NoValidHost) as caught:
        placed([new_vm(deployment, vcpus=8, ram_gib=16, disk_gib=50)])
    error = caught.value
    # For the tenant: plain words, no host names, no capacity figures of the cloud.
    assert error.message == (
        "The cloud has no room for 1 more VM(s) of this size right now. "
        "Try fewer instances or a smaller size; the service team has been told."
    )
    assert "node-" not in error.message
    assert error.placed == 0
    # For admins: every host and why it could not take the VM.
    assert error.detail.splitlines() == [
        "No valid host for 1 VM(s) of 8 vCPU / 16 GiB RAM / 50 GiB disk. Hosts: 1 vCPUs, 1 RAM, 1 draining.",
        "node-a: short of vCPUs (4 free, 8 needed), RAM (8 GiB free, 16 needed)",
        "node-b: draining",
    ]


def test_a_partial_fit_says_how_many_would_fit(deployment):
    make_host("node-a", vcpus=64, ram_gib=4, disk_gib=1000)
    make_host("node-b", vcpus=64, ram_gib=2, disk_gib=1000)
    vms = [new_vm(deployment) for _ in range(5)]
    with pytest.raises(NoValidHost) as caught:
        placed(vms)
    assert caught.value.placed == 3
    assert "(room for 3)" in caught.value.message
    assert "node-" not in caught.value.message
    assert "node-a: full after earlier VMs" in caught.value.detail
    # All or nothing: no VM was given a host.
    assert all(vm.host_id is None for vm in vms)


def test_no_hosts_at_all(deployment):
    with pytest.raises(NoValidHost) as caught:
        placed([new_vm(deployment)])
    assert "no hosts registered" in caught.value.detail


def test_room_taken_between_reading_and_locking_is_rechecked(deployment, deployment_factory, monkeypatch):
    """Another placement takes the chosen host's last room after this one read usage: the
    re-check under the host lock sees it and placement starts over."""
    a = make_host("a", vcpus=64, ram_gib=8)
    make_host("b", vcpus=64, ram_gib=4)
    other = deployment_factory("other")
    choose, raced = placement._choose, []

    def choose_then_lose_the_race(frees, vms):
        chosen = choose(frees, vms)
        if not raced:
            raced.append(existing_vm(other, a, ram_gib=8, state=VirtualMachine.Provisioning.BUILDING))
        return chosen

    monkeypatch.setattr(placement, "_choose", choose_then_lose_the_race)
    assert placed([new_vm(deployment)]) == ["b"]
    assert raced


def used(host: Host) -> tuple[int, int, int]:
    host.refresh_from_db()
    return (host.used_vcpus, host.used_ram_gib, host.used_disk_gib)


def test_placing_counts_the_vms_on_their_hosts(deployment):
    a, b = make_host("a", ram_gib=64), make_host("b", ram_gib=64)
    placed([new_vm(deployment, vcpus=2, ram_gib=4, disk_gib=10) for _ in range(3)])
    assert sorted([used(a), used(b)]) == [(2, 4, 10), (4, 8, 20)]
    assert placement.recount() == []  # the counters are what the VM rows say


def test_a_claim_that_loses_one_host_gives_back_the_others_and_chooses_again(
    deployment, deployment_factory, monkeypatch
):
    """Two VMs spread over a and b; between reading and claiming, another deployment takes
    all of b. The claim takes a but not b: a is given back, and both VMs go to a."""
    a = make_host("a", vcpus=64, ram_gib=16)
    b = make_host("b", vcpus=64, ram_gib=16)
    other = deployment_factory("other")
    choose, raced = placement._choose, []

    def choose_then_lose_b(frees, vms):
        chosen = choose(frees, vms)
        if not raced:
            raced.append(existing_vm(other, b, ram_gib=16, disk_gib=0, vcpus=1))
        return chosen

    monkeypatch.setattr(placement, "_choose", choose_then_lose_b)
    assert placed([new_vm(deployment), new_vm(deployment)]) == ["a", "a"]
    assert used(a) == (2, 4, 40)  # claimed once, given back once, claimed again
    assert used(b) == (1, 16, 0)  # the other deployment's VM only
    assert placement.recount() == []


def test_release_gives_back_a_vms_share_and_never_goes_below_zero(deployment):
    a = make_host("a", ram_gib=64)
    vms = [new_vm(deployment, vcpus=2, ram_gib=4, disk_gib=10) for _ in range(2)]
    placed(vms)
    placement.release([vms[0]])
    assert used(a) == (2, 4, 10)
    Host.objects.filter(pk=a.pk).update(used_vcpus=1, used_ram_gib=1, used_disk_gib=1)  # drifted low
    placement.release([vms[1]])
    assert used(a) == (0, 0, 0)


def test_recount_fixes_drift_from_the_vm_rows_and_names_the_hosts(deployment):
    a, b = make_host("a", ram_gib=64), make_host("b", ram_gib=64)
    existing_vm(deployment, a, vcpus=2, ram_gib=4, disk_gib=10)
    existing_vm(deployment, a, state=VirtualMachine.Provisioning.ERROR, vcpus=8)  # holds nothing
    Host.objects.filter(pk=a.pk).update(used_vcpus=99)
    Host.objects.filter(pk=b.pk).update(used_ram_gib=7)
    assert sorted(placement.recount()) == ["a", "b"]
    assert (used(a), used(b)) == ((2, 4, 10), (0, 0, 0))
    assert placement.recount() == []


def test_a_new_deployment_is_placed_in_two_statements(deployment, django_assert_max_num_queries):
    make_host("a", ram_gib=64)
    make_host("b", ram_gib=64)
    vms = [new_vm(deployment) for _ in range(4)]
    with transaction.atomic():
        # Read the hosts, claim the choice: no query per VM or per host, none of the VM rows.
        with django_assert_max_num_queries(2):
            place(vms, new_deployment=True)
