"""Real Celery worker processes for tests: start, wait until ready, kill -9, stop.

The worker tests (tests/compute/test_workers.py) run the provisioning engine the way
production does: jobs go through the Redis broker to ``celery -A portal worker`` processes,
which talk to the same PostgreSQL database and the same simulated fleet as the test.

What a worker shares with the test that starts it:

- the **database**: pytest-django's test database (``connection.settings_dict["NAME"]``).
  Only committed rows cross processes, so worker tests are
  ``django_db(transaction=True)``; and only PostgreSQL makes sense across processes, so
  ``workers`` calls ``require_postgres()`` (skip on a laptop, fail under ``CI=true``);
- the **broker**: the test settings' ``CELERY_BROKER_URL`` (Redis DB 15). The job engine sends
  to the ``provision`` queue by name, so the queues are shared by every test session on the
  same Redis: the harness purges them when it starts. Run one worker-test session per Redis at
  a time (CI runs one);
- the **simulated fleet**: ``SIMULATED_PREFIX`` is the ``fleet`` fixture's per-test prefix, so
  ``fleet.configure(...)`` in the test changes what the workers' hosts do;
- short job timings (``WORKER_JOB_SETTINGS``), given to the workers by environment and to the
  test process (where ``sweep_jobs`` runs) through the ``settings`` fixture.

Use: a ``workers`` fixture around ``worker_pool`` (its docstring), then ``workers.start()``.
The sweeper is not a beat process: tests call ``WorkerPool.sweep()`` (``portal.jobs.sweep_jobs``)
or ``WorkerPool.wait_for_jobs()``, which sweeps while it waits, so when recovery happens is up
to the test, not a timer.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count

from portal import jobs
from portal.models import Job
from tests.backends import require_postgres, require_redis

PROJECT_DIR = Path(__file__).resolve().parents[1]
QUEUES = ("provision", "default")
CONCURRENCY = 8
READY_TIMEOUT = 60.0

# Worker and sweeper timings for tests: a killed worker's job looks dead after 3 s, a lost
# message is sent again after 3 s. Strings, because they go into the workers' environment.
WORKER_JOB_SETTINGS = {
    "JOB_HEARTBEAT_SECONDS": "0.5",
    "JOB_STALE_SECONDS": "3",
    "JOB_QUEUED_RESEND_SECONDS": "3",
}


def _die_with_parent() -> None:  # pragma: no cover (runs in the child before exec)
    """Linux: the worker gets SIGKILL when the test process dies, so an interrupted run
    leaves no worker holding connections to the test database."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def database_url() -> str:
    """A DATABASE_URL for the database this test is connected to (the test database)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"], safe="")
    netloc = f"{auth}@" if auth else ""
    netloc += s["HOST"] or "127.0.0.1"
    if s["PORT"]:
        netloc += f":{s['PORT']}"
    return f"postgres://{netloc}/{quote(s['NAME'], safe='')}"


@dataclass
class Worker:
    """One ``celery worker`` process."""

    name: str
    process: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)
    ready_after: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def hostname(self) -> str:
        """The node name Celery reports (``Job.worker``): ``name@host``."""
        return f"{self.name}@{os.uname().nodename}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def is_ready(self) -> bool:
        return " ready." in self.output()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if not self.alive():
                pytest.fail(f"worker {self.name} exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker {self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.05)
        if self.ready_after is None:
            self.ready_after = time.monotonic() - self.started

    def kill(self) -> None:
        """``kill -9``: no warm shutdown, no acknowledgements, no cleanup."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM: finish the running tasks), then SIGKILL if it hangs."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class WorkerPool:
    """The workers of one test, all sharing its database, broker and fleet."""

    def __init__(self, env: dict[str, str], log_dir: Path, concurrency: int = CONCURRENCY) -> None:
        self.env = env
        self.log_dir = log_dir
        self.concurrency = concurrency
        self.workers: list[Worker] = []
        self.session = uuid.uuid4().hex[:6]  # node names unique across test runs

    def start(self, *, wait: bool = True, concurrency: int | None = None) -> Worker:
        """Start worker number N (``wN``); by default wait until it consumes."""
        n = len(self.workers) + 1
        name = f"w{n}-{self.session}"
        log = self.log_dir / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            ",".join(QUEUES),
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency or self.concurrency),
            "-n",
            f"{name}@%h",
            "-l",
            "info",
            # Mingle and gossip only talk to other workers; without them a worker is ready
            # about a second sooner, which matters when a test restarts workers 20 times.
            "--without-mingle",
            "--without-gossip",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        worker = Worker(name=name, process=process, log=log)
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def alive(self) -> list[Worker]:
        return [w for w in self.workers if w.alive()]

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.stop()

    # --- the sweeper and waiting ---------------------------------------------------------

    @staticmethod
    def sweep() -> jobs.SweepReport:
        """One pass of the beat sweeper, in the test process (its settings: see the fixture)."""
        return jobs.sweep_jobs()

    def wait_for(
        self,
        condition: Callable[[], bool],
        *,
        timeout: float,
        sweep_every: float | None = None,
        what: str = "",
    ) -> float:
        """Poll ``condition`` until it holds; sweep every ``sweep_every`` s if given. Returns
        the seconds it took; fails the test (with the workers' last log lines) on timeout."""
        started = time.monotonic()
        last_sweep = started
        while not condition():
            now = time.monotonic()
            if now - started > timeout:
                pytest.fail(
                    f"timed out after {timeout:.0f} s waiting for {what or condition}\n{self.report()}"
                )
            if sweep_every is not None and now - last_sweep >= sweep_every:
                self.sweep()
                last_sweep = now
            time.sleep(0.1)
        return time.monotonic() - started

    def wait_for_jobs(self, *, timeout: float, sweep_every: float | None = 1.0) -> float:
        """Until every job in the database has ended (succeeded, failed or cancelled)."""
        return self.wait_for(
            lambda: not Job.objects.filter(state__in=Job.ACTIVE_STATES).exists(),
            timeout=timeout,
            sweep_every=sweep_every,
            what="every job to end",
        )

    def report(self) -> str:
        states = dict(Job.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
        lines = [f"jobs by state: {states}"]
        for worker in self.workers:
            status = "alive" if worker.alive() else f"exited {worker.process.returncode}"
            lines.append(f"--- {worker.name} ({status}), last lines:\n{worker.tail(15)}")
        return "\n".join(lines)


def purge_queues() -> int:
    """Drop messages left in the test broker's queues by earlier runs (or by transactional
    tests that enqueued with no worker to consume)."""
    from portal.celery import app

    purged = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in QUEUES:
            purged += channel.queue_purge(queue) or 0
    return purged


def worker_env(fleet_prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url(),
        DATABASE_POOL_SIZE="0",
        CELERY_BROKER_URL=django_settings.CELERY_BROKER_URL,
        REDIS_URL=django_settings.REDIS_URL,
        SIMULATED_REDIS_URL=django_settings.SIMULATED_CONTROLLER["redis_url"],
        SIMULATED_PREFIX=fleet_prefix,
        # The fleet fixture starts with no delays; tests set them with fleet.configure().
        SIMULATED_SPAWN_SECONDS="0",
        SIMULATED_POWER_SECONDS="0",
        SIMULATED_DELETE_SECONDS="0",
        SIMULATED_GUEST_SHUTDOWN_SECONDS="0",
        PYTHONUNBUFFERED="1",
        **WORKER_JOB_SETTINGS,
    )
    return env


@contextmanager
def worker_pool(*, fleet, settings, log_dir: Path) -> Iterator[WorkerPool]:
    """A ``WorkerPool`` sharing this test's database, broker and ``fleet``; no worker runs
    until the test starts one, every worker is stopped on exit. ``settings`` is pytest-django's
    fixture (the sweeper's timings are set on it). Use it in a fixture that depends on
    ``transactional_db``, so the workers stop before the test database is flushed::

        @pytest.fixture
        def workers(transactional_db, fleet, settings, tmp_path):
            with worker_pool(fleet=fleet, settings=settings, log_dir=tmp_path) as pool:
                yield pool
    """
    require_postgres()
    require_redis()
    for key, value in WORKER_JOB_SETTINGS.items():
        setattr(settings, key, float(value))
    purge_queues()
    pool = WorkerPool(worker_env(fleet.prefix), log_dir)
    try:
        yield pool
    finally:
        pool.stop_all()
        # Shown by pytest only when the test failed: what the workers said.
        for worker in pool.workers:
            errors = [line for line in worker.output().splitlines() if "ERROR" in line or "Traceback" in line]
            if errors:
                print(f"--- {worker.name}: {len(errors)} error line(s), first ones:")
                print("\n".join(errors[:10]))


# --- what must hold when the dust settles --------------------------------------------------


def fleet_by_host(fleet) -> dict[str, list[str]]:
    """host name → uuids of the VMs the simulated host holds (each host's own set, so a VM
    on two hosts would show up twice)."""
    out: dict[str, list[str]] = {}
    for key in fleet.redis.scan_iter(match=fleet.key("host", "*", "vms")):
        host = key[len(fleet.key("host", "")) : -len(":vms")]
        out[host] = sorted(fleet.redis.smembers(key))
    return out


def assert_consistent(fleet) -> dict[str, int]:
    """After every job has ended: the controller and the database agree, and the quota
    ledger equals the facts. Returns counts by VM state for the test's printout.

    - no VM is left building (its job ended, so it is active, in error or deleted);
    - no duplicate: no VM on two hosts;
    - no orphan, no leftover, nothing lost: the hosts hold exactly the active VMs, each on
      the host the database says;
    - quota: one allocation per VM that is not deleted or failed, and none for anything else;
    - host usage: each host's used-capacity counters equal what its building and active VMs
      hold (placement reads the counters; the VM rows are the ledger).
    """
    from compute import placement
    from compute.models import VirtualMachine
    from subscriptions.models import Allocation

    vm = VirtualMachine
    states = dict(vm.objects.values_list("provisioning_state").annotate(n=Count("id")))
    assert states.get(vm.Provisioning.BUILDING, 0) == 0, f"VMs left building: {states}"

    held = fleet_by_host(fleet)
    on_hosts = [uuid for uuids in held.values() for uuid in uuids]
    assert len(on_hosts) == len(set(on_hosts)), "a VM is on more than one host"
    active = {
        str(pk): host
        for pk, host in vm.objects.filter(provisioning_state__in=vm.HOLDS_HOST).values_list(
            "pk", "host__name"
        )
    }
    found = fleet.all_vms()
    extra = {u: found[u] for u in set(found) - set(active)}
    missing = {u: active[u] for u in set(active) - set(found)}
    wrong_host = {u: (active[u], found[u]) for u in set(active) & set(found) if active[u] != found[u]}
    assert not extra, f"on a host but not active in the portal: {_describe(extra)}"
    assert not missing, f"active in the portal but on no host: {_describe(missing)}"
    assert not wrong_host, f"on another host than the portal says: {wrong_host}"

    allocated = set(Allocation.objects.filter(resource_type="vm").values_list("resource_id", flat=True))
    live = set(
        vm.objects.exclude(
            provisioning_state__in=[vm.Provisioning.DELETED, vm.Provisioning.ERROR]
        ).values_list("pk", flat=True)
    )
    assert allocated == live, (
        f"quota != facts: {len(allocated - live)} allocation(s) without a live VM, "
        f"{len(live - allocated)} live VM(s) without an allocation"
    )
    drifted = placement.recount()
    assert not drifted, f"host usage counters != the VMs on them: {drifted}"
    return states


def _describe(vms: dict[str, str]) -> str:
    from compute.models import VirtualMachine

    rows = {
        str(r["id"]): r
        for r in VirtualMachine.objects.filter(pk__in=list(vms)).values(
            "id", "provisioning_state", "task_state"
        )
    }
    return ", ".join(
        f"{u} ({vms[u]}: {rows[u]['provisioning_state']}/{rows[u]['task_state'] or '-'})"
        if u in rows
        else f"{u} ({vms[u]}: unknown to the portal)"
        for u in sorted(vms)
    )
