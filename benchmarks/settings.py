"""Production-like settings for the benchmark server.

The real settings module with ``DEBUG=false`` (no debug toolbar, no query log, no browsable
API, template caching on), served over plain HTTP on loopback: the HTTPS-only switches that
would redirect or drop cookies on ``http://127.0.0.1`` are turned off, nothing else is.
``ROOT_URLCONF`` adds the two reference views (see ``benchmarks.reference_views``).
"""

import os

# Forced, not defaulted: a DEBUG=true left in the shell (or a test run's environment) would
# measure the debug machinery instead of the portal.
os.environ["DEBUG"] = "false"
os.environ["CLOUDSTAMP_TESTING"] = "false"
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cloudstamp_bench")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from portal.settings import *  # noqa: F403
from portal.settings import DATABASES, LOGGING, STORAGES

ROOT_URLCONF = "benchmarks.urls"

# Loopback is plain HTTP: secure-only cookies would never come back to the server.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# The manifest storage needs `collectstatic` first; the pages measured only build static URLs,
# which costs the same either way, so the benchmark does not depend on a collected tree.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

LOGGING = {**LOGGING, "root": {**LOGGING["root"], "level": "WARNING"}}


def _connection_mode() -> str:
    wanted = os.environ.get("BENCH_DB_CONNECTIONS", "auto")
    if wanted != "auto":
        return wanted
    try:
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "per-request"
    return "pool"


# How the server holds its database connections. Django's ASGI handler runs every request's
# sync code in a thread of its own, and connections are per thread: persistent connections
# (CONN_MAX_AGE > 0, the project's default) are never reused there and pile up until
# PostgreSQL refuses new clients. Django's advice for ASGI is a connection pool (psycopg-pool,
# Django 5.1+) or no persistence at all; "persistent" keeps the project's setting, to show it.
BENCH_DB_CONNECTIONS = _connection_mode()
if BENCH_DB_CONNECTIONS == "pool":
    DATABASES = {
        "default": {
            **DATABASES["default"],
            "CONN_MAX_AGE": 0,
            "OPTIONS": {**DATABASES["default"]["OPTIONS"], "pool": {"min_size": 4, "max_size": 8}},
        }
    }
elif BENCH_DB_CONNECTIONS == "per-request":
    DATABASES = {"default": {**DATABASES["default"], "CONN_MAX_AGE": 0}}
elif BENCH_DB_CONNECTIONS != "persistent":
    raise ValueError(
        f"BENCH_DB_CONNECTIONS={BENCH_DB_CONNECTIONS!r}: use auto, pool, per-request or persistent."
    )
