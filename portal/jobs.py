"""Provisioning jobs: create, claim, run, retry, cancel and sweep (DESIGN.md, "Provisioning jobs").

The life of a job:

1. A service writes the resource rows and the ``Job`` in one transaction (``job_create``) and
   the task is enqueued **on commit**: a worker never sees a job whose rows rolled back, and a
   job whose message is lost is found again by the sweeper.
2. ``run_job`` (the Celery task's body) claims the job with a conditional UPDATE, which also
   counts the attempt in the database (``acks_late`` redelivery and the sweeper can both hand
   a job to a worker twice; only one claim wins) and writes a fencing token (``Job.claim``).
3. The kind's handler runs idempotent steps; ``JobRun.step`` records progress, beats the heart
   and is where a requested cancellation takes effect. A per-process heartbeat thread keeps
   ``heartbeat_at`` fresh during long controller calls.
4. Transient ``ControllerError``s retry with exponential backoff until ``max_attempts``;
   permanent ones (and running out of attempts, or of time) fail the job with the error's
   tenant-safe message, and the handler's ``on_failure`` compensates (marks the resource,
   releases quota) in the same transaction as the failed state.
5. ``sweep_jobs`` (beat, every few seconds) re-queues running jobs whose heartbeat stopped (a
   killed worker), fails jobs past their deadline, and re-sends queued jobs whose message
   never arrived.

A group job (deploy, scale, delete a deployment) runs no task: each child's end updates it
under a row lock, and when the last child ends its handler's ``on_group_done`` runs.
"""

from __future__ import annotations

import logging
import random
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from controller.base import ControllerError
from portal.errors import Conflict
from portal.events import publish_on_commit
from portal.models import GROUP_KINDS, Job

logger = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong on our side. The service team has the details."


class JobCancelled(Exception):
    """Raised by ``JobRun.step`` when a cancellation was requested."""


class LostClaim(Exception):
    """This run no longer owns the job (the sweeper re-queued it and another run claimed it,
    or it was failed past its deadline). The run must stop without writing anything."""


class JobHandler(Protocol):
    """What a job kind does. ``run`` performs idempotent steps; the hooks compensate inside
    the transaction that writes the job's terminal state."""

    def run(self, run: JobRun) -> None: ...

    def on_failure(self, job: Job) -> None: ...

    def on_cancel(self, job: Job) -> None: ...

    # Optional: ``run_batch(runs, settle)`` runs many jobs of this kind at once (``run_jobs``)
    # and reports each one's outcome through ``settle`` (a ``BatchSettle``) as soon as it has
    # it; without it a batch's jobs run one by one.


class GroupHandler(Protocol):
    def on_group_done(self, job: Job) -> None: ...


HANDLERS: dict[str, JobHandler] = {}
GROUP_HANDLERS: dict[str, GroupHandler] = {}


def register(kind: str, handler: JobHandler) -> None:
    HANDLERS[kind] = handler


def register_group(kind: str, handler: GroupHandler) -> None:
    if kind not in GROUP_KINDS:
        raise ValueError(f"{kind} is not a group kind (portal.models.GROUP_KINDS)")
    GROUP_HANDLERS[kind] = handler


# --- events ------------------------------------------------------------------------------


def job_payload(job: Job) -> dict[str, Any]:
    return {
        "id": str(job.pk),
        "kind": job.kind,
        "label": job.get_kind_display(),
        "state": job.state,
        "progress": job.progress,
        "step": job.step,
        "message": job.message,
        "target_type": job.target_type,
        "target_id": str(job.target_id),
        "parent": str(job.parent_id) if job.parent_id else None,
    }


def publish_job(job: Job) -> None:
    if job.tenant_id:
        publish_on_commit(job.tenant_id, "job", job_payload(job))


# --- creating and enqueueing -------------------------------------------------------------


def _deadline(kind: str, now: datetime) -> datetime:
    seconds = settings.JOB_DEADLINES.get(kind, settings.JOB_DEADLINES["default"])
    return now + timedelta(seconds=seconds)


def _send(job_id, task_id: str, countdown: float = 0) -> None:
    from portal.tasks import run_job_task  # the task module imports this one

    try:
        run_job_task.apply_async(
            args=[str(job_id)], task_id=task_id, queue=settings.JOB_QUEUE, countdown=countdown or None
        )
    except Exception:
        # The row is committed; the sweeper re-sends queued jobs whose message never arrived.
        logger.exception("could not enqueue job %s; the sweeper will retry", job_id)


