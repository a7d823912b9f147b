"""Reads for plans and subscriptions, each in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from subscriptions.models import AddOn, Allocation, Plan, Subscription, SubscriptionAddOn
from subscriptions.quota import DIMENSIONS, Demand, QuotaUsage


def subscription_list(*, tenant, states: list[str] | None = None) -> QuerySet[Subscription]:
    qs = Subscription.objects.for_tenant(tenant).select_related("plan")
    if states:
        qs = qs.filter(state__in=states)
    return qs


def subscription_get(*, tenant, pk) -> Subscription:
    """A tenant's subscription, or ``Subscription.DoesNotExist`` (404) for anyone else's."""
    return Subscription.objects.for_tenant(tenant).select_related("plan", "tenant").get(pk=pk)


def quota_usage_many(subscriptions: list[Subscription]) -> dict:
    """``{subscription.pk: QuotaUsage}`` for many subscriptions in two queries, whatever
    their number (the plans must already be loaded with ``select_related``)."""
    ids = [s.pk for s in subscriptions]
    used: dict = defaultdict(Demand)
    for row in (
        Allocation.objects.filter(subscription_id__in=ids)
        .values("subscription_id")
        .annotate(**{d: Sum(d) for d in DIMENSIONS})
    ):
        used[row["subscription_id"]] = Demand(**{d: row[d] or 0 for d in DIMENSIONS})
    extra: dict = defaultdict(Demand)
    for link in SubscriptionAddOn.objects.filter(subscription_id__in=ids).select_related("addon"):
        extra[link.subscription_id] = extra[link.subscription_id] + link.addon.as_demand() * link.quantity
    return {s.pk: QuotaUsage(used=used[s.pk], limit=s.plan.as_demand() + extra[s.pk]) for s in subscriptions}


def plans_for_tenant(*, tenant) -> QuerySet[Plan]:
    """Public, active plans, annotated with how many subscriptions the tenant holds to each."""
    return Plan.objects.subscribable().annotate(
        held=Count(
            "subscriptions",
            filter=Q(subscriptions__tenant=tenant) & ~Q(subscriptions__state=Subscription.State.CANCELLED),
        )
    )


def plan_by_code(*, code: str) -> Plan | None:
    code = (code or "").strip()
    if not code:
        return None
    return Plan.objects.active().filter(visibility="code", invitation_code=code).first()


def addons_for_subscription(subscription: Subscription) -> QuerySet[AddOn]:
    return AddOn.objects.filter(plans=subscription.plan, state=AddOn.State.ACTIVE)


def plan_list() -> QuerySet[Plan]:
    return Plan.objects.annotate(
        subscription_count=Count("subscriptions", filter=~Q(subscriptions__state="cancelled"))
    ).prefetch_related(Prefetch("addons", queryset=AddOn.objects.order_by("name")))
