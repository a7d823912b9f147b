"""Simulated-driver fixtures: a fleet of its own in real Redis (a unique key prefix per test),
and a factory for drivers bound to it, as separate worker processes would hold them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.conf import settings

from controller.simulated import SimulatedComputeDriver, SimulatedFleet
from tests.backends import require_redis


@pytest.fixture
def prefix() -> str:
    return f"cloudstamp-test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fleet(prefix):
    require_redis()
    fleet = SimulatedFleet(redis_url=settings.SIMULATED_CONTROLLER["redis_url"], prefix=prefix)
    yield fleet
    fleet.reset()


@pytest.fixture
def make_driver(fleet) -> Callable[..., SimulatedComputeDriver]:
    def make(uri: str = "sim://node-1?vcpus=8&ram_gib=16&disk_gib=200", **extra) -> SimulatedComputeDriver:
        return SimulatedComputeDriver(
            uri, redis_url=settings.SIMULATED_CONTROLLER["redis_url"], prefix=fleet.prefix, **extra
        )

    return make


@pytest.fixture
def driver(make_driver) -> SimulatedComputeDriver:
    return make_driver()
