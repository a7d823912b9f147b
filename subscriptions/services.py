"""Writes for plans, add-ons, subscriptions and the quota ledger.

Every function is keyword-only, atomic, validates with ``full_clean()`` and records an audit
event. State changes are conditional UPDATEs whose row count is checked, so two admins
clicking at once cannot both "win".
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from portal.audit import audit_record
from portal.errors import Conflict
from portal.events import publish_on_commit
from subscriptions.models import AddOn, Allocation, Plan, Subscription, SubscriptionAddOn, Visibility
from subscriptions.quota import DIMENSIONS, Demand, QuotaExceeded, QuotaUsage
from subscriptions.signals import subscription_state_changed

PLAN_FIELDS = (
    "name",
    "description",
    "visibility",
    "invitation_code",
    "state",
    "max_subscriptions_per_tenant",
    *DIMENSIONS,
)
ADDON_FIELDS = ("name", "description", "state", *DIMENSIONS)


def _assign(obj, data: dict, allowed: tuple[str, ...]) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValidationError({key: "Unknown field." for key in sorted(unknown)})
    for key, value in data.items():
        setattr(obj, key, value)


def _check_plan(plan: Plan) -> None:
    if plan.visibility == Visibility.CODE and not plan.invitation_code:
        raise ValidationError({"invitation_code": "A plan with code visibility needs an invitation code."})


# --- plans and add-ons (service admins) -------------------------------------------------


@transaction.atomic
def plan_create(*, actor, addons: list[AddOn] | None = None, **data) -> Plan:
    """Create a plan. ``data`` holds plan fields (name, quotas, visibility…)."""
    plan = Plan()
    _assign(plan, data, PLAN_FIELDS)
    _check_plan(plan)
    plan.full_clean()
    plan.save()
    if addons is not None:
        plan.addons.set(addons)
    audit_record(actor=actor, tenant=None, action="plan.create", target=plan, data={"name": plan.name})
    return plan


@transaction.atomic
def plan_update(*, plan: Plan, actor, addons: list[AddOn] | None = None, **data) -> Plan:
    """Change a plan. Lowering a quota below what a subscription already uses is allowed
    (that subscription simply cannot grow); the audit event keeps the old values."""
    before = {key: getattr(plan, key) for key in data if key in PLAN_FIELDS}
    _assign(plan, data, PLAN_FIELDS)
    _check_plan(plan)
    plan.full_clean()
    plan.save()
    if addons is not None:
        plan.addons.set(addons)
    changed = {k: [before[k], data[k]] for k in before if before[k] != data[k]}
    audit_record(actor=actor, tenant=None, action="plan.update", target=plan, data={"changed": changed})
    return plan


@transaction.atomic
def addon_create(*, actor, plans: list[Plan] | None = None, **data) -> AddOn:
    addon = AddOn()
    _assign(addon, data, ADDON_FIELDS)
    addon.full_clean()
    addon.save()
    if plans is not None:
        addon.plans.set(plans)
    audit_record(actor=actor, tenant=None, action="addon.create", target=addon, data={"name": addon.name})
    return addon


@transaction.atomic
def addon_update(*, addon: AddOn, actor, plans: list[Plan] | None = None, **data) -> AddOn:
    _assign(addon, data, ADDON_FIELDS)
    addon.full_clean()
    addon.save()
    if plans is not None:
        addon.plans.set(plans)
    audit_record(actor=actor, tenant=None, action="addon.update", target=addon)
    return addon


# --- subscriptions ------------------------------------------------------------------------


@transaction.atomic
def subscription_create(
    *, tenant, plan: Plan, actor, name: str = "", code: str = "", by_admin: bool = False
) -> Subscription:
    """Subscribe ``tenant`` to ``plan``.

    Tenants may subscribe themselves to public plans, and to code plans with the right code;
    only service admins assign private plans. Retired plans take no new subscriptions.
    """
    if plan.state != Plan.State.ACTIVE:
        raise ValidationError({"plan": "This plan is retired and takes no new subscriptions."})
    if tenant.state != "active":
        raise Conflict(f"{tenant.name} is disabled and takes no new subscriptions.", code="tenant_disabled")
    if not by_admin:
        if plan.visibility == Visibility.PRIVATE:
            raise ValidationError({"plan": "This plan is assigned by service admins only."})
        if plan.visibility == Visibility.CODE and code.strip() != plan.invitation_code:
            raise ValidationError({"code": "That invitation code is not right for this plan."})
    # Lock the tenant row so two concurrent subscribe clicks cannot exceed the per-tenant limit.
    type(tenant).objects.select_for_update().filter(pk=tenant.pk).first()
    held = (
        Subscription.objects.filter(tenant=tenant, plan=plan)
        .exclude(state=Subscription.State.CANCELLED)
        .count()
    )
    if held >= plan.max_subscriptions_per_tenant:
        raise ValidationError(
            {"plan": f"{tenant.name} already holds {held} subscription(s) to {plan.name}, the most allowed."}
        )
    subscription = Subscription(
        tenant=tenant,
        plan=plan,
        name=(name or "").strip() or plan.name,
        created_by=actor,
        state_changed=timezone.now(),
    )
    subscription.full_clean()
    subscription.save()
    audit_record(
        actor=actor,
        tenant=tenant,
        action="subscription.create",
        target=subscription,
        data={"plan": plan.name, "by_admin": by_admin},
    )
    publish_on_commit(
        tenant.pk, "subscription.changed", {"id": str(subscription.pk), "state": subscription.state}
    )
    return subscription


_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (states it may start from, state it leads to)
    "suspend": ((Subscription.State.ACTIVE,), Subscription.State.SUSPENDED),
    "reactivate": ((Subscription.State.SUSPENDED,), Subscription.State.ACTIVE),
    "cancel": ((Subscription.State.ACTIVE, Subscription.State.SUSPENDED), Subscription.State.CANCELLED),
}


def _transition(*, subscription: Subscription, action: str, actor, reason: str = "") -> Subscription:
    sources, target = _TRANSITIONS[action]
    now = timezone.now()
    updated = Subscription.objects.filter(pk=subscription.pk, state__in=sources).update(
        state=target, state_changed=now, state_reason=reason[:200], updated=now
    )
    if updated != 1:
        current = Subscription.objects.filter(pk=subscription.pk).values_list("state", flat=True).first()
        raise Conflict(
            f"Cannot {action} a subscription that is {current or 'gone'}.", code=f"cannot_{action}"
        )
    subscription.refresh_from_db()
    audit_record(
        actor=actor,
        tenant=subscription.tenant,
        action=f"subscription.{action}",
        target=subscription,
        data={"reason": reason} if reason else {},
    )
    publish_on_commit(
        subscription.tenant_id,
        "subscription.changed",
        {"id": str(subscription.pk), "state": subscription.state},
    )
    subscription_state_changed.send(
        sender=Subscription, subscription=subscription, action=action, actor=actor
    )
    return subscription


@transaction.atomic
def subscription_suspend(*, subscription: Subscription, actor, reason: str = "") -> Subscription:
    """Suspend: no new work is accepted, and its VMs are powered off (compute listens to
    ``subscription_state_changed``)."""
    return _transition(subscription=subscription, action="suspend", actor=actor, reason=reason)


@transaction.atomic
def subscription_reactivate(*, subscription: Subscription, actor, reason: str = "") -> Subscription:
    return _transition(subscription=subscription, action="reactivate", actor=actor, reason=reason)


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, actor, reason: str = "") -> Subscription:
    """Cancel for good. Refused while resources still hold quota: they must go first, so
    nothing keeps running (and billing) under a cancelled subscription."""
    Subscription.objects.select_for_update().filter(pk=subscription.pk).first()
    in_use = Allocation.objects.filter(subscription=subscription).count()
    if in_use:
        raise Conflict(
            f"{subscription.name} still has {in_use} resource(s). Delete them before cancelling.",
            code="subscription_in_use",
        )
    return _transition(subscription=subscription, action="cancel", actor=actor, reason=reason)


@transaction.atomic
def subscription_rename(*, subscription: Subscription, name: str, actor) -> Subscription:
    subscription.name = name.strip()
    subscription.full_clean()
    subscription.save(update_fields=["name", "updated"])
    audit_record(actor=actor, tenant=subscription.tenant, action="subscription.rename", target=subscription)
    return subscription


@transaction.atomic
def subscription_addon_add(
    *, subscription: Subscription, addon: AddOn, actor, quantity: int = 1
) -> SubscriptionAddOn:
    """Attach an add-on (or raise its quantity). It must be offered with the plan."""
    if quantity < 1:
        raise ValidationError({"quantity": "Quantity must be at least 1."})
    # Read the state under the row lock, not from the caller's copy: an admin may have just
    # suspended or cancelled it.
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.state != Subscription.State.ACTIVE:
        raise Conflict(
            f"{locked.name} is {locked.state}; add-ons need an active subscription.",
            code="subscription_not_active",
        )
    if addon.state != AddOn.State.ACTIVE or not addon.plans.filter(pk=subscription.plan_id).exists():
        raise ValidationError(
            {"addon": f"{addon.name} is not offered with the {subscription.plan.name} plan."}
        )
    link, created = SubscriptionAddOn.objects.select_for_update().get_or_create(
        subscription=subscription, addon=addon, defaults={"quantity": quantity}
    )
    if not created:
        link.quantity += quantity
        link.save(update_fields=["quantity"])
    audit_record(
        actor=actor,
        tenant=subscription.tenant,
        action="subscription.addon_add",
        target=subscription,
        data={"addon": addon.name, "quantity": link.quantity},
    )
    return link


@transaction.atomic
def subscription_addon_remove(*, subscription: Subscription, addon: AddOn, actor) -> None:
    """Detach an add-on, unless what is in use would no longer fit the lower limits."""
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    link = SubscriptionAddOn.objects.filter(subscription=locked, addon=addon).first()
    if link is None:
        raise Conflict(f"{addon.name} is not attached to {subscription.name}.", code="addon_not_attached")
    usage = quota_usage(locked)
    new_limit = Demand(**{d: getattr(usage.limit, d) - getattr(addon, d) * link.quantity for d in DIMENSIONS})
    over = [d for d in DIMENSIONS if getattr(usage.used, d) > getattr(new_limit, d)]
    if over:
        raise Conflict(
            "Removing it would put these over their limit: " + ", ".join(over) + ". Free resources first.",
            code="addon_in_use",
        )
    link.delete()
    audit_record(
        actor=actor,
        tenant=subscription.tenant,
        action="subscription.addon_remove",
        target=subscription,
        data={"addon": addon.name},
    )


# --- quota -----------------------------------------------------------------------------------


def quota_limits(subscription: Subscription) -> Demand:
    """The plan's limits plus every attached add-on times its quantity."""
    limit = subscription.plan.as_demand()
    for link in SubscriptionAddOn.objects.filter(subscription=subscription).select_related("addon"):
        limit = limit + link.addon.as_demand() * link.quantity
    return limit


