"""The proof the issue asks for: quota_reserve admits exactly the headroom under a real race.

32 threads, each with its own PostgreSQL connection, start together (a barrier) and each try
to reserve one VM on a subscription with a headroom of 3. Exactly 3 must succeed and 29 get
QuotaExceeded, in every one of 200 trials. After each trial the ledger must equal the facts:
every successful caller also writes a marker row (standing in for the VM) in the same
transaction, so count(markers) == ledger sum == successes.

A negative control runs the same race through a reservation without the row lock and shows it
admitting more than 3, so the harness can tell a broken implementation from a correct one.

Only PostgreSQL has real row locks and concurrent writers; on SQLite this skips (and under
CI=true it fails) via tests.backends.require_postgres().
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections, transaction
from django.db.models import Sum

from portal.audit import audit_record
from portal.models import AuditEvent
from subscriptions.models import Allocation, Subscription
from subscriptions.quota import Demand, QuotaExceeded
from subscriptions.services import quota_reserve, quota_usage
from tests.backends import require_postgres
from tests.factories import PlanFactory, SubscriptionFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 32
TRIALS = 200
LIMIT = 5
ALREADY_ALLOCATED = 2
HEADROOM = LIMIT - ALREADY_ALLOCATED
RACE_TYPE = "race-vm"  # resource_type of the trial's allocations, so they can be told apart
MARKER = "test.race_vm_created"  # audit action of the marker rows
ONE_VM = Demand(vms=1, vcpus=1)

Reserve = Callable[[Subscription], Allocation]


class Racer:
    """A pool of 32 threads that keep their own database connections across trials.

    Creating threads and connections once (instead of per trial) keeps 200 trials fast; the
    barrier makes the 32 reservations start at the same moment in every trial.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="racer")
        self.barrier = threading.Barrier(size, timeout=30)

    def run(self, fn: Callable[[], str]) -> Counter:
        """Run ``fn`` once on each of the threads, all released together; count the outcomes."""

        def task() -> str:
            self.barrier.wait()
            return fn()

        futures = [self.pool.submit(task) for _ in range(self.size)]
        return Counter(f.result(timeout=60) for f in futures)

    def close(self) -> None:
        # Every thread closes its own connection (connections are per thread), or the test
        # database could not be dropped at the end of the session.
        def close_connection() -> str:
            connections.close_all()
            return "closed"

        try:
            outcome = self.run(close_connection)
            assert outcome == Counter({"closed": self.size})
        finally:
            self.pool.shutdown(wait=True)


@pytest.fixture
def racer() -> Iterator[Racer]:
    require_postgres()
    racer = Racer(THREADS)
    try:
        yield racer
    finally:
        racer.close()


@pytest.fixture
def raced_subscription() -> Subscription:
    """A subscription allowing 5 VMs with 2 already allocated: a headroom of 3."""
    plan = PlanFactory(vms=LIMIT, vcpus=100)
    subscription = SubscriptionFactory(tenant=TenantFactory(), plan=plan)
    with transaction.atomic():
        for _ in range(ALREADY_ALLOCATED):
            quota_reserve(subscription=subscription, demand=ONE_VM, resource_type="vm")
    return subscription


def _attempt(subscription: Subscription, reserve: Reserve) -> str:
    """One caller: reserve and write the "resource" (a marker row) in one transaction."""
    try:
        with transaction.atomic():
            allocation = reserve(subscription)
            audit_record(actor=None, tenant=subscription.tenant, action=MARKER, target=allocation)
    except QuotaExceeded:
        return "exceeded"
    return "reserved"


def _trial_facts(subscription: Subscription) -> tuple[int, int, int]:
    """(VMs in the trial's ledger rows, marker rows, VMs used in total per quota_usage)."""
    ledger = Allocation.objects.filter(subscription=subscription, resource_type=RACE_TYPE).aggregate(
        vms=Sum("vms")
    )["vms"]
    markers = AuditEvent.objects.filter(action=MARKER, tenant=subscription.tenant_id).count()
    return ledger or 0, markers, quota_usage(subscription).used.vms


def _reset(subscription: Subscription) -> None:
    Allocation.objects.filter(subscription=subscription, resource_type=RACE_TYPE).delete()
    AuditEvent.objects.filter(action=MARKER).delete()


