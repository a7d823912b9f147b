"""Tenant gallery: browse the items your plans offer and walk the deploy wizard to review.

The review's Deploy button posts the same form with ``action=deploy``: it is checked again
and handed to ``compute.services.deployment_create``, which queues the VMs; the browser goes
on to the new deployment's page (compute/views.py), where the progress shows live.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods, require_POST

from compute.services import deployment_create
from gallery.forms import DeployForm
from gallery.models import GalleryItem
from gallery.selectors import gallery_cards_for_tenant, gallery_item_for_tenant, gallery_version_for_tenant
from portal.errors import Conflict
from portal.tenancy import tenant_view
from subscriptions.quota import QuotaExceeded
from tenants.models import Role
from tenants.views import error_text, get_or_404, paginate


@tenant_view()
def item_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    category = request.GET.get("category", "")
    os_family = request.GET.get("os", "")
    items = gallery_cards_for_tenant(
        tenant=request.tenant_context.tenant, search=search, category=category, os_family=os_family
    )
    page = paginate(request, items)
    return render(
        request,
        "gallery/list.html",
        {
            "page": page,
            "search": search,
            "category": category,
            "os_family": os_family,
            "categories": GalleryItem.Category.choices,
            "os_families": GalleryItem.OSFamily.choices,
            "filtered": bool(search or category or os_family),
        },
    )


@tenant_view()
def item_detail(request: HttpRequest, pk) -> HttpResponse:
    item = get_or_404(gallery_item_for_tenant, tenant=request.tenant_context.tenant, pk=pk)
    latest = item.published_versions[0] if item.published_versions else None
    return render(request, "gallery/detail.html", {"item": item, "latest": latest})


def _wizard(request: HttpRequest, pk, version_pk) -> DeployForm:
    tenant = request.tenant_context.tenant
    version = get_or_404(gallery_version_for_tenant, tenant=tenant, pk=version_pk)
    if str(version.item_id) != str(pk):
        raise Http404
    data = request.POST if request.method == "POST" else None
    return DeployForm(version=version, tenant=tenant, data=data, language=get_language())


def _fields_url(form: DeployForm) -> str:
    return reverse("gallery:deploy-fields", args=[form.version.item_id, form.version.pk])


@tenant_view()
@require_http_methods(["GET", "POST"])
def deploy(request: HttpRequest, pk, version_pk) -> HttpResponse:
    form = _wizard(request, pk, version_pk)
    context = {
        "form": form,
        "version": form.version,
        "item": form.version.item,
        "fields_url": _fields_url(form),
    }
    context["can_deploy"] = request.tenant_context.allows(Role.OPERATOR)
    action = request.POST.get("action") if request.method == "POST" else None
    if action in ("review", "deploy"):
        if action == "deploy":
            request.tenant_context.require(Role.OPERATOR)
        # Deploy reviews again first: what is posted may differ from what was reviewed.
        if form.review() and action == "deploy":
            deployment = _deploy(request, form)
            if deployment is not None:
                messages.success(request, f"Deploying {deployment.name}: its virtual machines are queued.")
                return redirect("compute:deployment", pk=deployment.pk)
        # The review renders (no redirect), with every problem, including the deploy's own.
        context.update(
            review=True, valid=form.valid, quota_rows=form.quota, quota_exceeded=form.quota_exceeded
        )
    return render(request, "gallery/deploy.html", context)


def _deploy(request: HttpRequest, form: DeployForm):
    """Queue the reviewed deployment. Returns it, or None with the problem on the form (a
    ValidationError beside its field) or in a message (quota, capacity, a state conflict)."""
    # Only the parameters: deployment_create validates strictly, and the form posts its
    # own fields (subscription, instance_count, action) besides the p_<name> inputs.
    names = form.version.parameters.names
    try:
        return deployment_create(
            tenant=request.tenant_context.tenant,
            actor=request.user,
            version=form.version,
            subscription=form.subscription,
            values={k: v for k, v in form.values.items() if k in names},
            instance_count=form.instance_count,
            language=form.language,
        )
    except ValidationError as error:
        for key, errors in error.message_dict.items():
            form.errors.setdefault(key.removeprefix("parameters."), []).extend(errors)
        form.valid = False
    except (Conflict, QuotaExceeded) as error:
        messages.error(request, f"Could not deploy: {error_text(error)}")
    return None


@tenant_view()
@require_POST
def deploy_fields(request: HttpRequest, pk, version_pk) -> HttpResponse:
    """htmx partial: the wizard's fields re-evaluated for the values posted so far, and the
    step list (out of band), since a section may have gained or lost its last visible field."""
    form = _wizard(request, pk, version_pk)
    reviewed = request.POST.get("reviewed") == "1"
    if reviewed:
        # After a review the fields keep showing what is still wrong (and drop what was fixed)
        # instead of losing every inline error on the first change.
        form.validate()
    context = {"form": form, "fields_url": _fields_url(form), "review": reviewed}
    return render(request, "gallery/_partials/fields_response.html", context)