def _send_batch(job_ids: list, task_id: str) -> None:
    from portal.tasks import run_jobs_task

    try:
        run_jobs_task.apply_async(
            args=[[str(pk) for pk in job_ids]], task_id=task_id, queue=settings.JOB_QUEUE
        )
    except Exception:
        logger.exception("could not enqueue %d jobs; the sweeper will retry", len(job_ids))


def enqueue_on_commit(jobs: Iterable[Job]) -> None:
    """Send the jobs' messages when the transaction commits: one message per Celery task id,
    so the jobs that ``jobs_create_many`` gave one id travel (and run) as one batch."""
    by_task: dict[str, list] = {}
    for job in jobs:
        if job.kind not in GROUP_KINDS:
            by_task.setdefault(job.celery_task_id, []).append(job.pk)
    if not by_task:
        return

    def send() -> None:
        for task_id, ids in by_task.items():
            if len(ids) == 1:
                _send(ids[0], task_id)
            else:
                _send_batch(ids, task_id)

    transaction.on_commit(send)


def new_job(
    *,
    kind: str,
    target,
    tenant,
    actor=None,
    params: dict[str, Any] | None = None,
    parent: Job | None = None,
    target_repr: str | None = None,
    now: datetime | None = None,
) -> Job:
    """An unsaved Job (for ``bulk_create``); ``job_create`` saves and enqueues one."""
    now = now or timezone.now()
    return Job(
        id=uuid.uuid4(),
        tenant=tenant,
        parent=parent,
        kind=kind,
        target_type=target._meta.model_name,
        target_id=target.pk,
        target_repr=(target_repr if target_repr is not None else str(target))[:200],
        params=params or {},
        deadline=_deadline(kind, now),
        max_attempts=settings.JOB_MAX_ATTEMPTS,
        celery_task_id="" if kind in GROUP_KINDS else str(uuid.uuid4()),
        created_by=actor if getattr(actor, "pk", None) else None,
    )


def job_create(**kwargs) -> Job:
    """Write a job in the caller's transaction and enqueue it when that commits."""
    job = new_job(**kwargs)
    job.save(force_insert=True)
    enqueue_on_commit([job])
    publish_job(job)
    return job


def jobs_create_many(jobs: list[Job]) -> list[Job]:
    """Write many unsaved jobs (children of one group) in one INSERT; enqueue on commit, in
    batches of ``JOB_BATCH_SIZE`` jobs of one kind per Celery message (``run_jobs``): a batch
    is claimed, stepped and finished with a few statements where one job a message costs a
    dozen each (benchmarks/provisioning.py).

    No "queued" event per child: no open page can show a job that did not exist when it was
    rendered, so the events would reach nobody, and each costs a channel-layer round trip
    (10 of a 10-VM deployment's 12 events; benchmarks/provisioning.py measured them at about
    half of ``deployment_create``'s time). The group's own event (``job_create``) stays."""
    size = max(settings.JOB_BATCH_SIZE, 1)
    by_kind: dict[str, list[Job]] = {}
    for job in jobs:
        if job.kind not in GROUP_KINDS:
            by_kind.setdefault(job.kind, []).append(job)
    for same_kind in by_kind.values():
        for start in range(0, len(same_kind), size):
            batch = same_kind[start : start + size]
            for job in batch[1:]:
                job.celery_task_id = batch[0].celery_task_id
    Job.objects.bulk_create(jobs)
    enqueue_on_commit(jobs)
    return jobs


# --- the heartbeat -----------------------------------------------------------------------


class _Heartbeat:
    """One thread per worker process refreshes ``heartbeat_at`` of the jobs it is running,
    so a long controller call does not look like a dead worker."""

    def __init__(self) -> None:
        self.active: dict[str, uuid.UUID] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def add(self, job_id, claim: uuid.UUID) -> None:
        import os

        with self.lock:
            self.active[str(job_id)] = claim
            # After a fork (prefork pool) the parent's thread does not exist in the child.
            if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._loop, name="job-heartbeat", daemon=True)
                self.thread.start()

    def remove(self, job_id) -> None:
        with self.lock:
            self.active.pop(str(job_id), None)

    def _loop(self) -> None:
        interval = settings.JOB_HEARTBEAT_SECONDS
        while True:
            threading.Event().wait(interval)
            with self.lock:
                ids = list(self.active)
            if not ids:
                continue
            try:
                Job.objects.filter(pk__in=ids, state=Job.State.RUNNING).update(heartbeat_at=timezone.now())
            except Exception:
                logger.exception("job heartbeat failed")
            finally:
                connection.close()


heartbeat = _Heartbeat()


# --- running -----------------------------------------------------------------------------


