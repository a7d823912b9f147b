"""Loading compute drivers: a host names its driver; settings map names to dotted paths.

Drivers are imported on first use (libvirt's bindings need not be installed where no host
uses them) and one instance is kept per (driver, URI) in each process.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from controller.base import ComputeDriver

_drivers: dict[tuple[str, str], ComputeDriver] = {}
_lock = threading.Lock()


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