def quota_usage(subscription: Subscription) -> QuotaUsage:
    """What the ledger holds against ``subscription`` (live and in-flight) and its limits."""
    sums = Allocation.objects.filter(subscription=subscription).aggregate(**{d: Sum(d) for d in DIMENSIONS})
    used = Demand(**{d: sums[d] or 0 for d in DIMENSIONS})
    return QuotaUsage(used=used, limit=quota_limits(subscription))


def _lock_for_quota(subscription: Subscription) -> Subscription:
    """The subscription, locked, with its plan. Only the subscription's row is locked
    (``of=self``): a plain ``select_for_update()`` would lock the plan's row as well, and
    every deployment under the same plan, in any tenant, would wait for the others."""
    return Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=subscription.pk)


def quota_reserve(
    *,
    subscription: Subscription,
    demand: Demand,
    resource_type: str,
    resource_id: uuid.UUID | None = None,
) -> Allocation:
    """Reserve ``demand`` on ``subscription`` for one resource, in the caller's transaction.

    Locks the subscription row (``SELECT … FOR UPDATE``), sums the ledger — which holds live
    and in-flight resources alike — and writes the resource's allocation row. Concurrent
    callers serialise on the lock, so a headroom of N admits exactly N. The caller writes the
    resource in the same transaction; if it rolls back, so does the reservation.

    Raises ``Conflict`` if the subscription is not active, ``QuotaExceeded`` naming every
    exceeded dimension otherwise.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quota_reserve must run inside the caller's transaction.atomic().")
    locked = _lock_for_quota(subscription)
    if locked.state != Subscription.State.ACTIVE:
        raise Conflict(
            f"Subscription {locked.name} is {locked.state}: it takes no new resources.",
            code="subscription_not_active",
        )
    shortfalls = quota_usage(locked).shortfalls(demand)
    if shortfalls:
        raise QuotaExceeded(shortfalls)
    return Allocation.objects.create(
        subscription=locked,
        resource_type=resource_type,
        resource_id=resource_id or uuid.uuid4(),
        **demand.as_dict(),
    )


def quota_reserve_many(
    *, subscription: Subscription, resource_type: str, demands: list[tuple[uuid.UUID, Demand]]
) -> list[Allocation]:
    """``quota_reserve`` for several resources at once (a deployment's VMs): one lock, one
    check of the total, one INSERT. All or nothing."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("quota_reserve_many must run inside the caller's transaction.atomic().")
    locked = _lock_for_quota(subscription)
    if locked.state != Subscription.State.ACTIVE:
        raise Conflict(
            f"Subscription {locked.name} is {locked.state}: it takes no new resources.",
            code="subscription_not_active",
        )
    total = Demand()
    for _, demand in demands:
        total = total + demand
    shortfalls = quota_usage(locked).shortfalls(total)
    if shortfalls:
        raise QuotaExceeded(shortfalls)
    return Allocation.objects.bulk_create(
        Allocation(subscription=locked, resource_type=resource_type, resource_id=rid, **d.as_dict())
        for rid, d in demands
    )


def quota_release_many(*, resource_type: str, resource_ids: list[uuid.UUID]) -> int:
    deleted, _ = Allocation.objects.filter(resource_type=resource_type, resource_id__in=resource_ids).delete()
    return deleted


def quota_release(*, resource_type: str, resource_id: uuid.UUID) -> int:
    """Delete a resource's allocation (in the transaction that deletes the resource).
    Returns how many rows went: 0 if it was already released, which is not an error."""
    deleted, _ = Allocation.objects.filter(resource_type=resource_type, resource_id=resource_id).delete()
    return deleted


def require_owner_or_admin(*, actor, subscription: Subscription, role: str | None) -> None:
    if actor.is_service_admin:
        return
    if role != "owner":
        raise PermissionDenied("Only the tenant's owners can change subscriptions.")