@dataclass
class JobRun:
    """One claimed run of a job: the handler's handle on progress and cancellation."""

    job: Job
    claim: uuid.UUID

    # A handler turns this off before a last step that the terminal event follows within
    # milliseconds: the browser would not see that step anyway.
    publish_steps: bool = True

    def step(self, name: str, progress: int) -> None:
        """Record a step. Raises ``JobCancelled`` if cancellation was asked for, ``LostClaim``
        if this run no longer owns the job."""
        now = timezone.now()
        updated = Job.objects.filter(
            pk=self.job.pk, claim=self.claim, state=Job.State.RUNNING, cancel_requested=False
        ).update(step=name, progress=progress, heartbeat_at=now, updated=now)
        if not updated:
            self._raise_why_not()
        self.job.step, self.job.progress = name, progress
        if self.publish_steps:
            publish_job(self.job)

    def _raise_why_not(self) -> None:
        current = Job.objects.filter(pk=self.job.pk).values("claim", "state", "cancel_requested").first()
        if current and current["claim"] == self.claim and current["state"] == Job.State.RUNNING:
            raise JobCancelled()
        raise LostClaim()

    @property
    def params(self) -> dict[str, Any]:
        return self.job.params


def _claim_sql(connection, count: int) -> str:
    """``UPDATE … RETURNING`` the claimed rows, with their group's state, in one round trip
    (PostgreSQL and SQLite >= 3.35 both support it; Django's ``update()`` returns a count)."""
    q = connection.ops.quote_name
    table = q(Job._meta.db_table)
    columns = ", ".join(f"{table}.{q(f.column)}" for f in Job._meta.concrete_fields)
    kinds = ", ".join(["%s"] * len(GROUP_KINDS))
    ids = ", ".join(["%s"] * count)
    # Only identifiers from the model's meta are formatted in; every value is a parameter.
    return (
        f"UPDATE {table} SET {q('state')} = %s, {q('claim')} = %s, {q('attempts')} = {q('attempts')} + 1, "  # noqa: S608
        f"{q('heartbeat_at')} = %s, {q('started_at')} = %s, {q('worker')} = %s, {q('updated')} = %s "
        f"WHERE {q('id')} IN ({ids}) AND {q('state')} = %s "
        f"AND ({q('run_after')} IS NULL OR {q('run_after')} <= %s) AND {q('kind')} NOT IN ({kinds}) "
        f"RETURNING {columns}, (SELECT p.{q('state')} FROM {table} p WHERE p.{q('id')} = {table}.{q('parent_id')}) "
        f"AS {q('parent_state')}"
    )


def claim_many(job_ids: Iterable, *, worker: str = "") -> list[JobRun]:
    """Take the queued, due jobs among ``job_ids``; the others (done, running elsewhere, not
    due yet) are left alone. The runs share one claim token, so a batch's later statements
    can name all its jobs at once and still be fenced against a sweeper's re-queue.

    One statement: the conditional UPDATE returns the claimed rows (and their group's state),
    so no second SELECT reads what the UPDATE just wrote."""
    ids = [pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk)) for pk in job_ids]
    if not ids:
        return []
    now = timezone.now()
    token = uuid.uuid4()
    meta = Job._meta
    at = meta.get_field("updated").get_db_prep_value(now, connection)
    params = [
        Job.State.RUNNING.value,
        meta.get_field("claim").get_db_prep_value(token, connection),
        at,
        at,
        worker[:200],
        at,
        *(meta.pk.get_db_prep_value(pk, connection) for pk in ids),
        Job.State.QUEUED.value,
        at,
        *sorted(GROUP_KINDS),
    ]
    claimed = {job.pk: job for job in Job.objects.raw(_claim_sql(connection, len(ids)), params)}
    starting = {
        job.parent_id for job in claimed.values() if job.parent_id and job.parent_state == Job.State.QUEUED
    }
    if starting:
        # The group shows as running from its first child on (only the first children see
        # it queued; two claimed at once both try, and the condition lets one win).
        Job.objects.filter(pk__in=starting, state=Job.State.QUEUED).update(
            state=Job.State.RUNNING, started_at=now, updated=now
        )
    # No "running" event here: the handler's first step follows within milliseconds and
    # carries the running state with the step's progress; a run that ends without a step
    # still sends its terminal state.
    return [JobRun(job=claimed[pk], claim=token) for pk in ids if pk in claimed]


def claim(job_id, *, worker: str = "") -> JobRun | None:
    """Take a queued job. None if it is not queued (done, running elsewhere) or not due yet."""
    runs = claim_many([job_id], worker=worker)
    return runs[0] if runs else None


