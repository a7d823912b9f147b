"""Tenant API for plans and subscriptions.

Tenants list the plans they may subscribe to, subscribe (owners), cancel, attach and detach
add-ons, and read quota. Writes go through ``subscriptions.services``; every subscription is
looked up in the current tenant's queryset, so another tenant's id is a 404.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet, prefetch_related_objects
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api.base import PaginatedListMixin, TenantAPIMixin
from subscriptions.api.serializers import (
    AttachedAddOnSerializer,
    PlanSerializer,
    QuotaRowSerializer,
    SubscriptionDetailSerializer,
    SubscriptionSerializer,
    subscription_list_data,
)
from subscriptions.models import AddOn, Plan, Subscription, SubscriptionAddOn, Visibility
from subscriptions.selectors import quota_usage_many, subscription_get, subscription_rows_page
from subscriptions.services import (
    subscription_addon_add,
    subscription_addon_remove,
    subscription_cancel,
    subscription_create,
)
from tenants.models import Role

_UUID = serializers.UUIDField()

# --- plans -----------------------------------------------------------------------------------------

_OFFERED_ADDONS = Prefetch(
    "addons",
    queryset=AddOn.objects.filter(state=AddOn.State.ACTIVE).order_by("name"),
    to_attr="offered_addons",
)


def _plans_for(tenant, code: str = "") -> QuerySet[Plan]:
    """Active public plans, plus the code plan that ``code`` unlocks (the portal's "I have a
    code" box), each annotated with how many live subscriptions the tenant holds to it.

    Same rule as ``subscriptions.selectors.plans_for_tenant``, widened by the code.
    """
    visible = Q(visibility=Visibility.PUBLIC)
    if code:
        visible |= Q(visibility=Visibility.CODE, invitation_code=code)
    live = Q(subscriptions__tenant=tenant) & ~Q(subscriptions__state=Subscription.State.CANCELLED)
    return (
        Plan.objects.active()
        .filter(visible)
        .annotate(held=Count("subscriptions", filter=live))
        .prefetch_related(_OFFERED_ADDONS)
        .order_by("name", "pk")
    )


_CODE_PARAMETER = OpenApiParameter(
    "code", str, description="An invitation code: the plan it unlocks is included as well."
)


class PlanListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """Plans your tenant can subscribe to."""

    @extend_schema(responses=PlanSerializer(many=True), parameters=[_CODE_PARAMETER])
    def get(self, request):
        plans = _plans_for(self.tenant, request.query_params.get("code", "").strip())
        return self.paginated(plans, lambda rows: PlanSerializer(rows, many=True).data)


class PlanDetailApi(TenantAPIMixin, APIView):
    @extend_schema(responses=PlanSerializer, parameters=[_CODE_PARAMETER])
    def get(self, request, pk):
        plan = _plans_for(self.tenant, request.query_params.get("code", "").strip()).get(pk=pk)
        return Response(PlanSerializer(plan).data)


# --- subscriptions ---------------------------------------------------------------------------------


_ADDON_LINKS = Prefetch(
    "addon_links", queryset=SubscriptionAddOn.objects.select_related("addon").order_by("addon__name")
)


def subscription_detail_data(
    subscription: Subscription, *, reload: bool = True, serializer_class=SubscriptionDetailSerializer
) -> dict:
    """A subscription with its add-ons and quota. ``reload`` re-reads it first (after a write,
    the caller's copy may be stale); pass False for one that was just looked up. Callers pass
    a subscription they already found in scope (the tenant's, or any for admins)."""
    if reload:
        subscription = Subscription.objects.select_related("plan", "tenant").get(pk=subscription.pk)
    prefetch_related_objects([subscription], _ADDON_LINKS)
    usage = quota_usage_many([subscription])
    return serializer_class(subscription, context={"usage": usage}).data


def _states(request) -> list[str]:
    """``?state=active,suspended`` as a list; an unknown state is a 400 on ``state``."""
    states = [s for s in request.query_params.get("state", "").split(",") if s]
    unknown = sorted(set(states) - set(Subscription.State.values))
    if unknown:
        raise ValidationError({"state": [f"Unknown state: {', '.join(unknown)}."]})
    return states


class SubscriptionListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """Your tenant's subscriptions with quota used and limit per dimension; owners subscribe
    to a plan."""

    # The list is ONE query whatever the number of rows: the page with its plans, quota sums
    # and total count (``subscription_rows_page``), rendered without DRF fields.
    required_role = Role.OWNER

    class InputSerializer(serializers.Serializer):
        plan = serializers.PrimaryKeyRelatedField(
            # Private plans are assigned by admins: to a tenant they do not exist.
            queryset=Plan.objects.exclude(visibility=Visibility.PRIVATE),
            pk_field=_UUID,
            help_text="The plan's id (GET /api/v1/plans/).",
        )
        name = serializers.CharField(
            max_length=100,
            required=False,
            default="",
            allow_blank=True,
            help_text="Defaults to the plan's name.",
        )
        code = serializers.CharField(
            max_length=64,
            required=False,
            default="",
            allow_blank=True,
            help_text="Needed for invitation-code plans.",
        )

    @extend_schema(
        responses=SubscriptionSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "state",
                str,
                enum=Subscription.State.values,
                many=True,
                explode=False,
                description="Only these states (comma-separated).",
            )
        ],
    )
    def get(self, request):
        states = _states(request)
        paginator = self.pagination_class()
        rows = paginator.paginate_with(
            lambda offset, size: subscription_rows_page(
                tenant=self.tenant, states=states, offset=offset, size=size
            ),
            request,
        )
        return paginator.get_paginated_response(subscription_list_data(rows))

    @extend_schema(request=InputSerializer, responses={201: SubscriptionDetailSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = subscription_create(tenant=self.tenant, actor=request.user, **data.validated_data)
        return Response(subscription_detail_data(subscription), status=status.HTTP_201_CREATED)


class SubscriptionDetailApi(TenantAPIMixin, APIView):
    @extend_schema(responses=SubscriptionDetailSerializer)
    def get(self, request, pk):
        subscription = subscription_get(tenant=self.tenant, pk=pk)
        return Response(subscription_detail_data(subscription, reload=False))


class SubscriptionCancelApi(TenantAPIMixin, APIView):
    """Cancel for good (owners). 409 if already cancelled or resources still use it."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    @extend_schema(request=InputSerializer, responses=SubscriptionDetailSerializer)
    def post(self, request, pk):
        subscription = subscription_get(tenant=self.tenant, pk=pk)
        self.require_role(Role.OWNER)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription_cancel(subscription=subscription, actor=request.user, **data.validated_data)
        return Response(subscription_detail_data(subscription))


class SubscriptionAddOnListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """The add-ons attached to a subscription; owners attach one (or raise its quantity)."""

    class InputSerializer(serializers.Serializer):
        addon = serializers.PrimaryKeyRelatedField(
            queryset=AddOn.objects.all(), pk_field=_UUID, help_text="An add-on offered with the plan."
        )
        quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)

    @extend_schema(responses=AttachedAddOnSerializer(many=True))
    def get(self, request, pk):
        subscription = subscription_get(tenant=self.tenant, pk=pk)
        links = SubscriptionAddOn.objects.filter(subscription=subscription).select_related("addon")
        return self.paginated(
            links.order_by("addon__name", "pk"), lambda rows: AttachedAddOnSerializer(rows, many=True).data
        )

    @extend_schema(request=InputSerializer, responses={201: SubscriptionDetailSerializer})
    def post(self, request, pk):
        subscription = subscription_get(tenant=self.tenant, pk=pk)
        self.require_role(Role.OWNER)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription_addon_add(subscription=subscription, actor=request.user, **data.validated_data)
        return Response(subscription_detail_data(subscription), status=status.HTTP_201_CREATED)


class SubscriptionAddOnDetailApi(TenantAPIMixin, APIView):
    """One attached add-on; owners detach it (409 if what is in use would no longer fit)."""

    required_role = Role.OWNER

    def _link(self, pk, addon_pk) -> SubscriptionAddOn:
        subscription = subscription_get(tenant=self.tenant, pk=pk)
        link = (
            SubscriptionAddOn.objects.filter(subscription=subscription, addon_id=addon_pk)
            .select_related("addon", "subscription__tenant")
            .first()
        )
        if link is None:
            raise NotFound("This add-on is not attached to this subscription.")
        return link

    @extend_schema(responses=AttachedAddOnSerializer)
    def get(self, request, pk, addon_pk):
        return Response(AttachedAddOnSerializer(self._link(pk, addon_pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk, addon_pk):
        link = self._link(pk, addon_pk)
        subscription_addon_remove(subscription=link.subscription, addon=link.addon, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionQuotaApi(TenantAPIMixin, APIView):
    """Used, limit, remaining and percent per quota dimension (live and in-flight resources)."""

    @extend_schema(responses=QuotaRowSerializer(many=True))
    def get(self, request, pk):
        subscription = subscription_get(tenant=self.tenant, pk=pk)
        usage = quota_usage_many([subscription])[subscription.pk]
        return Response(QuotaRowSerializer(usage.rows(), many=True).data)
