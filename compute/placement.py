"""Placement: which host each new VM goes to.

Filter, then weigh, as Nova's scheduler does:

- filter: the host is enabled (not draining or disabled) and its free capacity — totals times
  allocation ratios, minus what its building and active VMs hold — fits the VM;
- weigh: fewest VMs of the same deployment first (spread a deployment across hosts when
  possible, so one host failing does not take all of it down), then most free RAM.

What the VMs hold is kept on the host rows (``Host.used_*``), so choosing reads one row per
host, however many VMs the cloud runs. The choice is then claimed in one statement: an
UPDATE that adds the VMs to the chosen hosts' counters only where they still fit, locking
those rows in id order (so concurrent placements cannot deadlock) and re-checking each one
on its latest version. The locks are held until the caller's transaction commits its VM
rows, so callers place last, just before they insert the VMs and commit. If a host lost
its room between reading and claiming, what was claimed is given back and placement starts
over.

A VM that fails or is deleted gives its share back (``release``) in the transaction that
records it. The VM rows stay the ledger: ``recount`` (run by reconciliation) recomputes
the counters from them under the same locks and reports any drift.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, F, Sum, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from compute.models import Host, VirtualMachine

ATTEMPTS = 3
VM = VirtualMachine


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

    def demand(self) -> tuple[int, int, int]:
        """What the VMs this host took hold, in ``Host.USED`` order."""
        return (
            sum(vm.vcpus for vm in self.taken),
            sum(vm.ram_gib for vm in self.taken),
            sum(vm.disk_gib for vm in self.taken),
        )


_CAPACITY_FIELDS = [name for pair in Host.RATIOS.items() for name in pair]


def _with_free(deployment_id, *, siblings: bool) -> list[_Free]:
    """The enabled hosts with what is free on each (one statement, plain rows: this runs in
    every deployment's API call) and, with ``siblings``, how many of the deployment's VMs
    each holds (one more; a new deployment has none)."""
    rows = (
        Host.objects.filter(state=Host.State.ENABLED)
        .order_by("pk")
        .values("pk", "name", *_CAPACITY_FIELDS, *Host.USED.values())
    )
    held: dict = {}
    if siblings:
        held = dict(
            VM.objects.filter(deployment_id=deployment_id, provisioning_state__in=VM.HOLDS_HOST)
            .exclude(host=None)
            .values_list("host_id")
            .annotate(n=Count("id"))
            .values_list("host_id", "n")
            .order_by()
        )
    out = []
    for row in rows:
        cap = Host.schedulable_of(row)
        out.append(
            _Free(
                host_id=row["pk"],
                name=row["name"],
                vcpus=cap["vcpus"] - row["used_vcpus"],
                ram_gib=cap["ram_gib"] - row["used_ram_gib"],
                disk_gib=cap["disk_gib"] - row["used_disk_gib"],
                siblings=held.get(row["pk"], 0),
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
    frees = {f.host_id: f for f in _with_free(vm.deployment_id, siblings=False)}
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


def _claim_sql(count: int) -> str:
    """The UPDATE that adds each chosen host's share to its counters where it still fits,
    returning the ids it took. On PostgreSQL the rows are locked first, in id order, by a
    sub-select (an UPDATE locks rows in the order it meets them, and two placements meeting
    two hosts in opposite orders would deadlock); a locked row is then re-checked on its
    latest version (READ COMMITTED). The lock is the one an UPDATE of non-key columns takes
    (FOR NO KEY UPDATE): a plain FOR UPDATE would also wait for, and block, every
    transaction whose new VM rows point at the host (their foreign key check takes a KEY
    SHARE lock on it). SQLite has one writer at a time and no row locks."""
    q = connection.ops.quote_name
    table = q(Host._meta.db_table)
    case = "CASE " + " ".join([f"WHEN {table}.{q('id')} = %s THEN %s"] * count) + " END"
    sets = ", ".join(f"{q(used)} = {table}.{q(used)} + {case}" for used in Host.USED.values())
    fits = " AND ".join(
        f"{table}.{q(Host.USED[total])} + {case} <= {table}.{q(total)} * {table}.{q(ratio)}"
        for total, ratio in Host.RATIOS.items()
    )
    ids = ", ".join(["%s"] * count)
    if connection.features.has_select_for_update:
        which = (
            f"FROM (SELECT {q('id')} FROM {table} WHERE {q('id')} IN ({ids}) ORDER BY {q('id')} FOR NO KEY UPDATE) "  # noqa: S608
            f"AS locked WHERE {table}.{q('id')} = locked.{q('id')}"
        )
    else:
        which = f"WHERE {table}.{q('id')} IN ({ids})"
    # Only identifiers from the model's meta are formatted in; every value is a parameter.
    return (
        f"UPDATE {table} SET {sets}, {q('updated')} = %s {which} "  # noqa: S608
        f"AND {table}.{q('state')} = %s AND {fits} RETURNING {table}.{q('id')}"
    )


def _claim(chosen: list[_Free]) -> set:
    """Add each chosen host's share to its counters where it still fits; the ids claimed."""
    id_field = Host._meta.pk
    ids = [id_field.get_db_prep_value(f.host_id, connection) for f in chosen]
    demands = [f.demand() for f in chosen]

    def case(column: int) -> list:
        return [value for pk, demand in zip(ids, demands, strict=True) for value in (pk, demand[column])]

    now = Host._meta.get_field("updated").get_db_prep_value(timezone.now(), connection)
    params = [*case(0), *case(1), *case(2), now, *ids, Host.State.ENABLED.value, *case(0), *case(1), *case(2)]
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(len(chosen)), params)
        claimed = {id_field.to_python(row[0]) for row in cursor.fetchall()}
    return claimed