def _unrunnable(run: JobRun) -> str | None:
    """End a claimed run that must not start (no attempts or no time left); its outcome."""
    job = run.job
    if job.attempts > job.max_attempts:
        # _fail appends to the detail the job already has: say what happened, not it again.
        return _fail(
            run,
            "The operation did not complete after several attempts.",
            f"attempt {job.attempts} of {job.max_attempts}: no attempts left",
        )
    if job.deadline <= timezone.now():
        _fail(run, "The operation took too long and was stopped.", "deadline passed before the run started")
        return "failed"
    return None


def _settle(run: JobRun, error: BaseException | None) -> str:
    """Record how a run ended: success, or what its handler raised."""
    if error is None:
        return _succeed(run)
    job = run.job
    if isinstance(error, JobCancelled):
        return _cancelled(run)
    if isinstance(error, LostClaim):
        logger.warning("job %s: claim lost, stopping this run", job.pk)
        return "lost"
    if isinstance(error, ControllerError):
        if error.permanent:
            return _fail(run, error.message, error.detail)
        return _retry(run, error.message, error.detail)
    if isinstance(error, Conflict):
        return _fail(run, error.message, f"conflict: {error.code}")
    if isinstance(error, DatabaseError):
        # A dropped connection or a serialisation failure: worth another attempt.
        connection.close()
        return _retry(run, "A temporary problem interrupted the operation.", f"database error: {error!r}")
    logger.error("job %s (%s) crashed", job.pk, job.kind, exc_info=error)
    return _fail(run, GENERIC_FAILURE, "".join(traceback.format_exception(error)))


def attempt(function, run: JobRun) -> Exception | None:
    """``function(run)``'s error, or None: a batch handler's way to run one job the plain way."""
    try:
        function(run)
    except Exception as exc:  # noqa: BLE001 (handed to _settle, which sorts every kind out)
        return exc
    return None


def run_job(job_id, *, worker: str = "") -> str:
    """Claim and run one job; returns what happened (for logs and tests)."""
    run = claim(job_id, worker=worker)
    if run is None:
        return "skipped"
    ended = _unrunnable(run)
    if ended is not None:
        return ended
    heartbeat.add(run.job.pk, run.claim)
    try:
        return _settle(run, attempt(HANDLERS[run.job.kind].run, run))
    finally:
        heartbeat.remove(run.job.pk)


def run_jobs(job_ids: Iterable, *, worker: str = "") -> dict[str, str]:
    """Claim and run a batch of jobs (one group's children, sent as one message); returns
    what happened to each claimed one.

    A kind whose handler has ``run_batch`` gets the batch's runs at once and reports their
    outcomes in waves; each wave's successes are recorded together (``_succeed_many``).
    Other kinds, and a batch of one, run one job after another."""
    runs = claim_many(job_ids, worker=worker)
    outcomes: dict[str, str] = {}
    ready: dict[str, list[JobRun]] = {}
    for run in runs:
        ended = _unrunnable(run)
        if ended is not None:
            outcomes[str(run.job.pk)] = ended
        else:
            ready.setdefault(run.job.kind, []).append(run)
    for kind, batch in ready.items():
        handler = HANDLERS[kind]
        for run in batch:
            heartbeat.add(run.job.pk, run.claim)
        try:
            if len(batch) > 1 and hasattr(handler, "run_batch"):
                _run_batch(handler, batch, outcomes)
            else:
                for run in batch:
                    outcomes[str(run.job.pk)] = _settle(run, attempt(handler.run, run))
        finally:
            for run in batch:
                heartbeat.remove(run.job.pk)
    return outcomes


class BatchSettle:
    """How a batch handler reports outcomes (``run_batch(runs, settle)``): ``settle({job id:
    error or None})`` as it learns them (a wave of successes recorded together), or
    ``settle.succeed_with(runs, write)`` to record successes in the transaction that writes
    their targets' new state."""

    def __init__(self, batch: list[JobRun], outcomes: dict[str, str]) -> None:
        self.by_pk = {run.job.pk: run for run in batch}
        self.outcomes = outcomes

    def __call__(self, errors: dict[Any, Exception | None]) -> None:
        self.outcomes.update(_succeed_many([self.by_pk[pk] for pk, error in errors.items() if error is None]))
        for pk, error in errors.items():
            if error is not None:
                self.outcomes[str(pk)] = _settle(self.by_pk[pk], error)

    def succeed_with(self, runs: list[JobRun], write: Callable[[], None]) -> bool:
        """``succeed_with`` (below); True if it recorded the runs, False if it wrote nothing."""
        recorded = succeed_with(runs, write)
        if recorded is None:
            return False
        self.outcomes.update(recorded)
        return True


