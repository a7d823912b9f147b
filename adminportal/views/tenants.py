"""Tenants: list, detail, create, disable and enable."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from adminportal import selectors
from adminportal.forms import TenantCreateForm, TenantFilterForm
from adminportal.services import tenant_create_with_owner
from adminportal.views.common import get_or_404, paginate, sorted_by
from portal.errors import Conflict
from portal.tenancy import service_admin_view
from subscriptions.selectors import quota_usage_many
from tenants.forms import add_service_errors
from tenants.models import Tenant
from tenants.services import tenant_set_state


def _tenant_get(pk) -> Tenant:
    return Tenant.objects.get(pk=pk)


@service_admin_view
def tenant_list(request: HttpRequest) -> HttpResponse:
    form = TenantFilterForm(request.GET or None)
    filters = form.values()
    tenants = selectors.tenant_list(search=filters["q"], state=filters["state"])
    tenants, sort = sorted_by(request, tenants, selectors.TENANT_SORTS, "name")
    context = {
        "form": form,
        "page_obj": paginate(request, tenants),
        "sort": sort,
        "filtered": any(filters.values()),
    }
    return render(request, "adminportal/tenants/list.html", context)


@service_admin_view
def tenant_detail(request: HttpRequest, pk) -> HttpResponse:
    tenant = get_or_404(_tenant_get, pk)
    subscriptions = list(selectors.tenant_subscriptions(tenant))
    usage = quota_usage_many(subscriptions)
    context = {
        "tenant": tenant,
        "members": selectors.tenant_members(tenant),
        "subscriptions": [(s, usage[s.pk].rows()) for s in subscriptions],
        "events": selectors.activity_for_tenant(tenant)[:15],
        "assign_url": f"{reverse('adminportal:subscription_create')}?tenant={tenant.pk}",
    }
    return render(request, "adminportal/tenants/detail.html", context)


@service_admin_view
def tenant_create(request: HttpRequest) -> HttpResponse:
    form = TenantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tenant, owner, created = tenant_create_with_owner(**form.cleaned_data, actor=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if created:
                messages.success(
                    request, f"Created {tenant.name}. {owner.email} was sent a link to choose a password."
                )
            else:
                messages.success(request, f"Created {tenant.name}, owned by {owner.email}.")
            return redirect("adminportal:tenant_detail", pk=tenant.pk)
    return render(request, "adminportal/tenants/form.html", {"form": form})


def _set_state(request: HttpRequest, pk, state: str) -> HttpResponse:
    tenant = get_or_404(_tenant_get, pk)
    try:
        tenant_set_state(tenant=tenant, state=state, actor=request.user)
    except Conflict as error:
        messages.error(request, error.message)
    else:
        verb = "enabled" if state == Tenant.State.ACTIVE else "disabled"
        messages.success(request, f"{tenant.name} is {verb}.")
    return redirect("adminportal:tenant_detail", pk=tenant.pk)


@service_admin_view
@require_POST
def tenant_disable(request: HttpRequest, pk) -> HttpResponse:
    return _set_state(request, pk, Tenant.State.DISABLED)


@service_admin_view
@require_POST
def tenant_enable(request: HttpRequest, pk) -> HttpResponse:
    return _set_state(request, pk, Tenant.State.ACTIVE)
