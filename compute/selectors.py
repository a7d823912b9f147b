"""Compute reads. Every tenant-side selector takes the tenant and filters by it first, so
another tenant's id is simply "not found" (a 404)."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import NamedTuple

from django.db import connections, router
from django.db.models import CharField, Count, F, Func, Max, Q, QuerySet, Subquery
from django.db.models.functions import Cast

from compute.models import Deployment, Host, VirtualMachine
from portal.compiled import StandIn, compile_once
from portal.models import Job
from portal.pagination import TOTAL, pop_total, total_of

VM = VirtualMachine


def vm_list(
    *, tenant, search: str = "", status: str = "", deployment=None, include_deleted: bool = False
) -> QuerySet[VirtualMachine]:
    """The tenant's VMs for lists: one query, whatever the page size."""
    qs = VM.objects.for_tenant(tenant).select_related("deployment", "subscription")
    if not include_deleted:
        qs = qs.exclude(provisioning_state=VM.Provisioning.DELETED)
    if deployment is not None:
        qs = qs.filter(deployment=deployment)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(hostname__icontains=search))
    if status:
        qs = qs.filter(_status_filter(status))
    return qs.order_by("-created", "name")


def _status_filter(status: str) -> Q:
    """Filter by the one-word status people see (VirtualMachine.status)."""
    if status in VM.Task.values and status:
        return Q(task_state=status)
    if status in (VM.Provisioning.BUILDING, VM.Provisioning.ERROR, VM.Provisioning.DELETED):
        return (
            Q(provisioning_state=status, task_state="")
            if status != VM.Provisioning.BUILDING
            else Q(provisioning_state=status)
        )
    return Q(provisioning_state=VM.Provisioning.ACTIVE, task_state="", power_state=status)


# What a VM table shows of each VM (compute_tags.VmRowRenderer draws the rows from these).
VM_ROW_COLUMNS = (
    "id",
    "name",
    "message",
    "provisioning_state",
    "power_state",
    "task_state",
    "deployment_id",
    "deployment__name",
    "size_name",
    "vcpus",
    "ram_gib",
    "hostname",
    "created",
)

_LIVE_DEPLOYMENTS = "_live_deployments"
_DEPLOYMENTS_CHANGED = "_deployments_changed"


def _vm_page_query(*, tenant, order: tuple[str, ...], **filters) -> QuerySet[dict]:
    """``vm_list`` in ``order`` as ``VM_ROW_COLUMNS`` rows, each with the list's total and the
    version of the tenant's deployments (see ``deployment_choices``)."""
    vms = vm_list(tenant=tenant, **filters).order_by(*order)
    deployments = Deployment.objects.for_tenant(tenant).order_by()
    live = deployments.exclude(state=Deployment.State.DELETED)
    # Deleted ones too: a deletion moves it on, so a version never comes back (see
    # deployment_choices).
    changed = deployments.values("tenant").annotate(at=Cast(Max("updated"), CharField())).values("at")
    return vms.values(*VM_ROW_COLUMNS).annotate(
        # Counted from the VMs alone: the deployment's join is the page's business only.
        **{TOTAL: total_of(vms), _LIVE_DEPLOYMENTS: total_of(live)},
        # As text: only compared, and every row carries it (no datetime to parse 50 times).
        **{_DEPLOYMENTS_CHANGED: Subquery(changed)},
    )


class VmRowsPage(NamedTuple):
    rows: list[dict]  # VM_ROW_COLUMNS
    total: int | None  # None: the page is empty and cannot tell
    deployments_version: tuple | None  # for deployment_choices; None as total


def vm_rows_page(
    *,
    tenant,
    order: tuple[str, ...],
    offset: int,
    size: int,
    search: str = "",
    status: str = "",
    deployment=None,
) -> VmRowsPage:
    """One page of the tenant's ``vm_list`` (filters as there) as ``VM_ROW_COLUMNS`` dicts,
    the list's total, and the version of the tenant's deployments that the page's deployment
    filter is cached by: ONE query, for the VM list page.

    Without a search, its SQL is compiled once per status, ``order`` and deployment filter
    (``portal.compiled``): building and compiling the query through the ORM took about
    0.6 ms of Python a request, more than PostgreSQL needs to run it (benchmarks/vm_list.py).
    tests/compute/test_vm_list.py keeps both paths equal."""
    rows = _vm_page_rows(
        ("vm_rows_page", status, tuple(order)),
        lambda tenant, deployment=None, search="": _vm_page_query(
            tenant=tenant, order=order, status=status, deployment=deployment, search=search
        ),
        tenant=tenant,
        deployment=deployment,
        search=search,
        offset=offset,
        size=size,
    )
    version = (rows[0][_LIVE_DEPLOYMENTS], rows[0][_DEPLOYMENTS_CHANGED]) if rows else None
    for row in rows:
        del row[_LIVE_DEPLOYMENTS], row[_DEPLOYMENTS_CHANGED]
    return VmRowsPage(*pop_total(rows), deployments_version=version)