def _run_batch(handler, batch: list[JobRun], outcomes: dict[str, str]) -> None:
    """``handler.run_batch(batch, settle)``: the handler reports outcomes as they come
    (``BatchSettle``). A run the handler left unreported ends with the error that stopped
    the batch, or runs alone."""
    settle = BatchSettle(batch, outcomes)
    stopped = attempt(lambda runs: handler.run_batch(runs, settle), batch)
    for run in batch:
        if str(run.job.pk) not in outcomes:
            outcomes[str(run.job.pk)] = _settle(
                run, stopped if stopped is not None else attempt(handler.run, run)
            )


def steps(runs: list[JobRun], name: str, progress: int) -> tuple[list[JobRun], dict[Any, Exception]]:
    """``JobRun.step`` for the runs of one claim, in one statement when none was cancelled
    or lost; returns the runs that go on and, by job id, the error of those that stop."""
    if not runs:
        return [], {}
    if len({run.claim for run in runs}) == 1:
        now = timezone.now()
        updated = Job.objects.filter(
            pk__in=[run.job.pk for run in runs],
            claim=runs[0].claim,
            state=Job.State.RUNNING,
            cancel_requested=False,
        ).update(step=name, progress=progress, heartbeat_at=now, updated=now)
        if updated == len(runs):
            for run in runs:
                run.job.step, run.job.progress = name, progress
                if run.publish_steps:
                    publish_job(run.job)
            return runs, {}
    going, stopped = [], {}
    for run in runs:  # some stop: find out which, and why, one by one
        try:
            run.step(name, progress)
        except (JobCancelled, LostClaim) as exc:
            stopped[run.job.pk] = exc
        else:
            going.append(run)
    return going, stopped


def _terminal(run: JobRun, state: str, message: str, detail: str | None = None, **extra) -> bool:
    """Write the terminal state if this run still owns the job. Returns whether it did."""
    now = timezone.now()
    values = {"state": state, "message": message[:500], "finished_at": now, "updated": now, **extra}
    if detail is not None:
        values["detail"] = detail
    if state == Job.State.SUCCEEDED:
        values["progress"] = 100
    updated = Job.objects.filter(pk=run.job.pk, claim=run.claim, state=Job.State.RUNNING).update(**values)
    if updated:
        for key, value in values.items():
            setattr(run.job, key, value)
    return bool(updated)


def _succeed(run: JobRun) -> str:
    with transaction.atomic():
        # The "retrying…" note of an earlier attempt would read as a problem now; say it
        # took more than one go instead.
        note = f"Done after {run.job.attempts} attempts." if run.job.attempts > 1 else ""
        if not _terminal(run, Job.State.SUCCEEDED, note):
            return "lost"
        _after_terminal(run.job)
    return "succeeded"


class NotAll(Exception):
    """Rolls back a batch statement that did not take for every row it named: the batch then
    goes one by one, where each case is sorted out (see _succeed_many, succeed_with)."""


def _success_values(now: datetime) -> dict[str, Any]:
    return {"state": Job.State.SUCCEEDED, "message": "", "finished_at": now, "updated": now, "progress": 100}


def _record_successes(runs: list[JobRun], *, uncancelled: bool = False) -> dict[str, Any]:
    """The jobs of ``runs`` (one claim, first attempts) succeeded, in one UPDATE; raises
    ``NotAll`` if some job is no longer this claim's running one (or, with ``uncancelled``,
    was asked to cancel). Call inside a transaction; returns the values written."""
    values = _success_values(timezone.now())
    jobs = Job.objects.filter(
        pk__in=[run.job.pk for run in runs], claim=runs[0].claim, state=Job.State.RUNNING
    )
    if uncancelled:
        jobs = jobs.filter(cancel_requested=False)
    if jobs.update(**values) != len(runs):
        raise NotAll
    return values


def _mark_succeeded(runs: list[JobRun], values: dict[str, Any]) -> dict[str, str]:
    """The in-memory side of ``_record_successes`` (events go out on commit), and the groups."""
    for run in runs:
        for key, value in values.items():
            setattr(run.job, key, value)
        publish_job(run.job)
    for parent_id in dict.fromkeys(run.job.parent_id for run in runs if run.job.parent_id):
        group_update(parent_id)
    return {str(run.job.pk): "succeeded" for run in runs}


