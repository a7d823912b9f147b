"""Tenant API: who am I, the current tenant, team, invitations, API tokens and activity.

HackSoft style: one APIView per action, nested Input/Output serializers, writes through
``tenants.services``. Lookups go through tenant-scoped selectors, so another tenant's id is
``DoesNotExist`` (404, see portal.api.exceptions) before any role is checked.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.base import PaginatedListMixin, TenantAPIMixin
from portal.tenancy import get_memberships, get_tenant_context
from tenants import selectors
from tenants.api.serializers import (
    ApiTokenSerializer,
    AuditEventSerializer,
    InvitationSerializer,
    MemberSerializer,
    MembershipRefSerializer,
    TenantRefSerializer,
    TenantSerializer,
    UserRefSerializer,
)
from tenants.models import ApiToken, Role
from tenants.services import (
    api_token_create,
    api_token_revoke,
    invitation_create,
    invitation_revoke,
    invitation_url,
    membership_change_role,
    membership_remove,
    tenant_rename,
)

# --- me and the current tenant -----------------------------------------------------------------


class MeApi(APIView):
    """The signed-in user, the tenant this request acts in and their role there."""

    class OutputSerializer(serializers.Serializer):
        class UserSerializer(UserRefSerializer):
            is_service_admin = serializers.BooleanField(read_only=True)

        class TokenSerializer(serializers.Serializer):
            id = serializers.UUIDField(read_only=True)
            name = serializers.CharField(read_only=True)
            role = serializers.ChoiceField(choices=Role.choices, read_only=True)
            expires_at = serializers.DateTimeField(read_only=True)

        user = UserSerializer(read_only=True)
        tenant = TenantRefSerializer(read_only=True, allow_null=True)
        role = serializers.ChoiceField(
            choices=Role.choices,
            read_only=True,
            allow_null=True,
            help_text="Your effective role in the current tenant (a token's role never exceeds its user's).",
        )
        memberships = MembershipRefSerializer(many=True, read_only=True)
        token = TokenSerializer(
            read_only=True, allow_null=True, help_text="The token this request used, if it used one."
        )

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        context = get_tenant_context(request._request)
        data = {
            "user": request.user,
            "tenant": context.tenant if context else None,
            "role": context.role if context else None,
            "memberships": get_memberships(request._request),
            "token": request.auth if isinstance(request.auth, ApiToken) else None,
        }
        return Response(self.OutputSerializer(data).data)


class TenantApi(TenantAPIMixin, APIView):
    """The current tenant. Owners rename it."""

    required_role = Role.OWNER

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    @extend_schema(responses=TenantSerializer)
    def get(self, request):
        return Response(TenantSerializer(self.tenant).data)

    @extend_schema(request=InputSerializer, responses=TenantSerializer)
    def patch(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = tenant_rename(tenant=self.tenant, name=data.validated_data["name"], actor=request.user)
        return Response(TenantSerializer(tenant).data)


# --- team ------------------------------------------------------------------------------------------


class MemberListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    @extend_schema(
        responses=MemberSerializer(many=True),
        parameters=[OpenApiParameter("q", str, description="Search e-mail and name.")],
    )
    def get(self, request):
        members = selectors.member_list(tenant=self.tenant, search=request.query_params.get("q", "").strip())
        return self.paginated(
            members.order_by("user__email", "pk"), lambda rows: MemberSerializer(rows, many=True).data
        )


class MemberDetailApi(TenantAPIMixin, APIView):
    """One member. Owners change roles and remove members; anyone may remove themselves
    (leave the tenant). A tenant always keeps one owner (409)."""

    required_role = Role.READER  # checked per object below: leaving needs no role

    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=MemberSerializer)
    def get(self, request, pk):
        return Response(MemberSerializer(selectors.member_get(tenant=self.tenant, pk=pk)).data)

    @extend_schema(request=InputSerializer, responses=MemberSerializer)
    def patch(self, request, pk):
        membership = selectors.member_get(tenant=self.tenant, pk=pk)
        self.require_role(Role.OWNER)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_change_role(
            membership=membership, role=data.validated_data["role"], actor=request.user
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        membership = selectors.member_get(tenant=self.tenant, pk=pk)
        if membership.user_id != request.user.pk:
            self.require_role(Role.OWNER)
        membership_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- invitations -----------------------------------------------------------------------------------


class InvitationListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """Open invitations (pending or expired, neither accepted nor revoked). Owners invite."""

    required_role = Role.OWNER

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        role = serializers.ChoiceField(choices=Role.choices, default=Role.READER)

    class OutputSerializer(InvitationSerializer):
        accept_url = serializers.CharField(
            read_only=True, help_text="The invitation link. Returned once: only its hash is stored."
        )

    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request):
        invitations = selectors.open_invitations(tenant=self.tenant).order_by("-created", "pk")
        return self.paginated(invitations, lambda rows: InvitationSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, raw = invitation_create(tenant=self.tenant, actor=request.user, **data.validated_data)
        invitation.accept_url = invitation_url(raw)
        response = Response(self.OutputSerializer(invitation).data, status=status.HTTP_201_CREATED)
        add_never_cache_headers(response)
        return response


class InvitationDetailApi(TenantAPIMixin, APIView):
    @extend_schema(responses=InvitationSerializer)
    def get(self, request, pk):
        return Response(InvitationSerializer(selectors.invitation_get(tenant=self.tenant, pk=pk)).data)


class InvitationRevokeApi(TenantAPIMixin, APIView):
    """Revoke an invitation: its link stops working. 409 if accepted or revoked already."""

    @extend_schema(request=None, responses=InvitationSerializer)
    def post(self, request, pk):
        invitation = selectors.invitation_get(tenant=self.tenant, pk=pk)
        self.require_role(Role.OWNER)
        invitation = invitation_revoke(invitation=invitation, actor=request.user)
        return Response(InvitationSerializer(invitation).data)


# --- API tokens ------------------------------------------------------------------------------------


class ApiTokenListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """Owners see every token of the tenant, everyone else their own. Operators and owners
    create tokens, for themselves, with at most their own role."""

    required_role = Role.OPERATOR

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        role = serializers.ChoiceField(choices=Role.choices, default=Role.READER)
        expires_in_days = serializers.IntegerField(
            min_value=1, default=30, help_text="Days until the token expires (at most API_TOKEN_MAX_DAYS)."
        )

        def validate_expires_in_days(self, value: int) -> int:
            if value > settings.API_TOKEN_MAX_DAYS:
                raise serializers.ValidationError(f"Choose between 1 and {settings.API_TOKEN_MAX_DAYS} days.")
            return value

    class OutputSerializer(ApiTokenSerializer):
        token = serializers.CharField(
            read_only=True,
            help_text="The secret, for `Authorization: Bearer <token>`. Returned once: only its hash is stored.",
        )

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request):
        context = self.tenant_context
        tokens = selectors.api_token_list(tenant=context.tenant, user=request.user, role=context.role)
        return self.paginated(
            tokens.order_by("-created", "pk"), lambda rows: ApiTokenSerializer(rows, many=True).data
        )

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, secret = api_token_create(
            tenant=self.tenant, user=request.user, actor_role=self.tenant_context.role, **data.validated_data
        )
        token.token = secret
        response = Response(self.OutputSerializer(token).data, status=status.HTTP_201_CREATED)
        add_never_cache_headers(response)
        return response


def _visible_token(view: TenantAPIMixin, request, pk) -> ApiToken:
    """A token of the tenant; someone else's needs the owner role (403), as in the portal."""
    token = selectors.api_token_get(tenant=view.tenant, pk=pk)
    if token.user_id != request.user.pk:
        view.require_role(Role.OWNER)
    return token


