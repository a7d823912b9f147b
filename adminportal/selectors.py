"""Reads for the service admin portal: every tenant, user, plan and subscription.

Unlike the tenant portal's selectors these are not scoped to one tenant: only views behind
``@service_admin_view`` call them. Each list runs a fixed number of queries whatever its
length (counts are annotations, related rows come with ``select_related``/``prefetch``).
"""

from __future__ import annotations

import uuid

from django.db.models import Case, Count, IntegerField, Prefetch, Q, QuerySet, Value, When

from portal.models import AuditEvent
from subscriptions.models import AddOn, Plan, Subscription
from tenants.models import ROLE_RANK, Membership, Tenant, User

LIVE = ~Q(state=Subscription.State.CANCELLED)

TENANT_SORTS = {
    "name": "name",
    "state": "state",
    "members": "member_count",
    "subscriptions": "subscription_count",
    "created": "created",
}
USER_SORTS = {
    "email": "email",
    "name": "full_name",
    "kind": "is_service_admin",
    "tenants": "membership_count",
    "joined": "date_joined",
    "last_login": "last_login",
}
SUBSCRIPTION_SORTS = {
    "name": "name",
    "tenant": "tenant__name",
    "plan": "plan__name",
    "state": "state",
    "created": "created",
}
PLAN_SORTS = {
    "name": "name",
    "state": "state",
    "visibility": "visibility",
    "subscriptions": "subscription_count",
}


# --- overview ----------------------------------------------------------------------------------


def overview_counts() -> dict[str, int]:
    """The headline figures of the overview page, in four queries."""
    subscriptions = Subscription.objects.aggregate(
        active=Count("pk", filter=Q(state=Subscription.State.ACTIVE)),
        suspended=Count("pk", filter=Q(state=Subscription.State.SUSPENDED)),
    )
    tenants = Tenant.objects.aggregate(
        total=Count("pk"), disabled=Count("pk", filter=Q(state=Tenant.State.DISABLED))
    )
    users = User.objects.aggregate(total=Count("pk"), admins=Count("pk", filter=Q(is_service_admin=True)))
    plans = Plan.objects.aggregate(total=Count("pk"), active=Count("pk", filter=Q(state=Plan.State.ACTIVE)))
    return {
        "tenants": tenants["total"],
        "tenants_disabled": tenants["disabled"],
        "users": users["total"],
        "service_admins": users["admins"],
        "subscriptions_active": subscriptions["active"],
        "subscriptions_suspended": subscriptions["suspended"],
        "plans": plans["total"],
        "plans_active": plans["active"],
    }


def subscriptions_per_plan() -> list[dict]:
    """Active and suspended subscriptions of each plan, for the overview chart."""
    rows = Plan.objects.annotate(
        active=Count("subscriptions", filter=Q(subscriptions__state=Subscription.State.ACTIVE)),
        suspended=Count("subscriptions", filter=Q(subscriptions__state=Subscription.State.SUSPENDED)),
    ).order_by("name")
    return [{"plan": p.name, "active": p.active, "suspended": p.suspended} for p in rows]


# --- tenants -----------------------------------------------------------------------------------


def tenant_list(*, search: str = "", state: str = "") -> QuerySet[Tenant]:
    """Every tenant with its member and live-subscription counts."""
    # Two counts over two different joins multiply each other's rows, hence distinct=True.
    qs = Tenant.objects.annotate(
        member_count=Count("memberships", distinct=True),
        subscription_count=Count(
            "subscriptions",
            filter=~Q(subscriptions__state=Subscription.State.CANCELLED),
            distinct=True,
        ),
    )
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    if state:
        qs = qs.filter(state=state)
    return qs


def tenant_members(tenant: Tenant) -> QuerySet[Membership]:
    """Owners first, then operators, then readers."""
    rank = Case(
        *(When(role=role, then=Value(n)) for role, n in ROLE_RANK.items()), output_field=IntegerField()
    )
    return Membership.objects.for_tenant(tenant).select_related("user").order_by(-rank, "user__email")


def tenant_subscriptions(tenant: Tenant) -> QuerySet[Subscription]:
    return Subscription.objects.for_tenant(tenant).select_related("plan", "tenant").order_by("state", "name")


# --- users -------------------------------------------------------------------------------------


def user_list(*, search: str = "", kind: str = "", active: str = "") -> QuerySet[User]:
    """Every user with the number of tenants they belong to.

    ``kind`` is ``tenant`` or ``admin``; ``active`` is ``yes`` or ``no``.
    """
    qs = User.objects.annotate(membership_count=Count("memberships"))
    if search:
        qs = qs.filter(Q(email__icontains=search) | Q(full_name__icontains=search))
    if kind == "admin":
        qs = qs.filter(is_service_admin=True)
    elif kind == "tenant":
        qs = qs.filter(is_service_admin=False)
    if active == "yes":
        qs = qs.filter(is_active=True)
    elif active == "no":
        qs = qs.filter(is_active=False)
    return qs


