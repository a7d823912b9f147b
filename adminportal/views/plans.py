"""Plans and add-ons: one list page, detail, create and edit forms."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from adminportal import selectors
from adminportal.forms import AddOnForm, PlanFilterForm, PlanForm, addon_initial, plan_initial
from adminportal.views.common import get_or_404, paginate, sorted_by
from portal.tenancy import service_admin_view
from subscriptions.services import addon_create as addon_create_service
from subscriptions.services import addon_update, plan_update
from subscriptions.services import plan_create as plan_create_service
from tenants.forms import add_service_errors


@service_admin_view
def plan_list(request: HttpRequest) -> HttpResponse:
    """Plans and add-ons on one page; the search and state filter apply to both lists."""
    form = PlanFilterForm(request.GET or None)
    filters = form.values()
    plans, sort = sorted_by(
        request,
        selectors.plan_list(search=filters["q"], state=filters["state"]),
        selectors.PLAN_SORTS,
        "name",
    )
    addons = selectors.addon_list(search=filters["q"], state=filters["state"])
    context = {
        "form": form,
        "page_obj": paginate(request, plans),
        "addon_page": paginate(request, addons, param="addon_page"),
        "sort": sort,
        "filtered": any(filters.values()),
    }
    return render(request, "adminportal/plans/list.html", context)


@service_admin_view
def plan_detail(request: HttpRequest, pk) -> HttpResponse:
    plan = get_or_404(selectors.plan_get, pk)
    subscriptions = selectors.subscription_list(plan=plan).order_by("-created")[:10]
    context = {
        "plan": plan,
        "counts": selectors.plan_subscription_counts(plan),
        "subscriptions": subscriptions,
        "events": selectors.activity_for_target(plan)[:10],
    }
    return render(request, "adminportal/plans/detail.html", context)


def _save(form: PlanForm | AddOnForm, write: Callable[[dict, list], Model]) -> Model | None:
    """Validate ``form`` and call ``write(data, related)`` (related: the add-ons of a plan, or
    the plans of an add-on). On a service ValidationError put the messages beside their
    fields and return None, so the form renders again with everything typed still there."""
    if not form.is_valid():
        return None
    related = form.cleaned_data["addons" if isinstance(form, PlanForm) else "plans"]
    try:
        obj = write(form.service_data(), list(related))
    except ValidationError as error:
        add_service_errors(form, error)
        return None
    return obj


@service_admin_view
def plan_create(request: HttpRequest) -> HttpResponse:
    form = PlanForm(request.POST or None)
    if request.method == "POST":
        plan = _save(
            form, lambda data, addons: plan_create_service(actor=request.user, addons=addons, **data)
        )
        if plan is not None:
            messages.success(request, f"Created the {plan.name} plan.")
            return redirect("adminportal:plan_detail", pk=plan.pk)
    return render(request, "adminportal/plans/form.html", {"form": form, "plan": None})


@service_admin_view
def plan_edit(request: HttpRequest, pk) -> HttpResponse:
    plan = get_or_404(selectors.plan_get, pk)
    form = PlanForm(request.POST or None, initial=plan_initial(plan))
    if request.method == "POST":
        saved = _save(
            form,
            lambda data, addons: plan_update(plan=plan, actor=request.user, addons=addons, **data),
        )
        if saved is not None:
            messages.success(request, f"Saved the {saved.name} plan.")
            return redirect("adminportal:plan_detail", pk=saved.pk)
        # A failed save may have changed the instance in memory; show the stored name.
        plan.refresh_from_db()
    return render(request, "adminportal/plans/form.html", {"form": form, "plan": plan})


@service_admin_view
def addon_create(request: HttpRequest) -> HttpResponse:
    form = AddOnForm(request.POST or None, initial={"plans": request.GET.getlist("plan")})
    if request.method == "POST":
        addon = _save(form, lambda data, plans: addon_create_service(actor=request.user, plans=plans, **data))
        if addon is not None:
            messages.success(request, f"Created the {addon.name} add-on.")
            return redirect("adminportal:plans")
    return render(request, "adminportal/plans/addon_form.html", {"form": form, "addon": None})


@service_admin_view
def addon_edit(request: HttpRequest, pk) -> HttpResponse:
    addon = get_or_404(selectors.addon_get, pk)
    form = AddOnForm(request.POST or None, initial=addon_initial(addon))
    if request.method == "POST":
        saved = _save(
            form,
            lambda data, plans: addon_update(addon=addon, actor=request.user, plans=plans, **data),
        )
        if saved is not None:
            messages.success(request, f"Saved the {saved.name} add-on.")
            return redirect("adminportal:plans")
        addon.refresh_from_db()
    return render(request, "adminportal/plans/addon_form.html", {"form": form, "addon": addon})
