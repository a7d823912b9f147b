"""Test settings: the real settings module, with test-friendly environment defaults.

DATABASE_URL decides the database (SQLite by default, PostgreSQL in CI). Redis-backed
cache and channel layer are swapped for in-memory ones unless a test asks for the real thing.
"""

import os

os.environ.setdefault("CLOUDSTAMP_TESTING", "true")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SIGNUP_ENABLED", "true")
os.environ.setdefault("DATABASE_URL", "sqlite:///var/test.sqlite3")
# Tests open connections from many threads at once (the quota race uses 32) and pytest-django
# manages connections itself: plain per-thread connections, no pool.
os.environ.setdefault("DATABASE_POOL_SIZE", "0")

# Jobs enqueued by transactional tests go to their own Redis database, never to the queues of
# a `make run` on the same machine; the worker tests start workers on it.
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
# Each test that uses the simulated fleet gets its own prefix (tests/compute/conftest.py).
os.environ.setdefault("SIMULATED_PREFIX", "cloudstamp-test:sim")
os.environ.setdefault("JOB_RETRY_BACKOFF_SECONDS", "0")

from portal.settings import *  # noqa: F403

# Hashing passwords with PBKDF2 would dominate the suite's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
