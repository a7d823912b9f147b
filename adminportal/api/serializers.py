"""Output shapes of the admin API: what the tenant API shows, plus what only admins see
(invitation codes, every tenant, client addresses in the audit log)."""

from __future__ import annotations

from rest_framework import serializers

from subscriptions.api.serializers import (
    LimitsField,
    PlanRefSerializer,
    SubscriptionDetailSerializer,
    SubscriptionSerializer,
)
from subscriptions.models import AddOn, Plan, Subscription, Visibility
from tenants.api.serializers import (
    AuditEventSerializer,
    MemberSerializer,
    MembershipRefSerializer,
    TenantRefSerializer,
    TenantSerializer,
)


class AdminTenantSerializer(TenantSerializer):
    member_count = serializers.IntegerField(read_only=True)
    subscription_count = serializers.IntegerField(
        read_only=True, help_text="Live (not cancelled) subscriptions."
    )


class AdminTenantSubscriptionSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=Subscription.State.choices, read_only=True)
    plan = PlanRefSerializer(read_only=True)


class AdminTenantDetailSerializer(AdminTenantSerializer):
    members = MemberSerializer(source="member_rows", many=True, read_only=True)
    subscriptions = AdminTenantSubscriptionSerializer(source="subscription_rows", many=True, read_only=True)


class AdminUserSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)
    full_name = serializers.CharField(read_only=True)
    is_service_admin = serializers.BooleanField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)
    tenant_count = serializers.IntegerField(source="membership_count", read_only=True)


class AdminUserDetailSerializer(AdminUserSerializer):
    memberships = MembershipRefSerializer(source="membership_rows", many=True, read_only=True)


class AdminPlanSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, read_only=True)
    invitation_code = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=Plan.State.choices, read_only=True)
    max_subscriptions_per_tenant = serializers.IntegerField(read_only=True)
    limits = LimitsField()
    addons = PlanRefSerializer(source="addons.all", many=True, read_only=True, help_text="Add-ons offered.")
    subscription_count = serializers.IntegerField(
        read_only=True, help_text="Live (not cancelled) subscriptions."
    )
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)


class AdminAddOnSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=AddOn.State.choices, read_only=True)
    limits = LimitsField()
    plans = PlanRefSerializer(source="plans.all", many=True, read_only=True, help_text="Plans offering it.")
    subscription_count = serializers.IntegerField(
        read_only=True, help_text="Live subscriptions it is attached to."
    )
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)


class AdminSubscriptionSerializer(SubscriptionSerializer):
    tenant = TenantRefSerializer(read_only=True)


class AdminSubscriptionDetailSerializer(SubscriptionDetailSerializer):
    tenant = TenantRefSerializer(read_only=True)


class AdminAuditEventSerializer(AuditEventSerializer):
    tenant = TenantRefSerializer(read_only=True, allow_null=True)
    ip_address = serializers.IPAddressField(read_only=True, allow_null=True)
