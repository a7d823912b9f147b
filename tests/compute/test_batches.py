"""Batches: a deployment's create_vm jobs travel as one message per ``JOB_BATCH_SIZE`` and
run together (``jobs.run_jobs`` → ``CreateVM.run_batch``). The plain case is a handful of
statements for the whole batch; every irregular job (failed, cancelled, deleted meanwhile,
taken by the sweeper) ends exactly as it would have alone, without disturbing the others."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compute.models import Deployment, VirtualMachine
from controller.base import ControllerError
from controller.simulated import SimulatedComputeDriver
from portal import jobs
from portal.models import Job
from subscriptions.models import Allocation

pytestmark = pytest.mark.django_db

VM = VirtualMachine


def children(deployment: Deployment) -> list[Job]:
    return list(Job.objects.filter(parent=deployment.job).order_by("created", "id"))


def batch_of(deployment: Deployment) -> list:
    return [job.pk for job in children(deployment)]


def failing_for(monkeypatch, uuids: set[str], *, permanent: bool) -> None:
    """The host refuses to spawn these VMs (no database work: spawns run on pool threads)."""
    ensure = SimulatedComputeDriver.ensure_vm

    def ensure_vm(self, spec):
        if spec.uuid in uuids:
            raise ControllerError("The host refused the operation.", permanent=permanent, detail="test")
        return ensure(self, spec)

    monkeypatch.setattr(SimulatedComputeDriver, "ensure_vm", ensure_vm)


def before_finishing(monkeypatch, hook) -> None:
    """Call ``hook(runs)`` just before a wave of spawned VMs is recorded (on this thread,
    outside the recording transaction, as another request would)."""
    succeed_with = jobs.succeed_with

    def wrapped(runs, write):
        hook(runs)
        return succeed_with(runs, write)

    monkeypatch.setattr(jobs, "succeed_with", wrapped)


def test_a_deployments_jobs_travel_in_batches_of_the_configured_size(
    deploy, sent, settings, django_capture_on_commit_callbacks
):
    settings.JOB_BATCH_SIZE = 2
    with django_capture_on_commit_callbacks(execute=True):
        deployment = deploy(5)
    kids = children(deployment)
    assert sorted(sent) == sorted((str(j.pk), j.celery_task_id, 0) for j in kids)
    sizes = sorted(sum(1 for j in kids if j.celery_task_id == t) for t in {j.celery_task_id for j in kids})
    assert sizes == [1, 2, 2]


def test_a_batch_runs_in_a_handful_of_statements(deploy, fleet):
    deployment = deploy(10)
    with CaptureQueriesContext(connection) as queries:
        outcomes = jobs.run_jobs(batch_of(deployment), worker="test")
    assert list(outcomes.values()) == ["succeeded"] * 10
    # Claim, group start, load, one step, then one transaction: the jobs ended, the VMs
    # active, the group's end with the deployment settled. A constant handful, where one job
    # at a time took a dozen each.
    assert len(queries) <= 15, "\n".join(q["sql"][:120] for q in queries)
    assert {(vm.provisioning_state, vm.power_state, vm.task_state) for vm in deployment.vms.all()} == {
        ("active", "running", "")
    }
    assert all(vm.launched_at for vm in deployment.vms.all())
    assert len(fleet.all_vms()) == 10
    kids = children(deployment)
    assert {(j.state, j.progress, j.message) for j in kids} == {(Job.State.SUCCEEDED, 100, "")}
    deployment.job.refresh_from_db()
    assert (deployment.job.state, deployment.job.progress) == (Job.State.SUCCEEDED, 100)
    deployment.refresh_from_db()
    assert deployment.state == Deployment.State.READY


def test_a_batch_runs_each_job_once_even_if_sent_twice(deploy, fleet):
    deployment = deploy(3)
    assert set(jobs.run_jobs(batch_of(deployment)).values()) == {"succeeded"}
    assert jobs.run_jobs(batch_of(deployment)) == {}  # nothing left to claim
    assert len(fleet.all_vms()) == 3


def test_a_permanent_failure_fails_that_vm_alone(
    deploy, fleet, monkeypatch, django_capture_on_commit_callbacks
):
    deployment = deploy(3)
    kids = children(deployment)
    failing_for(monkeypatch, {str(kids[1].target_id)}, permanent=True)
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = jobs.run_jobs([j.pk for j in kids])
    assert outcomes == {str(kids[0].pk): "succeeded", str(kids[1].pk): "failed", str(kids[2].pk): "succeeded"}
    failed = VM.objects.get(pk=kids[1].target_id)
    assert (failed.provisioning_state, failed.message) == ("error", "The host refused the operation.")
    assert not Allocation.objects.filter(resource_id=failed.pk).exists()  # its quota went back
    assert Allocation.objects.filter(resource_id__in=[kids[0].target_id, kids[2].target_id]).count() == 2
    deployment.job.refresh_from_db()
    assert deployment.job.state == Job.State.FAILED
    assert deployment.job.message == "1 of 3 failed: The host refused the operation."
    assert set(fleet.all_vms()) == {str(kids[0].target_id), str(kids[2].target_id)}


def test_a_transient_failure_retries_that_job_alone(
    deploy, fleet, monkeypatch, sent, django_capture_on_commit_callbacks
):
    deployment = deploy(3)
    kids = children(deployment)
    failing_for(monkeypatch, {str(kids[0].target_id)}, permanent=False)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = jobs.run_jobs([j.pk for j in kids])
    assert outcomes[str(kids[0].pk)] == "retrying"
    assert [outcomes[str(j.pk)] for j in kids[1:]] == ["succeeded", "succeeded"]
    retry = Job.objects.get(pk=kids[0].pk)
    assert retry.state == Job.State.QUEUED and retry.run_after is not None
    assert [(job_id, task_id) for job_id, task_id, _ in sent] == [(str(retry.pk), retry.celery_task_id)]
    # The retry runs on its own and the group then ends well.
    monkeypatch.undo()
    Job.objects.filter(pk=retry.pk).update(run_after=None)
    assert jobs.run_job(retry.pk) == "succeeded"
    assert Job.objects.get(pk=retry.pk).message == "Done after 2 attempts."
    deployment.job.refresh_from_db()
    assert deployment.job.state == Job.State.SUCCEEDED


def test_a_job_cancelled_while_its_vm_spawned_is_undone_alone(
    deploy, fleet, monkeypatch, django_capture_on_commit_callbacks
):
    deployment = deploy(3)
    kids = children(deployment)
    before_finishing(monkeypatch, lambda runs: jobs.job_cancel(job=Job.objects.get(pk=kids[2].pk)))
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = jobs.run_jobs([j.pk for j in kids])
    assert [outcomes[str(j.pk)] for j in kids] == ["succeeded", "succeeded", "cancelled"]
    cancelled = VM.objects.get(pk=kids[2].target_id)
    assert cancelled.provisioning_state == "deleted"
    assert not Allocation.objects.filter(resource_id=cancelled.pk).exists()
    assert str(cancelled.pk) not in fleet.all_vms()  # the spawned VM was taken back
    assert (
        VM.objects.filter(pk__in=[kids[0].target_id, kids[1].target_id], provisioning_state="active").count()
        == 2
    )


def test_a_vm_deleted_while_the_batch_spawned_goes_to_its_delete_job(
    deploy, fleet, alice, monkeypatch, django_capture_on_commit_callbacks
):
    deployment = deploy(3)
    kids = children(deployment)
    doomed = VM.objects.get(pk=kids[0].target_id)

    def delete(runs):
        # The tenant deletes a building VM: its delete job takes the VM (task "deleting").
        VM.objects.filter(pk=doomed.pk).update(task_state=VM.Task.DELETING)

    before_finishing(monkeypatch, delete)
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = jobs.run_jobs([j.pk for j in kids])
    assert [outcomes[str(j.pk)] for j in kids] == ["cancelled", "succeeded", "succeeded"]
    doomed.refresh_from_db()
    assert doomed.task_state == VM.Task.DELETING  # left to the delete job, quota included
    assert Allocation.objects.filter(resource_id=doomed.pk).exists()
    assert str(doomed.pk) not in fleet.all_vms()
    assert (
        VM.objects.filter(pk__in=[kids[1].target_id, kids[2].target_id], provisioning_state="active").count()
        == 2
    )


def test_a_job_taken_by_the_sweeper_mid_batch_is_left_to_its_new_run(deploy, fleet, monkeypatch):
    deployment = deploy(3)
    kids = children(deployment)

    def requeue(runs):
        Job.objects.filter(pk=kids[1].pk).update(state=Job.State.QUEUED, claim=None)

    before_finishing(monkeypatch, requeue)
    outcomes = jobs.run_jobs([j.pk for j in kids])
    assert [outcomes[str(j.pk)] for j in kids] == ["succeeded", "lost", "succeeded"]
    assert Job.objects.get(pk=kids[1].pk).state == Job.State.QUEUED
    # The new run finds the VM made on the host and finishes it.
    monkeypatch.undo()
    assert jobs.run_job(kids[1].pk) == "succeeded"
    assert VM.objects.get(pk=kids[1].target_id).provisioning_state == "active"
    assert len(fleet.all_vms()) == 3


def test_a_later_attempt_in_a_batch_keeps_its_note(deploy, fleet):
    deployment = deploy(2)
    kids = children(deployment)
    Job.objects.filter(pk=kids[0].pk).update(attempts=1)
    outcomes = jobs.run_jobs([j.pk for j in kids])
    assert set(outcomes.values()) == {"succeeded"}
    assert Job.objects.get(pk=kids[0].pk).message == "Done after 2 attempts."
    assert Job.objects.get(pk=kids[1].pk).message == ""


def test_a_suspended_subscriptions_batch_is_powered_off_as_it_is_built(
    deploy, fleet, acme_subscription, monkeypatch, django_capture_on_commit_callbacks
):
    deployment = deploy(2)
    kids = children(deployment)
    from subscriptions.models import Subscription

    before_finishing(
        monkeypatch,
        lambda runs: Subscription.objects.filter(pk=acme_subscription.pk).update(
            state=Subscription.State.SUSPENDED
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = jobs.run_jobs([j.pk for j in kids])
    assert set(outcomes.values()) == {"succeeded"}
    # Built, then handed to a power-off job each, as a single job does under suspension.
    for vm in deployment.vms.all():
        assert (vm.provisioning_state, vm.task_state) == ("active", VM.Task.POWERING_OFF)
    assert Job.objects.filter(kind="power_off", target_id__in=[k.target_id for k in kids]).count() == 2


def test_a_spawn_that_fails_because_the_vm_was_deleted_is_not_retried(deploy, fleet, monkeypatch):
    deployment = deploy(2)
    job = children(deployment)[0]

    def ensure_vm(self, spec):
        # The tenant deletes the VM while it spawns, and the host reports it vanished.
        VM.objects.filter(pk=spec.uuid).update(task_state=VM.Task.DELETING)
        raise ControllerError("The virtual machine vanished while it was created.", detail=spec.uuid)

    monkeypatch.setattr(SimulatedComputeDriver, "ensure_vm", ensure_vm)
    assert jobs.run_job(job.pk) == "cancelled"  # not "retrying": nobody wants that VM now
    assert VM.objects.get(pk=job.target_id).task_state == VM.Task.DELETING  # its delete job's


def test_vms_that_come_up_together_are_recorded_together_and_none_waits_for_the_slowest(
    deploy, fleet, monkeypatch
):
    deployment = deploy(3)
    kids = children(deployment)
    slow = str(kids[2].target_id)
    ensure = SimulatedComputeDriver.ensure_vm

    def ensure_vm(self, spec):
        if spec.uuid == slow:
            time.sleep(0.5)  # a slow host: well past the wave's linger
        return ensure(self, spec)

    monkeypatch.setattr(SimulatedComputeDriver, "ensure_vm", ensure_vm)
    waves: list[set] = []
    succeed_with = jobs.succeed_with

    def recorded(runs, write):
        waves.append({str(run.job.target_id) for run in runs})
        return succeed_with(runs, write)

    monkeypatch.setattr(jobs, "succeed_with", recorded)
    outcomes = jobs.run_jobs([j.pk for j in kids])
    assert set(outcomes.values()) == {"succeeded"}
    # The two fast VMs in one wave (one transaction), the slow one after, on its own.
    assert [w for w in waves if w] == [{str(kids[0].target_id), str(kids[1].target_id)}, {slow}]
