"""Compute reads. Every tenant-side selector takes the tenant and filters by it first, so
another tenant's id is simply "not found" (a 404)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from compute.models import Deployment, Host, VirtualMachine
from portal.models import Job

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
