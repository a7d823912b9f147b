"""Production-like settings for the benchmark server.

The real settings module with ``DEBUG=false`` (no debug toolbar, no query log, no browsable
API, template caching on), served over plain HTTP on loopback: the HTTPS-only switches that
would redirect or drop cookies on ``http://127.0.0.1`` are turned off, nothing else is.
``ROOT_URLCONF`` adds the reference views (see ``benchmarks.reference_views``).

Redis: everything the benchmarks touch in Redis (Celery broker, channel layer, cache, the
simulated fleet) lives in one database of its own, ``BENCH_REDIS_URL`` (DB 14 by default), so a
run never mixes with the queues of ``make run`` (DB 0) or of the test suite (DB 15), and the
provisioning benchmark may empty it between runs (``benchmarks.provisioning``).
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
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# Forced like DEBUG: the real settings read these, and a value left in the shell must not
# point the benchmark's workers at another Redis database.
os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
os.environ["CELERY_BROKER_URL"] = os.environ["BENCH_REDIS_URL"]
os.environ["SIMULATED_REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
os.environ["SIMULATED_PREFIX"] = "cloudstamp-bench:sim"
os.environ["CHANNELS_PREFIX"] = "cloudstamp-bench"
# Zero simulated delays unless a benchmark configures the fleet (it does, in Redis).
os.environ["SIMULATED_SPAWN_SECONDS"] = "0"
os.environ["SIMULATED_POWER_SECONDS"] = "0"
os.environ["SIMULATED_DELETE_SECONDS"] = "0"
os.environ["SIMULATED_GUEST_SHUTDOWN_SECONDS"] = "0"

from portal.settings import *  # noqa: F403
from portal.settings import DATABASES, LOGGING, STORAGES

ROOT_URLCONF = "benchmarks.urls"
BENCH_REDIS_URL = os.environ["BENCH_REDIS_URL"]

# The no-op task the provisioning benchmark measures the broker's round trip with.
CELERY_IMPORTS = ("benchmarks.tasks",)

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
            "OPTIONS": {
                **DATABASES["default"]["OPTIONS"],
                # A Celery worker with N threads wants N connections (the provisioning
                # benchmark sets this); the web server's 8 suit its concurrency of 8.
                "pool": {"min_size": 4, "max_size": int(os.environ.get("BENCH_DB_POOL_MAX", "8"))},
            },
        }
    }
elif BENCH_DB_CONNECTIONS == "per-request":
    DATABASES = {"default": {**DATABASES["default"], "CONN_MAX_AGE": 0}}
elif BENCH_DB_CONNECTIONS != "persistent":
    raise ValueError(
        f"BENCH_DB_CONNECTIONS={BENCH_DB_CONNECTIONS!r}: use auto, pool, per-request or persistent."
    )
