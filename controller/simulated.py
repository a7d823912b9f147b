"""The simulated compute driver: the embedded default, the demo's fleet and the scale tests'.

A simulated host is named by its URI, which also carries its capacity::

    sim://rack1-node1?vcpus=64&ram_gib=256&disk_gib=4000

Its VMs live in **Redis**, not in process memory, so every web and worker process (and a
worker that was killed and restarted) sees the same infrastructure, as they would a real
hypervisor. Operations are atomic Lua scripts, so two workers racing on one host can neither
overcommit it nor create a VM twice.

Behaviour is set per fleet (one Redis key prefix) and can be changed while workers run, which
is how tests drive workers in other processes (``SimulatedFleet.configure``):

- ``delays``: seconds each operation takes (``ensure_vm`` is the spawn time);
- failure injection, deterministic for a given ``seed``: for each call of an operation on a VM
  (counted in Redis), a hash of (seed, VM, operation, call number) decides whether it fails
  transiently, permanently, or succeeds but "loses the reply" (the work is done, the caller
  sees a transient error; the retry must find it done);
- ``guest_shutdown_seconds``: how long a guest takes to honour an ACPI shutdown, and
  ``ignore_acpi``: guests that never do (so the portal's power-off fallback is exercised).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis

from controller.base import (
    ConsoleEndpoint,
    ControllerError,
    HostCapacity,
    ObservedVM,
    PowerAction,
    PowerState,
    VMNotFound,
    VMSpec,
)

DEFAULT_CAPACITY = {"vcpus": 64, "ram_gib": 256, "disk_gib": 4000}
MUTATING = ("ensure_vm", "power", "delete_vm")

# KEYS: vm hash, host's VM set, host usage hash, fleet's uuid->host index
# RAM and disk are refused beyond the host's size; vCPUs are time-shared, so like a real
# hypervisor the host accepts more vCPUs than it has cores (placement's cpu_allocation_ratio
# decides how many), and only counts them.
# ARGV: uuid, host, name, vcpus, ram_mib, disk_gib, cap vcpus, cap ram_mib, cap disk_gib, now
_ENSURE = """
local where = redis.call('HGET', KEYS[4], ARGV[1])
if where then
  if where ~= ARGV[2] then return 'elsewhere:' .. where end
  return 'exists'
end
local u = redis.call('HMGET', KEYS[3], 'vcpus', 'ram_mib', 'disk_gib')
local vcpus = tonumber(u[1] or '0') + tonumber(ARGV[4])
local ram = tonumber(u[2] or '0') + tonumber(ARGV[5])
local disk = tonumber(u[3] or '0') + tonumber(ARGV[6])
if ram > tonumber(ARGV[8]) or disk > tonumber(ARGV[9]) then
  return 'full'
end
redis.call('HSET', KEYS[1], 'host', ARGV[2], 'name', ARGV[3], 'vcpus', ARGV[4], 'ram_mib', ARGV[5],
  'disk_gib', ARGV[6], 'power', 'running', 'shutdown_at', '', 'created', ARGV[10])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], 'vcpus', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'ram_mib', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'disk_gib', ARGV[6])
redis.call('HINCRBY', KEYS[3], 'vms', 1)
return 'created'
"""

# KEYS: vm hash, host's VM set, host usage hash, index. ARGV: uuid, host
_DELETE = """
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[2] then return 0 end
local v = redis.call('HMGET', KEYS[1], 'vcpus', 'ram_mib', 'disk_gib')
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'vcpus', -tonumber(v[1] or '0'))
redis.call('HINCRBY', KEYS[3], 'ram_mib', -tonumber(v[2] or '0'))
redis.call('HINCRBY', KEYS[3], 'disk_gib', -tonumber(v[3] or '0'))
redis.call('HINCRBY', KEYS[3], 'vms', -1)
return 1
"""

# A power action, in one step with the check that the VM is (still) on this host: a delete
# racing the action can no longer leave a stray half-hash behind, nor an action land on a VM
# that has gone. The guest's view of an ACPI shutdown (running until ``shutdown_at``, unless
# it ignores ACPI) is the same as ``_observed``'s.
# KEYS: vm hash. ARGV: host, action, now, guest_shutdown_seconds, ignore_acpi (1/0)
_POWER = """
local v = redis.call('HMGET', KEYS[1], 'host', 'power', 'shutdown_at')
if v[1] ~= ARGV[1] then return 'missing' end
local now = tonumber(ARGV[3])
local at = v[3] or ''
local running = v[2] == 'running' and not (at ~= '' and ARGV[5] == '0' and now >= tonumber(at))
local action = ARGV[2]
if action == 'start' then
  redis.call('HSET', KEYS[1], 'power', 'running', 'shutdown_at', '')
