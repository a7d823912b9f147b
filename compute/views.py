"""Tenant portal pages for deployments, virtual machines and jobs (namespace ``compute``).

Every role reads; operators and owners act. Objects are looked up in the current tenant
(another tenant's id is a 404), the services decide whether an action fits the object's
state: a ``Conflict`` (409) or ``QuotaExceeded`` becomes a message on the page the user comes
back to, a ``ValidationError`` an error beside its field.

The pages stay live without reloading: static/portal/live.js redraws progress bars, badges
and buttons from the tenant's WebSocket events, and while the socket is down it polls the
small partials below (``*_row``, ``job_progress``) for whatever is still in progress.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.views.decorators.http import require_POST

from compute import services
from compute.forms import BulkForm, ScaleForm
from compute.models import Deployment, VirtualMachine
from compute.selectors import (
    VmRowsPage,
    active_jobs_for,
    deployment_choices,
    deployment_get,
    deployment_list,
    job_get,
    job_list,
    vm_get,
    vm_list,
    vm_rows_page,
)
from compute.templatetags.compute_tags import VM_ACTIONS, VM_STATUS_LABELS, vm_allows
from gallery.models import GalleryItemVersion
from gallery.parameters import REDACTED
from portal import jobs
from portal.errors import Conflict
from portal.models import Job
from portal.pagination import page_from
from portal.tenancy import tenant_view
from subscriptions.quota import QuotaExceeded
from tenants.forms import add_service_errors
from tenants.models import Role
from tenants.views import error_text, get_or_404, paginate, role_flags, safe_next, sorted_by

VM = VirtualMachine

DEPLOYMENT_SORTS = {"name": "name", "state": "state", "created": "created"}
VM_SORTS = {"name": "name", "created": "created"}
# The VM list's status filter: the one word the status badge shows (VirtualMachine.status).
VM_STATUS_FILTERS = [
    "running",
    "shutdown",
    "building",
    "error",
    "paused",
    "crashed",
    *(value for value, _ in VM.Task.choices if value and value != VM.Task.SPAWNING),
]
VM_PAGE_SIZES = (25, 50, 100)
# The filters' choices as the template's select_options takes them (tuples: rendered once).
_STATUS_CHOICES = tuple((status, VM_STATUS_LABELS[status]) for status in VM_STATUS_FILTERS)
_PAGE_SIZE_CHOICES = tuple((size, size) for size in VM_PAGE_SIZES)
# Beyond this many, a deployment's page links to the VM list filtered by the deployment.
DEPLOYMENT_VMS_SHOWN = 50
# The deployment filter on the VM list offers the newest deployments, by name.
DEPLOYMENT_CHOICES_MAX = 500


def _tenant(request: HttpRequest):
    return request.tenant_context.tenant


def _deployment(request: HttpRequest, pk) -> Deployment:
    return get_or_404(deployment_get, tenant=_tenant(request), pk=pk)


def _vm(request: HttpRequest, pk) -> VirtualMachine:
    return get_or_404(vm_get, tenant=_tenant(request), pk=pk)


def _job(request: HttpRequest, pk) -> Job:
    return get_or_404(job_get, tenant=_tenant(request), pk=pk)


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """After a POST: back to the page the form was on (``next``), else ``fallback``."""
    return redirect(safe_next(request, request.POST.get("next")) or fallback)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# --- deployments -----------------------------------------------------------------------------


@tenant_view()
def deployment_index(request: HttpRequest) -> HttpResponse:
    """The tenant's deployments: search, state filter, sorting, pagination, VM counts and the
    progress of each one's active job; a constant number of queries per page."""
    tenant = _tenant(request)
    search = request.GET.get("q", "").strip()
    state = request.GET.get("state", "")
    states = [(v, label) for v, label in Deployment.State.choices if v != Deployment.State.DELETED]
    state = state if state in dict(states) else ""
    queryset, sort = sorted_by(
        request, deployment_list(tenant=tenant, search=search, state=state), DEPLOYMENT_SORTS, "-created"
    )
    page = paginate(request, queryset)
    deployments = list(page)
    active = active_jobs_for(tenant=tenant, target_ids=[d.pk for d in deployments])
    for deployment in deployments:
        deployment.active_job = active.get(deployment.pk)
    counts = (
        Deployment.objects.for_tenant(tenant)
        .exclude(state=Deployment.State.DELETED)
        .aggregate(all=Count("pk"), **{v: Count("pk", filter=Q(state=v)) for v, _ in states})
    )
    return render(
        request,
        "compute/deployment_list.html",
        {
            "page_obj": page,
            "deployments": deployments,
            "search": search,
            "state": state,
            "sort": sort,
            "states": [(v, label, counts[v]) for v, label in states],
            "total": counts["all"],
            **role_flags(request.tenant_context),
        },
    )


