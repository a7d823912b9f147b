"""Browser sessions: Django's ``cached_db`` sessions (kept in the database, read through the
cache, so a page costs no session query), with one cache client per process.

Django keeps its cache clients per execution context, and under ASGI every request is a
context of its own: each request would build a new Redis client and open a new connection
(connect and handshake cost the server about 2 ms of CPU per page, more than the session
query the cache saves; benchmarks/vm_list.py). Redis clients are thread-safe and pool their
connections, so the sessions share one per process and cache alias.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.contrib.sessions.backends import cached_db
from django.core.cache import BaseCache, caches


@cache
def _session_cache(alias: str) -> BaseCache:
    return caches.create_connection(alias)


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _session_cache(settings.SESSION_CACHE_ALIAS)
