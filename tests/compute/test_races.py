"""Races on the provisioning engine, with real concurrent PostgreSQL transactions.

Threads in this process, each with its own database connection, released together by a
barrier: the same contention as concurrent API requests and worker threads, but repeatable
enough to run many trials. Only PostgreSQL has the row locks under test; on SQLite these skip
(under ``CI=true`` they fail) via ``tests.backends.require_postgres()``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from compute import services
from compute.models import Deployment, VirtualMachine
from portal import jobs
from portal.models import Job
from subscriptions.models import Allocation
from subscriptions.quota import QuotaExceeded
from subscriptions.services import quota_usage
from tests.backends import require_postgres
from tests.compute.conftest import run_jobs
from tests.factories import PlanFactory, SubscriptionFactory
from tests.gallery.helpers import ssh_key
from tests.workers import assert_consistent, purge_queues

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

VM = VirtualMachine


class Racer:
    """``size`` threads that keep their database connections across trials and start each
    trial together (a barrier), so every trial is a real pile-up on the same rows."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="racer")
        self.barrier = threading.Barrier(size, timeout=30)

    def run(self, *fns: Callable[[], str]) -> list[str]:
        """Run one function per thread (``fns`` has ``size`` entries), all released at once;
        returns their results in order."""
        assert len(fns) == self.size

        def task(fn: Callable[[], str]) -> str:
            self.barrier.wait()
            return fn()

        futures = [self.pool.submit(task, fn) for fn in fns]
        return [f.result(timeout=60) for f in futures]

    def close(self) -> None:
        # Each thread closes its own connection, or the test database could not be flushed.
        try:
            self.run(*[lambda: str(connections.close_all())] * self.size)
        finally:
            self.pool.shutdown(wait=True)


@pytest.fixture
def racer_factory() -> Iterator[Callable[[int], Racer]]:
    require_postgres()
    racers: list[Racer] = []

    def make(size: int) -> Racer:
        racers.append(Racer(size))
        return racers[-1]

    yield make
    for racer in racers:
        racer.close()
    purge_queues()  # the jobs queued here had no worker; leave no messages for the next test


@pytest.fixture
def hosts(fleet, admin):
    return [
        services.host_register(
            actor=admin, name=f"node-{n}", uri=f"sim://node-{n}?vcpus=100&ram_gib=512&disk_gib=20000"
        )
        for n in (1, 2)
    ]


# --- 32 deploys against a headroom of 3 ------------------------------------------------------

THREADS = 32
HEADROOM = 3
QUOTA_TRIALS = 10


@pytest.fixture
def plan(db):
    """Acme's plan: 3 VMs per subscription, so each new subscription has a headroom of 3."""
    return PlanFactory(name="Three", vms=HEADROOM, vcpus=100, ram_gib=400, disk_gib=10_000)


def test_32_concurrent_deploys_against_a_headroom_of_3_make_exactly_3_deployments(
    racer_factory, alice, acme, plan, offered, hosts
):
    racer = racer_factory(THREADS)
    version = offered["linux-server"]
    started = time.perf_counter()
    for trial in range(QUOTA_TRIALS):
        subscription = SubscriptionFactory(tenant=acme, plan=plan, name=f"Trial {trial}")

        def attempt() -> str:
            try:
                services.deployment_create(
                    tenant=acme,
                    actor=alice,
                    version=version,
                    subscription=subscription,
                    values={"ssh_key": ssh_key()},
                    instance_count=1,
                )
            except QuotaExceeded:
                return "quota_exceeded"
            return "deployed"

        outcome = Counter(racer.run(*[attempt] * THREADS))
        assert outcome == Counter(deployed=HEADROOM, quota_exceeded=THREADS - HEADROOM), f"trial {trial}"
        deployments = Deployment.objects.filter(subscription=subscription)
        vms = set(VM.objects.filter(subscription=subscription).values_list("pk", flat=True))
        assert deployments.count() == HEADROOM, f"trial {trial}"
        assert len(vms) == HEADROOM
        # One deploy job (and one create job) per deployment; nothing from the refused ones.
        deploy_jobs = Job.objects.filter(kind="deploy", target_id__in=deployments.values("pk"))
        assert deploy_jobs.count() == HEADROOM
        assert Job.objects.filter(kind="create_vm", target_id__in=vms).count() == HEADROOM
        # No leaked allocation: the ledger holds exactly the 3 VMs.
        allocations = Allocation.objects.filter(subscription=subscription)
        assert set(allocations.values_list("resource_id", flat=True)) == vms
        assert quota_usage(subscription).used.vms == HEADROOM
    assert Job.objects.filter(kind="create_vm").count() == HEADROOM * QUOTA_TRIALS
    elapsed = time.perf_counter() - started
    print(
        f"\ndeploy race: {QUOTA_TRIALS} trials x {THREADS} threads in {elapsed:.1f} s, exactly "
        f"{HEADROOM} deployments and jobs every time"
    )


