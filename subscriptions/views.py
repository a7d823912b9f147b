"""Tenant portal pages for plans and subscriptions.

Reading is open to every role; subscribing, renaming, add-ons and cancelling are for owners.
A subscription is looked up in the current tenant first (404 for anyone else's), then the
role is checked (403), then a service does the write.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.errors import Conflict
from portal.tenancy import tenant_view
from subscriptions.forms import AddOnForm, PlanCodeForm, RenameForm, SubscribeForm, quota_summary
from subscriptions.models import AddOn, Plan, Subscription, Visibility
from subscriptions.quota import DIMENSION_LABELS, DIMENSIONS
from subscriptions.selectors import (
    addons_for_subscription,
    plan_by_code,
    plans_for_tenant,
    quota_usage_many,
    subscription_get,
    subscription_list,
)
from subscriptions.services import (
    subscription_addon_add,
    subscription_addon_remove,
    subscription_cancel,
    subscription_create,
    subscription_rename,
)
from tenants.forms import add_service_errors
from tenants.models import Role
from tenants.views import error_text, get_or_404, paginate, role_flags, sorted_by

SUBSCRIPTION_SORTS = {"name": "name", "plan": "plan__name", "state": "state", "created": "created"}


def _get_subscription(request: HttpRequest, pk) -> Subscription:
    return get_or_404(subscription_get, tenant=request.tenant_context.tenant, pk=pk)


def _owner_subscription(request: HttpRequest, pk) -> Subscription:
    """The current tenant's subscription (404 otherwise), for an owner (403 otherwise)."""
    subscription = _get_subscription(request, pk)
    request.tenant_context.require(Role.OWNER)
    return subscription


# --- plans -----------------------------------------------------------------------------------


def _held(tenant, plan: Plan) -> int:
    return (
        Subscription.objects.for_tenant(tenant)
        .filter(plan=plan)
        .exclude(state=Subscription.State.CANCELLED)
        .count()
    )


def _subscribe(request: HttpRequest, form: SubscribeForm) -> tuple[HttpResponse | None, Plan | None]:
    """Subscribe from a bound card form: a redirect on success; else None and the code plan
    to keep on screen (its code was right but something else was wrong)."""
    if not form.is_valid():
        return None, None
    plan, name, code = form.cleaned_data["plan"], form.cleaned_data["name"], form.cleaned_data["code"]
    try:
        subscription = subscription_create(
            tenant=request.tenant_context.tenant, plan=plan, actor=request.user, name=name, code=code
        )
    except ValidationError as error:
        add_service_errors(form, error)
    else:
        messages.success(request, f"Subscribed to {plan.name}. Its quota is yours to use.")
        return redirect("subscriptions:detail", pk=subscription.pk), None
    keep = plan.visibility == Visibility.CODE and plan_by_code(code=code) == plan
    return None, plan if keep else None


def _plan_cards(request: HttpRequest, *, bound: SubscribeForm | None, unlocked: Plan | None, code: str):
    """One card per plan on offer (the unlocked code plan first), each with its form; the
    bound form goes back on the card it came from."""
    tenant = request.tenant_context.tenant
    addons = Prefetch("addons", queryset=AddOn.objects.filter(state=AddOn.State.ACTIVE).order_by("name"))
    offered = list(plans_for_tenant(tenant=tenant).prefetch_related(addons).order_by("name"))
    if unlocked is not None:
        unlocked.held = _held(tenant, unlocked)
    cards, placed = [], False
    for plan in ([unlocked] if unlocked else []) + offered:
        full = plan.held >= plan.max_subscriptions_per_tenant
        # A full plan's card has no form to hold the errors: those go to the top instead.
        if bound is not None and bound.data.get("plan") == str(plan.pk) and not full:
            form, placed = bound, True
        else:
            initial = {"plan": plan.pk, "code": code if plan is unlocked else ""}
            form = SubscribeForm(initial=initial, auto_id=f"id_%s_{str(plan.pk)[:8]}")
        form.fields["name"].widget.attrs["placeholder"] = plan.name
        cards.append(
            {
                "plan": plan,
                "form": form,
                "unlocked": plan is unlocked,
                "full": full,
                "quotas": [(DIMENSION_LABELS[d], getattr(plan, d)) for d in DIMENSIONS],
            }
        )
    if bound is not None and bound.errors and not placed:
        # A plan without a card here (retired, private, wrong code): say why at the top.
        messages.error(request, " ".join(e for errors in bound.errors.values() for e in errors))
    return cards


@tenant_view()
def plans(request: HttpRequest) -> HttpResponse:
    """Public plans as cards with a Subscribe form each (owners), and a form that unlocks a
    plan by its invitation code. Both forms POST here, so the code never lands in a URL."""
    context = request.tenant_context
    code_form, bound, unlocked, code = PlanCodeForm(), None, None, ""
    if request.method == "POST":
        context.require(Role.OWNER)
        if request.POST.get("form") == "code":
            code_form = PlanCodeForm(request.POST)
            if code_form.is_valid():
                code = code_form.cleaned_data["code"].strip()
                unlocked = plan_by_code(code=code)
                if unlocked is None:
                    code_form.add_error(
                        "code", "No plan matches this code. Check it with your service provider."
                    )
        else:
            bound = SubscribeForm(request.POST, auto_id=f"id_%s_{request.POST.get('plan', '')[:8]}")
            response, unlocked = _subscribe(request, bound)
            if response is not None:
                return response
    cards = _plan_cards(request, bound=bound, unlocked=unlocked, code=code)
    return render(
        request, "subscriptions/plans.html", {"cards": cards, "code_form": code_form, **role_flags(context)}
    )