def user_memberships(user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


# --- plans and add-ons -------------------------------------------------------------------------


def plan_list(*, search: str = "", state: str = "", visibility: str = "") -> QuerySet[Plan]:
    """Plans with their live-subscription count and offered add-ons (prefetched)."""
    qs = Plan.objects.annotate(
        subscription_count=Count(
            "subscriptions", filter=~Q(subscriptions__state=Subscription.State.CANCELLED)
        )
    ).prefetch_related(Prefetch("addons", queryset=AddOn.objects.order_by("name")))
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if state:
        qs = qs.filter(state=state)
    if visibility:
        qs = qs.filter(visibility=visibility)
    return qs


def addon_list(*, search: str = "", state: str = "") -> QuerySet[AddOn]:
    """Add-ons with the number of live subscriptions using them and the plans offering them."""
    qs = (
        AddOn.objects.annotate(
            subscription_count=Count(
                "subscription_links",
                filter=~Q(subscription_links__subscription__state=Subscription.State.CANCELLED),
            )
        )
        .prefetch_related(Prefetch("plans", queryset=Plan.objects.order_by("name")))
        .order_by("name")
    )
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if state:
        qs = qs.filter(state=state)
    return qs


def plan_get(pk) -> Plan:
    return Plan.objects.prefetch_related(Prefetch("addons", queryset=AddOn.objects.order_by("name"))).get(
        pk=pk
    )


def plan_subscription_counts(plan: Plan) -> dict[str, int]:
    """How many subscriptions to ``plan`` are in each state."""
    counts = {state: 0 for state in Subscription.State.values}
    for row in Subscription.objects.filter(plan=plan).values("state").annotate(n=Count("pk")).order_by():
        counts[row["state"]] = row["n"]
    return counts


def addon_get(pk) -> AddOn:
    return AddOn.objects.prefetch_related(Prefetch("plans", queryset=Plan.objects.order_by("name"))).get(
        pk=pk
    )


# --- subscriptions -----------------------------------------------------------------------------


def subscription_list(*, state: str = "", plan=None, search: str = "") -> QuerySet[Subscription]:
    """Subscriptions across every tenant, tenant and plan loaded (``quota_usage_many`` then
    adds the bars in two more queries)."""
    qs = Subscription.objects.select_related("tenant", "plan")
    if state:
        qs = qs.filter(state=state)
    if plan:
        qs = qs.filter(plan=plan)
    if search:
        qs = qs.filter(
            Q(tenant__name__icontains=search) | Q(tenant__slug__icontains=search) | Q(name__icontains=search)
        )
    return qs


def subscription_get(pk) -> Subscription:
    return Subscription.objects.select_related("tenant", "plan", "created_by").get(pk=pk)


def subscription_addon_links(subscription: Subscription):
    return subscription.addon_links.select_related("addon").order_by("addon__name")


# --- activity ----------------------------------------------------------------------------------


def activity_list(*, tenant: str = "", actor: str = "", action: str = "") -> QuerySet[AuditEvent]:
    """Every audit event, newest first.

    ``tenant`` is a tenant's id (from a link) or part of its name; ``actor`` part of the
    actor's e-mail; ``action`` a prefix: ``subscription`` matches every ``subscription.*``.
    """
    qs = AuditEvent.objects.select_related("tenant").order_by("-created", "-id")
    if tenant:
        try:
            qs = qs.filter(tenant_id=uuid.UUID(tenant))
        except ValueError:
            qs = qs.filter(tenant__name__icontains=tenant)
    if actor:
        qs = qs.filter(actor_repr__icontains=actor)
    if action:
        qs = qs.filter(action__startswith=action if "." in action else f"{action}.")
    return qs


def activity_for_target(target) -> QuerySet[AuditEvent]:
    """The events about one object (a subscription, a plan…), newest first."""
    return AuditEvent.objects.filter(
        target_type=target._meta.model_name, target_id=str(target.pk)
    ).select_related("tenant")


def activity_for_tenant(tenant: Tenant) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.for_tenant(tenant).select_related("tenant")


def activity_for_user(user: User) -> QuerySet[AuditEvent]:
    """What ``user`` did, and what was done to them."""
    return AuditEvent.objects.filter(
        Q(actor=user) | Q(target_type="user", target_id=str(user.pk))
    ).select_related("tenant")


def activity_actions() -> list[str]:
    """The action families and actions that occur in the log (for the filter menu)."""
    actions = list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())
    return actions
