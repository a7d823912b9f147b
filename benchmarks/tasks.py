"""The provisioning benchmark's peer: a Celery task that does nothing but say it ran.

It travels the way ``portal.run_job`` does (same broker, the ``provision`` queue, ``acks_late``,
no result backend), so its round trip is the floor a provisioning job's own round trip stands
on. To say it ran, it counts itself and notes the time in the benchmark's Redis database, in
one pipelined round trip (a create_vm job's completion is visible in PostgreSQL instead).
Registered only by ``benchmarks.settings`` (``CELERY_IMPORTS``), never by the portal's own.
"""

from __future__ import annotations

import time

import redis
from celery import shared_task
from django.conf import settings

NOOP_DONE = "cloudstamp-bench:noop:done"
NOOP_LAST = "cloudstamp-bench:noop:last"

_client: redis.Redis | None = None


def bench_redis() -> redis.Redis:
    """One client per process (redis-py pools its connections and is thread-safe)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.BENCH_REDIS_URL)
    return _client


@shared_task(name="benchmarks.noop", acks_late=True, ignore_result=True)
def noop_task(n: int) -> None:
    pipe = bench_redis().pipeline(transaction=False)
    pipe.incr(NOOP_DONE)
    pipe.set(NOOP_LAST, repr(time.time()))
    pipe.execute()