class ApiTokenDetailApi(TenantAPIMixin, APIView):
    @extend_schema(responses=ApiTokenSerializer)
    def get(self, request, pk):
        return Response(ApiTokenSerializer(_visible_token(self, request, pk)).data)


class ApiTokenRevokeApi(TenantAPIMixin, APIView):
    """Revoke a token: your own at any role, anyone's as an owner. It answers 401 from then on."""

    required_role = Role.READER

    @extend_schema(request=None, responses=ApiTokenSerializer)
    def post(self, request, pk):
        token = api_token_revoke(token=_visible_token(self, request, pk), actor=request.user)
        return Response(ApiTokenSerializer(token).data)


# --- activity --------------------------------------------------------------------------------------


class ActivityListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """The tenant's audit log, newest first."""

    @extend_schema(
        responses=AuditEventSerializer(many=True),
        parameters=[
            OpenApiParameter("action", str, description="Only this action, e.g. `subscription.create`."),
            OpenApiParameter("actor", str, description="Only events by this actor (an e-mail address)."),
        ],
    )
    def get(self, request):
        events = selectors.activity_list(
            tenant=self.tenant,
            action=request.query_params.get("action", "").strip(),
            actor=request.query_params.get("actor", "").strip(),
        )
        return self.paginated(events, lambda rows: AuditEventSerializer(rows, many=True).data)
