"""The provisioning engine with real Celery worker processes (tests/workers.py).

PostgreSQL, Redis and ``celery worker`` processes, as in production: a deployment made here
is committed, its jobs cross the broker, a worker in another process claims and runs them
against the simulated fleet (in Redis, shared with this process), and this test watches the
database. Skips without PostgreSQL or Redis; fails under ``CI=true``.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compute import services
from compute.jobs import CreateVM
from compute.models import Deployment, Host, VirtualMachine
from compute.reconcile import reconcile_hosts
from portal import jobs
from portal.models import Job
from tenants.models import Role
from tenants.services import api_token_create
from tests.compute.conftest import run_jobs
from tests.factories import PlanFactory
from tests.gallery.helpers import ssh_key
from tests.workers import WorkerPool, assert_consistent, worker_pool

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

VM = VirtualMachine


@pytest.fixture
def plan(db):
    """Acme's plan (``acme_subscription``, ``offered``), with room for hundreds of VMs."""
    return PlanFactory(name="Large", vms=1000, vcpus=2000, ram_gib=4000, disk_gib=100_000)


@pytest.fixture
def workers(transactional_db, fleet, settings, tmp_path) -> Iterator[WorkerPool]:
    with worker_pool(fleet=fleet, settings=settings, log_dir=tmp_path) as pool:
        yield pool


@pytest.fixture
def hosts(fleet, admin) -> list[Host]:
    """Three simulated hosts with room for 300 small VMs (the simulated hosts do not
    overcommit vCPUs, so their raw capacity must hold every VM placement admits)."""
    return [
        services.host_register(
            actor=admin, name=f"node-{n}", uri=f"sim://node-{n}?vcpus=100&ram_gib=256&disk_gib=8000"
        )
        for n in (1, 2, 3)
    ]


def deploy(tenant, actor, subscription, version, count: int) -> Deployment:
    return services.deployment_create(
        tenant=tenant,
        actor=actor,
        version=version,
        subscription=subscription,
        values={"ssh_key": ssh_key()},
        instance_count=count,
    )


# --- end to end ------------------------------------------------------------------------------