# What GET /api/v1/vms/ shows of each VM (compute.api.serializers.vm_list_data).
VM_LIST_COLUMNS = (
    "id",
    "name",
    "hostname",
    "provisioning_state",
    "power_state",
    "task_state",
    "message",
    "size_name",
    "vcpus",
    "ram_gib",
    "disk_gib",
    "image",
    "deployment_id",
    "deployment__name",
    "subscription_id",
    "subscription__name",
    "created",
    "launched_at",
)


def _vm_list_page_query(*, tenant, status: str = "", deployment=None, search: str = "") -> QuerySet[dict]:
    """``vm_list`` (deleted VMs only for ``status="deleted"``) as ``VM_LIST_COLUMNS`` rows, each
    with the list's total (an uncorrelated scalar count without the joins)."""
    vms = vm_list(
        tenant=tenant,
        status=status,
        deployment=deployment,
        search=search,
        include_deleted=status == VM.Provisioning.DELETED,
    )
    return vms.values(*VM_LIST_COLUMNS).annotate(**{TOTAL: total_of(vms)})


def vm_list_page(
    *, tenant, offset: int, size: int, status: str = "", deployment=None, search: str = ""
) -> tuple[list[dict], int | None]:
    """One page of the tenant's ``vm_list`` as ``VM_LIST_COLUMNS`` dicts, newest first, and the
    list's total (None when the page is empty): ONE query, for ``GET /api/v1/vms/``.

    Without a search its SQL is compiled once per status and deployment filter
    (``portal.compiled``), as ``vm_rows_page`` does for the page: building and compiling the
    page and its count through the ORM was a quarter of the API list's Python (about 1 ms a
    request, benchmarks/vm_list.py). tests/compute/test_vm_list.py keeps both paths equal."""
    rows = _vm_page_rows(
        ("vm_list_page", status),
        lambda tenant, deployment=None, search="": _vm_list_page_query(
            tenant=tenant, status=status, deployment=deployment, search=search
        ),
        tenant=tenant,
        deployment=deployment,
        search=search,
        offset=offset,
        size=size,
    )
    return pop_total(rows)


def _vm_page_rows(
    key: tuple, query, *, tenant, deployment, search: str, offset: int, size: int
) -> list[dict]:
    """The rows from ``offset`` of ``query(tenant=, deployment=, search=)``, a ``values()``
    query of the tenant's VMs: without a search through its SQL compiled once per ``key``
    and deployment filter (``portal.compiled``), through the ORM otherwise."""
    connection = connections[router.db_for_read(VM)]
    compiled = None
    if not search:  # ``icontains`` wraps its value in the SQL's parameter: not a stand-in
        stand_ins = {"tenant": StandIn(_STAND_IN_TENANT, VM._meta.get_field("tenant"))}
        if deployment is not None:
            stand_ins["deployment"] = StandIn(_STAND_IN_DEPLOYMENT, VM._meta.get_field("deployment"))
        compiled = compile_once(
            (*key, deployment is not None), connection, query, stand_ins, suffix=" LIMIT %s OFFSET %s"
        )
    if compiled is None:
        rows = query(tenant=tenant, deployment=deployment, search=search)
        return list(rows.using(connection.alias)[offset : offset + size])
    values = {"tenant": getattr(tenant, "pk", tenant)}
    if deployment is not None:
        values["deployment"] = getattr(deployment, "pk", deployment)
    return compiled.fetch(connection, values, extra=(size, offset))


# Ids no tenant or deployment has: the compiled SQL's stand-ins (portal.compiled).
_STAND_IN_TENANT = uuid.UUID("5e55104e-0000-4000-8000-00000000000a")
_STAND_IN_DEPLOYMENT = uuid.UUID("5e55104e-0000-4000-8000-00000000000b")


def vm_get(*, tenant, pk) -> VirtualMachine:
    return (
        VM.objects.for_tenant(tenant)
        .select_related("deployment", "deployment__version__item", "subscription", "tenant")
        .get(pk=pk)
    )


def deployment_list(
    *, tenant, search: str = "", state: str = "", include_deleted: bool = False
) -> QuerySet[Deployment]:
    qs = Deployment.objects.for_tenant(tenant)
    if not include_deleted:
        qs = qs.exclude(state=Deployment.State.DELETED)
    qs = qs.select_related("version__item", "size", "subscription").annotate(
        vm_total=Count("vms", filter=~Q(vms__provisioning_state=VM.Provisioning.DELETED)),
        vm_running=Count(
            "vms",
            filter=Q(vms__provisioning_state=VM.Provisioning.ACTIVE, vms__power_state="running"),
        ),
        vm_error=Count("vms", filter=Q(vms__provisioning_state=VM.Provisioning.ERROR)),
    )
    if search:
        qs = qs.filter(name__icontains=search)
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-created")


