"""Plans, add-ons, subscriptions and the quota ledger (Windows Azure Pack's model)."""

from __future__ import annotations

from django.db import models

from portal.models import TenantQuerySet, UUIDModel
from subscriptions.quota import DIMENSIONS, Demand


class QuotaFields(models.Model):
    """One integer column per quota dimension (see ``subscriptions.quota.DIMENSIONS``)."""

    vms = models.PositiveIntegerField("VMs", default=0)
    vcpus = models.PositiveIntegerField("vCPUs", default=0)
    ram_gib = models.PositiveIntegerField("RAM (GiB)", default=0)
    disk_gib = models.PositiveIntegerField("disk (GiB)", default=0)
    networks = models.PositiveIntegerField("networks", default=0)
    public_ips = models.PositiveIntegerField("public IPs", default=0)

    class Meta:
        abstract = True

    def as_demand(self) -> Demand:
        return Demand(**{dim: getattr(self, dim) for dim in DIMENSIONS})


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public: any tenant can subscribe"
    PRIVATE = "private", "Private: only admins assign it"
    CODE = "code", "Invitation code: tenants subscribe with a code"


class PlanQuerySet(models.QuerySet):
    def active(self) -> PlanQuerySet:
        return self.filter(state=Plan.State.ACTIVE)

    def subscribable(self) -> PlanQuerySet:
        """Plans a tenant may subscribe to without a code."""
        return self.active().filter(visibility=Visibility.PUBLIC)


class Plan(UUIDModel, QuotaFields):
    """A service offering: quota limits per dimension, and (later) allowed gallery items."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC)
    invitation_code = models.CharField(
        max_length=64,
        blank=True,
        help_text="Tenants who know this code can subscribe to a plan with code visibility.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    max_subscriptions_per_tenant = models.PositiveIntegerField(
        default=1, help_text="How many subscriptions to this plan one tenant may hold."
    )

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AddOn(UUIDModel, QuotaFields):
    """A quota increase a tenant adds to a subscription, offered with some plans."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    plans = models.ManyToManyField(Plan, related_name="addons", blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)

    class Meta:
        ordering = ["name"]
        verbose_name = "add-on"

    def __str__(self) -> str:
        return self.name


class Subscription(UUIDModel):
    """A tenant's subscription to a plan. Quota limits = plan + attached add-ons.

    The row is also the quota lock: ``quota_reserve`` takes ``SELECT ... FOR UPDATE`` on it.
    """

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CANCELLED = "cancelled", "Cancelled"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    name = models.CharField(max_length=100)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE, db_index=True)
    addons = models.ManyToManyField(AddOn, through="SubscriptionAddOn", related_name="subscriptions")
    created_by = models.ForeignKey(
        "tenants.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state_changed = models.DateTimeField(null=True, blank=True)
    state_reason = models.CharField(max_length=200, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["tenant", "-created"])]

    def __str__(self) -> str:
        return self.name


class SubscriptionAddOn(models.Model):
    """An add-on attached to a subscription, ``quantity`` times."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="addon_links")
    addon = models.ForeignKey(AddOn, on_delete=models.PROTECT, related_name="subscription_links")
    quantity = models.PositiveIntegerField(default=1)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "addon"], name="subscription_addon_unique")
        ]

    def __str__(self) -> str:
        return f"{self.addon} x{self.quantity}"


class Allocation(models.Model):
    """One resource's claim on a subscription's quota: the quota ledger.

    Written and deleted in the same transaction as the resource itself (a VM, a network, a
    public IP…), while it is pending as well as live, so summing the ledger counts in-flight
    work too and usage can never drift from facts.
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="allocations")
    resource_type = models.CharField(max_length=32)
    resource_id = models.UUIDField()
    vms = models.PositiveIntegerField(default=0)
    vcpus = models.PositiveIntegerField(default=0)
    ram_gib = models.PositiveIntegerField(default=0)
    disk_gib = models.PositiveIntegerField(default=0)
    networks = models.PositiveIntegerField(default=0)
    public_ips = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "resource_id"], name="allocation_unique_resource"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} {self.resource_id}"

    def as_demand(self) -> Demand:
        return Demand(**{dim: getattr(self, dim) for dim in DIMENSIONS})
