"""Output shapes shared by the tenant API views (Input serializers live in their views).

Plain ``serializers.Serializer`` classes with explicit fields: cheaper than ModelSerializer
(no model introspection per instance) and the JSON shape is written down right here.
"""

from __future__ import annotations

from rest_framework import serializers

from tenants.models import Role, Tenant

# Computed statuses (``Invitation.status``, ``ApiToken.status``), named for the OpenAPI enums.
INVITATION_STATUSES = ["pending", "accepted", "revoked", "expired"]
TOKEN_STATUSES = ["active", "expired", "revoked"]


class UserRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)
    full_name = serializers.CharField(read_only=True)


class TenantRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)


class TenantSerializer(TenantRefSerializer):
    state = serializers.ChoiceField(choices=Tenant.State.choices, read_only=True)
    created = serializers.DateTimeField(read_only=True)


class MembershipRefSerializer(serializers.Serializer):
    """One of the signed-in user's tenants, and their role there."""

    tenant = TenantRefSerializer(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)


class MemberSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    user = UserRefSerializer(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    joined = serializers.DateTimeField(source="created", read_only=True)


class InvitationSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    status = serializers.ChoiceField(choices=INVITATION_STATUSES, read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)


class ApiTokenSerializer(serializers.Serializer):
    """A token as listed: never its secret, only the prefix people recognise it by."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    prefix = serializers.CharField(read_only=True, help_text="The first characters of the token.")
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    status = serializers.ChoiceField(choices=TOKEN_STATUSES, read_only=True)
    user = UserRefSerializer(read_only=True)
    created = serializers.DateTimeField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)
    last_used_at = serializers.DateTimeField(read_only=True, allow_null=True)
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    created = serializers.DateTimeField(read_only=True)
    actor = serializers.CharField(source="actor_repr", read_only=True)
    action = serializers.CharField(read_only=True)
    target_type = serializers.CharField(read_only=True)
    target_id = serializers.CharField(read_only=True)
    target = serializers.CharField(source="target_repr", read_only=True)
    data = serializers.DictField(read_only=True)
