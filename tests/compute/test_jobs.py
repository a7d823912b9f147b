"""The job engine (portal/jobs.py) driven through the compute kinds: claims, steps, retries,
failures with compensation, cancellation, fencing, the sweeper and group jobs.

Jobs run in this process (``run_jobs`` and ``jobs.run_job``: the real job bodies, no broker);
broker messages are recorded by the ``sent`` fixture; the fleet is real Redis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from compute.jobs import CreateVM
from compute.models import Deployment, VirtualMachine
from controller.base import ControllerError
from portal import jobs
from portal.errors import Conflict
from portal.jobs import JobCancelled, JobRun, LostClaim
from portal.models import Job
from portal.tasks import run_job_task
from subscriptions.models import Allocation
from tests.compute.conftest import run_jobs
from tests.workers import purge_queues

pytestmark = pytest.mark.django_db

VM = VirtualMachine


def children(deployment: Deployment) -> list[Job]:
    return list(Job.objects.filter(parent=deployment.job).order_by("created", "id"))


def vm_of(job: Job) -> VirtualMachine:
    return VM.objects.get(pk=job.target_id)


def allocations(subscription) -> int:
    return Allocation.objects.filter(subscription=subscription).count()


def refreshed(obj):
    obj.refresh_from_db()
    return obj


class CallFirst:
    """Wraps a job handler: ``before(run)`` is called, then the real ``run``."""

    def __init__(self, handler, before) -> None:
        self.handler, self.before = handler, before

    def run(self, run: JobRun) -> None:
        self.before(run)
        self.handler.run(run)

    def on_failure(self, job: Job) -> None:
        self.handler.on_failure(job)

    def on_cancel(self, job: Job) -> None:
        self.handler.on_cancel(job)


# --- creating ------------------------------------------------------------------------------


def test_deploy_writes_a_group_and_one_queued_child_per_vm(deploy, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deployment = deploy(3)
    group = deployment.job
    assert group.kind == "deploy" and group.state == Job.State.QUEUED
    assert group.celery_task_id == ""  # a group runs no task
    kids = children(deployment)
    assert [j.kind for j in kids] == ["create_vm"] * 3
    assert {j.state for j in kids} == {Job.State.QUEUED}
    assert {j.target_id for j in kids} == set(deployment.vms.values_list("id", flat=True))
    assert all(j.deadline > timezone.now() for j in kids)
    # One message per child, on commit, with the task id the row knows.
    assert sorted(sent) == sorted((str(j.pk), j.celery_task_id, 0) for j in kids)


def test_nothing_is_sent_when_the_transaction_rolls_back(deploy, sent, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            deploy(2)
            raise RuntimeError("the caller's transaction fails after the deploy")
    assert sent == []
    assert not Job.objects.exists()


# --- claiming and running ------------------------------------------------------------------


def test_a_claim_is_exclusive(deploy):
    job = children(deploy(2))[0]
    run = jobs.claim(job.pk, worker="w1@host")
    assert run is not None
    assert jobs.claim(job.pk, worker="w2@host") is None
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING
    assert job.attempts == 1
    assert job.claim == run.claim
    assert job.worker == "w1@host"
    assert job.heartbeat_at is not None and job.started_at is not None
    # The group shows as running from its first child on.
    assert refreshed(job.parent).state == Job.State.RUNNING


def test_a_job_is_not_claimed_before_its_retry_is_due(deploy):
    job = children(deploy(2))[0]
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now() + timedelta(minutes=1))
    assert jobs.claim(job.pk) is None
    assert jobs.run_job(job.pk) == "skipped"
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now() - timedelta(seconds=1))
    assert jobs.claim(job.pk) is not None


def test_a_group_job_is_never_claimed(deploy):
    assert jobs.claim(deploy(2).job.pk) is None


def test_a_finished_job_is_skipped(deploy):
    job = children(deploy(2))[0]
    assert jobs.run_job(job.pk) == "succeeded"
    assert jobs.run_job(job.pk) == "skipped"
    assert refreshed(job).attempts == 1


def test_a_step_records_progress_and_beats_the_heart(deploy):
    job = children(deploy(2))[0]
    run = jobs.claim(job.pk)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    run.step("spawning", 30)
    job.refresh_from_db()
    assert (job.step, job.progress) == ("spawning", 30)
    assert job.heartbeat_at > timezone.now() - timedelta(seconds=5)


def test_a_successful_run(deploy, fleet):
    deployment = deploy(2)
    job = children(deployment)[0]
    assert jobs.run_job(job.pk) == "succeeded"
    job.refresh_from_db()
    assert (job.state, job.progress, job.message) == (Job.State.SUCCEEDED, 100, "")
    assert job.finished_at is not None
    vm = vm_of(job)
    assert (vm.provisioning_state, vm.power_state, vm.task_state) == ("active", "running", "")
    assert vm.launched_at is not None
    assert str(vm.pk) in fleet.all_vms()


# --- transient and permanent errors --------------------------------------------------------


def test_a_transient_error_requeues_the_job_with_backoff(
    deploy, fleet, settings, sent, django_capture_on_commit_callbacks
):
    settings.JOB_RETRY_BACKOFF_SECONDS = 10
    deployment = deploy(2)
    job = children(deployment)[0]
    fleet.configure(transient_rate=1.0)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.run_job(job.pk) == "retrying"
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED
    assert job.attempts == 1
    assert job.claim is None
    assert timezone.now() < job.run_after <= timezone.now() + timedelta(seconds=10)
    assert job.message == (
        "The host did not answer in time; the operation will be retried. Retrying (attempt 2 of 5)."
    )
    assert "node-1" not in job.message
    assert "attempt 1: simulated transient failure of ensure_vm on node-1" in job.detail
    # A new message, with a new task id, delayed like the row.
    [(job_id, task_id, countdown)] = sent
    assert (job_id, task_id) == (str(job.pk), job.celery_task_id)
    assert 0 < countdown <= 10
    assert jobs.claim(job.pk) is None  # not due yet
    # The VM waits, still holding its quota.
    vm = vm_of(job)
    assert (vm.provisioning_state, vm.task_state) == ("building", "spawning")
    assert allocations(deployment.subscription) == 2


def test_a_retried_job_succeeds_on_a_later_attempt(deploy, fleet):
    job = children(deploy(2))[0]
    fleet.configure(transient_rate=1.0)
    assert jobs.run_job(job.pk) == "retrying"
    fleet.configure(transient_rate=0.0)
    assert jobs.run_job(job.pk) == "succeeded"
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.SUCCEEDED, 2)
    assert vm_of(job).provisioning_state == "active"


def test_a_lost_reply_is_retried_and_finds_the_vm_made(deploy, fleet):
    job = children(deploy(2))[0]
    fleet.configure(lost_reply_rate=1.0)
    assert jobs.run_job(job.pk) == "retrying"
    assert str(job.target_id) in fleet.all_vms()
    fleet.configure(lost_reply_rate=0.0)
    assert jobs.run_job(job.pk) == "succeeded"
    assert list(fleet.all_vms()).count(str(job.target_id)) == 1
    assert vm_of(job).provisioning_state == "active"


def test_a_permanent_error_fails_the_job_and_compensates(deploy, fleet, django_capture_on_commit_callbacks):
    deployment = deploy(2)
    job = children(deployment)[0]
    fleet.configure(permanent_rate=1.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.attempts == 1
    assert job.message == "The host refused the operation."
    assert "simulated permanent failure of ensure_vm on node-1" in job.detail
    vm = vm_of(job)
    assert (vm.provisioning_state, vm.task_state) == ("error", "")
    assert vm.message == "The host refused the operation."
    # A VM that never came up holds no quota, and nothing of it is left on the host.
    assert not Allocation.objects.filter(resource_id=vm.pk).exists()
    assert allocations(deployment.subscription) == 1
    assert str(vm.pk) not in fleet.all_vms()


def test_running_out_of_attempts_fails_the_job(deploy, fleet):
    deployment = deploy(2)
    job = children(deployment)[0]
    Job.objects.filter(pk=job.pk).update(max_attempts=2)
    fleet.configure(transient_rate=1.0)
    assert jobs.run_job(job.pk) == "retrying"
    assert jobs.run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert (job.state, job.attempts) == (Job.State.FAILED, 2)
    assert job.message == "The host did not answer in time; the operation will be retried."
    assert job.detail.count("simulated transient failure") == 2
    assert vm_of(job).provisioning_state == "error"
    assert allocations(deployment.subscription) == 1


def test_a_requeued_job_past_its_attempts_fails_when_claimed(deploy):
    deployment = deploy(2)
    job = children(deployment)[0]
    # The worker died on its last attempt; the sweeper handed the job out once more.
    Job.objects.filter(pk=job.pk).update(attempts=5, detail="w1 stopped beating; re-queued")
    assert jobs.run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.message == "The operation did not complete after several attempts."
    assert job.detail.count("w1 stopped beating") == 1  # the old detail is not repeated
    assert vm_of(job).provisioning_state == "error"
    assert allocations(deployment.subscription) == 1


def test_a_job_started_past_its_deadline_fails(deploy):
    job = children(deploy(2))[0]
    Job.objects.filter(pk=job.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert jobs.run_job(job.pk) == "failed"
    assert refreshed(job).message == "The operation took too long and was stopped."
    assert vm_of(job).provisioning_state == "error"


def test_an_unexpected_error_shows_a_generic_message_and_keeps_the_traceback(deploy, monkeypatch):
    job = children(deploy(2))[0]

    def crash(run):
        raise KeyError("internal detail")

    monkeypatch.setitem(jobs.HANDLERS, "create_vm", CallFirst(CreateVM(), crash))
    assert jobs.run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.message == jobs.GENERIC_FAILURE
    assert "KeyError: 'internal detail'" in job.detail
    assert "Traceback" in job.detail
    assert vm_of(job).provisioning_state == "error"


def test_a_conflict_in_a_handler_fails_the_job_with_its_message(deploy, monkeypatch):
    job = children(deploy(2))[0]

    def conflict(run):
        raise Conflict("The VM is busy.", code="busy")

    monkeypatch.setitem(jobs.HANDLERS, "create_vm", CallFirst(CreateVM(), conflict))
    assert jobs.run_job(job.pk) == "failed"
    job.refresh_from_db()
    assert (job.message, job.detail) == ("The VM is busy.", "conflict: busy")


# --- cancelling ----------------------------------------------------------------------------


def test_cancelling_a_queued_job_compensates_at_once(deploy, fleet):
    deployment = deploy(2)
    job = children(deployment)[0]
    jobs.job_cancel(job=job, actor=None)
    job.refresh_from_db()
    assert (job.state, job.message) == (Job.State.CANCELLED, "Cancelled.")
    vm = vm_of(job)
    assert (vm.provisioning_state, vm.task_state) == ("deleted", "")
    assert not Allocation.objects.filter(resource_id=vm.pk).exists()
    group = refreshed(deployment.job)
    assert (group.progress, group.step) == (50, "1 of 2 done")
    assert jobs.run_job(job.pk) == "skipped"


def test_cancelling_a_running_job_takes_effect_at_its_next_step(deploy, fleet, monkeypatch):
    deployment = deploy(2)
    job = children(deployment)[0]

    def cancel(run):
        jobs.job_cancel(job=Job.objects.get(pk=run.job.pk), actor=None)
        assert Job.objects.get(pk=run.job.pk).cancel_requested
        assert Job.objects.get(pk=run.job.pk).state == Job.State.RUNNING

    monkeypatch.setitem(jobs.HANDLERS, "create_vm", CallFirst(CreateVM(), cancel))
    assert jobs.run_job(job.pk) == "cancelled"
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    vm = vm_of(job)
    assert vm.provisioning_state == "deleted"
    assert not Allocation.objects.filter(resource_id=vm.pk).exists()
    assert fleet.all_vms() == {}


def test_cancelling_after_the_vm_was_made_removes_it_from_the_host(
    deploy, fleet, monkeypatch, django_capture_on_commit_callbacks
):
    deployment = deploy(2)
    job = children(deployment)[0]
    step = JobRun.step

    def step_cancelled_before_finishing(run, name, progress):
        if name == "finishing":
            jobs.job_cancel(job=Job.objects.get(pk=run.job.pk), actor=None)
        step(run, name, progress)

    monkeypatch.setattr(JobRun, "step", step_cancelled_before_finishing)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.run_job(job.pk) == "cancelled"
    assert vm_of(job).provisioning_state == "deleted"
    assert fleet.all_vms() == {}  # no orphan left behind


def test_a_job_step_after_cancellation_raises(deploy):
    job = children(deploy(2))[0]
    run = jobs.claim(job.pk)
    jobs.job_cancel(job=refreshed(job), actor=None)
    with pytest.raises(JobCancelled):
        run.step("spawning", 30)


def test_cancelling_a_finished_job_is_a_conflict(deploy):
    job = children(deploy(2))[0]
    jobs.run_job(job.pk)
    with pytest.raises(Conflict) as caught:
        jobs.job_cancel(job=refreshed(job), actor=None)
    assert caught.value.message == "This job has already succeeded."
    assert caught.value.code == "job_finished"


def test_cancelling_a_group_cancels_its_children(deploy, fleet):
    deployment = deploy(3)
    first = children(deployment)[0]
    assert jobs.run_job(first.pk) == "succeeded"
    group = jobs.job_cancel(job=deployment.job, actor=None)
    assert [j.state for j in children(deployment)] == ["succeeded", "cancelled", "cancelled"]
    assert group.state == Job.State.SUCCEEDED
    assert group.message == "2 of 3 cancelled."
    assert allocations(deployment.subscription) == 1
    assert list(deployment.vms.exclude(provisioning_state="deleted").values_list("pk", flat=True)) == [
        first.target_id
    ]


# --- fencing -------------------------------------------------------------------------------


def test_a_requeued_jobs_old_run_cannot_write(deploy):
    deployment = deploy(2)
    job = children(deployment)[0]
    old = jobs.claim(job.pk, worker="w1")
    # w1 stops beating; the sweeper re-queues the job and w2 claims it.
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert jobs.sweep_jobs().requeued == 1
    new = jobs.claim(job.pk, worker="w2")
    assert new.claim != old.claim
    assert refreshed(job).attempts == 2

    with pytest.raises(LostClaim):
        old.step("spawning", 30)
    assert jobs._fail(old, "stale", "from the old run") == "lost"
    assert jobs._succeed(old) == "lost"
    assert jobs._retry(old, "stale", "from the old run") == "lost"
    job.refresh_from_db()
    assert (job.state, job.claim, job.worker) == (Job.State.RUNNING, new.claim, "w2")
    # No compensation ran for the old run's failure.
    assert vm_of(job).provisioning_state == "building"
    assert allocations(deployment.subscription) == 2


# --- the sweeper ---------------------------------------------------------------------------


def test_the_sweeper_requeues_a_job_whose_heartbeat_stopped(deploy, sent, django_capture_on_commit_callbacks):
    job = children(deploy(2))[0]
    jobs.claim(job.pk, worker="w1@host")
    assert jobs.sweep_jobs().requeued == 0  # beating fine
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        report = jobs.sweep_jobs(now=timezone.now() + timedelta(seconds=60))
    assert report.requeued == 1
    assert report.resent == 1  # the other child, queued a minute ago (as the sweeper sees it)
    job.refresh_from_db()
    assert (job.state, job.claim, job.run_after) == (Job.State.QUEUED, None, None)
    assert "worker w1@host stopped beating; re-queued" in job.detail
    assert (str(job.pk), job.celery_task_id, 0) in sent
    assert jobs.run_job(job.pk) == "succeeded"


def test_the_sweeper_fails_a_job_past_its_deadline_and_compensates(deploy, fleet):
    deployment = deploy(2)
    job = children(deployment)[0]
    run = jobs.claim(job.pk)
    Job.objects.filter(pk=job.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert jobs.sweep_jobs().expired == 1
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.message == "The operation took too long and was stopped."
    assert "deadline passed" in job.detail
    vm = vm_of(job)
    assert vm.provisioning_state == "error"
    assert not Allocation.objects.filter(resource_id=vm.pk).exists()
    # The worker still running it is fenced out.
    with pytest.raises(LostClaim):
        run.step("spawning", 30)
    assert jobs.sweep_jobs().expired == 0


def test_the_sweeper_fails_a_queued_job_past_its_deadline(deploy):
    deployment = deploy(2)
    job = children(deployment)[1]
    Job.objects.filter(pk=job.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert jobs.sweep_jobs().expired == 1
    assert refreshed(job).state == Job.State.FAILED
    assert vm_of(job).provisioning_state == "error"


def test_the_sweeper_resends_a_lost_message(deploy, sent):
    job = children(deploy(2))[0]
    task_id = job.celery_task_id
    sent.clear()
    assert jobs.sweep_jobs().resent == 0  # queued only just now
    report = jobs.sweep_jobs(now=timezone.now() + timedelta(seconds=31))
    assert report.resent == 2  # both children
    job.refresh_from_db()
    assert job.celery_task_id != task_id
    assert (str(job.pk), job.celery_task_id, 0) in sent
    assert jobs.run_job(job.pk) == "succeeded"


def test_the_sweeper_does_not_resend_behind_a_backlog(deploy, sent, monkeypatch):
    """Jobs waiting behind other messages are not lost: re-sending would only lengthen the
    queue. Once it has drained, a job still queued is, and goes again."""
    deploy(2)
    sent.clear()
    later = timezone.now() + timedelta(seconds=31)
    monkeypatch.setattr(jobs, "job_backlog", lambda: 1500)
    report = jobs.sweep_jobs(now=later)
    assert (report.resent, report.resend_deferred) == (0, 2)
    monkeypatch.setattr(jobs, "job_backlog", lambda: None)  # the broker did not answer
    assert (jobs.sweep_jobs(now=later).resent, sent) == (0, [])
    monkeypatch.setattr(jobs, "job_backlog", lambda: 0)
    report = jobs.sweep_jobs(now=later)
    assert (report.resent, report.resend_deferred) == (2, 0)
    assert len(sent) == 2


@pytest.mark.redis
def test_the_backlog_is_what_the_broker_holds_in_the_job_queue():
    purge_queues()
    try:
        assert jobs.job_backlog() == 0
        for n in range(3):
            run_job_task.apply_async(args=[f"no-such-job-{n}"], queue=django_settings.JOB_QUEUE)
        assert jobs.job_backlog() == 3
    finally:
        purge_queues()
    assert jobs.job_backlog() == 0


@pytest.mark.redis
def test_a_queue_never_declared_has_no_backlog(settings):
    settings.JOB_QUEUE = f"never-declared-{timezone.now().timestamp()}"
    assert jobs.job_backlog() == 0


def test_the_sweeper_does_not_resend_a_retry_that_is_not_due(deploy, fleet, settings, sent):
    settings.JOB_RETRY_BACKOFF_SECONDS = 60
    settings.JOB_RETRY_BACKOFF_MAX_SECONDS = 600
    job = children(deploy(2))[0]
    Job.objects.filter(pk=job.pk).update(
        run_after=timezone.now() + timedelta(seconds=120), updated=timezone.now() - timedelta(seconds=100)
    )
    Job.objects.exclude(pk=job.pk).update(state=Job.State.SUCCEEDED)
    sent.clear()
    assert jobs.sweep_jobs().resent == 0
    assert sent == []


def test_the_sweeper_closes_a_group_whose_children_all_ended(deploy):
    deployment = deploy(2)
    Job.objects.filter(parent=deployment.job).update(state=Job.State.SUCCEEDED)
    Job.objects.filter(pk=deployment.job.pk).update(updated=timezone.now() - timedelta(minutes=5))
    assert jobs.sweep_jobs().groups_repaired == 1
    assert refreshed(deployment.job).state == Job.State.SUCCEEDED


# --- groups and the deployment's state -----------------------------------------------------


def test_a_group_follows_its_children(deploy, fleet):
    deployment = deploy(3)
    kids = children(deployment)
    assert jobs.run_job(kids[0].pk) == "succeeded"
    group = refreshed(deployment.job)
    assert (group.state, group.progress, group.step) == (Job.State.RUNNING, 33, "1 of 3 done")
    assert refreshed(deployment).state == Deployment.State.DEPLOYING
    run_jobs()
    group.refresh_from_db()
    assert (group.state, group.progress, group.step, group.message) == (
        Job.State.SUCCEEDED,
        100,
        "3 of 3 done",
        "",
    )
    assert group.finished_at is not None
    assert refreshed(deployment).state == Deployment.State.READY


def test_a_group_with_a_failed_child_fails_and_the_deployment_is_degraded(deploy, fleet):
    deployment = deploy(3)
    kids = children(deployment)
    fleet.configure(permanent_rate=1.0)
    assert jobs.run_job(kids[1].pk) == "failed"
    fleet.configure(permanent_rate=0.0)
    run_jobs()
    group = refreshed(deployment.job)
    assert group.state == Job.State.FAILED
    assert group.message == "1 of 3 failed: The host refused the operation."
    assert refreshed(deployment).state == Deployment.State.DEGRADED
    assert allocations(deployment.subscription) == 2


def test_a_deployment_whose_vms_all_failed_is_failed(deploy, fleet):
    deployment = deploy(2)
    fleet.configure(permanent_rate=1.0)
    run_jobs()
    group = refreshed(deployment.job)
    assert group.state == Job.State.FAILED
    assert group.message == "2 of 2 failed: The host refused the operation."
    assert refreshed(deployment).state == Deployment.State.FAILED
    assert allocations(deployment.subscription) == 0


def test_a_deleted_deployment_settles_as_deleted(deploy, fleet, alice):
    from compute import services

    deployment = deploy(2)
    run_jobs()
    group = services.deployment_delete(deployment=deployment, actor=alice)
    assert refreshed(deployment).state == Deployment.State.DELETING
    run_jobs()
    assert refreshed(group).state == Job.State.SUCCEEDED
    deployment.refresh_from_db()
    assert deployment.state == Deployment.State.DELETED
    assert deployment.deleted_at is not None
    assert allocations(deployment.subscription) == 0
    assert fleet.all_vms() == {}


def test_a_child_failing_with_a_controller_error_keeps_the_tenant_message(deploy, monkeypatch):
    deployment = deploy(2)
    job = children(deployment)[0]

    def refuse(run):
        raise ControllerError("The image is not available.", permanent=True, detail="glance: 404 on node-1")

    monkeypatch.setitem(jobs.HANDLERS, "create_vm", CallFirst(CreateVM(), refuse))
    run_jobs()
    job.refresh_from_db()
    assert job.message == "The image is not available."
    assert "node-1" in job.detail
    assert refreshed(deployment.job).message == "2 of 2 failed: The image is not available."


# --- crashes between a step's effect and the job's end -------------------------------------


def test_a_create_rerun_after_a_crash_past_the_vm_becoming_active_succeeds(
    deploy, fleet, django_capture_on_commit_callbacks
):
    """kill -9 after the VM was marked active, before the job's success was written: the
    sweeper re-queues the job, and the next run must find the work done, not undo it."""
    deployment = deploy(2)
    job = children(deployment)[0]
    run = jobs.claim(job.pk, worker="w1")
    CreateVM().run(run)  # ...and the worker dies here
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert jobs.sweep_jobs().requeued == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.run_job(job.pk, worker="w2") == "succeeded"
    vm = vm_of(job)
    assert (vm.provisioning_state, vm.power_state) == ("active", "running")
    assert str(vm.pk) in fleet.all_vms()  # still on its host
    assert Allocation.objects.filter(resource_id=vm.pk).exists()


def test_failing_a_create_job_whose_vm_is_already_active_leaves_the_vm_alone(
    deploy, fleet, django_capture_on_commit_callbacks
):
    deployment = deploy(2)
    job = children(deployment)[0]
    run = jobs.claim(job.pk, worker="w1")
    CreateVM().run(run)  # the VM is up; the worker stalls before recording success
    Job.objects.filter(pk=job.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.sweep_jobs().expired == 1
    vm = vm_of(job)
    assert vm.provisioning_state == "active"
    assert str(vm.pk) in fleet.all_vms()
    assert Allocation.objects.filter(resource_id=vm.pk).exists()


def test_a_create_failing_while_the_vm_is_deleted_leaves_the_vm_to_the_delete_job(
    deploy, fleet, alice, django_capture_on_commit_callbacks
):
    from compute import services

    deployment = deploy(2)
    job = children(deployment)[0]
    run = jobs.claim(job.pk)
    delete = services.vm_delete(vm=vm_of(job), actor=alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs._fail(run, "The host refused the operation.", "test") == "failed"
    vm = vm_of(job)
    # The delete job owns the VM now: its task is not wiped and it ends deleted.
    assert vm.task_state == "deleting"
    assert jobs.run_job(delete.pk) == "succeeded"
    vm.refresh_from_db()
    assert vm.provisioning_state == "deleted"
    assert not Allocation.objects.filter(resource_id=vm.pk).exists()


def test_one_job_whose_compensation_breaks_does_not_stop_the_sweep(deploy, caplog):
    deployment = deploy(2)
    poisoned, fine = children(deployment)
    Job.objects.filter(parent=deployment.job).update(deadline=timezone.now() - timedelta(seconds=1))
    VM.objects.filter(pk=poisoned.target_id).delete()  # on_failure cannot find its VM
    report = jobs.sweep_jobs()
    assert report.expired == 1
    assert refreshed(fine).state == Job.State.FAILED
    assert refreshed(poisoned).state == Job.State.QUEUED  # left as it was, and logged
    assert f"could not fail job {poisoned.pk}" in caplog.text