@tenant_view()
def deployment_row(request: HttpRequest, pk) -> HttpResponse:
    """htmx partial: one row of the deployment list (its counts change with every VM), or the
    title and state of the deployment's own page (``view=header``)."""
    deployment = deployment_list(tenant=_tenant(request), include_deleted=True).filter(pk=pk).first()
    if deployment is None:
        raise Http404
    if request.GET.get("view") == "header":
        return render(request, "compute/_partials/deployment_header.html", {"deployment": deployment})
    deployment.active_job = active_jobs_for(tenant=_tenant(request), target_ids=[deployment.pk]).get(
        deployment.pk
    )
    return render(request, "compute/_partials/deployment_row.html", {"d": deployment})


def _setting_rows(version: GalleryItemVersion, values: dict[str, Any]) -> list[tuple[str, list[dict]]]:
    """The deployment's values by section as people read them: labels, choice labels,
    Yes/No. A secret shows as ******** whatever was stored (only its encrypted form exists)."""
    language = get_language()
    out, seen = [], set()
    for section in version.parameters.sections:
        rows = []
        for p in section.params:
            if p.name not in values:
                continue  # hidden by the other values when it was deployed
            seen.add(p.name)
            value = values[p.name]
            if p.is_secret:
                shown = REDACTED
            elif isinstance(value, bool):
                shown = "Yes" if value else "No"
            else:
                labels = {c.value: c.label.resolve(language) for c in p.choices_for(values)}
                shown = labels.get(str(value), str(value))
            rows.append({"name": p.name, "label": p.label.resolve(language), "value": shown})
        if rows:
            out.append((section.label.resolve(language), rows))
    # Values of parameters the definition no longer names: shown by name, never dropped.
    rest = [{"name": k, "label": k, "value": str(v)} for k, v in values.items() if k not in seen]
    if rest:
        out.append(("Other", rest))
    return out


def _render_deployment(
    request: HttpRequest, deployment: Deployment, *, scale_form: ScaleForm | None = None, status: int = 200
) -> HttpResponse:
    tenant = _tenant(request)
    configuration = deployment.configurations.order_by("-number").first()
    vms = vm_list(tenant=tenant, deployment=deployment)
    shown = list(vms[: DEPLOYMENT_VMS_SHOWN + 1])
    recent_jobs = list(job_list(tenant=tenant, target_id=deployment.pk)[:10])
    low, high, _ = deployment.version.instance_bounds
    return render(
        request,
        "compute/deployment_detail.html",
        {
            "deployment": deployment,
            "version": deployment.version,
            "configuration": configuration,
            "setting_rows": _setting_rows(deployment.version, configuration.values if configuration else {}),
            "vms": shown[:DEPLOYMENT_VMS_SHOWN],
            "more_vms": len(shown) > DEPLOYMENT_VMS_SHOWN,
            "jobs": recent_jobs,
            "active_job": next((j for j in recent_jobs if j.is_active), None),
            "scale_form": scale_form or ScaleForm(deployment=deployment),
            "bounds": (low, high),
            "delete_text": _delete_text(deployment, len(shown), more=len(shown) > DEPLOYMENT_VMS_SHOWN),
            "cannot_delete": deployment.state in (Deployment.State.DELETING, Deployment.State.DELETED),
            **role_flags(request.tenant_context),
        },
        status=status,
    )


def _delete_text(deployment: Deployment, vm_count: int, *, more: bool) -> str:
    many = f"more than {DEPLOYMENT_VMS_SHOWN}" if more else str(vm_count)
    return (
        f"Deleting “{deployment.name}” deletes its {many} virtual machine(s) and their disks, "
        "with everything stored on them. Their quota is released. This cannot be undone."
    )


@tenant_view()
def deployment_detail(request: HttpRequest, pk) -> HttpResponse:
    return _render_deployment(request, _deployment(request, pk))


@require_POST
@tenant_view(Role.OPERATOR)
def deployment_scale(request: HttpRequest, pk) -> HttpResponse:
    """Scale out or in (the slider). A wrong count or the quota shows beside the slider; a
    deployment busy with other work is a message."""
    deployment = _deployment(request, pk)
    form = ScaleForm(request.POST, deployment=deployment)
    status = 400
    if form.is_valid():
        count = form.cleaned_data["instance_count"]
        try:
            services.deployment_scale(deployment=deployment, instance_count=count, actor=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        except QuotaExceeded as error:
            form.add_error(None, f"Not enough quota on {deployment.subscription.name}. {error}")
            status = 409
        except Conflict as error:
            messages.error(request, error_text(error))
            return redirect("compute:deployment", pk=deployment.pk)
        else:
            messages.success(request, f"Scaling {deployment.name} to {count} instance(s).")
            return redirect("compute:deployment", pk=deployment.pk)
    return _render_deployment(request, deployment, scale_form=form, status=status)


@require_POST
@tenant_view(Role.OPERATOR)
def deployment_delete(request: HttpRequest, pk) -> HttpResponse:
    deployment = _deployment(request, pk)
    try:
        services.deployment_delete(deployment=deployment, actor=request.user)
    except Conflict as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, f"Deleting {deployment.name}: its virtual machines are being deleted.")
    return redirect("compute:deployment", pk=deployment.pk)