def test_the_api_deploys_5_vms_that_a_worker_process_brings_to_running(
    workers, alice, acme, acme_subscription, offered, hosts, fleet
):
    workers.start()
    _, token = api_token_create(
        tenant=acme, user=alice, name="ci", role=Role.OWNER, expires_in_days=1, actor_role=Role.OWNER
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    version = offered["web-farm"]
    response = api.post(
        reverse("api:deployment-list"),
        {
            "version": str(version.pk),
            "subscription": str(acme_subscription.pk),
            "parameters": {"ssh_key": ssh_key()},
            "instance_count": 5,
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    detail_url = reverse("api:deployment-detail", args=[body["id"]])
    job_url = reverse("api:job-detail", args=[body["job"]["id"]])

    def running() -> bool:
        # What the tenant sees through the API, not what the database says.
        return api.get(detail_url).json()["vms"] == {"total": 5, "running": 5, "error": 0}

    took = workers.wait_for(running, timeout=30, what="5 running VMs in the API")
    workers.wait_for(
        lambda: api.get(job_url).json()["state"] == "succeeded", timeout=10, what="the deploy job"
    )

    detail = api.get(detail_url).json()
    assert detail["state"] == Deployment.State.READY
    assert [vm["status"] for vm in detail["instances"]] == ["running"] * 5
    job = api.get(job_url).json()
    assert (job["state"], job["progress"]) == ("succeeded", 100)
    assert [(c["state"], c["progress"]) for c in job["children"]] == [("succeeded", 100)] * 5
    # Run by the worker process, not by this one.
    assert set(Job.objects.filter(parent_id=job["id"]).values_list("worker", flat=True)) == {
        workers.workers[0].hostname
    }
    # The fleet holds exactly those 5.
    assert sorted(fleet.all_vms()) == sorted(vm["id"] for vm in detail["instances"])
    assert_consistent(fleet)
    print(
        f"\nAPI deploy of 5 VMs: running {took:.2f} s after the call "
        f"(polled through the API; worker ready in {workers.workers[0].ready_after:.1f} s)"
    )


# --- crash -----------------------------------------------------------------------------------

CRASH_ROUNDS = 20


def test_workers_killed_mid_deploy_20_times_leave_no_duplicate_orphan_or_leaked_quota(
    workers, alice, acme, acme_subscription, offered, hosts, fleet
):
    """Each round deploys 2-4 VMs and ``kill -9``-s a worker at a random moment while it
    runs one of the jobs (a 50-300 ms spawn gives the kill something to interrupt), then
    starts a replacement. Two workers are in flight, so one boots while the other works. The
    sweeper runs between rounds, as beat would, so re-queued jobs can be killed again."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    version = offered["web-farm"]
    started = time.monotonic()
    running_at_kill = Counter()
    steps_at_kill = Counter()
    workers.start(wait=False)
    workers.start(wait=False)
    for _ in range(CRASH_ROUNDS):
        spawn = rng.uniform(0.05, 0.3)
        fleet.configure(delays={"ensure_vm": spawn})
        deploy(acme, alice, acme_subscription, version, rng.randint(2, 4))
        busy: list = []

        def a_worker_runs_a_job() -> bool:
            names = {w.hostname: w for w in workers.alive()}
            running = Job.objects.filter(state=Job.State.RUNNING, worker__in=names).values_list(
                "worker", flat=True
            )
            busy[:] = [names[name] for name in running[:1]]
            return bool(busy)

        workers.wait_for(a_worker_runs_a_job, timeout=30, what="a worker to run a job")
        victim = busy[0]
        time.sleep(rng.uniform(0, 1.2 * spawn))
        steps = list(
            Job.objects.filter(state=Job.State.RUNNING, worker=victim.hostname).values_list("step", flat=True)
        )
        victim.kill()
        running_at_kill[len(steps)] += 1
        steps_at_kill.update(steps)
        workers.start(wait=False)
        workers.sweep()
    kills_took = time.monotonic() - started

    # The replacements still booting die too; then one new worker (and the sweeper) must
    # finish everything.
    for worker in workers.alive():
        worker.kill()
    unfinished = Job.objects.filter(state__in=Job.ACTIVE_STATES).count()
    workers.start()
    recovered = workers.wait_for_jobs(timeout=60, sweep_every=0.5)

    # The victim was running a job when chosen; by the kill (a random moment later) that job
    # may have ended, but most kills must still land mid-job or the test proves little.
    assert CRASH_ROUNDS - running_at_kill[0] >= CRASH_ROUNDS * 3 // 4, running_at_kill
    # Leftovers (a VM its job failed or cancelled, still on its host because the worker died
    # before it cleaned up) are reconciliation's to remove; an orphan (a VM the portal does
    # not know) or a lost VM (active, but on no host) would be a bug.
    report = reconcile_hosts(remove_orphans=False)
    assert (report.orphans, report.lost, report.unreachable) == ([], [], [])
    states = assert_consistent(fleet)
    assert not Deployment.objects.filter(
        state__in=[Deployment.State.DEPLOYING, Deployment.State.SCALING]
    ).exists()
    # A job killed over and over fails when it runs out of attempts (its VM in error, its
    # quota released); no other failure is expected.
    failures = set(
        Job.objects.filter(kind="create_vm", state=Job.State.FAILED).values_list("message", flat=True)
    )
    assert failures <= {"The operation did not complete after several attempts."}, failures
    outcomes = Counter(Job.objects.exclude(kind="deploy").values_list("state", flat=True))
    attempts = Counter(Job.objects.exclude(kind="deploy").values_list("attempts", flat=True))
    print(
        f"\ncrash (seed {seed}): {CRASH_ROUNDS} kills in {kills_took:.1f} s ({len(workers.workers)} workers "
        f"started), running jobs per kill "
        f"{dict(running_at_kill)}, steps interrupted {dict(steps_at_kill)}; {unfinished} unfinished "
        f"jobs all ended {recovered:.1f} s after a new worker started; create jobs {dict(outcomes)}, "
        f"attempts {dict(sorted(attempts.items()))}; VMs {states}; "
        f"reconcile removed {report.leftovers_removed} leftover(s)"
    )


def _built_by_a_worker_that_then_died(deployment) -> Job:
    """Run a create job's handler up to the VM going active, then stop as a killed worker
    would: before the job's success is written. Returns the job (still running)."""
    job = Job.objects.get(kind="create_vm", parent=deployment.job)
    run = jobs.claim(job.pk, worker="doomed")
    CreateVM().run(run)
    return job


def test_a_create_job_run_again_after_its_worker_died_past_the_vm_going_active_keeps_the_vm(
    alice, acme, acme_subscription, offered, hosts, fleet
):
    """Found by the crash test: the re-run saw the VM active, took that for a deletion,
    cancelled the job and removed the running VM from its host."""
    deployment = deploy(acme, alice, acme_subscription, offered["linux-server"], 1)
    job = _built_by_a_worker_that_then_died(deployment)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=1))

    assert jobs.sweep_jobs().requeued == 1
    assert run_jobs() == {"succeeded": 1}

    vm = deployment.vms.get()
    assert (vm.provisioning_state, vm.power_state) == ("active", "running")
    assert fleet.all_vms() == {str(vm.pk): "node-1"}
    assert Job.objects.get(pk=deployment.job.pk).state == Job.State.SUCCEEDED
    assert_consistent(fleet)


def test_a_create_job_failed_past_its_deadline_after_the_vm_went_active_leaves_the_vm_running(
    alice, acme, acme_subscription, offered, hosts, fleet
):
    deployment = deploy(acme, alice, acme_subscription, offered["linux-server"], 1)
    job = _built_by_a_worker_that_then_died(deployment)
    Job.objects.filter(pk=job.pk).update(deadline=timezone.now() - timedelta(seconds=1))

    assert jobs.sweep_jobs().expired == 1

    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    vm = deployment.vms.get()
    assert vm.provisioning_state == "active"
    assert fleet.all_vms() == {str(vm.pk): "node-1"}  # not removed from its host
    assert_consistent(fleet)


# --- a delete racing the deploy ---------------------------------------------------------------

DELETE_RACES = 30


def test_deletes_racing_their_deploys_through_a_worker_end_consistent(
    workers, alice, acme, acme_subscription, offered, hosts, fleet
):
    """The worker-process version of tests/compute/test_races.py: each VM is deleted 0-250 ms
    after its deploy call, while a 100 ms spawn may be running."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    fleet.configure(delays={"ensure_vm": 0.1})
    workers.start()
    version = offered["linux-server"]
    for _ in range(DELETE_RACES):
        deployment = deploy(acme, alice, acme_subscription, version, 1)
        time.sleep(rng.uniform(0, 0.25))
        services.vm_delete(vm=deployment.vms.get(), actor=alice)
    workers.wait_for_jobs(timeout=60)

    assert set(VM.objects.values_list("provisioning_state", flat=True)) == {VM.Provisioning.DELETED}
    assert set(Job.objects.filter(kind="delete_vm").values_list("state", flat=True)) == {Job.State.SUCCEEDED}
    creates = Counter(Job.objects.filter(kind="create_vm").values_list("state", flat=True))
    assert set(creates) <= {Job.State.SUCCEEDED, Job.State.CANCELLED}, creates
    assert fleet.all_vms() == {}
    assert_consistent(fleet)  # and so no allocation is left
    print(
        f"\ndelete vs deploy through a worker (seed {seed}): {DELETE_RACES} races, create jobs {dict(creates)}"
    )


# --- failure injection -----------------------------------------------------------------------

DEPLOYS = 200
HOST_WORDS = ("node-", "sim://", "simulated", "Traceback", "call ")


def test_200_deploys_with_injected_failures_all_end_with_a_message_and_no_leaked_quota(
    workers, alice, acme, acme_subscription, offered, hosts, fleet
):
    """10 % of controller calls fail transiently (retried), 2 % permanently (the VM fails,
    its quota is released): 200 one-VM deployments through two worker processes."""
    seed = random.randrange(2**32)
    fleet.configure(transient_rate=0.10, permanent_rate=0.02, seed=seed)
    for _ in range(2):
        workers.start()
    version = offered["linux-server"]
    started = time.monotonic()
    for _ in range(DEPLOYS):
        deploy(acme, alice, acme_subscription, version, 1)
    created = time.monotonic() - started
    settled = workers.wait_for_jobs(timeout=120, sweep_every=1.0)

    creates = Job.objects.filter(kind="create_vm")
    assert creates.count() == DEPLOYS
    outcome = Counter(creates.values_list("state", flat=True))
    assert set(outcome) <= {Job.State.SUCCEEDED, Job.State.FAILED}, outcome
    assert outcome[Job.State.FAILED] >= 1, f"no permanent failure in {DEPLOYS} deploys (seed {seed})"
    # Failures tell the tenant what happened, in words that name no host and show no trace.
    failed = Job.objects.filter(state=Job.State.FAILED)
    for job in failed:
        assert job.message, f"{job.kind} {job.pk} failed without a message"
        assert not any(word in job.message for word in HOST_WORDS), job.message
        if job.kind == "create_vm":
            assert "simulated permanent failure" in job.detail  # the admin's side has it all
    for vm in VM.objects.filter(provisioning_state=VM.Provisioning.ERROR):
        assert vm.message and not any(word in vm.message for word in HOST_WORDS), vm.message
    # Retried jobs say so while they retry; the ones that then succeeded ran more than once.
    retried = creates.filter(attempts__gt=1).count()
    assert retried >= 1
    states = assert_consistent(fleet)
    assert states.get(VM.Provisioning.ERROR, 0) == outcome[Job.State.FAILED]
    assert Deployment.objects.filter(state=Deployment.State.FAILED).count() == outcome[Job.State.FAILED]
    print(
        f"\nfailure injection (seed {seed}): {DEPLOYS} deploys queued in {created:.1f} s, all ended "
        f"{settled:.1f} s later; create jobs {dict(outcome)}, {retried} retried; VMs {states}; "
        f"messages {sorted(set(failed.values_list('message', flat=True)))}"
    )