class _UuidText(Func):
    """A UUID column as its canonical text (``8-4-4-4-12`` lower-case hex), read as a str:
    for ids that are only printed, loading UUID objects to format them again costs more."""

    output_field = CharField()
    template = "%(expressions)s"

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(%(expressions)s)::text", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite keeps a UUIDField as 32 hex digits.
        parts = "||'-'||".join(f"substr(%(expressions)s, {a}, {n})" for a, n in _UUID_GROUPS)
        return self.as_sql(compiler, connection, template=f"lower({parts})", **extra)


_UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))


def _deployment_choices_query(tenant) -> QuerySet[dict]:
    return (
        Deployment.objects.for_tenant(tenant)
        .exclude(state=Deployment.State.DELETED)
        .order_by("-created")
        .values(choice_id=_UuidText("id"), choice_name=F("name"))
    )


def deployment_choices(*, tenant, limit: int, version: tuple | None = None) -> tuple[tuple[str, str], ...]:
    """``(id, name)`` of the tenant's newest ``limit`` deployments (not deleted), by name: the
    VM list's deployment filter, which offers hundreds.

    ``version`` (``VmRowsPage.deployments_version``: how many deployments are live, and when
    one of the tenant's deployments, deleted ones included, last changed) changes whenever
    this list can: every write of a deployment sets ``updated``, and only ever later. So a
    version never comes back, and a list kept under one is never stale, even when read just
    after a change (it is then kept under a version nobody will ask for again). The list is
    kept per process and version: a page whose deployments did not change costs no query for
    it; without a version it is read. Either way the ids come as text and the SQL is
    compiled once (``portal.compiled``): loading 500 UUID objects only to print them, through
    the ORM, cost as much as the rest of the VM list page's Python."""
    alias = router.db_for_read(Deployment)
    tenant_id = getattr(tenant, "pk", tenant)
    if version is None:
        return _deployment_choices(alias, tenant_id, limit)
    return _cached_deployment_choices(alias, tenant_id, limit, version)


def _deployment_choices(alias: str, tenant_id, limit: int) -> tuple[tuple[str, str], ...]:
    connection = connections[alias]
    stand_in = StandIn(_STAND_IN_TENANT, Deployment._meta.get_field("tenant"))
    compiled = compile_once(
        "deployment_choices", connection, _deployment_choices_query, {"tenant": stand_in}, suffix=" LIMIT %s"
    )
    if compiled is None:
        rows = list(_deployment_choices_query(tenant_id).using(alias)[:limit])
    else:
        rows = compiled.fetch(connection, {"tenant": tenant_id}, extra=(limit,))
    return tuple(sorted(((row["choice_id"], row["choice_name"]) for row in rows), key=lambda c: c[1]))


# At most a few MB per process: 128 lists of at most DEPLOYMENT_CHOICES_MAX (500) choices.
@lru_cache(maxsize=128)
def _cached_deployment_choices(
    alias: str, tenant_id, limit: int, version: tuple
) -> tuple[tuple[str, str], ...]:
    # ``version`` is only the key: an entry is never stale, only unused (and then evicted).
    return _deployment_choices(alias, tenant_id, limit)


def deployment_get(*, tenant, pk) -> Deployment:
    return (
        Deployment.objects.for_tenant(tenant)
        .select_related("version__item", "size", "subscription", "tenant")
        .get(pk=pk)
    )


def job_list(*, tenant, state: str = "", target_id=None, top_level: bool = False) -> QuerySet[Job]:
    qs = Job.objects.for_tenant(tenant).select_related("created_by")
    if state:
        qs = qs.filter(state=state)
    if target_id is not None:
        qs = qs.filter(target_id=target_id)
    if top_level:
        qs = qs.filter(parent__isnull=True)
    return qs.order_by("-created")


def job_get(*, tenant, pk) -> Job:
    return Job.objects.for_tenant(tenant).get(pk=pk)


def active_jobs_for(*, tenant, target_ids) -> dict:
    """The newest active job of each target, for progress bars on list pages (one query)."""
    out = {}
    for job in (
        Job.objects.for_tenant(tenant)
        .filter(target_id__in=list(target_ids), state__in=Job.ACTIVE_STATES)
        .order_by("created")
    ):
        out[job.target_id] = job
    return out


# --- service admins ----------------------------------------------------------------------


def host_list() -> QuerySet[Host]:
    """Hosts with what their VMs hold (placement's view of them)."""
    holding = Q(vms__provisioning_state__in=VM.HOLDS_HOST)
    from django.db.models import Sum

    return Host.objects.annotate(
        vm_count=Count("vms", filter=holding),
        vcpus_used=Sum("vms__vcpus", filter=holding, default=0),
        ram_gib_used=Sum("vms__ram_gib", filter=holding, default=0),
        disk_gib_used=Sum("vms__disk_gib", filter=holding, default=0),
    ).order_by("name")


def admin_job_list(*, state: str = "", kind: str = "", tenant=None, search: str = "") -> QuerySet[Job]:
    qs = Job.objects.select_related("tenant", "created_by")
    if state:
        qs = qs.filter(state=state)
    if kind:
        qs = qs.filter(kind=kind)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if search:
        qs = qs.filter(Q(target_repr__icontains=search) | Q(message__icontains=search))
    return qs.order_by("-created")