def succeed_with(runs: list[JobRun], write: Callable[[], None]) -> dict[str, str] | None:
    """Record ``runs`` as succeeded and call ``write()`` (the handler's own rows: its targets'
    new state) in one transaction, then update their groups in it too: one commit for the
    whole wave, with no last step before it.

    Only when every run is still this claim's, running, not asked to cancel and on its first
    attempt (a later one gets its own note). Otherwise, or if ``write`` raises ``NotAll``,
    nothing is written and the answer is None: the handler takes the step-by-step path, whose
    last step notices a cancellation and which ends each job on its own."""
    if not runs or len({run.claim for run in runs}) != 1 or any(run.job.attempts != 1 for run in runs):
        return None
    try:
        with transaction.atomic():
            values = _record_successes(runs, uncancelled=True)
            write()
            return _mark_succeeded(runs, values)
    except NotAll:
        return None


def _succeed_many(runs: list[JobRun]) -> dict[str, str]:
    """``_succeed`` for many runs of one claim: one UPDATE for the jobs and one group update
    per group, in one transaction. Runs that need their own note (a later attempt), or a
    batch in which some job was taken from this run, go one by one."""
    outcomes: dict[str, str] = {}
    first = [run for run in runs if run.job.attempts == 1]
    alone = [run for run in runs if run.job.attempts != 1]
    if len(first) > 1 and len({run.claim for run in first}) == 1:
        try:
            with transaction.atomic():
                outcomes.update(_mark_succeeded(first, _record_successes(first)))
        except NotAll:
            outcomes.clear()
            alone = runs
    else:
        alone = runs
    for run in alone:
        outcomes[str(run.job.pk)] = _succeed(run)
    return outcomes


def _fail(run: JobRun, message: str, detail: str) -> str:
    with transaction.atomic():
        if not _terminal(run, Job.State.FAILED, message, _join(run.job.detail, detail)):
            return "lost"
        HANDLERS[run.job.kind].on_failure(run.job)
        _after_terminal(run.job)
    return "failed"


