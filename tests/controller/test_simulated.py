"""The simulated compute driver against real Redis: idempotency, capacity, power, failure
injection and the fleet-wide settings every process shares."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest

from controller.base import (
    ComputeDriver,
    ControllerError,
    HostCapacity,
    PowerAction,
    PowerState,
    VMNotFound,
    VMSpec,
)
from controller.simulated import SimulatedComputeDriver, SimulatedFleet, parse_uri


def spec(
    uid: str | None = None, *, vcpus: int = 1, ram_mib: int = 1024, disk_gib: int = 10, **extra
) -> VMSpec:
    uid = uid or str(uuid.uuid4())
    return VMSpec(
        uuid=uid,
        name=f"vm-{uid[:8]}",
        hostname=f"vm-{uid[:8]}",
        vcpus=vcpus,
        ram_mib=ram_mib,
        disk_gib=disk_gib,
        image="debian-12-genericcloud-amd64",
        **extra,
    )


def fate(call) -> str:
    """What one driver call came to: ok, transient, permanent or lost (done, reply dropped)."""
    try:
        call()
    except ControllerError as exc:
        if exc.permanent:
            return "permanent"
        return "lost" if "lost reply" in exc.detail else "transient"
    return "ok"


# --- the seam ------------------------------------------------------------------------------


def test_it_is_a_compute_driver(driver):
    assert isinstance(driver, ComputeDriver)
    assert driver.host == "node-1"
    assert driver.capacity == {"vcpus": 8, "ram_gib": 16, "disk_gib": 200}


def test_the_uri_carries_the_name_and_capacity():
    assert parse_uri("sim://rack1-node1?vcpus=64&ram_gib=256") == (
        "rack1-node1",
        {"vcpus": 64, "ram_gib": 256, "disk_gib": 4000},
    )
    with pytest.raises(ValueError, match="not a simulated host URI"):
        parse_uri("qemu+ssh://node-1/system")
    with pytest.raises(ValueError):
        parse_uri("sim://")


def test_the_spec_masks_user_data_in_its_repr():
    vm = spec(user_data="#cloud-config\npassword: hunter2-secret")
    assert "hunter2-secret" not in repr(vm)


# --- ensure_vm -----------------------------------------------------------------------------


def test_ensure_vm_creates_a_running_vm(driver, fleet):
    vm = spec()
    observed = driver.ensure_vm(vm)
    assert observed.uuid == vm.uuid
    assert observed.power_state == PowerState.RUNNING
    assert (observed.vcpus, observed.ram_mib, observed.disk_gib) == (1, 1024, 10)
    assert fleet.all_vms() == {vm.uuid: "node-1"}


def test_ensure_vm_twice_makes_one_vm(driver, fleet):
    vm = spec()
    first = driver.ensure_vm(vm)
    second = driver.ensure_vm(vm)
    assert first == second
    assert list(fleet.all_vms()) == [vm.uuid]
    assert driver.host_capacity().vms == 1
    assert driver.host_capacity().ram_mib_used == 1024


def test_ensure_vm_returns_an_existing_vm_as_it_is(driver):
    vm = spec()
    driver.ensure_vm(vm)
    driver.power(vm.uuid, PowerAction.POWER_OFF)
    # Asking again does not start it (nor resize it): it exists, so it is left alone.
    again = driver.ensure_vm(spec(vm.uuid, vcpus=4, ram_mib=4096))
    assert again.power_state == PowerState.SHUTDOWN
    assert again.ram_mib == 1024


def test_ensure_vm_counts_data_disks(driver):
    driver.ensure_vm(spec(disk_gib=10, data_disks_gib=(50, 20)))
    assert driver.host_capacity().disk_gib_used == 80


def test_a_full_host_refuses_a_vm_that_does_not_fit_its_ram(make_driver):
    driver = make_driver("sim://small?vcpus=64&ram_gib=4&disk_gib=1000")
    driver.ensure_vm(spec(ram_mib=3072))
    with pytest.raises(ControllerError) as caught:
        driver.ensure_vm(spec(ram_mib=2048))
    assert caught.value.permanent
    assert caught.value.message == "The chosen host has no room for this VM."
    assert "small" in caught.value.detail  # admins see which host; tenants do not
    assert "small" not in caught.value.message
    # An exact fit is still a fit.
    driver.ensure_vm(spec(ram_mib=1024))
    assert driver.host_capacity().ram_mib_used == 4096


def test_a_full_host_refuses_a_vm_that_does_not_fit_its_disk(make_driver):
    driver = make_driver("sim://small?vcpus=64&ram_gib=64&disk_gib=100")
    driver.ensure_vm(spec(disk_gib=60))
    with pytest.raises(ControllerError) as caught:
        driver.ensure_vm(spec(disk_gib=30, data_disks_gib=(20,)))
    assert caught.value.permanent
    # A refused VM takes nothing.
    assert driver.host_capacity().disk_gib_used == 60
    assert driver.host_capacity().vms == 1


def test_vcpus_are_time_shared_not_refused(make_driver):
    # Placement overcommits vCPUs by the host's cpu_allocation_ratio; the host only counts them.
    driver = make_driver("sim://small?vcpus=2&ram_gib=64&disk_gib=1000")
    for _ in range(3):
        driver.ensure_vm(spec(vcpus=2))
    assert driver.host_capacity().vcpus_used == 6


def test_a_vm_on_another_host_is_a_permanent_error(make_driver, fleet):
    one, two = make_driver("sim://one"), make_driver("sim://two")
    vm = spec()
    one.ensure_vm(vm)
    with pytest.raises(ControllerError) as caught:
        two.ensure_vm(vm)
    assert caught.value.permanent
    assert caught.value.message == "The virtual machine already exists on another host."
    assert fleet.all_vms() == {vm.uuid: "one"}
    assert two.host_capacity().vms == 0
    assert two.observe(vm.uuid) is None  # each host sees only its own VMs


# --- delete_vm -----------------------------------------------------------------------------


def test_delete_is_idempotent(driver, fleet):
    vm = spec()
    driver.ensure_vm(vm)
    assert driver.delete_vm(vm.uuid) is True
    assert driver.delete_vm(vm.uuid) is False
    assert driver.observe(vm.uuid) is None
    assert fleet.all_vms() == {}
    capacity = driver.host_capacity()
    assert (capacity.vms, capacity.vcpus_used, capacity.ram_mib_used, capacity.disk_gib_used) == (0, 0, 0, 0)


def test_deleting_on_the_wrong_host_leaves_the_vm_alone(make_driver):
    one, two = make_driver("sim://one"), make_driver("sim://two")
    vm = spec()
    one.ensure_vm(vm)
    assert two.delete_vm(vm.uuid) is False
    assert one.observe(vm.uuid) is not None


def test_a_deleted_vm_can_be_created_again(driver):
    vm = spec()
    driver.ensure_vm(vm)
    driver.delete_vm(vm.uuid)
    assert driver.ensure_vm(vm).power_state == PowerState.RUNNING
    assert driver.host_capacity().vms == 1


# --- power ---------------------------------------------------------------------------------


def test_power_off_and_start(driver):
    vm = spec()
    driver.ensure_vm(vm)
    assert driver.power(vm.uuid, PowerAction.POWER_OFF).power_state == PowerState.SHUTDOWN
    assert driver.power(vm.uuid, PowerAction.POWER_OFF).power_state == PowerState.SHUTDOWN  # no-op
    assert driver.power(vm.uuid, PowerAction.START).power_state == PowerState.RUNNING
    assert driver.power(vm.uuid, "start").power_state == PowerState.RUNNING  # plain strings too


def test_shutdown_of_a_prompt_guest_is_immediate(driver, fleet):
    fleet.configure(guest_shutdown_seconds=0)
    vm = spec()
    driver.ensure_vm(vm)
    assert driver.power(vm.uuid, PowerAction.SHUTDOWN).power_state == PowerState.SHUTDOWN


def test_shutdown_returns_at_once_and_the_guest_stops_later(driver, fleet):
    fleet.configure(guest_shutdown_seconds=0.6)
    vm = spec()
    driver.ensure_vm(vm)
    started = time.monotonic()
    assert driver.power(vm.uuid, PowerAction.SHUTDOWN).power_state == PowerState.RUNNING
    time.sleep(0.3)
    # Asking again does not push the guest's shutdown further out.
    assert driver.power(vm.uuid, PowerAction.SHUTDOWN).power_state == PowerState.RUNNING
    while driver.observe(vm.uuid).power_state == PowerState.RUNNING:
        assert time.monotonic() - started < 0.85, "the guest did not honour the first shutdown"
        time.sleep(0.02)
    assert time.monotonic() - started >= 0.6
    assert [v.power_state for v in driver.list_vms()] == [PowerState.SHUTDOWN]


def test_a_guest_that_ignores_acpi_keeps_running_until_powered_off(driver, fleet):
    fleet.configure(ignore_acpi=True, guest_shutdown_seconds=0)
    vm = spec()
    driver.ensure_vm(vm)
    assert driver.power(vm.uuid, PowerAction.SHUTDOWN).power_state == PowerState.RUNNING
    time.sleep(0.05)
    assert driver.observe(vm.uuid).power_state == PowerState.RUNNING
    assert driver.power(vm.uuid, PowerAction.POWER_OFF).power_state == PowerState.SHUTDOWN


def test_start_cancels_a_pending_shutdown(driver, fleet):
    fleet.configure(guest_shutdown_seconds=0.1)
    vm = spec()
    driver.ensure_vm(vm)
    driver.power(vm.uuid, PowerAction.SHUTDOWN)
    driver.power(vm.uuid, PowerAction.START)
    time.sleep(0.15)
    assert driver.observe(vm.uuid).power_state == PowerState.RUNNING


def test_reset_only_a_running_vm(driver, fleet):
    fleet.configure(guest_shutdown_seconds=0.1)
    vm = spec()
    driver.ensure_vm(vm)
    driver.power(vm.uuid, PowerAction.SHUTDOWN)
    # A reset restarts the guest: its pending ACPI shutdown is forgotten.
    assert driver.power(vm.uuid, PowerAction.RESET).power_state == PowerState.RUNNING
    time.sleep(0.15)
    assert driver.observe(vm.uuid).power_state == PowerState.RUNNING
    driver.power(vm.uuid, PowerAction.POWER_OFF)
    with pytest.raises(ControllerError) as caught:
        driver.power(vm.uuid, PowerAction.RESET)
    assert caught.value.permanent
    assert caught.value.message == "Only a running VM can be reset."


def test_power_on_a_missing_vm_is_vm_not_found(driver):
    with pytest.raises(VMNotFound) as caught:
        driver.power(str(uuid.uuid4()), PowerAction.START)
    assert caught.value.permanent
    with pytest.raises(VMNotFound):
        driver.console_endpoint(str(uuid.uuid4()))


def test_power_on_a_missing_vm_leaves_no_trace(driver, fleet):
    uid = str(uuid.uuid4())
    for action in PowerAction:
        with pytest.raises(VMNotFound):
            driver.power(uid, action)
    assert not fleet.redis.exists(fleet.key("vm", uid))


def test_power_actions_racing_a_delete_never_leave_a_stray_vm(driver, fleet):
    """Each action checks that the VM is on the host and changes it in one script: a delete
    in between used to leave a half-written hash behind (a VM with a power state and no
    host), which no listing showed and no delete removed."""
    from concurrent.futures import ThreadPoolExecutor

    for _ in range(20):
        vm = spec()
        driver.ensure_vm(vm)

        def act(action: PowerAction) -> str:
            try:
                driver.power(vm.uuid, action)
            except VMNotFound:
                return "gone"
            except ControllerError:
                return "refused"  # a reset of a VM another thread powered off
            return "done"

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = [pool.submit(act, a) for a in [*PowerAction, PowerAction.START]]
            assert pool.submit(driver.delete_vm, vm.uuid).result() is True
            assert {f.result() for f in outcomes} <= {"done", "gone", "refused"}
        assert not fleet.redis.exists(fleet.key("vm", vm.uuid))
        assert vm.uuid not in fleet.all_vms()


def test_console_endpoint_of_a_simulated_vm(driver):
    vm = spec()
    driver.ensure_vm(vm)
    endpoint = driver.console_endpoint(vm.uuid)
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", 0)


# --- inventory -----------------------------------------------------------------------------


def test_list_vms_shows_this_hosts_vms_only(make_driver):
    one, two = make_driver("sim://one"), make_driver("sim://two")
    mine = [spec() for _ in range(3)]
    for vm in mine:
        one.ensure_vm(vm)
    two.ensure_vm(spec())
    one.power(mine[0].uuid, PowerAction.POWER_OFF)
    listed = one.list_vms()
    assert [v.uuid for v in listed] == sorted(v.uuid for v in mine)
    states = {v.uuid: v.power_state for v in listed}
    assert states[mine[0].uuid] == PowerState.SHUTDOWN
    assert states[mine[1].uuid] == PowerState.RUNNING
    assert len(two.list_vms()) == 1
    assert make_driver("sim://empty").list_vms() == []


def test_host_capacity_reports_totals_and_usage(make_driver):
    driver = make_driver("sim://cap?vcpus=16&ram_gib=32&disk_gib=500")
    assert driver.host_capacity() == HostCapacity(vcpus=16, ram_mib=32768, disk_gib=500)
    a, b = spec(vcpus=2, ram_mib=2048, disk_gib=20), spec(vcpus=4, ram_mib=8192, disk_gib=40)
    driver.ensure_vm(a)
    driver.ensure_vm(b)
    assert driver.host_capacity() == HostCapacity(
        vcpus=16, ram_mib=32768, disk_gib=500, vcpus_used=6, ram_mib_used=10240, disk_gib_used=60, vms=2
    )
    driver.delete_vm(a.uuid)
    assert driver.host_capacity().vcpus_used == 4
    assert driver.host_capacity().vms == 1


# --- behaviour shared through Redis --------------------------------------------------------


def test_settings_and_vms_are_shared_between_driver_instances(make_driver, fleet):
    # Two instances of the same host, as a web process and a worker process would hold them.
    web, worker = make_driver(), make_driver()
    vm = spec()
    worker.ensure_vm(vm)
    assert web.observe(vm.uuid).power_state == PowerState.RUNNING
    fleet.configure(permanent_rate=1.0)
    with pytest.raises(ControllerError):
        web.power(vm.uuid, PowerAction.POWER_OFF)
    with pytest.raises(ControllerError):
        worker.power(vm.uuid, PowerAction.POWER_OFF)
    fleet.configure(permanent_rate=0.0)
    assert worker.power(vm.uuid, PowerAction.POWER_OFF).power_state == PowerState.SHUTDOWN


def test_configure_merges_with_defaults_and_refuses_unknown_settings(fleet, settings):
    other = SimulatedFleet(
        redis_url=settings.SIMULATED_CONTROLLER["redis_url"],
        prefix=fleet.prefix,
        defaults={"delays": {"ensure_vm": 2.0}, "seed": 7},
    )
    assert other.config().delays == {"ensure_vm": 2.0}
    assert other.config().seed == 7
    fleet.configure(delays={"ensure_vm": 0}, transient_rate=0.25)
    # What was configured wins over the process's defaults; the rest of the defaults stay.
    assert other.config().delays == {"ensure_vm": 0}
    assert other.config().transient_rate == 0.25
    assert other.config().seed == 7
    fleet.configure(fail_operations=("delete_vm",))
    assert other.config().fail_operations == ("delete_vm",)
    assert other.config().transient_rate == 0.25  # earlier changes are kept
    with pytest.raises(TypeError, match="unknown simulated fleet settings"):
        fleet.configure(transient_rat=0.5)


def test_configure_from_many_processes_at_once_keeps_every_change(fleet, settings):
    """Settings are one hash field each: writers of different settings cannot undo each
    other (a read-modify-write of one JSON value, as before, lost some of them)."""
    from concurrent.futures import ThreadPoolExecutor

    url = settings.SIMULATED_CONTROLLER["redis_url"]
    writers = [SimulatedFleet(redis_url=url, prefix=fleet.prefix) for _ in range(4)]
    fields = ("seed", "transient_rate", "permanent_rate", "lost_reply_rate")
    with ThreadPoolExecutor(max_workers=4) as pool:
        for n in range(1, 51):
            values = {
                "seed": n,
                "transient_rate": n / 1000,
                "permanent_rate": n / 2000,
                "lost_reply_rate": n / 4000,
            }
            done = [
                pool.submit(writer.configure, **{name: values[name]})
                for writer, name in zip(writers, fields, strict=True)
            ]
            for future in done:
                future.result()
            config = fleet.config()
            assert {name: getattr(config, name) for name in fields} == values, f"round {n}"


def test_delays_slow_the_operation_down(driver, fleet):
    fleet.configure(delays={"ensure_vm": 0.2})
    started = time.monotonic()
    driver.ensure_vm(spec())
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    driver.list_vms()  # reads are not delayed
    assert time.monotonic() - started < 0.2


def test_jitter_varies_each_vms_delay_within_bounds_and_repeatably(driver, fleet, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("controller.simulated.time.sleep", slept.append)
    fleet.configure(delays={"ensure_vm": 1.0}, delay_jitter=0.5, seed=3)
    specs = [spec(vcpus=1, ram_mib=256, disk_gib=1) for _ in range(20)]
    for vm in specs:
        driver.ensure_vm(vm)
    assert all(0.5 <= s <= 1.5 for s in slept), slept
    assert len({round(s, 6) for s in slept}) > 15  # VMs differ
    again = list(slept)
    slept.clear()
    for vm in specs:
        driver.ensure_vm(vm)  # idempotent: the same VMs, the same delays (by seed and VM)
    assert slept == again


def test_vanish_removes_a_vm_behind_the_portals_back(driver, fleet):
    vm, kept = spec(ram_mib=2048), spec()
    driver.ensure_vm(vm)
    driver.ensure_vm(kept)
    assert fleet.vanish(vm.uuid) is True
    assert driver.observe(vm.uuid) is None
    assert [v.uuid for v in driver.list_vms()] == [kept.uuid]
    assert driver.host_capacity().ram_mib_used == 1024
    assert fleet.vanish(vm.uuid) is False
    assert fleet.vanish(str(uuid.uuid4())) is False


def test_reset_forgets_the_fleet(driver, fleet):
    driver.ensure_vm(spec())
    fleet.configure(transient_rate=0.5)
    fleet.reset()
    assert fleet.all_vms() == {}
    assert driver.list_vms() == []
    assert fleet.config().transient_rate == 0.0


# --- failure injection ---------------------------------------------------------------------

VM_UUID = "6a1f4c1e-8d3b-4c47-9a3e-0f6f9d2b7c11"  # fixed, so the draws are the same every run


def _fates(driver: SimulatedComputeDriver, fleet: SimulatedFleet, n: int, **config) -> list[str]:
    fleet.configure(transient_rate=0, permanent_rate=0, lost_reply_rate=0)
    if driver.observe(VM_UUID) is None:
        driver.ensure_vm(spec(VM_UUID))
    fleet.configure(**config)
    return [fate(lambda: driver.power(VM_UUID, PowerAction.START)) for _ in range(n)]


def test_failure_injection_is_deterministic_for_a_seed(make_driver, fleet, settings):
    rates = {"transient_rate": 0.2, "permanent_rate": 0.1, "lost_reply_rate": 0.1}
    first = _fates(make_driver(), fleet, 60, seed=42, **rates)

    # Another fleet (a fresh set of call counters) with the same seed: the same fates.
    twin = SimulatedFleet(redis_url=settings.SIMULATED_CONTROLLER["redis_url"], prefix=fleet.prefix + ":twin")
    try:
        twin_driver = SimulatedComputeDriver(
            "sim://node-1?vcpus=8&ram_gib=16&disk_gib=200",
            redis_url=settings.SIMULATED_CONTROLLER["redis_url"],
            prefix=twin.prefix,
        )
        assert _fates(twin_driver, twin, 60, seed=42, **rates) == first
        twin.reset()
        assert _fates(twin_driver, twin, 60, seed=43, **rates) != first
    finally:
        twin.reset()
    assert set(first) == {"ok", "transient", "permanent", "lost"}


def test_failure_rates_are_roughly_respected(driver, fleet):
    n = 1500
    counts = Counter(
        _fates(driver, fleet, n, seed=1, transient_rate=0.10, permanent_rate=0.05, lost_reply_rate=0.05)
    )
    assert abs(counts["transient"] / n - 0.10) < 0.03, counts
    assert abs(counts["permanent"] / n - 0.05) < 0.02, counts
    assert abs(counts["lost"] / n - 0.05) < 0.02, counts
    assert counts["ok"] + counts["transient"] + counts["permanent"] + counts["lost"] == n


def test_injected_failures_only_hit_the_chosen_operations(driver, fleet):
    vm = spec()
    driver.ensure_vm(vm)
    fleet.configure(permanent_rate=1.0)  # default fail_operations: ensure_vm and power
    assert driver.delete_vm(vm.uuid) is True
    fleet.configure(fail_operations=["delete_vm"])
    driver.ensure_vm(vm)
    with pytest.raises(ControllerError):
        driver.delete_vm(vm.uuid)
    assert driver.observe(vm.uuid) is not None  # a refused delete did nothing


def test_a_transient_failure_does_no_work(driver, fleet):
    fleet.configure(transient_rate=1.0)
    vm = spec()
    with pytest.raises(ControllerError) as caught:
        driver.ensure_vm(vm)
    assert not caught.value.permanent
    assert caught.value.message == "The host did not answer in time; the operation will be retried."
    assert fleet.all_vms() == {}


def test_a_lost_reply_does_the_work_then_raises_a_transient_error(driver, fleet):
    fleet.configure(lost_reply_rate=1.0, fail_operations=["ensure_vm", "power", "delete_vm"])
    vm = spec()
    with pytest.raises(ControllerError) as caught:
        driver.ensure_vm(vm)
    assert not caught.value.permanent
    assert "lost reply" in caught.value.detail
    assert fleet.all_vms() == {vm.uuid: "node-1"}  # it was made

    with pytest.raises(ControllerError):
        driver.power(vm.uuid, PowerAction.POWER_OFF)
    assert driver.observe(vm.uuid).power_state == PowerState.SHUTDOWN

    # The retry finds the work done and does not do it twice.
    fleet.configure(lost_reply_rate=0.0)
    assert driver.ensure_vm(vm).power_state == PowerState.SHUTDOWN
    assert driver.host_capacity().vms == 1

    fleet.configure(lost_reply_rate=1.0)
    with pytest.raises(ControllerError):
        driver.delete_vm(vm.uuid)
    assert fleet.all_vms() == {}
    fleet.configure(lost_reply_rate=0.0)
    assert driver.delete_vm(vm.uuid) is False