def _locked_reserve(subscription: Subscription) -> Allocation:
    return quota_reserve(subscription=subscription, demand=ONE_VM, resource_type=RACE_TYPE)


def test_a_headroom_of_3_admits_exactly_3_of_32_racing_threads_in_200_trials(racer, raced_subscription):
    started = time.perf_counter()
    for trial in range(TRIALS):
        outcome = racer.run(lambda: _attempt(raced_subscription, _locked_reserve))
        assert outcome == Counter({"reserved": HEADROOM, "exceeded": THREADS - HEADROOM}), f"trial {trial}"
        # Usage equals facts: one ledger row per resource written, nothing more, nothing less.
        ledger, markers, used = _trial_facts(raced_subscription)
        assert (ledger, markers, used) == (HEADROOM, HEADROOM, LIMIT), f"trial {trial}"
        _reset(raced_subscription)
    elapsed = time.perf_counter() - started
    print(
        f"\nquota race: {TRIALS} trials x {THREADS} threads in {elapsed:.1f} s "
        f"({1000 * elapsed / TRIALS:.0f} ms per trial), exactly {HEADROOM} admitted every time"
    )


def _unlocked_reserve(subscription: Subscription) -> Allocation:
    """quota_reserve without the row lock: read the sum, then insert. Deliberately broken."""
    used = Allocation.objects.filter(subscription=subscription).aggregate(vms=Sum("vms"))["vms"] or 0
    # Widen the window between the read and the write, as a slow request would.
    time.sleep(0.005)
    if used + ONE_VM.vms > subscription.plan.vms:
        raise QuotaExceeded([])
    return Allocation.objects.create(
        subscription=subscription, resource_type=RACE_TYPE, resource_id=uuid.uuid4(), **ONE_VM.as_dict()
    )


def test_the_race_catches_a_reservation_without_the_row_lock(racer, raced_subscription):
    """Negative control: the same harness must see the unlocked version over-admit."""
    admitted = []
    for _ in range(10):
        outcome = racer.run(lambda: _attempt(raced_subscription, _unlocked_reserve))
        admitted.append(outcome["reserved"])
        ledger, markers, _ = _trial_facts(raced_subscription)
        assert ledger == markers == outcome["reserved"]  # the facts still agree with each other...
        _reset(raced_subscription)
        if outcome["reserved"] > HEADROOM:
            break
    print(f"\nunlocked control admitted {admitted} (headroom {HEADROOM})")
    # ...but the quota does not hold: more than the headroom got in.
    assert max(admitted) > HEADROOM


def test_subscriptions_of_one_plan_reserve_without_waiting_for_each_other():
    """A reservation locks its subscription's row, not the plan's: while one tenant's
    deployment holds its reservation (its transaction still open), another tenant on the
    same plan reserves at once. Before the lock named ``of=self``, the second waited on the
    plan's row, so every deployment under a plan queued behind the others."""
    require_postgres()
    plan = PlanFactory(vms=10, vcpus=10)
    first = SubscriptionFactory(tenant=TenantFactory(), plan=plan)
    second = SubscriptionFactory(tenant=TenantFactory(), plan=plan)
    holding, release = threading.Event(), threading.Event()

    def hold_first() -> str:
        try:
            with transaction.atomic():
                quota_reserve(subscription=first, demand=ONE_VM, resource_type=RACE_TYPE)
                holding.set()
                release.wait(timeout=30)
            return "held"
        finally:
            connections.close_all()

    def reserve_second() -> str:
        try:
            with transaction.atomic(), connections["default"].cursor() as cursor:
                # Waiting on a lock for more than this is the failure under test.
                cursor.execute("SET LOCAL lock_timeout = '2s'")
                quota_reserve(subscription=second, demand=ONE_VM, resource_type=RACE_TYPE)
            return "reserved"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        held = pool.submit(hold_first)
        assert holding.wait(timeout=30)
        try:
            assert pool.submit(reserve_second).result(timeout=30) == "reserved"
        finally:
            release.set()
        assert held.result(timeout=30) == "held"
    assert Allocation.objects.filter(resource_type=RACE_TYPE).count() == 2
