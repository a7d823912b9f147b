"""The controller seam: what the portal asks of infrastructure, in one generalised language.

The portal speaks only these protocols; each driver translates them for one kind of
infrastructure (the simulated fleet, libvirt/QEMU, and OVN for networks). Rules every driver
keeps:

- Operations are keyed by the portal's UUIDs and are **idempotent**: asking twice for the same
  VM, or deleting one that is already gone, succeeds without doing the work twice. A job step
  that crashed half-way is simply run again.
- Inputs and outputs are the plain dataclasses below: no Django models cross the seam, so a
  driver can be tested, and run, without the portal.
- Failures raise ``ControllerError``. ``permanent=False`` means "try again later" (a timeout, a
  busy host, a lost reply); ``permanent=True`` means retrying cannot help (no such image, the
  host refuses the spec). ``message`` is safe to show a tenant; ``detail`` is for admins.

This module imports nothing from Django: drivers are plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class ControllerError(Exception):
    """An infrastructure operation failed. See the module docstring for ``permanent``."""

    def __init__(self, message: str, *, permanent: bool = False, detail: str = "") -> None:
        self.message = message
        self.permanent = permanent
        self.detail = detail or message
        super().__init__(message)

    def __repr__(self) -> str:
        kind = "permanent" if self.permanent else "transient"
        return f"ControllerError({self.message!r}, {kind})"


class VMNotFound(ControllerError):
    """The VM is not on the host (for operations that need it to exist: power, console)."""

    def __init__(self, uuid: str) -> None:
        super().__init__("The virtual machine was not found on its host.", permanent=True, detail=uuid)


class PowerState(StrEnum):
    """What the hypervisor reports, as Nova names it."""

    RUNNING = "running"
    SHUTDOWN = "shutdown"  # off: shut down by the guest or powered off
    PAUSED = "paused"
    CRASHED = "crashed"
    NOSTATE = "nostate"  # not known (yet)


class PowerAction(StrEnum):
    START = "start"
    SHUTDOWN = "shutdown"  # ACPI: asks the guest; it may take its time, or ignore it
    POWER_OFF = "power_off"  # pulls the plug
    RESET = "reset"  # hard reset of a running VM


@dataclass(frozen=True)
class VMSpec:
    """Everything a driver needs to create one VM.

    ``user_data`` is the rendered cloud-init payload and may hold secrets: drivers hand it to
    the guest and must never log it (its repr is masked).
    """

    uuid: str
    name: str
    hostname: str
    vcpus: int
    ram_mib: int
    disk_gib: int
    image: str
    data_disks_gib: tuple[int, ...] = ()
    nics: int = 1
    user_data: str = field(default="", repr=False)
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def ram_gib(self) -> float:
        return self.ram_mib / 1024

    @property
    def total_disk_gib(self) -> int:
        return self.disk_gib + sum(self.data_disks_gib)


@dataclass(frozen=True)
class ObservedVM:
    """A VM as the host reports it."""

    uuid: str
    power_state: PowerState
    vcpus: int = 0
    ram_mib: int = 0
    disk_gib: int = 0
    name: str = ""


@dataclass(frozen=True)
class HostCapacity:
    """A host's totals and what its VMs use, as the host itself reports them."""

    vcpus: int
    ram_mib: int
    disk_gib: int
    vcpus_used: int = 0
    ram_mib_used: int = 0
    disk_gib_used: int = 0
    vms: int = 0


@dataclass(frozen=True)
class ConsoleEndpoint:
    """Where a VM's VNC console listens, read server-side only (never sent to a browser)."""

    host: str
    port: int
    password: str = field(default="", repr=False)


@runtime_checkable
class ComputeDriver(Protocol):
    """One hypervisor host. A driver instance is bound to the host's URI."""

    uri: str

    def ensure_vm(self, spec: VMSpec) -> ObservedVM:
        """Create the VM if it does not exist (and start it); return it as observed.
        An existing VM with the same UUID is returned as it is."""
        ...

    def power(self, uuid: str, action: PowerAction) -> ObservedVM:
        """Apply ``action``; a VM already in the wanted state is left alone. ``SHUTDOWN``
        returns at once: the guest may still be running (poll ``observe``)."""
        ...

    def delete_vm(self, uuid: str) -> bool:
        """Destroy the VM and its disks. Returns False if it was not there (not an error)."""
        ...

    def observe(self, uuid: str) -> ObservedVM | None:
        """The VM as the host sees it now, or None if the host has no such VM."""
        ...

    def list_vms(self) -> list[ObservedVM]:
        """Every VM on the host, for reconciliation with the portal's database."""
        ...

    def console_endpoint(self, uuid: str) -> ConsoleEndpoint:
        """The VM's VNC endpoint. Raises ``VMNotFound`` if it is not there."""
        ...

    def host_capacity(self) -> HostCapacity:
        """The host's totals and usage."""
        ...