# --- the same name twice at once --------------------------------------------------------------

NAME_THREADS = 8
NAME_TRIALS = HEADROOM  # one deployment of one VM per trial


def test_concurrent_deploys_under_one_name_make_one_deployment_and_name_errors(
    racer_factory, alice, acme, acme_subscription, offered, hosts
):
    """Every thread passes the name check before any has written; the unique constraint
    decides. The losers get the form's name error (a 400), not a 500, and leave nothing
    behind: no deployment, VM, job or allocation."""
    racer = racer_factory(NAME_THREADS)
    version = offered["linux-server"]
    subscription = acme_subscription
    for trial in range(NAME_TRIALS):
        name = f"web-{trial}"

        def attempt() -> str:
            try:
                services.deployment_create(
                    tenant=acme,
                    actor=alice,
                    version=version,
                    subscription=subscription,
                    values={"ssh_key": ssh_key()},
                    instance_count=1,
                    name=name,
                )
            except ValidationError as exc:
                assert exc.message_dict == {"name": [f"You already have a deployment called {name}."]}
                return "name_taken"
            return "deployed"

        outcome = Counter(racer.run(*[attempt] * NAME_THREADS))
        assert outcome == Counter(deployed=1, name_taken=NAME_THREADS - 1), f"trial {trial}"
        deployment = Deployment.objects.get(tenant=acme, name=name)
        vms = set(VM.objects.filter(deployment=deployment).values_list("pk", flat=True))
        assert len(vms) == 1
        assert (
            set(
                Allocation.objects.filter(subscription=subscription, resource_id__in=vms).values_list(
                    "resource_id", flat=True
                )
            )
            == vms
        )
    assert Deployment.objects.filter(tenant=acme).count() == NAME_TRIALS
    assert VM.objects.filter(tenant=acme).count() == NAME_TRIALS
    assert Allocation.objects.filter(subscription=subscription).count() == NAME_TRIALS
    assert Job.objects.filter(kind="deploy").count() == NAME_TRIALS


# --- a delete racing the deploy of the same VM -----------------------------------------------

DELETE_TRIALS = 60


def test_a_delete_racing_the_deploy_of_the_same_vm_ends_consistent(
    racer_factory, alice, acme, acme_subscription, offered, hosts, fleet
):
    """Thread A runs the VM's create job (spawning takes 0–50 ms); thread B deletes the VM
    0–60 ms after A starts and runs the delete job. Whoever gets where first, the VM ends
    deleted, off its host, its quota released, and every job ended."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    racer = racer_factory(2)
    version = offered["linux-server"]
    outcomes: Counter = Counter()
    started = time.perf_counter()
    for trial in range(DELETE_TRIALS):
        fleet.configure(delays={"ensure_vm": rng.uniform(0, 0.05)})
        deployment = services.deployment_create(
            tenant=acme,
            actor=alice,
            version=version,
            subscription=acme_subscription,
            values={"ssh_key": ssh_key()},
            instance_count=1,
        )
        vm = deployment.vms.get()
        create = Job.objects.get(kind="create_vm", target_id=vm.pk)
        pause = rng.uniform(0, 0.06)

        def build() -> str:
            return jobs.run_job(create.pk, worker="race-a")

        def delete() -> str:
            time.sleep(pause)
            job = services.vm_delete(vm=VM.objects.get(pk=vm.pk), actor=alice)
            return jobs.run_job(job.pk, worker="race-b")

        built, deleted = racer.run(build, delete)
        assert deleted == "succeeded", f"trial {trial}: delete {deleted}"
        assert built in {"succeeded", "cancelled"}, (
            f"trial {trial}: create {built}: {Job.objects.get(pk=create.pk).detail}"
        )
        outcomes[built] += 1
        assert run_jobs() == {}, "nothing left to run"

        vm.refresh_from_db()
        assert vm.provisioning_state == VM.Provisioning.DELETED, f"trial {trial}"
        assert str(vm.pk) not in fleet.all_vms(), f"trial {trial}: still on its host"
        assert not Allocation.objects.filter(resource_id=vm.pk).exists(), f"trial {trial}: quota kept"
        assert not Job.objects.filter(state__in=Job.ACTIVE_STATES).exists(), f"trial {trial}"
    states = assert_consistent(fleet)
    print(
        f"\ndelete vs deploy (seed {seed}): {DELETE_TRIALS} trials in {time.perf_counter() - started:.1f} s, "
        f"create job {dict(outcomes)}; VMs {states}"
    )
