"""Output shapes for plans, add-ons and subscriptions (Input serializers live in their views).

Quota figures are built by two small fields rather than nested serializers: a subscription
list renders six dimensions per row, and a comprehension is much cheaper than a nested
serializer per dimension. The schema still documents every key (``extend_schema_field``).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from django.utils import timezone
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from subscriptions.models import Subscription, Visibility
from subscriptions.quota import DIMENSION_LABELS, DIMENSIONS
from subscriptions.selectors import row_quota


class LimitsSerializer(serializers.Serializer):
    """Schema only: the shape ``LimitsField`` renders."""

    vms = serializers.IntegerField(help_text="VMs")
    vcpus = serializers.IntegerField(help_text="vCPUs")
    ram_gib = serializers.IntegerField(help_text="RAM (GiB)")
    disk_gib = serializers.IntegerField(help_text="Disk (GiB)")
    networks = serializers.IntegerField(help_text="Networks")
    public_ips = serializers.IntegerField(help_text="Public IPs")


class QuotaEntrySerializer(serializers.Serializer):
    """Schema only: one item of what ``QuotaField`` renders."""

    dimension = serializers.ChoiceField(choices=[(d, DIMENSION_LABELS[d]) for d in DIMENSIONS])
    used = serializers.IntegerField(help_text="Held by live and in-flight resources.")
    limit = serializers.IntegerField(help_text="The plan's limit plus attached add-ons.")


@extend_schema_field(LimitsSerializer)
class LimitsField(serializers.Field):
    """A plan's or add-on's quota columns as ``{"vms": 10, "vcpus": 20, …}``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, obj) -> dict[str, int]:
        return {d: getattr(obj, d) for d in DIMENSIONS}


@extend_schema_field(QuotaEntrySerializer(many=True))
class QuotaField(serializers.Field):
    """A subscription's ``[{"dimension": "vms", "used": 1, "limit": 10}, …]`` (every dimension,
    in reading order), from the page's usage map in ``context["usage"]`` (built by
    ``subscriptions.selectors.quota_usage_many``)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, subscription: Subscription) -> list[dict]:
        usage = self.context["usage"][subscription.pk]
        used, limit = usage.used, usage.limit
        return [{"dimension": d, "used": getattr(used, d), "limit": getattr(limit, d)} for d in DIMENSIONS]


class PlanRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)


class AddOnSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    limits = LimitsField(help_text="How much each unit of this add-on adds to a subscription's limits.")


class PlanSerializer(serializers.Serializer):
    """A plan as tenants see it (no invitation code)."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, read_only=True)
    limits = LimitsField()
    max_subscriptions_per_tenant = serializers.IntegerField(read_only=True)
    held = serializers.IntegerField(
        read_only=True, help_text="How many live subscriptions to this plan your tenant holds."
    )
    addons = AddOnSerializer(
        source="offered_addons", many=True, read_only=True, help_text="Add-ons offered with this plan."
    )


class AttachedAddOnSerializer(serializers.Serializer):
    addon = AddOnSerializer(read_only=True)
    quantity = serializers.IntegerField(read_only=True)


def _datetime(value: datetime | None, tz: tzinfo | None = None) -> str | None:
    """What ``serializers.DateTimeField`` renders: ISO 8601 in the current time zone (or
    ``tz``, looked up once for a whole page), UTC as Z."""
    if value is None:
        return None
    text = value.astimezone(tz or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class SubscriptionSerializer(serializers.Serializer):
    """A subscription with its quota (used and limit per dimension)."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=Subscription.State.choices, read_only=True)
    state_reason = serializers.CharField(read_only=True, help_text="Why it was last suspended or cancelled.")
    state_changed = serializers.DateTimeField(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    plan = PlanRefSerializer(read_only=True)
    quota = QuotaField()

    # The fields above, rendered by hand: this serializer is the hot path of
    # GET /api/v1/subscriptions/ (50 rows a page, each with six quota entries), where DRF's
    # per-field machinery cost more than the queries. The declared fields still document the
    # shape, and tests/api/test_subscriptions.py checks both renderings agree.
    FAST_FIELDS = ("id", "name", "state", "state_reason", "state_changed", "created", "plan", "quota")

    def to_representation(self, subscription: Subscription) -> dict:
        plan = subscription.plan
        usage = self.context["usage"][subscription.pk]
        used, limit = usage.used, usage.limit
        data = {
            "id": str(subscription.pk),
            "name": subscription.name,
            "state": subscription.state,
            "state_reason": subscription.state_reason,
            "state_changed": _datetime(subscription.state_changed),
            "created": _datetime(subscription.created),
            "plan": {"id": str(plan.pk), "name": plan.name},
            "quota": [
                {"dimension": d, "used": getattr(used, d), "limit": getattr(limit, d)} for d in DIMENSIONS
            ],
        }
        for field in self._extra_fields:
            data[field.field_name] = field.to_representation(field.get_attribute(subscription))
        return data

    @cached_property
    def _extra_fields(self) -> list:
        """Fields that subclasses add (add-ons, the tenant): they go through DRF as usual."""
        return [f for f in self._readable_fields if f.field_name not in self.FAST_FIELDS]

    def generic_representation(self, subscription: Subscription) -> dict:
        """The same, through DRF's declared fields (for the test that keeps both in step)."""
        return super().to_representation(subscription)


def subscription_list_data(rows: list[dict]) -> list[dict]:
    """``SubscriptionSerializer``'s output for ``subscriptions.selectors.subscription_rows``
    rows, built directly: the list endpoint's hot path (50 rows of six quota entries a page)
    skips model instances, ``QuotaUsage`` objects and DRF fields altogether.
    tests/api/test_subscriptions.py keeps it equal to the serializer's rendering."""
    tz = timezone.get_current_timezone()
    return [
        {
            "id": str(row["id"]),
            "name": row["name"],
            "state": row["state"],
            "state_reason": row["state_reason"],
            "state_changed": _datetime(row["state_changed"], tz),
            "created": _datetime(row["created"], tz),
            "plan": {"id": str(row["plan_id"]), "name": row["plan__name"]},
            "quota": [{"dimension": d, "used": used, "limit": limit} for d, used, limit in row_quota(row)],
        }
        for row in rows
    ]


class SubscriptionDetailSerializer(SubscriptionSerializer):
    addons = AttachedAddOnSerializer(source="addon_links.all", many=True, read_only=True)


class QuotaRowSerializer(serializers.Serializer):
    dimension = serializers.ChoiceField(choices=[(d, DIMENSION_LABELS[d]) for d in DIMENSIONS])
    label = serializers.CharField()
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    percent = serializers.IntegerField(help_text="Used, in percent of the limit (capped at 100).")
    level = serializers.ChoiceField(
        choices=["success", "warning", "danger"],
        help_text="success below 70 %, warning below 90 %, danger above.",
    )