# --- virtual machines ------------------------------------------------------------------------


def _vm_filters(request: HttpRequest) -> dict[str, Any]:
    status = request.GET.get("status", "")
    return {
        "search": request.GET.get("q", "").strip(),
        "status": status if status in VM_STATUS_FILTERS else "",
        "deployment": _uuid(request.GET.get("deployment")),
    }


def _vm_page(
    tenant, filters: dict[str, Any], order: tuple[str, ...], number, per_page: int
) -> tuple[Page, tuple | None]:
    """The page of VMs (a Django ``Page``), and the version of the tenant's deployments that
    the same query read (``VmRowsPage``): one query for a page in range."""
    fetched: list[VmRowsPage] = []

    def fetch(offset: int, size: int) -> tuple[list[dict], int | None]:
        fetched.append(vm_rows_page(tenant=tenant, order=order, offset=offset, size=size, **filters))
        return fetched[-1].rows, fetched[-1].total

    page = page_from(fetch, number, per_page=per_page)
    return page, fetched[-1].deployments_version


@tenant_view()
def vm_index(request: HttpRequest) -> HttpResponse:
    """The tenant's VMs: search, status and deployment filters, sorting, pagination, and
    checkboxes for bulk actions. At most three queries whatever the page size: the user with
    their memberships (portal.tenancy; the session comes from the cache), the page with its
    total, and the deployment filter's choices when the tenant's deployments changed since
    this process last listed them (``deployment_choices``).

    With ``rows=1`` (htmx) it answers only the table body: a deployment's page refreshes its
    VM table that way when VMs are added while it is open."""
    tenant = _tenant(request)
    filters = _vm_filters(request)
    # sorted_by's rule for ``?sort=``, applied to no query: vm_rows_page builds its own.
    ordered, sort = sorted_by(request, VM.objects.none(), VM_SORTS, "-created")
    order = ordered.query.order_by
    if request.htmx and request.GET.get("rows") == "1" and filters["deployment"]:
        vms = vm_rows_page(tenant=tenant, order=order, offset=0, size=DEPLOYMENT_VMS_SHOWN, **filters).rows
        return render(
            request,
            "compute/_partials/vm_rows.html",
            {
                "vms": vms,
                "in_deployment": True,
                "deployment_id": filters["deployment"],
                **role_flags(request.tenant_context),
            },
        )
    per_page = int(request.GET.get("per_page", "") or 0)
    per_page = per_page if per_page in VM_PAGE_SIZES else VM_PAGE_SIZES[0]
    page, version = _vm_page(tenant, filters, order, request.GET.get("page"), per_page)
    deployments = deployment_choices(tenant=tenant, limit=DEPLOYMENT_CHOICES_MAX, version=version)
    return render(
        request,
        "compute/vm_list.html",
        {
            "page_obj": page,
            "vms": page.object_list,
            **filters,
            "sort": sort,
            "per_page": per_page,
            "page_sizes": _PAGE_SIZE_CHOICES,
            "statuses": _STATUS_CHOICES,
            "deployments": deployments,
            "filtered": any(filters.values()),
            "actions": VM_ACTIONS,
            **role_flags(request.tenant_context),
        },
    )


@tenant_view()
def vm_row(request: HttpRequest, pk) -> HttpResponse:
    """htmx partial: one VM as a list row (``in=deployment``: on a deployment's page) or as
    the status card of its own page (``view=card``)."""
    vm = _vm(request, pk)
    if request.GET.get("view") == "card":
        return render(
            request,
            "compute/_partials/vm_card.html",
            {"vm": vm, "actions": VM_ACTIONS, **role_flags(request.tenant_context)},
        )
    return render(
        request,
        "compute/_partials/vm_row.html",
        {
            "vm": vm,
            "in_deployment": request.GET.get("in") == "deployment",
            **role_flags(request.tenant_context),
        },
    )


@tenant_view()
def vm_detail(request: HttpRequest, pk) -> HttpResponse:
    vm = _vm(request, pk)
    recent_jobs = list(job_list(tenant=_tenant(request), target_id=vm.pk)[:10])
    return render(
        request,
        "compute/vm_detail.html",
        {
            "vm": vm,
            "jobs": recent_jobs,
            "active_job": next((j for j in recent_jobs if j.is_active), None),
            "actions": VM_ACTIONS,
            "cannot_delete": not vm_allows(vm, "delete"),
            "delete_text": (
                f"Deleting {vm.name} destroys it and its disks ({vm.disk_gib} GiB), with everything "
                "stored on them, and releases its quota. This cannot be undone."
            ),
            **role_flags(request.tenant_context),
        },
    )


