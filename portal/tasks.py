"""Celery tasks of the job engine. Thin: they take ids and call portal.jobs."""

from __future__ import annotations

from celery import shared_task

from portal import jobs


@shared_task(name="portal.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job_task(job_id: str) -> str:
    # The attempt counter lives in the database (jobs.claim), so a redelivered message or a
    # sweeper re-send can never run a job twice at once.
    worker = run_job_task.request.hostname or ""
    return jobs.run_job(job_id, worker=worker)


@shared_task(name="portal.run_jobs", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_jobs_task(job_ids: list[str]) -> dict[str, str]:
    # A batch of one group's jobs (jobs.jobs_create_many): claimed together, each counted
    # and fenced on its own row, so a redelivery or a sweeper re-send is as safe as above.
    worker = run_jobs_task.request.hostname or ""
    return jobs.run_jobs(job_ids, worker=worker)


@shared_task(name="portal.sweep_jobs", ignore_result=True)
def sweep_jobs_task() -> dict:
    return jobs.sweep_jobs().__dict__


@shared_task(name="portal.expire_idempotency_keys", ignore_result=True)
def expire_idempotency_keys_task() -> int:
    from portal.api.idempotency import idempotency_keys_expire

    return idempotency_keys_expire()
