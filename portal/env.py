"""Small helpers that read configuration from the environment and fail loudly.

Modelled on healthchecks' settings helpers: a typo in a boolean or an integer stops the
process at start-up instead of silently falling back to a default.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"The environment variable {name} must be set.")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false).")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str, *, base_dir: os.PathLike | str) -> dict:
    """Translate DATABASE_URL into a Django DATABASES entry.

    Supports ``sqlite:///relative/or/absolute.db`` and ``postgres://user:pass@host:port/name``
    (``postgresql://`` too). Anything else is a configuration error, not a guess.
    """
    from urllib.parse import parse_qs, unquote, urlparse

    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        # sqlite:///db.sqlite3 is relative to the project; sqlite:////abs/path is absolute.
        if path.startswith("//"):
            name = path[1:]
        else:
            name = os.path.join(os.fspath(base_dir), path.lstrip("/") or "db.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            # Wait for a lock instead of failing at once: web, worker and beat share the file.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        conn_max_age = int(options.pop("conn_max_age", 60))
        pool_size = int(options.pop("pool_size", os.environ.get("DATABASE_POOL_SIZE", "10")))
        if pool_size > 0:
            # Under ASGI every request runs in a fresh thread, so per-thread persistent
            # connections (CONN_MAX_AGE > 0) are never reused and pile up until PostgreSQL
            # refuses clients. A process-wide psycopg pool hands connections back instead.
            options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
            conn_max_age = 0
        prepare = options.pop("prepare_threshold", os.environ.get("DATABASE_PREPARE_THRESHOLD", "off"))
        if prepare.strip().lower() not in _FALSE | {"none"}:
            # Prepared statements, opt-in: a query run more than this many times on a
            # connection is parsed once and, once PostgreSQL settles on a generic plan, not
            # planned again. Planning was about half of what PostgreSQL spent on a deploy call
            # (6.2 -> 3.3 ms of its CPU per 2-VM call, benchmarks/provisioning.py). Not the
            # default: a generic plan is chosen for the average tenant, and for a tenant far
            # larger than the rest it can be the wrong one. The API's VM list page for a
            # tenant with 5,000 of 50,000 VMs joined all 5,000 rows before sorting (9.6 ms)
            # where the plan for that tenant reads 50 rows from an index (3.5 ms,
            # benchmarks/vm_list.py). Needs server-side parameter binding, which PgBouncer's
            # transaction mode does not support before 1.21.
            try:
                options["prepare_threshold"] = int(prepare)
            except ValueError:
                raise ImproperlyConfigured(
                    f"prepare_threshold={prepare!r} is not an integer (or off)."
                ) from None
            options["server_side_binding"] = True
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parsed.scheme!r} is not supported.")