elseif action == 'power_off' then
  redis.call('HSET', KEYS[1], 'power', 'shutdown', 'shutdown_at', '')
elseif action == 'shutdown' then
  if running then
    local wait = tonumber(ARGV[4])
    if wait <= 0 and ARGV[5] == '0' then
      redis.call('HSET', KEYS[1], 'power', 'shutdown', 'shutdown_at', '')
    elseif at == '' then
      redis.call('HSET', KEYS[1], 'shutdown_at', string.format('%.3f', now + wait))
    end
  end
elseif action == 'reset' then
  if not running then return 'not_running' end
  redis.call('HSET', KEYS[1], 'shutdown_at', '')
end
return 'done'
"""

_clients: dict[str, redis.Redis] = {}


def _client(url: str) -> redis.Redis:
    # One connection pool per process and URL; redis-py resets pools after a fork (Celery's
    # prefork workers), so sharing the module-level client is safe.
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, decode_responses=True)
    return client


@dataclass
class FleetConfig:
    """How a simulated fleet behaves. Stored in Redis so every process shares it."""

    delays: dict[str, float] = field(default_factory=dict)
    # Each call's delay varies by up to this fraction either way, drawn from (seed, VM,
    # operation): real hosts do not take the same time for every VM, and a deployment's VMs
    # then come up one by one rather than all at the same instant.
    delay_jitter: float = 0.0
    transient_rate: float = 0.0
    permanent_rate: float = 0.0
    lost_reply_rate: float = 0.0
    seed: int = 0
    fail_operations: tuple[str, ...] = ("ensure_vm", "power")
    guest_shutdown_seconds: float = 0.0
    ignore_acpi: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "fail_operations" in known:
            known["fail_operations"] = tuple(known["fail_operations"])
        return cls(**known)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def parse_uri(uri: str) -> tuple[str, dict[str, int]]:
    """``sim://name?vcpus=..&ram_gib=..&disk_gib=..`` → (name, capacity)."""
    parts = urlsplit(uri)
    if parts.scheme != "sim" or not parts.netloc:
        raise ValueError(f"not a simulated host URI: {uri!r} (expected sim://<name>?vcpus=…)")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    capacity = dict(DEFAULT_CAPACITY)
    for key in capacity:
        if key in query:
            capacity[key] = int(query[key])
    return parts.netloc, capacity


