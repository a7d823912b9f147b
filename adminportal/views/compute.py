"""Provisioning for service admins: hosts (register, capacity, enable / drain / disable,
refresh, delete) and every tenant's jobs (admin detail, retry, cancel).

Writes go through compute.services and portal.jobs; a wrong state (``Conflict``) or a host
that does not answer (``ValidationError``) becomes a message, never an error page.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from adminportal import compute_selectors as selectors
from adminportal.compute_forms import (
    HostEditForm,
    HostFilterForm,
    HostRegisterForm,
    HostStateForm,
    JobFilterForm,
    host_initial,
)
from adminportal.selectors import activity_for_target
from adminportal.views.common import error_text, get_or_404, paginate, sorted_by
from compute import services
from compute.models import Host
from portal.errors import Conflict
from portal.jobs import job_cancel as job_cancel_service
from portal.models import Job
from portal.tenancy import service_admin_view
from subscriptions.quota import QuotaExceeded
from tenants.forms import add_service_errors

STATE_DONE = {
    Host.State.ENABLED: "is enabled: new VMs may be placed on it.",
    Host.State.DRAINING: "is draining: it keeps its VMs and takes no new ones.",
    Host.State.DISABLED: "is disabled: it takes no new VMs and reconciliation skips it.",
}


# --- hosts ---------------------------------------------------------------------------------


@service_admin_view
def hosts(request: HttpRequest) -> HttpResponse:
    form = HostFilterForm(request.GET or None)
    filters = form.values()
    rows, sort = sorted_by(
        request,
        selectors.host_list(search=filters["q"], state=filters["state"]),
        selectors.HOST_SORTS,
        "name",
    )
    page = paginate(request, rows)
    context = {
        "form": form,
        "page_obj": page,
        # The bars come from host_list's annotations: no query per row.
        "rows": [(host, selectors.host_usage(host)) for host in page.object_list],
        "sort": sort,
        "filtered": any(filters.values()),
    }
    return render(request, "adminportal/hosts/list.html", context)


@service_admin_view
def host_create(request: HttpRequest) -> HttpResponse:
    form = HostRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # The service asks the host for its capacity first: one that does not answer
            # comes back as a ValidationError on ``uri``, shown beside the field.
            host = services.host_register(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"Registered {host.name}: {host.vcpus} vCPUs, {host.ram_gib} GiB RAM, {host.disk_gib} GiB disk.",
            )
            return redirect("adminportal:host_detail", pk=host.pk)
    return render(request, "adminportal/hosts/form.html", {"form": form})


@service_admin_view
def host_detail(request: HttpRequest, pk) -> HttpResponse:
    """The host's capacity and VMs; its form edits the name, allocation ratios and notes."""
    host = get_or_404(selectors.host_get, pk)
    form = HostEditForm(request.POST or None, initial=host_initial(host))
    if request.method == "POST" and form.is_valid():
        changed = {k: v for k, v in form.cleaned_data.items() if getattr(host, k) != v}
        if not changed:
            messages.info(request, "Nothing changed.")
            return redirect("adminportal:host_detail", pk=host.pk)
        try:
            services.host_update(host=host, actor=request.user, **changed)
        except ValidationError as error:
            add_service_errors(form, error)
            # host_update set the refused values on the instance; show the stored ones.
            host.refresh_from_db()
        else:
            messages.success(request, f"Saved {host.name}.")
            return redirect("adminportal:host_detail", pk=host.pk)
    context = {
        "host": host,
        "usage": selectors.host_usage(host),
        "form": form,
        "vm_page": paginate(request, selectors.host_vms(host), param="vm_page"),
        "events": activity_for_target(host)[:10],
    }
    return render(request, "adminportal/hosts/detail.html", context)


@service_admin_view
@require_POST
def host_state(request: HttpRequest, pk) -> HttpResponse:
    host = get_or_404(selectors.host_get, pk)
    form = HostStateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose enabled, draining or disabled.")
    else:
        services.host_set_state(host=host, state=form.cleaned_data["state"], actor=request.user)
        messages.success(request, f"{host.name} {STATE_DONE[host.state]}")
    return redirect("adminportal:host_detail", pk=host.pk)


@service_admin_view
@require_POST
def host_refresh(request: HttpRequest, pk) -> HttpResponse:
    host = get_or_404(selectors.host_get, pk)
    try:
        services.host_refresh(host=host, actor=request.user)
    except ValidationError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(
            request,
            f"{host.name} reports {host.vcpus} vCPUs, {host.ram_gib} GiB RAM and {host.disk_gib} GiB disk.",
        )
    return redirect("adminportal:host_detail", pk=host.pk)


@service_admin_view
@require_POST
def host_delete(request: HttpRequest, pk) -> HttpResponse:
    host = get_or_404(selectors.host_get, pk)
    try:
        services.host_delete(host=host, actor=request.user)
    except Conflict as error:
        messages.error(request, error.message)
        return redirect("adminportal:host_detail", pk=host.pk)
    messages.success(request, f"Deleted {host.name}. Nothing will be placed on it again.")
    return redirect("adminportal:hosts")


# --- jobs ----------------------------------------------------------------------------------


@service_admin_view
def jobs(request: HttpRequest) -> HttpResponse:
    form = JobFilterForm(request.GET or None)
    filters = form.values()
    rows = selectors.job_list(
        state=filters["state"], kind=filters["kind"], tenant=filters["tenant"] or None, search=filters["q"]
    )
    page_obj = paginate(request, rows)
    context = {
        "form": form,
        "page_obj": page_obj,
        "filtered": any(filters.values()),
        # The table polls itself while a job on it may still change (see the template).
        "live": any(job.is_active for job in page_obj),
    }
    return render(request, "adminportal/jobs/list.html", context)


@service_admin_view
def job_detail(request: HttpRequest, pk) -> HttpResponse:
    job = get_or_404(selectors.job_get, pk)
    children = list(selectors.job_children(job)[:500]) if job.is_group else []
    context = {
        "job": job,
        "children": children,
        "failed_children": sum(1 for c in children if c.state == Job.State.FAILED),
        "vm": selectors.job_target_vm(job),
        "history": selectors.job_history(job),
        "can_retry": job.state == Job.State.FAILED and not job.is_group,
        "live": job.is_active or any(child.is_active for child in children),
    }
    return render(request, "adminportal/jobs/detail.html", context)


@service_admin_view
@require_POST
def job_retry(request: HttpRequest, pk) -> HttpResponse:
    """Run a failed job's operation again as a new job, and show that job."""
    job = get_or_404(selectors.job_get, pk)
    try:
        new = services.job_retry(job=job, actor=request.user)
    except (Conflict, QuotaExceeded, ValidationError) as error:
        # Quota: the tenant filled the room the failed VM gave back in the meantime.
        messages.error(request, f"Not retried: {error_text(error)}")
        return redirect("adminportal:job_detail", pk=job.pk)
    messages.success(request, f"Queued a new job: {new.get_kind_display()} {new.target_repr}.")
    return redirect("adminportal:job_detail", pk=new.pk)


@service_admin_view
@require_POST
def job_cancel(request: HttpRequest, pk) -> HttpResponse:
    job = get_or_404(selectors.job_get, pk)
    try:
        job = job_cancel_service(job=job, actor=request.user)
    except Conflict as error:
        messages.error(request, error.message)
    else:
        done = "Cancelled." if job.state == Job.State.CANCELLED else "Asked to stop at its next step."
        messages.success(request, f"{job.get_kind_display()} {job.target_repr}: {done}")
    return redirect(reverse("adminportal:job_detail", args=[job.pk]))
