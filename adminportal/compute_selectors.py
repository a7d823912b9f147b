"""Reads behind the admin portal's provisioning pages and admin API: hosts with what their
VMs hold, a host's VMs with their tenants, and every tenant's jobs.

Built on ``compute.selectors`` (``host_list``, ``admin_job_list``); service admins only, so
nothing here is scoped to a tenant. Every list is one query (plus the paginator's count),
whatever its length.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from compute import selectors as compute_selectors
from compute.models import Host, VirtualMachine
from portal.models import Job

VM = VirtualMachine

HOST_SORTS = {"name": "name", "state": "state", "vms": "vm_count", "last_seen": "last_seen_at"}

# (dimension, label, ratio field): what the capacity bars show, in this order.
HOST_DIMENSIONS = (
    ("vcpus", "vCPUs", "cpu_allocation_ratio"),
    ("ram_gib", "RAM (GiB)", "ram_allocation_ratio"),
    ("disk_gib", "Disk (GiB)", "disk_allocation_ratio"),
)

# Job kinds for filters: the labels the model knows, in a stable order.
JOB_KINDS = sorted(Job.KIND_LABELS.items(), key=lambda kv: kv[1])


# --- hosts ---------------------------------------------------------------------------------


def host_list(*, search: str = "", state: str = "") -> QuerySet[Host]:
    """Hosts annotated with ``vm_count`` and ``<dimension>_used`` (see compute.selectors)."""
    hosts = compute_selectors.host_list()
    if search:
        hosts = hosts.filter(Q(name__icontains=search) | Q(uri__icontains=search))
    if state:
        hosts = hosts.filter(state=state)
    return hosts


def host_get(pk) -> Host:
    """One host with the same usage annotations as the list (``Host.DoesNotExist`` → 404)."""
    return compute_selectors.host_list().get(pk=pk)


def host_vms(host: Host) -> QuerySet[VirtualMachine]:
    """The VMs a host holds or held last (deleted ones excluded), with tenant and deployment."""
    return (
        VM.objects.filter(host=host)
        .exclude(provisioning_state=VM.Provisioning.DELETED)
        .select_related("tenant", "deployment")
        .order_by("tenant__name", "name", "pk")
    )


def host_usage(host: Host) -> list[dict]:
    """One row per dimension for capacity bars: the host's total, its allocation ratio, what
    placement may schedule (total × ratio, rounded down: demands are whole units) and what
    its VMs hold. ``host`` must carry host_list's annotations."""
    rows = []
    for dimension, label, ratio_field in HOST_DIMENSIONS:
        total = getattr(host, dimension)
        ratio = getattr(host, ratio_field)
        limit = math.floor(total * ratio)
        used = getattr(host, f"{dimension}_used", 0) or 0
        # Over the limit can happen: the ratio was lowered, or the host shrank on refresh.
        percent = 100 if limit == 0 and used else (round(100 * used / limit) if limit else 0)
        rows.append(
            {
                "dimension": dimension,
                "label": label,
                "total": total,
                "ratio": ratio,
                "limit": limit,
                "used": used,
                "free": max(limit - used, 0),
                "percent": min(percent, 100),
                "level": "danger" if percent >= 90 else "warning" if percent >= 70 else "success",
            }
        )
    return rows


# --- jobs ----------------------------------------------------------------------------------


def job_list(*, state: str = "", kind: str = "", tenant=None, search: str = "") -> QuerySet[Job]:
    """Every tenant's jobs, newest first. A search that is an id finds the job, its children
    and the jobs of that target (admins paste ids from logs); otherwise it matches the
    target's name and the tenant-safe message."""
    try:
        wanted = uuid.UUID(search.strip()) if search else None
    except ValueError:
        wanted = None
    jobs = compute_selectors.admin_job_list(
        state=state, kind=kind, tenant=tenant, search="" if wanted else search
    )
    if wanted is not None:
        jobs = jobs.filter(Q(pk=wanted) | Q(parent_id=wanted) | Q(target_id=wanted))
    return jobs.order_by("-created", "-pk")


def job_get(pk) -> Job:
    return Job.objects.select_related("tenant", "created_by", "parent").get(pk=pk)


def job_children(job: Job) -> QuerySet[Job]:
    return Job.objects.filter(parent=job).order_by("created", "target_repr", "pk")


def job_history(job: Job, limit: int = 10) -> list[Job]:
    """Other jobs on the same target, newest first: a retry's failed attempt, the power
    operations before it (a retried job is a new job, so this is how they are linked)."""
    return list(
        Job.objects.filter(target_id=job.target_id).exclude(pk=job.pk).order_by("-created", "-pk")[:limit]
    )


def job_target_vm(job: Job) -> VirtualMachine | None:
    """The VM a per-VM job acts on, with its host (for the admin's "where did it run")."""
    if job.target_type != VM._meta.model_name:
        return None
    return VM.objects.select_related("host").filter(pk=job.target_id).first()


# --- overview ------------------------------------------------------------------------------


def provisioning_counts() -> dict[str, int]:
    """The overview's provisioning card, in two queries: hosts by state; jobs running and
    queued now, and failed in the last 24 hours. Per-VM jobs count one each, as the jobs
    list shows them (the card's links open it filtered by state)."""
    hosts = Host.objects.aggregate(
        enabled=Count("pk", filter=Q(state=Host.State.ENABLED)),
        draining=Count("pk", filter=Q(state=Host.State.DRAINING)),
        disabled=Count("pk", filter=Q(state=Host.State.DISABLED)),
    )
    since = timezone.now() - timedelta(hours=24)
    # The WHERE keeps this on the (state, …) index instead of counting every job ever run.
    jobs = Job.objects.filter(
        Q(state__in=Job.ACTIVE_STATES) | Q(state=Job.State.FAILED, finished_at__gte=since)
    ).aggregate(
        running=Count("pk", filter=Q(state=Job.State.RUNNING)),
        queued=Count("pk", filter=Q(state=Job.State.QUEUED)),
        failed=Count("pk", filter=Q(state=Job.State.FAILED, finished_at__gte=since)),
    )
    return {f"hosts_{k}": v for k, v in hosts.items()} | {f"jobs_{k}": v for k, v in jobs.items()}