class SimulatedFleet:
    """The fleet as a whole: behaviour settings and inspection for tests and the demo."""

    def __init__(
        self, *, redis_url: str, prefix: str = "cloudstamp:sim", defaults: dict | None = None
    ) -> None:
        self.redis = _client(redis_url)
        self.prefix = prefix
        self.defaults = defaults or {}

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def config(self) -> FleetConfig:
        return self._config_from(self.redis.hgetall(self.key("config")))

    def _config_from(self, stored: dict[str, str]) -> FleetConfig:
        data = dict(self.defaults)
        data.update({name: json.loads(value) for name, value in stored.items()})
        return FleetConfig.from_dict(data)

    def configure(self, **changes: Any) -> FleetConfig:
        """Change behaviour for every process using this fleet (unknown keys are an error).
        One hash field per setting, written in one command: two processes changing
        different settings at once both keep their change."""
        unknown = set(changes) - set(FleetConfig.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown simulated fleet settings: {sorted(unknown)}")
        if changes:
            self.redis.hset(
                self.key("config"),
                mapping={k: json.dumps(list(v) if isinstance(v, tuple) else v) for k, v in changes.items()},
            )
        return self.config()

    def reset(self) -> None:
        """Forget every VM, counter and setting of this fleet."""
        batch = []
        for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self.redis.delete(*batch)
                batch.clear()
        if batch:
            self.redis.delete(*batch)

    def all_vms(self) -> dict[str, str]:
        """uuid → host name, for every VM in the fleet."""
        return self.redis.hgetall(self.key("index"))

    def vanish(self, uuid: str) -> bool:
        """Make a VM disappear behind the portal's back (a host rebuilt, a disk lost)."""
        host = self.redis.hget(self.key("index"), uuid)
        if host is None:
            return False
        return bool(self.redis.eval(_DELETE, 4, *_host_keys(self, host, uuid), uuid, host))


def _host_keys(fleet: SimulatedFleet, host: str, uuid: str) -> tuple[str, str, str, str]:
    return (
        fleet.key("vm", uuid),
        fleet.key("host", host, "vms"),
        fleet.key("host", host, "usage"),
        fleet.key("index"),
    )


class SimulatedComputeDriver:
    """``ComputeDriver`` for one simulated host (see the module docstring)."""

    def __init__(
        self, uri: str, *, redis_url: str, prefix: str = "cloudstamp:sim", defaults: dict | None = None
    ):
        self.uri = uri
        self.host, self.capacity = parse_uri(uri)
        self.fleet = SimulatedFleet(redis_url=redis_url, prefix=prefix, defaults=defaults)
        self._ensure = self.fleet.redis.register_script(_ENSURE)
        self._delete = self.fleet.redis.register_script(_DELETE)
        self._power = self.fleet.redis.register_script(_POWER)

    def __repr__(self) -> str:
        return f"SimulatedComputeDriver({self.uri!r})"

    # --- behaviour ---------------------------------------------------------------------

    def _begin(self, operation: str, uuid: str) -> tuple[FleetConfig, str]:
        """Read the fleet's settings, count this call, wait the operation's delay, and decide
        its fate: ``ok``, ``transient``, ``permanent`` or ``lost`` (do it, then fail)."""
        pipe = self.fleet.redis.pipeline(transaction=False)
        pipe.hgetall(self.fleet.key("config"))
        pipe.incr(self.fleet.key("calls", uuid, operation))
        pipe.expire(self.fleet.key("calls", uuid, operation), 86400)
        stored, call, _ = pipe.execute()
        config = self.fleet._config_from(stored)
        delay = float(config.delays.get(operation, 0) or 0)
        if delay > 0 and config.delay_jitter:
            digest = hashlib.sha256(f"{config.seed}:{uuid}:{operation}:delay".encode()).digest()
            spread = int.from_bytes(digest[:8], "big") / 2**64 * 2 - 1  # in [-1, 1)
            delay *= 1 + min(max(config.delay_jitter, 0.0), 1.0) * spread
        if delay > 0:
            time.sleep(delay)
        fate = "ok"
        if operation in config.fail_operations:
            digest = hashlib.sha256(f"{config.seed}:{uuid}:{operation}:{call}".encode()).digest()
            draw = int.from_bytes(digest[:8], "big") / 2**64
            if draw < config.permanent_rate:
                fate = "permanent"
            elif draw < config.permanent_rate + config.transient_rate:
                fate = "transient"
            elif draw < config.permanent_rate + config.transient_rate + config.lost_reply_rate:
                fate = "lost"
        if fate == "transient":
            raise ControllerError(
                "The host did not answer in time; the operation will be retried.",
                detail=f"simulated transient failure of {operation} on {self.host} (call {call})",
            )
        if fate == "permanent":
            raise ControllerError(
                "The host refused the operation.",
                permanent=True,
                detail=f"simulated permanent failure of {operation} on {self.host} (call {call})",
            )
        return config, fate

    @staticmethod
    def _lost(operation: str) -> ControllerError:
        return ControllerError(
            "The host did not answer in time; the operation will be retried.",
            detail=f"simulated lost reply: {operation} was done but its reply was dropped",
        )

    # --- state -------------------------------------------------------------------------

    def _read(self, uuid: str, config: FleetConfig | None = None) -> ObservedVM | None:
        data = self.fleet.redis.hgetall(self.fleet.key("vm", uuid))
        if not data or data.get("host") != self.host:
            return None
        return self._observed(uuid, data, config or self.fleet.config())

    def _observed(self, uuid: str, data: dict[str, str], config: FleetConfig) -> ObservedVM:
        state = PowerState(data.get("power", "nostate"))
        shutdown_at = data.get("shutdown_at")
        # A guest honours ACPI shutdown after its shutdown time, unless it ignores ACPI.
        if state == PowerState.RUNNING and shutdown_at and not config.ignore_acpi:
            if time.time() >= float(shutdown_at):
                state = PowerState.SHUTDOWN
        return ObservedVM(
            uuid=uuid,
            power_state=state,
            vcpus=int(data.get("vcpus", 0)),
            ram_mib=int(data.get("ram_mib", 0)),
            disk_gib=int(data.get("disk_gib", 0)),
            name=data.get("name", ""),
        )

    # --- ComputeDriver -------------------------------------------------------------------

    def ensure_vm(self, spec: VMSpec) -> ObservedVM:
        config, fate = self._begin("ensure_vm", spec.uuid)
        result = self._ensure(
            keys=_host_keys(self.fleet, self.host, spec.uuid),
            args=[
                spec.uuid,
                self.host,
                spec.name,
                spec.vcpus,
                spec.ram_mib,
                spec.total_disk_gib,
                self.capacity["vcpus"],
                self.capacity["ram_gib"] * 1024,
                self.capacity["disk_gib"],
                f"{time.time():.3f}",
            ],
        )
        if result == "full":
            raise ControllerError(
                "The chosen host has no room for this VM.",
                permanent=True,
                detail=f"{self.host}: {spec.vcpus} vCPU / {spec.ram_mib} MiB / {spec.total_disk_gib} GiB do not fit",
            )
        if result.startswith("elsewhere:"):
            raise ControllerError(
                "The virtual machine already exists on another host.",
                permanent=True,
                detail=f"{spec.uuid} is on {result.split(':', 1)[1]}, asked on {self.host}",
            )
        if fate == "lost":
            raise self._lost("ensure_vm")
        observed = self._read(spec.uuid, config)
        if observed is None:  # deleted between the script and the read: report it honestly
            raise ControllerError("The virtual machine vanished while it was created.", detail=spec.uuid)
        return observed

    def power(self, uuid: str, action: PowerAction) -> ObservedVM:
        config, fate = self._begin("power", uuid)
        action = PowerAction(action)
        result = self._power(
            keys=[self.fleet.key("vm", uuid)],
            args=[
                self.host,
                action.value,
                f"{time.time():.3f}",
                config.guest_shutdown_seconds,
                int(config.ignore_acpi),
            ],
        )
        if result == "missing":
            raise VMNotFound(uuid)
        if result == "not_running":
            raise ControllerError("Only a running VM can be reset.", permanent=True, detail=uuid)
        if fate == "lost":
            raise self._lost("power")
        observed = self._read(uuid, config)
        if observed is None:
            raise VMNotFound(uuid)
        return observed

    def delete_vm(self, uuid: str) -> bool:
        _, fate = self._begin("delete_vm", uuid)
        deleted = bool(self._delete(keys=_host_keys(self.fleet, self.host, uuid), args=[uuid, self.host]))
        if fate == "lost":
            raise self._lost("delete_vm")
        return deleted

    def observe(self, uuid: str) -> ObservedVM | None:
        return self._read(uuid)

    def list_vms(self) -> list[ObservedVM]:
        uuids = sorted(self.fleet.redis.smembers(self.fleet.key("host", self.host, "vms")))
        if not uuids:
            return []
        config = self.fleet.config()
        pipe = self.fleet.redis.pipeline(transaction=False)
        for uuid in uuids:
            pipe.hgetall(self.fleet.key("vm", uuid))
        return [
            self._observed(uuid, data, config)
            for uuid, data in zip(uuids, pipe.execute(), strict=True)
            if data and data.get("host") == self.host
        ]

    def console_endpoint(self, uuid: str) -> ConsoleEndpoint:
        if self._read(uuid) is None:
            raise VMNotFound(uuid)
        # Simulated guests have no framebuffer; the console proxy shows a clear notice for
        # this reserved port instead of connecting.
        return ConsoleEndpoint(host="127.0.0.1", port=0)

    def host_capacity(self) -> HostCapacity:
        usage = self.fleet.redis.hgetall(self.fleet.key("host", self.host, "usage"))
        return HostCapacity(
            vcpus=self.capacity["vcpus"],
            ram_mib=self.capacity["ram_gib"] * 1024,
            disk_gib=self.capacity["disk_gib"],
            vcpus_used=int(usage.get("vcpus", 0)),
            ram_mib_used=int(usage.get("ram_mib", 0)),
            disk_gib_used=int(usage.get("disk_gib", 0)),
            vms=int(usage.get("vms", 0)),
        )
