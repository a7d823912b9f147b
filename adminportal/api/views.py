"""Admin API under /api/v1/admin/: tenants, users, plans, add-ons, subscriptions, activity.

Service admins only, and only with a session: a token is always a tenant credential
(``IsServiceAdmin``). Reads go through ``adminportal.selectors``, writes through the tenants,
subscriptions and admin-portal services, exactly as the admin portal's pages do.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from adminportal import selectors
from adminportal.api.serializers import (
    AdminAddOnSerializer,
    AdminAuditEventSerializer,
    AdminPlanSerializer,
    AdminSubscriptionDetailSerializer,
    AdminSubscriptionSerializer,
    AdminTenantDetailSerializer,
    AdminTenantSerializer,
    AdminUserDetailSerializer,
    AdminUserSerializer,
)
from adminportal.services import admin_user_create, tenant_create_with_owner
from portal.api.base import IsServiceAdmin, PaginatedListMixin, query_filters
from subscriptions.api.views import subscription_detail_data
from subscriptions.models import AddOn, Plan, Subscription, Visibility
from subscriptions.selectors import quota_usage_many
from subscriptions.services import (
    addon_create,
    addon_update,
    plan_create,
    plan_update,
    subscription_cancel,
    subscription_create,
    subscription_reactivate,
    subscription_suspend,
)
from tenants.models import Role, Tenant, User
from tenants.services import tenant_set_state, user_set_active

_UUID = serializers.UUIDField()


class AdminApi(APIView):
    permission_classes = [IsServiceAdmin]


# --- tenants ---------------------------------------------------------------------------------------


def _tenant_detail(pk) -> dict:
    tenant = selectors.tenant_list().get(pk=pk)
    # Loaded here, under names that do not shadow the model's relations.
    tenant.member_rows = list(selectors.tenant_members(tenant))
    tenant.subscription_rows = list(selectors.tenant_subscriptions(tenant))
    return AdminTenantDetailSerializer(tenant).data


class AdminTenantListApi(PaginatedListMixin, AdminApi):
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, default="", help_text="Search name and slug.")
        state = serializers.ChoiceField(choices=Tenant.State.choices, required=False, default="")

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        owner_email = serializers.EmailField(
            help_text="The first owner. A new user is created (and mailed a set-password link) if needed."
        )
        owner_name = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)

    @extend_schema(parameters=[FilterSerializer], responses=AdminTenantSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        tenants = selectors.tenant_list(search=filters["q"], state=filters["state"]).order_by("name", "pk")
        return self.paginated(tenants, lambda rows: AdminTenantSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: AdminTenantDetailSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant, _, _ = tenant_create_with_owner(actor=request.user, **data.validated_data)
        return Response(_tenant_detail(tenant.pk), status=status.HTTP_201_CREATED)


class AdminTenantDetailApi(AdminApi):
    @extend_schema(responses=AdminTenantDetailSerializer)
    def get(self, request, pk):
        return Response(_tenant_detail(pk))


class _TenantStateApi(AdminApi):
    """Disable or enable a tenant; 409 if it already is."""

    target_state: str = ""

    @extend_schema(request=None, responses=AdminTenantDetailSerializer)
    def post(self, request, pk):
        tenant = Tenant.objects.get(pk=pk)
        tenant_set_state(tenant=tenant, state=self.target_state, actor=request.user)
        return Response(_tenant_detail(pk))


class AdminTenantDisableApi(_TenantStateApi):
    """Disable a tenant: its members can no longer act in it and its tokens stop working."""

    target_state = Tenant.State.DISABLED


class AdminTenantEnableApi(_TenantStateApi):
    target_state = Tenant.State.ACTIVE


# --- users -----------------------------------------------------------------------------------------


def _user(pk) -> User:
    """A user with their tenant count (``User.DoesNotExist`` is a 404)."""
    return selectors.user_list().get(pk=pk)


def _user_detail(user: User) -> dict:
    user.membership_rows = list(selectors.user_memberships(user))
    return AdminUserDetailSerializer(user).data


class AdminUserListApi(PaginatedListMixin, AdminApi):
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, default="", help_text="Search e-mail and name.")
        kind = serializers.ChoiceField(choices=["tenant", "admin"], required=False, default="")
        active = serializers.BooleanField(required=False, allow_null=True, default=None)

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        full_name = serializers.CharField(max_length=150, required=False, default="", allow_blank=True)
        is_service_admin = serializers.BooleanField(default=False)
        tenant = serializers.PrimaryKeyRelatedField(
            queryset=Tenant.objects.all(),
            pk_field=_UUID,
            required=False,
            allow_null=True,
            default=None,
            help_text="Invite the new user to this tenant (tenant users only).",
        )
        role = serializers.ChoiceField(choices=Role.choices, default=Role.READER)

        def validate(self, attrs: dict) -> dict:
            if attrs["is_service_admin"] and attrs["tenant"] is not None:
                raise serializers.ValidationError({"tenant": "Service admins belong to no tenant."})
            return attrs

    @extend_schema(parameters=[FilterSerializer], responses=AdminUserSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        active = {True: "yes", False: "no", None: ""}[filters["active"]]
        users = selectors.user_list(search=filters["q"], kind=filters["kind"], active=active)
        return self.paginated(
            users.order_by("email", "pk"), lambda rows: AdminUserSerializer(rows, many=True).data
        )

    @extend_schema(request=InputSerializer, responses={201: AdminUserDetailSerializer})
    def post(self, request):
        """Create a user; they choose their password from a mailed link."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = admin_user_create(actor=request.user, **data.validated_data)
        return Response(_user_detail(_user(user.pk)), status=status.HTTP_201_CREATED)