@require_POST
@tenant_view(Role.OPERATOR)
def vm_action(request: HttpRequest, pk, action: str) -> HttpResponse:
    """Start, shut down, power off, reset or delete one VM."""
    vm = _vm(request, pk)
    if action not in VM_ACTIONS:
        raise Http404
    try:
        if action == "delete":
            services.vm_delete(vm=vm, actor=request.user)
        else:
            services.vm_power(vm=vm, action=action, actor=request.user)
    except (Conflict, QuotaExceeded, ValidationError) as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, f"{VM_ACTIONS[action]}: queued for {vm.name}.")
    return _back(request, reverse("compute:vm", args=[vm.pk]))


def _skipped_text(reasons: list[str], limit: int = 5) -> str:
    shown = " ".join(reasons[:limit])
    more = len(reasons) - limit
    return f"Skipped {len(reasons)}: {shown}" + (f" And {more} more." if more > 0 else "")


@require_POST
@tenant_view(Role.OPERATOR)
def vms_bulk(request: HttpRequest) -> HttpResponse:
    """One action on the checked VMs. The ones in the wrong state are skipped, and the
    message says which and why; the others are queued."""
    form = BulkForm(request.POST)
    back = reverse("compute:vms")
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return _back(request, back)
    action, ids = form.cleaned_data["action"], form.cleaned_data["vm"]
    # select_related: the services read each VM's tenant (a query per VM otherwise).
    vms = list(vm_list(tenant=_tenant(request)).filter(pk__in=ids).select_related("tenant"))
    queued, skipped = services.vms_bulk(vms=vms, action=action, actor=request.user)
    # Ids of VMs that are gone (or not this tenant's): nothing to say but that they were skipped.
    skipped += ["A selected virtual machine no longer exists."] * (len(ids) - len(vms))
    label = VM_ACTIONS[action]
    if queued:
        messages.success(request, f"{label}: queued for {len(queued)} virtual machine(s).")
    if skipped:
        (messages.warning if queued else messages.error)(request, _skipped_text(skipped))
    return _back(request, back)


# --- jobs ------------------------------------------------------------------------------------


@tenant_view()
def job_index(request: HttpRequest) -> HttpResponse:
    """The tenant's operations (top-level jobs), newest first, with live progress bars."""
    tenant = _tenant(request)
    state = request.GET.get("state", "")
    state = state if state in Job.State.values else ""
    page = paginate(request, job_list(tenant=tenant, state=state, top_level=True))
    counts = (
        Job.objects.for_tenant(tenant)
        .filter(parent__isnull=True)
        .aggregate(all=Count("pk"), **{v: Count("pk", filter=Q(state=v)) for v in Job.State.values})
    )
    return render(
        request,
        "compute/job_list.html",
        {
            "page_obj": page,
            "jobs": list(page),
            "state": state,
            "states": [(v, label, counts[v]) for v, label in Job.State.choices],
            "total": counts["all"],
            **role_flags(request.tenant_context),
        },
    )


@tenant_view()
def job_detail(request: HttpRequest, pk) -> HttpResponse:
    """One operation: its progress, its tenant-safe message (never the admin detail), and its
    per-VM children with theirs."""
    job = _job(request, pk)
    children = paginate(request, Job.objects.filter(parent=job).order_by("created", "id"), per_page=50)
    parent = job_get(tenant=_tenant(request), pk=job.parent_id) if job.parent_id else None
    return render(
        request,
        "compute/job_detail.html",
        {
            "job": job,
            "parent": parent,
            "page_obj": children if job.is_group else None,
            "children": list(children) if job.is_group else [],
            **role_flags(request.tenant_context),
        },
    )


@tenant_view()
def job_progress(request: HttpRequest, pk) -> HttpResponse:
    """htmx partial: a job's progress bar, step and state (the polling fallback)."""
    return render(request, "compute/_partials/job_progress.html", {"job": _job(request, pk)})


@require_POST
@tenant_view(Role.OPERATOR)
def job_cancel(request: HttpRequest, pk) -> HttpResponse:
    """Cancel a queued job now, or ask a running one to stop after its current step."""
    job = _job(request, pk)
    try:
        job = jobs.job_cancel(job=job, actor=request.user)
    except Conflict as error:
        messages.error(request, error_text(error))
    else:
        if job.state == Job.State.CANCELLED:
            messages.success(request, f"{job} is cancelled.")
        else:
            messages.success(request, f"Cancelling {job}: it stops after its current step.")
    return _back(request, reverse("compute:job", args=[job.pk]))
