"""What each compute job kind does in the worker (the handlers portal/jobs.py runs).

Every step is safe to run again after a crash: the controller's operations are idempotent by
VM UUID, and the VM's state changes are conditional UPDATEs on its task. A VM whose task was
changed under a running job (it is being deleted) makes that job stop as cancelled, after
undoing what it did on the host.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compute import placement, services
from compute.drivers import call_waves, driver_for
from compute.models import VirtualMachine
from compute.placement import NoValidHost, place
from compute.secrets import unseal
from controller.base import ControllerError, ObservedVM, PowerAction, PowerState, VMSpec
from portal import jobs
from portal.errors import Conflict
from portal.jobs import BatchSettle, JobCancelled, JobRun
from portal.models import Job
from subscriptions.models import Subscription

VM = VirtualMachine
ACTIONS = {
    "start": PowerAction.START,
    "shutdown": PowerAction.SHUTDOWN,
    "power_off": PowerAction.POWER_OFF,
    "reset": PowerAction.RESET,
}


def _vm(job: Job) -> VirtualMachine:
    return VM.objects.select_related("host", "configuration", "deployment__version").get(pk=job.target_id)


def _vms(ids: list) -> list[VirtualMachine]:
    return list(VM.objects.select_related("host", "configuration", "deployment__version").filter(pk__in=ids))


def _active(power_state: str) -> dict:
    """The columns of a VM that has just been built."""
    now = timezone.now()
    return {
        "provisioning_state": VM.Provisioning.ACTIVE,
        "power_state": power_state,
        "task_state": "",
        "launched_at": now,
        "message": "",
        "updated": now,
    }


def _spawner(vm: VirtualMachine):
    """The host call that spawns ``vm``, with its payload rendered here (on the job's thread)."""
    spec = _spec(vm)
    driver = driver_for(vm.host)
    return lambda: driver.ensure_vm(spec)


def _unless_deleted(vm_id, error: ControllerError) -> Exception:
    """What a failed spawn means: the error, or, for a VM deleted meanwhile (whose delete may
    be what made the host fail: the VM "vanished"), a cancellation, which leaves the VM to its
    delete job instead of retrying a spawn nobody wants."""
    wanted = VM.objects.filter(
        pk=vm_id, task_state=VM.Task.SPAWNING, provisioning_state=VM.Provisioning.BUILDING
    ).exists()
    return error if wanted else JobCancelled()


def _locked_state(vm: VirtualMachine) -> str | None:
    """The VM's provisioning state, its row locked until the transaction ends (so what it
    held is given back once, by whoever changes it)."""
    return (
        VM.objects.select_for_update().filter(pk=vm.pk).values_list("provisioning_state", flat=True).first()
    )


def _forget_on_host(vm: VirtualMachine) -> None:
    """Best effort: remove the VM from its host. If the host fails now, reconciliation
    removes the leftover later (it knows the VM is not wanted)."""
    if vm.host_id is None:
        return
    try:
        driver_for(vm.host).delete_vm(str(vm.pk))
    except ControllerError:
        pass


def _power_off_if_suspended(vm: VirtualMachine) -> None:
    """Called in the transaction that ends a create or a power operation. Suspension powers
    off only VMs with no task in flight, so one that was busy meanwhile is powered off now.
    (Read without a lock: a suspension committing between this read and this transaction's
    commit can still miss the VM, and reconciliation's next pass powers it off; see
    compute/reconcile.py.)"""
    if vm.power_state != PowerState.RUNNING:
        return
    state = Subscription.objects.filter(pk=vm.subscription_id).values_list("state", flat=True).first()
    if state != Subscription.State.ACTIVE:
        try:
            services.vm_power(vm=vm, action="power_off", actor=None, system=True)
        except Conflict:
            pass  # another operation took the VM first


def _spec(vm: VirtualMachine) -> VMSpec:
    version = vm.deployment.version
    values = dict(vm.configuration.values)
    values.update(unseal(vm.configuration.secrets))
    user_data = version.user_data.render(values).reveal() if version.user_data is not None else ""
    return VMSpec(
        uuid=str(vm.pk),
        name=vm.name,
        hostname=vm.hostname,
        vcpus=vm.vcpus,
        ram_mib=vm.ram_gib * 1024,
        disk_gib=vm.disk_gib,
        image=vm.image,
        nics=int((version.resource_definition or {}).get("nic_count", 1) or 1),
        user_data=user_data,
        metadata={"tenant": str(vm.tenant_id), "deployment": str(vm.deployment_id)},
    )


class CreateVM:
    """Schedule (if needed), spawn on the host, mark active."""

    def run(self, run: JobRun) -> None:
        vm = _vm(run.job)
        if vm.provisioning_state == VM.Provisioning.ACTIVE:
            # An earlier run of this job built it and its worker died before recording
            # success (the sweeper re-queued the job): the work is done.
            return
        if vm.task_state != VM.Task.SPAWNING or vm.provisioning_state != VM.Provisioning.BUILDING:
            raise JobCancelled()  # deleted (or rebuilt by another job) before we started
        if vm.host_id is None:
            run.step("scheduling", 10)
            with transaction.atomic():
                try:
                    place([vm])
                except NoValidHost as exc:
                    raise ControllerError(exc.message, permanent=True, detail=exc.detail) from None
                VM.objects.filter(pk=vm.pk).update(host=vm.host, updated=timezone.now())
        run.step("spawning", 30)
        try:
            observed = driver_for(vm.host).ensure_vm(_spec(vm))
        except ControllerError as exc:
            error = _unless_deleted(vm.pk, exc)
            if error is exc:
                raise
            raise error from exc
        # No event for this step: the terminal one follows within milliseconds. The step
        # still checks for a cancellation asked for while the VM was being spawned.
        run.publish_steps = False
        run.step("finishing", 90)
        self._finish(run, vm, observed)

    def _finish(self, run: JobRun, vm: VirtualMachine, observed: ObservedVM) -> None:
        """Mark the spawned VM active; if it was deleted meanwhile, undo the spawn and stop."""
        with transaction.atomic():
            building = VM.objects.filter(
                pk=vm.pk, task_state=VM.Task.SPAWNING, provisioning_state=VM.Provisioning.BUILDING
            )
            # The common case in one statement: the subscription is still active, so there
            # is nothing to power off (read at the same moment the separate SELECT did).
            updated = building.filter(subscription__state=Subscription.State.ACTIVE).update(
                **_active(observed.power_state)
            )
            suspended = False
            if not updated:
                updated = building.update(**_active(observed.power_state))
                suspended = bool(updated)
            if updated:
                vm.provisioning_state, vm.power_state, vm.task_state = (
                    VM.Provisioning.ACTIVE,
                    observed.power_state,
                    "",
                )
                services.publish_vm(vm)
                if suspended:
                    _power_off_if_suspended(vm)
                if run.job.parent_id is None:  # a rebuild: no group will settle the deployment
                    services.deployment_settle(vm.deployment_id, kind="vm")
        if not updated:
            # Deleted while we spawned: take back what we made, and stop.
            _forget_on_host(vm)
            raise JobCancelled()

    def run_batch(self, runs: list[JobRun], settle: BatchSettle) -> None:
        """A batch of one deployment's VMs: one query loads them, one statement steps their
        jobs, the hosts spawn them side by side, and the VMs whose spawns end together (a
        wave) are marked active and their jobs ended in one transaction, while the slower
        ones go on spawning: a VM is shown running as soon as it is, not when the batch is.

        Only the plain case is batched: a VM placed, building and spawning, in a group, its
        subscription active, its job not cancelled. Anything else (not placed yet, built by
        an earlier run, being deleted, a job cancelled meanwhile) takes the single-VM path,
        ``run`` or ``_finish``, which knows every case. ``settle`` records outcomes."""
        vms = {vm.pk: vm for vm in _vms([run.job.target_id for run in runs])}
        plain: list[JobRun] = []
        for run in runs:
            vm = vms.get(run.job.target_id)
            if (
                vm is not None
                and vm.host_id is not None
                and run.job.parent_id is not None
                and vm.provisioning_state == VM.Provisioning.BUILDING
                and vm.task_state == VM.Task.SPAWNING
            ):
                plain.append(run)
            else:
                settle({run.job.pk: jobs.attempt(self.run, run)})
        spawning, stopped = jobs.steps(plain, "spawning", 30)
        settle(stopped)
        by_job = {run.job.pk: run for run in spawning}
        calls = {run.job.pk: _spawner(vms[run.job.target_id]) for run in spawning}
        for wave in call_waves(calls):
            errors: dict[Any, Exception | None] = {}
            built: list[JobRun] = []
            for pk, result in wave.items():
                if isinstance(result, ControllerError):
                    errors[pk] = _unless_deleted(by_job[pk].job.target_id, result)
                elif isinstance(result, Exception):
                    errors[pk] = result
                else:
                    built.append(by_job[pk])
            # The common case: one transaction marks the wave's VMs active and ends their jobs.
            if built and not settle.succeed_with(
                built, lambda built=built, wave=wave: self._finish_all(built, vms, wave)
            ):
                # A job was cancelled or taken by the sweeper, a VM deleted or its
                # subscription suspended while they spawned: the last step finds out which
                # (and stops those), and each VM is finished on its own.
                for run in built:
                    run.publish_steps = False  # as in ``run``: the terminal event follows at once
                finishing, stopped = jobs.steps(built, "finishing", 90)
                errors.update(stopped)
                for run in finishing:
                    errors[run.job.pk] = jobs.attempt(
                        lambda run, observed=wave[run.job.pk]: self._finish(
                            run, vms[run.job.target_id], observed
                        ),
                        run,
                    )
            settle(errors)

    def _finish_all(self, runs: list[JobRun], vms: dict, spawned: dict) -> None:
        """``_finish`` for many VMs, one UPDATE per power state the hosts reported (one, as a
        rule). Raises ``NotAll`` (rolling back) unless every VM was still building under an
        active subscription."""
        by_power: dict[str, list] = {}
        for run in runs:
            by_power.setdefault(spawned[run.job.pk].power_state, []).append(run.job.target_id)
        for power_state, ids in by_power.items():
            updated = VM.objects.filter(
                pk__in=ids,
                task_state=VM.Task.SPAWNING,
                provisioning_state=VM.Provisioning.BUILDING,
                subscription__state=Subscription.State.ACTIVE,
            ).update(**_active(power_state))
            if updated != len(ids):
                raise jobs.NotAll
        for run in runs:
            vm = vms[run.job.target_id]
            vm.provisioning_state, vm.power_state, vm.task_state = (
                VM.Provisioning.ACTIVE,
                spawned[run.job.pk].power_state,
                "",
            )
            services.publish_vm(vm)

    def on_failure(self, job: Job) -> None:
        vm = _vm(job)
        # Quota is released: a VM that never came up costs the tenant nothing. It stays
        # listed in error with the reason, until deleted or rebuilt. A VM being deleted is
        # left to its delete job (as on_cancel does), which removes it and releases the quota.
        if VM.objects.filter(
            pk=vm.pk, provisioning_state=VM.Provisioning.BUILDING, task_state=VM.Task.SPAWNING
        ).update(
            provisioning_state=VM.Provisioning.ERROR,
            task_state="",
            message=job.message[:500],
            updated=timezone.now(),
        ):
            services.release_vm(vm)
            vm.refresh_from_db()
            services.publish_vm(vm)
            # Only a VM this call marked failed: an active one (the job failed after it was
            # built, e.g. past its deadline) stays on its host.
            transaction.on_commit(lambda: _forget_on_host(vm))

    def on_cancel(self, job: Job) -> None:
        vm = _vm(job)
        if vm.task_state == VM.Task.DELETING or vm.provisioning_state == VM.Provisioning.DELETED:
            return  # a delete job owns the VM now and releases its quota
        if VM.objects.filter(pk=vm.pk, provisioning_state=VM.Provisioning.BUILDING).update(
            provisioning_state=VM.Provisioning.DELETED,
            task_state="",
            deleted_at=timezone.now(),
            message="Cancelled before it was built.",
            updated=timezone.now(),
        ):
            services.release_vm(vm)
            vm.refresh_from_db()
            services.publish_vm(vm)
            transaction.on_commit(lambda: _forget_on_host(vm))


class Power:
    """start / shutdown / power_off / reset. Shutdown asks the guest (ACPI) and powers the VM
    off if it has not stopped within VM_SHUTDOWN_TIMEOUT_SECONDS."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.task = services.POWER_OPERATIONS[kind][0]

    def run(self, run: JobRun) -> None:
        vm = _vm(run.job)
        if vm.task_state != self.task:
            raise JobCancelled()
        driver = driver_for(vm.host)
        run.step(self.task, 30)
        observed = driver.power(str(vm.pk), ACTIONS[self.kind])
        if self.kind == "shutdown" and observed.power_state != PowerState.SHUTDOWN:
            started = time.monotonic()
            timeout = settings.VM_SHUTDOWN_TIMEOUT_SECONDS
            while observed.power_state != PowerState.SHUTDOWN:
                waited = time.monotonic() - started
                if waited >= timeout:
                    run.step("powering off after the guest did not shut down", 80)
                    observed = driver.power(str(vm.pk), PowerAction.POWER_OFF)
                    break
                run.step("waiting for the guest to shut down", 30 + int(50 * waited / timeout))
                time.sleep(min(0.5, max(timeout - waited, 0.01)))
                observed = driver.observe(str(vm.pk)) or observed
        with transaction.atomic():
            updated = VM.objects.filter(pk=vm.pk, task_state=self.task).update(
                power_state=observed.power_state, task_state="", message="", updated=timezone.now()
            )
            if updated:
                vm.power_state, vm.task_state = observed.power_state, ""
                services.publish_vm(vm)
                _power_off_if_suspended(vm)
                if run.job.parent_id is None:  # a rebuild: no group will settle the deployment
                    services.deployment_settle(vm.deployment_id, kind="vm")
        if not updated:
            raise JobCancelled()

    def on_failure(self, job: Job) -> None:
        self._clear(job, job.message)

    def on_cancel(self, job: Job) -> None:
        self._clear(job, "")

    def _clear(self, job: Job, message: str) -> None:
        if VM.objects.filter(pk=job.target_id, task_state=self.task).update(
            task_state="", message=message[:500], updated=timezone.now()
        ):
            services.publish_vm(VM.objects.get(pk=job.target_id))


class DeleteVM:
    """Destroy on the host, then mark deleted and release the quota, in one transaction."""

    def run(self, run: JobRun) -> None:
        vm = _vm(run.job)
        if vm.provisioning_state == VM.Provisioning.DELETED:
            return
        run.step("deleting", 30)
        if vm.host_id is not None:
            driver_for(vm.host).delete_vm(str(vm.pk))
        with transaction.atomic():
            state = _locked_state(vm)
            if state not in (None, VM.Provisioning.DELETED):
                VM.objects.filter(pk=vm.pk).update(
                    provisioning_state=VM.Provisioning.DELETED,
                    power_state=PowerState.NOSTATE,
                    task_state="",
                    deleted_at=timezone.now(),
                    updated=timezone.now(),
                )
                # A VM that had already failed gave its host share back then.
                services.release_vm(vm, held_host=state in VM.HOLDS_HOST)
                vm.refresh_from_db()
                services.publish_vm(vm)
                if run.job.parent_id is None:  # deleted on its own, not by a scale-in or deletion
                    services.deployment_settle(vm.deployment_id, kind="vm")

    def on_failure(self, job: Job) -> None:
        # The VM may still be on its host, so it keeps its quota; it shows the reason and
        # can be deleted again (or an admin retries the job). In error it holds no host
        # capacity (placement counts building and active VMs only), as a failed build.
        vm = VM.objects.select_for_update().filter(pk=job.target_id, task_state=VM.Task.DELETING).first()
        if vm is not None:
            VM.objects.filter(pk=vm.pk).update(
                task_state="",
                provisioning_state=VM.Provisioning.ERROR,
                message=job.message[:500],
                updated=timezone.now(),
            )
            if vm.provisioning_state in VM.HOLDS_HOST:
                placement.release([vm])
            services.publish_vm(VM.objects.get(pk=job.target_id))

    def on_cancel(self, job: Job) -> None:
        # A VM still being built when its deletion was asked for has had its create job
        # stopped for the deletion (CreateVM leaves it to us): with the deletion cancelled too,
        # nothing would ever build it, so it ends as a failed build would. Its quota goes back,
        # anything the create left on the host is removed, and the tenant can delete or
        # rebuild it.
        now = timezone.now()
        if VM.objects.filter(
            pk=job.target_id, task_state=VM.Task.DELETING, provisioning_state=VM.Provisioning.BUILDING
        ).update(
            task_state="",
            provisioning_state=VM.Provisioning.ERROR,
            message="Its build was stopped for the deletion, and then the deletion was cancelled. "
            "Delete it, or rebuild it.",
            updated=now,
        ):
            vm = VM.objects.select_related("host").get(pk=job.target_id)
            services.release_vm(vm)
            services.publish_vm(vm)
            transaction.on_commit(lambda: _forget_on_host(vm))
        elif VM.objects.filter(pk=job.target_id, task_state=VM.Task.DELETING).update(
            task_state="", updated=now
        ):
            services.publish_vm(VM.objects.get(pk=job.target_id))


class SettleDeployment:
    """Group end (deploy, scale, delete a deployment): the deployment's state from its VMs."""

    def on_group_done(self, job: Job) -> None:
        services.deployment_settle(job.target_id, kind=job.kind)


jobs.register("create_vm", CreateVM())
jobs.register("delete_vm", DeleteVM())
for _kind in ACTIONS:
    jobs.register(_kind, Power(_kind))
for _kind in ("deploy", "scale_out", "scale_in", "delete_deployment"):
    jobs.register_group(_kind, SettleDeployment())