class AdminUserDetailApi(AdminApi):
    @extend_schema(responses=AdminUserDetailSerializer)
    def get(self, request, pk):
        return Response(_user_detail(_user(pk)))


class _UserActiveApi(AdminApi):
    active: bool = True

    @extend_schema(request=None, responses=AdminUserDetailSerializer)
    def post(self, request, pk):
        user = _user(pk)
        user_set_active(user=user, active=self.active, actor=request.user)
        return Response(_user_detail(_user(pk)))


class AdminUserDeactivateApi(_UserActiveApi):
    """Deactivate a user: their sessions and tokens stop working. 409 for yourself."""

    active = False


class AdminUserActivateApi(_UserActiveApi):
    active = True


# --- plans and add-ons -----------------------------------------------------------------------------


class LimitsInputSerializer(serializers.Serializer):
    vms = serializers.IntegerField(min_value=0, required=False)
    vcpus = serializers.IntegerField(min_value=0, required=False)
    ram_gib = serializers.IntegerField(min_value=0, required=False)
    disk_gib = serializers.IntegerField(min_value=0, required=False)
    networks = serializers.IntegerField(min_value=0, required=False)
    public_ips = serializers.IntegerField(min_value=0, required=False)


def _service_kwargs(validated: dict) -> dict:
    """Input as the plan/add-on services take it: quota columns flat, not under ``limits``."""
    data = dict(validated)
    data.update(data.pop("limits", {}))
    return data


class PlanInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    invitation_code = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Required with visibility `code`."
    )
    state = serializers.ChoiceField(choices=Plan.State.choices, required=False)
    max_subscriptions_per_tenant = serializers.IntegerField(min_value=1, required=False)
    limits = LimitsInputSerializer(
        required=False, help_text="Quota per dimension; omitted ones stay as they are (0 on create)."
    )
    addons = serializers.PrimaryKeyRelatedField(
        queryset=AddOn.objects.all(),
        pk_field=_UUID,
        many=True,
        required=False,
        help_text="Add-ons offered with the plan.",
    )


class AddOnInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    state = serializers.ChoiceField(choices=AddOn.State.choices, required=False)
    limits = LimitsInputSerializer(required=False, help_text="What one unit adds per dimension.")
    plans = serializers.PrimaryKeyRelatedField(
        queryset=Plan.objects.all(), pk_field=_UUID, many=True, required=False, help_text="Plans offering it."
    )


def _plan_data(pk) -> dict:
    return AdminPlanSerializer(selectors.plan_list().get(pk=pk)).data


def _addon_data(pk) -> dict:
    return AdminAddOnSerializer(selectors.addon_list().get(pk=pk)).data


