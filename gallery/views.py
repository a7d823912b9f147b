"""Tenant gallery: browse the items your plans offer and walk the deploy wizard up to review.

Deploying itself arrives with the provisioning engine (issue 5): the wizard ends at review.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods, require_POST

from gallery.forms import DeployForm
from gallery.models import GalleryItem
from gallery.selectors import gallery_item_for_tenant, gallery_items_for_tenant, gallery_version_for_tenant
from portal.tenancy import tenant_view
from tenants.views import get_or_404, paginate


@tenant_view()
def item_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    category = request.GET.get("category", "")
    os_family = request.GET.get("os", "")
    items = gallery_items_for_tenant(
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
    if request.method == "POST" and request.POST.get("action") == "review":
        # The review step renders (no redirect): nothing is written until provisioning exists.
        context["valid"] = form.validate()
        context["quota_rows"] = form.quota_rows() if not form.errors.get("instance_count") else None
        context["quota_exceeded"] = any(r["exceeds"] for r in context["quota_rows"] or [])
        context["review"] = True
    context["sections"] = form.sections()
    return render(request, "gallery/deploy.html", context)


@tenant_view()
@require_POST
def deploy_fields(request: HttpRequest, pk, version_pk) -> HttpResponse:
    """htmx partial: the wizard's fields re-evaluated for the values posted so far."""
    form = _wizard(request, pk, version_pk)
    context = {"form": form, "sections": form.sections(), "fields_url": _fields_url(form)}
    return render(request, "gallery/_partials/fields.html", context)