# --- subscriptions ---------------------------------------------------------------------------


@tenant_view()
def subscription_index(request: HttpRequest) -> HttpResponse:
    """The tenant's subscriptions with state badges and quota bars: search, state filter,
    sorting, pagination; a constant number of queries per page."""
    tenant = request.tenant_context.tenant
    search = request.GET.get("q", "").strip()
    state = request.GET.get("state", "")
    state = state if state in Subscription.State.values else ""
    queryset = subscription_list(tenant=tenant, states=[state] if state else None)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(plan__name__icontains=search))
    queryset, sort = sorted_by(request, queryset, SUBSCRIPTION_SORTS, "name")
    page = paginate(request, queryset)
    subscriptions = list(page)
    usage = quota_usage_many(subscriptions)
    state_counts = Subscription.objects.for_tenant(tenant).aggregate(
        all=Count("pk"), **{s: Count("pk", filter=Q(state=s)) for s in Subscription.State.values}
    )
    return render(
        request,
        "subscriptions/list.html",
        {
            "page_obj": page,
            "rows": [{"subscription": s, "rows": usage[s.pk].rows()} for s in subscriptions],
            "search": search,
            "state": state,
            "sort": sort,
            "states": [(value, label, state_counts[value]) for value, label in Subscription.State.choices],
            "total": state_counts["all"],
            **role_flags(request.tenant_context),
        },
    )


def _cancel_text(subscription: Subscription, links) -> str:
    addons = ", ".join(link.addon.name for link in links)
    return (
        f"Cancelling “{subscription.name}” ends it for good: its {subscription.plan.name} quota "
        f"({quota_summary(subscription.plan)})"
        + (f" and its add-ons ({addons})" if addons else "")
        + " will be released and cannot be restored. To use the plan again you would subscribe anew."
    )


def _render_detail(request: HttpRequest, subscription: Subscription, *, addon_form: AddOnForm | None = None):
    usage = quota_usage_many([subscription])[subscription.pk]
    links = list(subscription.addon_links.select_related("addon").order_by("addon__name"))
    available = addons_for_subscription(subscription).order_by("name")
    attached = {link.addon_id for link in links}
    for addon in [link.addon for link in links] + list(available):
        addon.summary = quota_summary(addon, sign="+")
    return render(
        request,
        "subscriptions/detail.html",
        {
            "subscription": subscription,
            "rows": usage.rows(),
            "links": links,
            "available": [a for a in available if a.pk not in attached],
            "addon_form": addon_form or AddOnForm(addons=available),
            "has_addons": bool(links) or available.exists(),
            "show_addon_form": request.tenant_context.allows(Role.OWNER)
            and subscription.state == Subscription.State.ACTIVE
            and (available.exists() or bool(addon_form and addon_form.is_bound)),
            "cancel_text": _cancel_text(subscription, links),
            "plan_summary": quota_summary(subscription.plan),
            **role_flags(request.tenant_context),
        },
    )


@tenant_view()
def detail(request: HttpRequest, pk) -> HttpResponse:
    return _render_detail(request, _get_subscription(request, pk))


@tenant_view()
def rename(request: HttpRequest, pk) -> HttpResponse:
    """Rename a subscription. Loaded inline on the detail page through htmx, or as a page."""
    subscription = _owner_subscription(request, pk)
    form = RenameForm(request.POST or None, initial={"name": subscription.name})
    if request.method == "POST" and form.is_valid():
        try:
            subscription_rename(subscription=subscription, name=form.cleaned_data["name"], actor=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Renamed to “{subscription.name}”.")
            return redirect("subscriptions:detail", pk=subscription.pk)
    partial = request.htmx and request.method == "GET"
    template = "subscriptions/_partials/rename_form.html" if partial else "subscriptions/rename.html"
    return render(request, template, {"subscription": subscription, "form": form})


@require_POST
@tenant_view()
def addon_add(request: HttpRequest, pk) -> HttpResponse:
    subscription = _owner_subscription(request, pk)
    form = AddOnForm(request.POST, addons=addons_for_subscription(subscription))
    if form.is_valid():
        addon = form.cleaned_data["addon"]
        try:
            subscription_addon_add(
                subscription=subscription,
                addon=addon,
                quantity=form.cleaned_data["quantity"],
                actor=request.user,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except Conflict as error:
            messages.error(request, error_text(error))
            return redirect("subscriptions:detail", pk=subscription.pk)
        else:
            messages.success(request, f"{addon.name} added: {quota_summary(addon, sign='+')} each.")
            return redirect("subscriptions:detail", pk=subscription.pk)
    return _render_detail(request, subscription, addon_form=form)


@require_POST
@tenant_view()
def addon_remove(request: HttpRequest, pk, addon_pk) -> HttpResponse:
    subscription = _owner_subscription(request, pk)
    link = subscription.addon_links.select_related("addon").filter(addon_id=addon_pk).first()
    if link is None:
        raise Http404
    try:
        subscription_addon_remove(subscription=subscription, addon=link.addon, actor=request.user)
    except Conflict as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, f"{link.addon.name} removed from {subscription.name}.")
    return redirect("subscriptions:detail", pk=subscription.pk)


@require_POST
@tenant_view()
def cancel(request: HttpRequest, pk) -> HttpResponse:
    subscription = _owner_subscription(request, pk)
    try:
        subscription_cancel(subscription=subscription, actor=request.user)
    except Conflict as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, f"{subscription.name} is cancelled; its quota is released.")
    return redirect("subscriptions:detail", pk=subscription.pk)
