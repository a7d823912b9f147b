"""Loading compute drivers: a host names its driver; settings map names to dotted paths.

Drivers are imported on first use (libvirt's bindings need not be installed where no host
uses them) and one instance is kept per (driver, URI) in each process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from controller.base import ComputeDriver

_drivers: dict[tuple[str, str], ComputeDriver] = {}
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def driver_options(name: str) -> dict:
    if name == "simulated":
        return dict(settings.SIMULATED_CONTROLLER)
    return dict(getattr(settings, f"{name.upper()}_CONTROLLER", {}))


def get_driver(name: str, uri: str) -> ComputeDriver:
    key = (name, uri)
    driver = _drivers.get(key)
    if driver is None:
        try:
            path = settings.COMPUTE_DRIVERS[name]
        except KeyError:
            raise ImproperlyConfigured(f"no compute driver named {name!r} in COMPUTE_DRIVERS") from None
        with _lock:
            driver = _drivers.get(key)
            if driver is None:
                driver = _drivers[key] = import_string(path)(uri, **driver_options(name))
    return driver


def driver_for(host) -> ComputeDriver:
    return get_driver(host.driver, host.uri)


def simulated_fleet():
    """The simulated fleet of these settings (tests and the demo configure it)."""
    from controller.simulated import SimulatedFleet

    return SimulatedFleet(**driver_options("simulated"))


def reset_driver_cache() -> None:
    with _lock:
        _drivers.clear()


def _calls_pool() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    import os

    with _lock:
        # A forked worker (prefork pool) inherits the object but not its threads.
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(settings.CONTROLLER_PARALLEL_CALLS, thread_name_prefix="controller")
            _pool_pid = os.getpid()
        return _pool


def call_waves(calls: dict[K, Callable[[], T]], linger: float = 0.05) -> Iterator[dict[K, T | Exception]]:
    """Run controller calls side by side; yield their results (or the exception each raised)
    in waves: the calls that have ended, with those that end within ``linger`` seconds after.

    A batch spawns its VMs at once, as a host would for one request, so a batch of ten costs
    one spawn's time, not ten; and each wave is recorded as soon as it has ended (one
    transaction for VMs that came up together, none waiting for the slowest). The calls must
    not touch the database (each pool thread would hold a connection of its own); they only
    talk to hosts."""

    def guarded(call: Callable[[], T]) -> T | Exception:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 (handed back: the job engine sorts errors out)
            return exc

    if len(calls) <= 1:
        if calls:
            yield {key: guarded(call) for key, call in calls.items()}
        return
    futures = {_calls_pool().submit(guarded, call): key for key, call in calls.items()}
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        if pending and linger > 0:
            more, pending = wait(pending, timeout=linger)
            done |= more
        yield {futures[future]: future.result() for future in done}
