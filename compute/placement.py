"""Placement: which host each new VM goes to.

Filter, then weigh, as Nova's scheduler does:

- filter: the host is enabled (not draining or disabled) and its free capacity — totals times
  allocation ratios, minus what its building and active VMs hold — fits the VM;
- weigh: fewest VMs of the same deployment first (spread a deployment across hosts when
  possible, so one host failing does not take all of it down), then most free RAM.

The VM rows are the ledger of host usage (no counters to drift). Choosing reads usage without
locks; the chosen hosts are then locked (``SELECT … FOR UPDATE``, in id order so concurrent
placements cannot deadlock) and their usage re-read under the lock, so two deployments racing
for the last room on a host cannot both have it. If the re-check fails, placement starts over.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum

from compute.models import Host, VirtualMachine

ATTEMPTS = 3


class NoValidHost(Exception):
    """No host can take the VMs. ``message`` is for the tenant; ``detail`` says, per host,
    what was short (for admins and logs)."""

    def __init__(self, message: str, detail: str, *, placed: int = 0) -> None:
        self.message = message
        self.detail = detail
        self.placed = placed
        super().__init__(message)


@dataclass
class _Free:
    host_id: object
    name: str
    vcpus: float
    ram_gib: float
    disk_gib: float
    siblings: int = 0
    taken: list = field(default_factory=list)

    def fits(self, vm: VirtualMachine) -> bool:
        return vm.vcpus <= self.vcpus and vm.ram_gib <= self.ram_gib and vm.disk_gib <= self.disk_gib

    def short_of(self, vm: VirtualMachine) -> list[str]:
        out = []
        if vm.vcpus > self.vcpus:
            out.append(f"vCPUs ({self.vcpus:g} free, {vm.vcpus} needed)")
        if vm.ram_gib > self.ram_gib:
            out.append(f"RAM ({self.ram_gib:g} GiB free, {vm.ram_gib} needed)")
        if vm.disk_gib > self.disk_gib:
            out.append(f"disk ({self.disk_gib:g} GiB free, {vm.disk_gib} needed)")
        return out

    def take(self, vm: VirtualMachine) -> None:
        self.vcpus -= vm.vcpus
        self.ram_gib -= vm.ram_gib
        self.disk_gib -= vm.disk_gib
        self.siblings += 1
        self.taken.append(vm)


def _with_free(hosts: QuerySet[Host], deployment_id) -> list[_Free]:
    """``hosts`` with what is free on each and how many of the deployment's VMs each holds:
    one statement (a LEFT JOIN on the VMs that hold a host, grouped by host)."""
    holds = Q(vms__provisioning_state__in=VirtualMachine.HOLDS_HOST)
    rows = hosts.annotate(
        used_vcpus=Sum("vms__vcpus", filter=holds),
        used_ram_gib=Sum("vms__ram_gib", filter=holds),
        used_disk_gib=Sum("vms__disk_gib", filter=holds),
        siblings=Count("vms", filter=holds & Q(vms__deployment_id=deployment_id)),
    ).order_by("pk")
    # Plain rows, not Host instances: placement reads every enabled host twice a call, and
    # building models was a good part of a deployment API call's time.
    out = []
    capacity_fields = [name for pair in Host.RATIOS.items() for name in pair]
    for row in rows.values(
        "pk", "name", *capacity_fields, "used_vcpus", "used_ram_gib", "used_disk_gib", "siblings"
    ):
        cap = Host.schedulable_of(row)
        out.append(
            _Free(
                host_id=row["pk"],
                name=row["name"],
                vcpus=cap["vcpus"] - (row["used_vcpus"] or 0),
                ram_gib=cap["ram_gib"] - (row["used_ram_gib"] or 0),
                disk_gib=cap["disk_gib"] - (row["used_disk_gib"] or 0),
                siblings=row["siblings"],
            )
        )
    return out


def _choose(frees: list[_Free], vms: list[VirtualMachine]) -> list[_Free] | None:
    for vm in vms:
        candidates = [f for f in frees if f.fits(vm)]
        if not candidates:
            return None
        best = min(candidates, key=lambda f: (f.siblings, -f.ram_gib, f.name))
        best.take(vm)
    return [f for f in frees if f.taken]


def _explain(vms: list[VirtualMachine], placed: int) -> NoValidHost:
    vm = vms[0]
    hosts = list(Host.objects.order_by("name"))
    frees = {
        f.host_id: f for f in _with_free(Host.objects.filter(state=Host.State.ENABLED), vm.deployment_id)
    }
    lines, reasons = [], Counter()
    for host in hosts:
        if host.state != Host.State.ENABLED:
            lines.append(f"{host.name}: {host.state}")
            reasons[host.state] += 1
            continue
        short = frees[host.pk].short_of(vm)
        lines.append(
            f"{host.name}: short of {', '.join(short)}" if short else f"{host.name}: full after earlier VMs"
        )
        for item in short:
            reasons[item.split(" ")[0]] += 1
    need = f"{len(vms)} VM(s) of {vm.vcpus} vCPU / {vm.ram_gib} GiB RAM / {vm.disk_gib} GiB disk"
    summary = ", ".join(f"{n} {what}" for what, n in reasons.most_common()) or "no hosts registered"
    detail = f"No valid host for {need}. Hosts: {summary}.\n" + "\n".join(lines)
    message = (
        f"The cloud has no room for {len(vms)} more VM(s) of this size right now"
        + (f" (room for {placed})." if placed else ".")
        + " Try fewer instances or a smaller size; the service team has been told."
    )
    return NoValidHost(message, detail, placed=placed)


def _max_placeable(frees: list[_Free], vms: list[VirtualMachine]) -> int:
    for n, vm in enumerate(vms):
        candidates = [f for f in frees if f.fits(vm)]
        if not candidates:
            return n
        min(candidates, key=lambda f: (f.siblings, -f.ram_gib)).take(vm)
    return len(vms)


def place(vms: list[VirtualMachine]) -> None:
    """Set ``host`` on each (unsaved or pending) VM of one deployment, or raise
    ``NoValidHost``. Runs in the caller's transaction: the host locks are held until it
    commits the VM rows, which is what makes the re-check sound."""
    if not vms:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("place() must run inside the caller's transaction.atomic().")
    deployment_id = vms[0].deployment_id
    enabled = Host.objects.filter(state=Host.State.ENABLED)
    for _ in range(ATTEMPTS):
        chosen = _choose(_with_free(enabled, deployment_id), vms)
        if chosen is None:
            raise _explain(vms, _max_placeable(_with_free(enabled, deployment_id), vms))
        locked = list(
            enabled.select_for_update()
            .filter(pk__in=[f.host_id for f in chosen])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if len(locked) == len(chosen):
            # A statement of its own, after the locks are held: READ COMMITTED gives it a
            # snapshot that includes whatever the lock waited for.
            fresh = {f.host_id: f for f in _with_free(Host.objects.filter(pk__in=locked), deployment_id)}
            if all(
                fresh[f.host_id].vcpus >= sum(v.vcpus for v in f.taken)
                and fresh[f.host_id].ram_gib >= sum(v.ram_gib for v in f.taken)
                and fresh[f.host_id].disk_gib >= sum(v.disk_gib for v in f.taken)
                for f in chosen
            ):
                for f in chosen:
                    for vm in f.taken:
                        vm.host_id = f.host_id
                return
        # Someone else took the room (or a host was drained) between reading and locking.
    raise _explain(vms, 0)
