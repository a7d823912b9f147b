"""Subscriptions across every tenant: list with quota bars, assign, detail and the state
transitions (suspend, reactivate, cancel)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from adminportal import selectors
from adminportal.forms import ReasonForm, SubscriptionCreateForm, SubscriptionFilterForm
from adminportal.views.common import get_or_404, paginate, sorted_by
from portal.errors import Conflict
from portal.tenancy import service_admin_view
from subscriptions import services
from subscriptions.selectors import quota_usage_many
from tenants.forms import add_service_errors


@service_admin_view
def subscription_list(request: HttpRequest) -> HttpResponse:
    form = SubscriptionFilterForm(request.GET or None)
    filters = form.values()
    subscriptions = selectors.subscription_list(
        state=filters["state"], plan=filters["plan"], search=filters["q"]
    )
    subscriptions, sort = sorted_by(request, subscriptions, selectors.SUBSCRIPTION_SORTS, "-created")
    page = paginate(request, subscriptions)
    # Bars for the whole page in two queries, however many rows it has.
    usage = quota_usage_many(list(page.object_list))
    context = {
        "form": form,
        "page_obj": page,
        "rows": [(s, usage[s.pk].rows()) for s in page.object_list],
        "sort": sort,
        "filtered": any(filters.values()),
    }
    return render(request, "adminportal/subscriptions/list.html", context)


@service_admin_view
def subscription_detail(request: HttpRequest, pk) -> HttpResponse:
    subscription = get_or_404(selectors.subscription_get, pk)
    usage = quota_usage_many([subscription])[subscription.pk]
    context = {
        "subscription": subscription,
        "rows": usage.rows(),
        "addon_links": selectors.subscription_addon_links(subscription),
        "events": selectors.activity_for_target(subscription)[:15],
        "reason_form": ReasonForm(),
    }
    return render(request, "adminportal/subscriptions/detail.html", context)


@service_admin_view
def subscription_create(request: HttpRequest) -> HttpResponse:
    """Assign a plan to a tenant: any active plan, whatever its visibility (``by_admin``)."""
    initial = {key: request.GET[key] for key in ("tenant", "plan") if request.GET.get(key)}
    form = SubscriptionCreateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            subscription = services.subscription_create(
                tenant=data["tenant"], plan=data["plan"], name=data["name"], actor=request.user, by_admin=True
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except Conflict as error:
            # The tenant was disabled after the form was drawn.
            form.add_error("tenant", error.message)
        else:
            messages.success(
                request, f"{subscription.tenant.name} is subscribed to {subscription.plan.name}."
            )
            return redirect("adminportal:subscription_detail", pk=subscription.pk)
    return render(request, "adminportal/subscriptions/form.html", {"form": form})


_DONE = {"suspend": "suspended", "reactivate": "reactivated", "cancel": "cancelled"}


def _transition(request: HttpRequest, pk, action: str) -> HttpResponse:
    """Run one state transition; a wrong state (another admin got there first, or cancelling
    twice) is a Conflict, shown as an error message rather than a failure page."""
    subscription = get_or_404(selectors.subscription_get, pk)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"].strip() if form.is_valid() else ""
    write = getattr(services, f"subscription_{action}")
    try:
        write(subscription=subscription, actor=request.user, reason=reason)
    except Conflict as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{subscription.name} of {subscription.tenant.name} is {_DONE[action]}.")
    return redirect("adminportal:subscription_detail", pk=subscription.pk)


@service_admin_view
@require_POST
def subscription_suspend(request: HttpRequest, pk) -> HttpResponse:
    return _transition(request, pk, "suspend")


@service_admin_view
@require_POST
def subscription_reactivate(request: HttpRequest, pk) -> HttpResponse:
    return _transition(request, pk, "reactivate")


@service_admin_view
@require_POST
def subscription_cancel(request: HttpRequest, pk) -> HttpResponse:
    return _transition(request, pk, "cancel")