def _give_back(shares: dict) -> None:
    """Take ``{host id: (vcpus, ram, disk)}`` off the hosts' counters (never below zero: a
    counter that drifted low is recount's to fix, not a reason to fail a deletion)."""
    for host_id, (vcpus, ram_gib, disk_gib) in shares.items():
        Host.objects.filter(pk=host_id).update(
            used_vcpus=Greatest(F("used_vcpus") - vcpus, Value(0)),
            used_ram_gib=Greatest(F("used_ram_gib") - ram_gib, Value(0)),
            used_disk_gib=Greatest(F("used_disk_gib") - disk_gib, Value(0)),
        )


def place(vms: list[VirtualMachine], *, new_deployment: bool = False) -> None:
    """Set ``host`` on each (unsaved or pending) VM of one deployment and count them on their
    hosts, or raise ``NoValidHost``. Runs in the caller's transaction, which must save the VM
    rows: the hosts stay locked until it commits. ``new_deployment``: the deployment has no
    VMs yet (nothing to spread away from; spares a query)."""
    if not vms:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("place() must run inside the caller's transaction.atomic().")
    deployment_id = vms[0].deployment_id
    for _ in range(ATTEMPTS):
        chosen = _choose(_with_free(deployment_id, siblings=not new_deployment), vms)
        if chosen is None:
            raise _explain(vms, _max_placeable(_with_free(deployment_id, siblings=not new_deployment), vms))
        claimed = _claim(chosen)
        if len(claimed) == len(chosen):
            for f in chosen:
                for vm in f.taken:
                    vm.host_id = f.host_id
            return
        # Another placement took the room (or a host was drained) between reading and
        # claiming: give back what this one claimed, and choose again.
        _give_back({f.host_id: f.demand() for f in chosen if f.host_id in claimed})
    raise _explain(vms, 0)


def release(vms: Iterable[VirtualMachine]) -> None:
    """Give back what ``vms`` held on their hosts: call it in the transaction that moves them
    out of building or active (failed, deleted, lost), once per VM."""
    shares: dict = defaultdict(lambda: (0, 0, 0))
    for vm in vms:
        if vm.host_id is not None:
            v, r, d = shares[vm.host_id]
            shares[vm.host_id] = (v + vm.vcpus, r + vm.ram_gib, d + vm.disk_gib)
    _give_back(shares)


def recount() -> list[str]:
    """Recompute every host's counters from the VM rows (the ledger); the names of the hosts
    whose counters had drifted, now fixed. The hosts are locked first (in id order, as
    placement locks them), and the VMs counted in a statement of their own after that, so
    the count includes every placement or release that committed before the locks were
    granted, and none can change them until this transaction ends."""
    drifted = []
    with transaction.atomic():
        hosts = list(
            Host.objects.select_for_update(no_key=True)
            .order_by("pk")
            .values("pk", "name", *Host.USED.values())
        )
        ledger = {
            row["host_id"]: row
            for row in VM.objects.filter(provisioning_state__in=VM.HOLDS_HOST)
            .exclude(host=None)
            .values("host_id")
            .annotate(used_vcpus=Sum("vcpus"), used_ram_gib=Sum("ram_gib"), used_disk_gib=Sum("disk_gib"))
            .order_by()
        }
        for host in hosts:
            truth = {used: (ledger.get(host["pk"]) or {}).get(used) or 0 for used in Host.USED.values()}
            if any(host[used] != value for used, value in truth.items()):
                Host.objects.filter(pk=host["pk"]).update(**truth)
                drifted.append(host["name"])
    return drifted
