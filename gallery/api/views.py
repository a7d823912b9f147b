"""Tenant gallery API: the items your plans offer, their versions, and a validation dry run.

Every lookup goes through the tenant-scoped selectors, so an item no plan of yours offers
(another plan's private item) is a 404.
"""

from __future__ import annotations

from dataclasses import asdict

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery.api.serializers import (
    GalleryItemSerializer,
    QuotaImpactSerializer,
    ValidateRequestSerializer,
    ValidateResponseSerializer,
    VersionDetailSerializer,
)
from gallery.forms import quota_impact
from gallery.models import GalleryItemVersion
from gallery.parameters import ParameterValidationError
from gallery.selectors import (
    gallery_item_for_tenant,
    gallery_items_for_tenant,
    gallery_version_for_tenant,
    subscriptions_offering,
    vm_sizes_for,
)
from portal.api.base import PaginatedListMixin, TenantAPIMixin
from tenants.models import Role


def _version(tenant, pk, version_pk) -> GalleryItemVersion:
    version = gallery_version_for_tenant(tenant=tenant, pk=version_pk)
    if version.item_id != pk:
        raise GalleryItemVersion.DoesNotExist
    return version


class GalleryItemListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """Gallery items your tenant's active subscriptions offer, with their published versions."""

    @extend_schema(
        responses=GalleryItemSerializer(many=True),
        parameters=[
            OpenApiParameter("search", str, description="Match name, description or publisher."),
            OpenApiParameter("category", str),
            OpenApiParameter("os_family", str),
        ],
    )
    def get(self, request):
        params = request.query_params
        items = gallery_items_for_tenant(
            tenant=self.tenant,
            search=params.get("search", "").strip(),
            category=params.get("category", ""),
            os_family=params.get("os_family", ""),
        )
        return self.paginated(items, lambda rows: GalleryItemSerializer(rows, many=True).data)


class GalleryItemDetailApi(TenantAPIMixin, APIView):
    @extend_schema(responses=GalleryItemSerializer)
    def get(self, request, pk):
        return Response(GalleryItemSerializer(gallery_item_for_tenant(tenant=self.tenant, pk=pk)).data)


class GalleryVersionDetailApi(TenantAPIMixin, APIView):
    """One published version with its parameter definition, labels in ``?lang=`` (falling back
    to the version's default language)."""

    @extend_schema(
        responses=VersionDetailSerializer,
        parameters=[OpenApiParameter("lang", str, description="Language for labels and help, e.g. de.")],
    )
    def get(self, request, pk, version_pk):
        version = _version(self.tenant, pk, version_pk)
        language = request.query_params.get("lang") or None
        return Response(VersionDetailSerializer(version, context={"language": language}).data)


class GalleryVersionValidateApi(TenantAPIMixin, APIView):
    """Dry run of a deployment: every parameter problem and quota shortfall at once. Writes
    nothing, so readers may use it too."""

    required_role = Role.READER

    @extend_schema(
        request=ValidateRequestSerializer,
        responses={
            200: ValidateResponseSerializer,
            400: OpenApiResponse(
                description="Problems keyed by field (parameters.<name>, instance_count, subscription) "
                "and quota shortfalls under quota."
            ),
        },
    )
    def post(self, request, pk, version_pk):
        version = _version(self.tenant, pk, version_pk)
        body = ValidateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        errors: dict[str, list] = {}
        offering = subscriptions_offering(tenant=self.tenant, item=version.item)
        subscription = offering.filter(pk=data["subscription"]).first()
        if subscription is None:
            errors["subscription"] = ["No active subscription of yours with this id offers this item."]
        instance_count = data.get("instance_count", version.instance_bounds[2])
        try:
            version.check_instance_count(instance_count)
        except ValidationError as exc:
            errors["instance_count"] = list(exc.message_dict["instance_count"])
        sizes = vm_sizes_for(version=version, plan=subscription.plan) if subscription else None
        context = version.validation_context(sizes=sizes, networks={})
        cleaned: dict = {}
        try:
            cleaned = version.parameters.validate(data["parameters"], context)
        except ParameterValidationError as exc:
            errors.update({f"parameters.{name}": messages for name, messages in exc.errors.items()})
        quota, demand = [], None
        size = next(
            (s for s in sizes or [] if s.name == version.size_name(cleaned or data["parameters"])), None
        )
        if subscription is not None and size is not None and "instance_count" not in errors:
            demand = version.demand(instance_count, size, values=cleaned)
            quota = quota_impact(subscription, demand)
        shortfalls = [row for row in quota if row["exceeds"]]
        if shortfalls:
            errors["quota"] = QuotaImpactSerializer(shortfalls, many=True).data
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            ValidateResponseSerializer(
                {"valid": True, "demand": asdict(demand) if demand else {}, "quota": quota}
            ).data
        )