def _cancelled(run: JobRun) -> str:
    with transaction.atomic():
        if not _terminal(run, Job.State.CANCELLED, "Cancelled."):
            return "lost"
        HANDLERS[run.job.kind].on_cancel(run.job)
        _after_terminal(run.job)
    return "cancelled"


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter, so retries of many jobs spread out."""
    base, cap = settings.JOB_RETRY_BACKOFF_SECONDS, settings.JOB_RETRY_BACKOFF_MAX_SECONDS
    return random.uniform(base / 2, min(cap, base * 2 ** max(attempt - 1, 0)))  # noqa: S311 (jitter, not a secret)


def _retry(run: JobRun, message: str, detail: str) -> str:
    job = run.job
    if job.attempts >= job.max_attempts:
        return _fail(run, message, detail)
    delay = backoff_seconds(job.attempts)
    now = timezone.now()
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        updated = Job.objects.filter(pk=job.pk, claim=run.claim, state=Job.State.RUNNING).update(
            state=Job.State.QUEUED,
            claim=None,
            run_after=now + timedelta(seconds=delay),
            message=f"{message} Retrying (attempt {job.attempts + 1} of {job.max_attempts}).",
            detail=_join(job.detail, f"attempt {job.attempts}: {detail}"),
            celery_task_id=task_id,
            updated=now,
        )
        if not updated:
            return "lost"
        job.refresh_from_db()
        publish_job(job)
        transaction.on_commit(lambda: _send(job.pk, task_id, delay))
    return "retrying"


def _join(old: str, new: str) -> str:
    text = f"{old}\n{new}".strip() if old else new
    return text[-20000:]  # the latest detail matters most; keep the row bounded


def _after_terminal(job: Job) -> None:
    publish_job(job)
    if job.parent_id:
        group_update(job.parent_id)


def _group_progress_sql(connection) -> tuple[str, list]:
    """One UPDATE that writes a group's progress and step from its children and returns
    (done, total, failed, cancelled): for the children that do not end the group, that is
    all there is to do, and the one that ends it has the counts its outcome needs."""
    q = connection.ops.quote_name
    t = q(Job._meta.db_table)
    states = sorted(state.value for state in Job.TERMINAL_STATES)
    marks = ", ".join(["%s"] * len(states))
    children = f"FROM {t} c WHERE c.{q('parent_id')} = {t}.{q('id')}"

    def count(condition: str) -> str:
        return f"(SELECT COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) {children})"

    done = count(f"c.{q('state')} IN ({marks})")
    total = f"(SELECT COUNT(*) {children})"
    failed, cancelled = count(f"c.{q('state')} = %s"), count(f"c.{q('state')} = %s")
    # Only identifiers from the model's meta are formatted in; every value is a parameter.
    sql = (
        f"UPDATE {t} SET {q('progress')} = CASE WHEN {total} = 0 THEN 100 ELSE {done} * 100 / {total} END, "  # noqa: S608
        f"{q('step')} = CAST({done} AS VARCHAR(20)) || ' of ' || CAST({total} AS VARCHAR(20)) || ' done', "
        f"{q('updated')} = %s WHERE {q('id')} = %s RETURNING {done}, {total}, {failed}, {cancelled}"
    )
    # The placeholders in the order they appear: done twice in SET, the time and the id,
    # then done, failed and cancelled in RETURNING.
    return sql, states


def group_update(parent_id) -> None:
    """Recompute a group job from its children; end it when all have ended.

    Locks the group's row first (SELECT … FOR UPDATE), so two children ending at once are
    counted one after the other: the counting statement that follows starts after the lock
    is held, so it sees the other child's committed state (READ COMMITTED takes a snapshot
    per statement; a count inside the locking statement itself would not). A child that does
    not end the group costs two statements; the last one writes the outcome too."""
    parent = Job.objects.select_for_update().filter(pk=parent_id).first()
    if parent is None or parent.state in Job.TERMINAL_STATES:
        return
    now = timezone.now()
    sql, states = _group_progress_sql(connection)
    at = Job._meta.get_field("updated").get_db_prep_value(now, connection)
    pk = Job._meta.pk.get_db_prep_value(parent.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [*states, *states, at, pk, *states, Job.State.FAILED.value, Job.State.CANCELLED.value]
        )
        done, total, failed, cancelled = cursor.fetchone()
    parent.progress = (done * 100 // total) if total else 100
    parent.step = f"{done} of {total} done"
    parent.updated = now
    fields: list[str] = []
    # A group with no children at all (deleting a deployment whose VMs were all gone) ends
    # now: nothing else would ever update it.
    if done == total:
        if failed:
            parent.state = Job.State.FAILED
            first = (
                Job.objects.filter(parent_id=parent_id, state=Job.State.FAILED)
                .order_by("finished_at")
                .values_list("message", flat=True)
                .first()
            )
            parent.message = f"{failed} of {total} failed: {first}"[:500]
        elif total and cancelled == total:
            parent.state, parent.message = Job.State.CANCELLED, "Cancelled."
        else:
            parent.state = Job.State.SUCCEEDED
            parent.message = f"{cancelled} of {total} cancelled." if cancelled else ""
        parent.finished_at = now
        fields += ["state", "message", "finished_at"]
    elif parent.state == Job.State.QUEUED and done:
        parent.state = Job.State.RUNNING
        parent.started_at = parent.started_at or now
        fields += ["state", "started_at"]
    if fields:
        Job.objects.filter(pk=parent.pk).update(**{f: getattr(parent, f) for f in fields})
    if parent.state in Job.TERMINAL_STATES:
        handler = GROUP_HANDLERS.get(parent.kind)
        if handler is not None:
            handler.on_group_done(parent)
    publish_job(parent)


# --- cancelling --------------------------------------------------------------------------


def job_cancel(*, job: Job, actor=None) -> Job:
    """Cancel a queued job now, or ask a running one to stop at its next step. A group
    cancels all its children. 409 for a job that has already ended."""
    if job.state in Job.TERMINAL_STATES:
        raise Conflict(f"This job has already {job.state}.", code="job_finished")
    if job.kind in GROUP_KINDS:
        for child in Job.objects.filter(parent=job, state__in=Job.ACTIVE_STATES):
            try:
                job_cancel(job=child, actor=actor)
            except Conflict:
                pass  # it ended meanwhile
        job.refresh_from_db()
        return job
    with transaction.atomic():
        now = timezone.now()
        if Job.objects.filter(pk=job.pk, state=Job.State.QUEUED).update(
            state=Job.State.CANCELLED, message="Cancelled.", finished_at=now, updated=now, claim=None
        ):
            job.refresh_from_db()
            HANDLERS[job.kind].on_cancel(job)
            _after_terminal(job)
        elif not Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            cancel_requested=True, updated=now
        ):
            job.refresh_from_db()
            raise Conflict(f"This job has already {job.state}.", code="job_finished")
    job.refresh_from_db()
    publish_job(job)
    return job


def fail_now(*, job: Job, message: str, detail: str) -> bool:
    """Fail an active job from outside its run (deadline passed): fence the run out with a
    new claim, then fail it with compensation. Returns whether this call failed it."""
    token = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        if not Job.objects.filter(pk=job.pk, state__in=Job.ACTIVE_STATES).update(
            state=Job.State.RUNNING, claim=token, updated=now
        ):
            return False
        job.refresh_from_db()
        run = JobRun(job=job, claim=token)
        return _fail(run, message, detail) == "failed"


# --- the sweeper -------------------------------------------------------------------------


@dataclass
class SweepReport:
    requeued: int = 0
    expired: int = 0
    resent: int = 0
    resend_deferred: int = 0  # quiet queued jobs left alone while the queue had a backlog
    groups_repaired: int = 0


def job_backlog() -> int | None:
    """How many messages wait in the job queue, or None if the broker cannot say."""
    from amqp.exceptions import ChannelError

    from portal.celery import app

    try:
        with app.connection_for_read() as conn:
            return conn.default_channel.queue_declare(queue=settings.JOB_QUEUE, passive=True).message_count
    except ChannelError as exc:
        if str(getattr(exc, "reply_code", "")) == "404":
            return 0  # never declared (no worker and no message yet): nothing waits in it
        logger.warning("sweeper: could not read the length of queue %s", settings.JOB_QUEUE, exc_info=True)
        return None
    except Exception:  # the broker is down or refuses: say so, and let the caller decide
        logger.warning("sweeper: could not read the length of queue %s", settings.JOB_QUEUE, exc_info=True)
        return None


def sweep_jobs(*, now: datetime | None = None, limit: int = 500) -> SweepReport:
    """Beat task body: see the module docstring (5). Every change is a conditional update,
    so two sweepers (or a sweeper racing a worker) cannot both act on one job."""
    now = now or timezone.now()
    report = SweepReport()
    stale = now - timedelta(seconds=settings.JOB_STALE_SECONDS)

    # Past their deadline: fail (with compensation), whatever a worker is doing.
    for job in Job.objects.filter(state__in=Job.ACTIVE_STATES, deadline__lt=now).exclude(
        kind__in=GROUP_KINDS
    )[:limit]:
        try:
            if fail_now(
                job=job, message="The operation took too long and was stopped.", detail="deadline passed"
            ):
                report.expired += 1
        except Exception:
            # One job whose compensation breaks (its target row gone, say) must not stop the
            # sweep of every other job; it stays active and is logged on each sweep.
            logger.exception("sweeper: could not fail job %s past its deadline", job.pk)

    # Running, but the heartbeat stopped: the worker died. Queue it again.
    for job in Job.objects.filter(state=Job.State.RUNNING, heartbeat_at__lt=stale).exclude(
        kind__in=GROUP_KINDS
    )[:limit]:
        task_id = str(uuid.uuid4())
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, state=Job.State.RUNNING, heartbeat_at__lt=stale).update(
                state=Job.State.QUEUED,
                claim=None,
                run_after=None,
                celery_task_id=task_id,
                detail=_join(
                    job.detail, f"{now:%H:%M:%S}: worker {job.worker or '?'} stopped beating; re-queued"
                ),
                updated=now,
            ):
                report.requeued += 1
                transaction.on_commit(lambda pk=job.pk, t=task_id: _send(pk, t))

    # Queued for a while and never claimed: the message was lost (broker restart, a crash
    # between commit and send). Sending again is harmless: only one claim can win. But only
    # while the queue is empty: behind a backlog a job is simply waiting its turn, and a
    # message sent now would queue behind it as well, once per job and sweep, adding to the
    # very backlog that delays it (and a batch's jobs would come back one message each).
    # A lost message is still found: it is the one left when the queue has drained.
    quiet = now - timedelta(seconds=settings.JOB_QUEUED_RESEND_SECONDS)
    lost = (
        Job.objects.filter(state=Job.State.QUEUED, updated__lt=quiet)
        .filter(Q(run_after__isnull=True) | Q(run_after__lt=quiet))
        .exclude(kind__in=GROUP_KINDS)[:limit]
    )
    backlog = job_backlog()
    if backlog != 0:
        report.resend_deferred = len(lost)
        if report.resend_deferred:
            logger.info(
                "sweeper: %d quiet queued job(s) not re-sent: %s",
                report.resend_deferred,
                "the broker did not answer" if backlog is None else f"{backlog} message(s) still queued",
            )
        lost = []
    for job in lost:
        task_id = str(uuid.uuid4())
        if Job.objects.filter(pk=job.pk, state=Job.State.QUEUED, updated__lt=quiet).update(
            celery_task_id=task_id, updated=now
        ):
            report.resent += 1
            _send(job.pk, task_id)

    # Groups whose children have all ended but that were never closed (a crash between the
    # child's commit and the group update cannot happen, but a deleted child can).
    open_groups = Job.objects.filter(state__in=Job.ACTIVE_STATES, kind__in=GROUP_KINDS, updated__lt=quiet)
    for group in open_groups.exclude(children__state__in=Job.ACTIVE_STATES)[:limit]:
        try:
            with transaction.atomic():
                group_update(group.pk)
        except Exception:
            logger.exception("sweeper: could not close group job %s", group.pk)
            continue
        report.groups_repaired += 1
    return report
