"""Gates for tests that need a real backend.

On a laptop without the backend the test skips with a visible reason; under ``CI=true`` the
same absence fails the test, because CI is supposed to have everything.
"""

from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def missing(reason: str) -> None:
    """Skip, or fail under CI, because a backend is missing."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        missing(f"needs PostgreSQL (DATABASE_URL points at {connection.vendor})")


def redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


def require_redis() -> str:
    url = redis_url()
    parsed = urlparse(url)
    if not _answers(parsed.hostname or "127.0.0.1", parsed.port or 6379):
        missing(f"needs a Redis server at {url}")
    return url


def require_chromium() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing("needs the playwright Python package")
    return CHROMIUM