class AdminPlanListApi(PaginatedListMixin, AdminApi):
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, default="", help_text="Search name and description.")
        state = serializers.ChoiceField(choices=Plan.State.choices, required=False, default="")
        visibility = serializers.ChoiceField(choices=Visibility.choices, required=False, default="")

    @extend_schema(parameters=[FilterSerializer], responses=AdminPlanSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        plans = selectors.plan_list(
            search=filters["q"], state=filters["state"], visibility=filters["visibility"]
        )
        return self.paginated(
            plans.order_by("name", "pk"), lambda rows: AdminPlanSerializer(rows, many=True).data
        )

    @extend_schema(request=PlanInputSerializer, responses={201: AdminPlanSerializer})
    def post(self, request):
        data = PlanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = plan_create(actor=request.user, **_service_kwargs(data.validated_data))
        return Response(_plan_data(plan.pk), status=status.HTTP_201_CREATED)


class AdminPlanDetailApi(AdminApi):
    @extend_schema(responses=AdminPlanSerializer)
    def get(self, request, pk):
        return Response(_plan_data(pk))

    @extend_schema(request=PlanInputSerializer, responses=AdminPlanSerializer)
    def patch(self, request, pk):
        plan = selectors.plan_get(pk)
        data = PlanInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        plan_update(plan=plan, actor=request.user, **_service_kwargs(data.validated_data))
        return Response(_plan_data(pk))


class AdminAddOnListApi(PaginatedListMixin, AdminApi):
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, default="", help_text="Search name and description.")
        state = serializers.ChoiceField(choices=AddOn.State.choices, required=False, default="")

    @extend_schema(parameters=[FilterSerializer], responses=AdminAddOnSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        addons = selectors.addon_list(search=filters["q"], state=filters["state"])
        return self.paginated(
            addons.order_by("name", "pk"), lambda rows: AdminAddOnSerializer(rows, many=True).data
        )

    @extend_schema(request=AddOnInputSerializer, responses={201: AdminAddOnSerializer})
    def post(self, request):
        data = AddOnInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        addon = addon_create(actor=request.user, **_service_kwargs(data.validated_data))
        return Response(_addon_data(addon.pk), status=status.HTTP_201_CREATED)


class AdminAddOnDetailApi(AdminApi):
    @extend_schema(responses=AdminAddOnSerializer)
    def get(self, request, pk):
        return Response(_addon_data(pk))

    @extend_schema(request=AddOnInputSerializer, responses=AdminAddOnSerializer)
    def patch(self, request, pk):
        addon = selectors.addon_get(pk)
        data = AddOnInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        addon_update(addon=addon, actor=request.user, **_service_kwargs(data.validated_data))
        return Response(_addon_data(pk))


# --- subscriptions ---------------------------------------------------------------------------------


def _subscription_data(subscription: Subscription, *, reload: bool = True) -> dict:
    return subscription_detail_data(
        subscription, reload=reload, serializer_class=AdminSubscriptionDetailSerializer
    )


class AdminSubscriptionListApi(PaginatedListMixin, AdminApi):
    """Every tenant's subscriptions, with quota; admins assign any plan (private ones too)."""

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(
            required=False, default="", help_text="Search subscription and tenant names."
        )
        state = serializers.ChoiceField(choices=Subscription.State.choices, required=False, default="")
        tenant = serializers.UUIDField(required=False, default=None, help_text="Only this tenant's.")
        plan = serializers.UUIDField(required=False, default=None, help_text="Only this plan's.")

    class InputSerializer(serializers.Serializer):
        tenant = serializers.PrimaryKeyRelatedField(queryset=Tenant.objects.all(), pk_field=_UUID)
        plan = serializers.PrimaryKeyRelatedField(queryset=Plan.objects.all(), pk_field=_UUID)
        name = serializers.CharField(
            max_length=100,
            required=False,
            default="",
            allow_blank=True,
            help_text="Defaults to the plan's name.",
        )

    @extend_schema(parameters=[FilterSerializer], responses=AdminSubscriptionSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        subscriptions = selectors.subscription_list(state=filters["state"], search=filters["q"])
        if filters["plan"]:
            subscriptions = subscriptions.filter(plan_id=filters["plan"])
        if filters["tenant"]:
            subscriptions = subscriptions.filter(tenant_id=filters["tenant"])
        return self.paginated(subscriptions.order_by("-created", "pk"), self._rows)

    @staticmethod
    def _rows(page: list[Subscription]):
        return AdminSubscriptionSerializer(page, many=True, context={"usage": quota_usage_many(page)}).data

    @extend_schema(request=InputSerializer, responses={201: AdminSubscriptionDetailSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = subscription_create(actor=request.user, by_admin=True, **data.validated_data)
        return Response(_subscription_data(subscription), status=status.HTTP_201_CREATED)


class AdminSubscriptionDetailApi(AdminApi):
    @extend_schema(responses=AdminSubscriptionDetailSerializer)
    def get(self, request, pk):
        return Response(_subscription_data(selectors.subscription_get(pk), reload=False))


class AdminSubscriptionTransitionApi(AdminApi):
    """Suspend, reactivate or cancel; 409 from the wrong state."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=200, required=False, default="", allow_blank=True, help_text="Shown to the tenant."
        )

    transition = staticmethod(subscription_suspend)

    @extend_schema(request=InputSerializer, responses=AdminSubscriptionDetailSerializer)
    def post(self, request, pk):
        subscription = selectors.subscription_get(pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.transition(subscription=subscription, actor=request.user, **data.validated_data)
        return Response(_subscription_data(subscription))


class AdminSubscriptionSuspendApi(AdminSubscriptionTransitionApi):
    """Suspend: the subscription takes no new deployments."""

    transition = staticmethod(subscription_suspend)


class AdminSubscriptionReactivateApi(AdminSubscriptionTransitionApi):
    transition = staticmethod(subscription_reactivate)


class AdminSubscriptionCancelApi(AdminSubscriptionTransitionApi):
    """Cancel for good; 409 while resources still use its quota."""

    transition = staticmethod(subscription_cancel)


# --- activity --------------------------------------------------------------------------------------


class AdminActivityListApi(PaginatedListMixin, AdminApi):
    """Every audit event, newest first."""

    class FilterSerializer(serializers.Serializer):
        tenant = serializers.CharField(
            required=False, default="", help_text="A tenant's id, or part of its name."
        )
        actor = serializers.CharField(
            required=False, default="", help_text="Part of the actor's e-mail address."
        )
        action = serializers.CharField(
            required=False, default="", help_text="An action (`plan.create`) or a family (`subscription`)."
        )

    @extend_schema(parameters=[FilterSerializer], responses=AdminAuditEventSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        events = selectors.activity_list(**filters)
        return self.paginated(events, lambda rows: AdminAuditEventSerializer(rows, many=True).data)
