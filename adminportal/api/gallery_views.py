"""Admin gallery API under /api/v1/admin/: items, versions and their life cycle, VM sizes,
plan offers, package import and export.

Service admins only, by session (``IsServiceAdmin``: a token is always a tenant credential).
Reads go through ``gallery.selectors``, writes through ``gallery.services``, as the admin
portal's pages do; the services raise ``ValidationError`` (400) and ``Conflict`` (409).

Plan offers are sub-resources with idempotent verbs: ``PUT …/plans/{plan_id}/`` offers the
item (or size) to the plan, ``DELETE`` stops offering it; both answer 204 whether or not
anything changed, so a script can repeat them safely.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from adminportal.api.gallery_serializers import (
    AdminGalleryImportSerializer,
    AdminGalleryItemDetailSerializer,
    AdminGalleryItemListSerializer,
    AdminGalleryVersionSerializer,
    AdminVmSizeSerializer,
    PackageSerializer,
)
from adminportal.api.views import AdminApi
from gallery import selectors, services
from gallery.models import GalleryItem, GalleryItemVersion, State, VMSize
from gallery.packages import MAX_PACKAGE_BYTES
from portal.api.base import PaginatedListMixin, query_filters
from portal.api.schema import ErrorSerializer
from subscriptions.models import Plan

_UUID = serializers.UUIDField()
_STATE_CONFLICT = OpenApiResponse(
    ErrorSerializer, description="The version is in the wrong state for this (`code` says which)."
)


def _item_data(pk) -> dict:
    return AdminGalleryItemDetailSerializer(selectors.gallery_item_get(pk=pk)).data


def _version(pk, version_pk) -> GalleryItemVersion:
    """A version of item ``pk``; a version of another item is a 404, like an unknown id."""
    return GalleryItemVersion.objects.select_related("item").get(pk=version_pk, item_id=pk)


def _size_data(pk) -> dict:
    return AdminVmSizeSerializer(selectors.vm_size_list().get(pk=pk)).data


# --- items -----------------------------------------------------------------------------------------


class ItemInputSerializer(serializers.Serializer):
    """The item fields; the model's validators (slug pattern, icon name) run in the service."""

    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=50, help_text="Unique; packages find their item by it.")
    publisher = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    category = serializers.ChoiceField(choices=GalleryItem.Category.choices, required=False)
    os_family = serializers.ChoiceField(choices=GalleryItem.OSFamily.choices, required=False)
    icon = serializers.CharField(
        max_length=64, required=False, help_text="A Bootstrap Icons name, e.g. hdd-stack."
    )


class AdminGalleryItemListApi(PaginatedListMixin, AdminApi):
    """Every gallery item (whatever its versions' states), with version counts and plans."""

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, default="", help_text="Search name, slug and publisher.")
        category = serializers.ChoiceField(choices=GalleryItem.Category.choices, required=False, default="")
        os_family = serializers.ChoiceField(choices=GalleryItem.OSFamily.choices, required=False, default="")

    class InputSerializer(ItemInputSerializer):
        plans = serializers.PrimaryKeyRelatedField(
            queryset=Plan.objects.all(),
            pk_field=_UUID,
            many=True,
            required=False,
            help_text="Plans offering it.",
        )

    @extend_schema(parameters=[FilterSerializer], responses=AdminGalleryItemListSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        items = selectors.gallery_item_list(
            search=filters["q"].strip(), category=filters["category"], os_family=filters["os_family"]
        )
        return self.paginated(items, lambda rows: AdminGalleryItemListSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: AdminGalleryItemDetailSerializer})
    def post(self, request):
        """Create an item with no versions yet: add them one by one, or import a package."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.gallery_item_create(actor=request.user, **data.validated_data)
        return Response(_item_data(item.pk), status=status.HTTP_201_CREATED)


class AdminGalleryItemDetailApi(AdminApi):
    @extend_schema(responses=AdminGalleryItemDetailSerializer)
    def get(self, request, pk):
        """An item with every version (newest first) and the plans offering it."""
        return Response(_item_data(pk))

    @extend_schema(request=ItemInputSerializer, responses=AdminGalleryItemDetailSerializer)
    def patch(self, request, pk):
        """Change the item's fields; offer it to plans with …/plans/{plan_id}/."""
        item = GalleryItem.objects.get(pk=pk)
        data = ItemInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.gallery_item_update(item=item, actor=request.user, **data.validated_data)
        return Response(_item_data(pk))


# --- packages --------------------------------------------------------------------------------------


class PackageParser(BaseParser):
    """Hands the raw JSON bytes to the package loader instead of parsing them here: the
    loader reports syntax errors with line and column and refuses repeated keys, which
    ``json.loads`` would silently merge. Reads at most one byte past the package limit, so
    an oversized body is refused without being held in memory."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read(MAX_PACKAGE_BYTES + 1)


class AdminGalleryImportApi(AdminApi):
    """Import a package (the request body): a new item, or new versions and metadata for the
    item with the package's slug. All or nothing: a package with any problem stores nothing,
    and the 400 lists every problem keyed by its JSON path (`$.versions[1].version`).
    Importing the same package twice changes nothing (200)."""

    parser_classes = [PackageParser]

    @extend_schema(
        request=PackageSerializer,
        responses={
            201: AdminGalleryImportSerializer,
            200: OpenApiResponse(AdminGalleryImportSerializer, description="Nothing new: already imported."),
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="`{json_path: [messages]}` for every problem, e.g. "
                '`{"$.versions[0].resource.sizes[1]": ["no VM size named \'huge\' exists here; create it first"]}`. '
                "Nothing was stored.",
            ),
            409: OpenApiResponse(
                ErrorSerializer, description="Another import of the same slug ran at the same time."
            ),
        },
    )
    def post(self, request):
        # request.data: the raw bytes, or {} for an empty body (which fails the schema check).
        result = services.gallery_package_import(data=request.data, actor=request.user)
        body = AdminGalleryImportSerializer(
            {
                "created": result.created,
                "item_changes": sorted(result.item_changes),
                "versions_created": result.versions_created,
                "versions_unchanged": result.versions_unchanged,
                "item": selectors.gallery_item_get(pk=result.item.pk),
            }
        ).data
        changed = result.created or result.versions_created
        return Response(body, status=status.HTTP_201_CREATED if changed else status.HTTP_200_OK)


class AdminGalleryItemExportApi(AdminApi):
    @extend_schema(responses=PackageSerializer)
    def get(self, request, pk):
        """The item and all its versions as a package that imports back to the same item."""
        item = GalleryItem.objects.get(pk=pk)
        # Returned as the package module builds it, not re-serialised: a field the format
        # gains must never be dropped on the way out. PackageSerializer only documents it.
        return Response(services.gallery_package_export(item=item, actor=request.user))


# --- versions --------------------------------------------------------------------------------------


class VersionDocumentsInputSerializer(serializers.Serializer):
    """What a draft may change. The documents are checked against the package schema on
    every save (errors as `"$.path: message"` under the field) and completely on publish."""

    resource_definition = serializers.DictField(help_text="Image, sizes, disks, NICs, instance count.")
    parameter_definition = serializers.DictField(help_text="The deploy form's sections and parameters.")
    resource_extension = serializers.DictField(required=False, help_text='`{"user_data": …}`, or {}.')
    default_language = serializers.CharField(max_length=16, required=False)
    notes = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class AdminGalleryVersionCreateApi(AdminApi):
    class InputSerializer(VersionDocumentsInputSerializer):
        version = serializers.CharField(max_length=32, help_text="major.minor.build, new for this item.")

    @extend_schema(request=InputSerializer, responses={201: AdminGalleryVersionSerializer})
    def post(self, request, pk):
        """Add a draft version; publish it when it is ready."""
        item = GalleryItem.objects.get(pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.gallery_version_create(item=item, actor=request.user, **data.validated_data)
        return Response(AdminGalleryVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class AdminGalleryVersionDetailApi(AdminApi):
    @extend_schema(responses=AdminGalleryVersionSerializer)
    def get(self, request, pk, version_pk):
        return Response(AdminGalleryVersionSerializer(_version(pk, version_pk)).data)

    @extend_schema(
        request=VersionDocumentsInputSerializer,
        responses={200: AdminGalleryVersionSerializer, 409: _STATE_CONFLICT},
    )
    def patch(self, request, pk, version_pk):
        """Edit a draft. Published and deprecated versions are immutable (409): a deployment
        that names a version must always mean the same thing."""
        version = _version(pk, version_pk)
        data = VersionDocumentsInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        version = services.gallery_version_update(version=version, actor=request.user, **data.validated_data)
        return Response(AdminGalleryVersionSerializer(version).data)

    @extend_schema(responses={204: None, 409: _STATE_CONFLICT})
    def delete(self, request, pk, version_pk):
        """Delete a draft; published and deprecated versions are deprecated, never deleted (409)."""
        services.gallery_version_delete(version=_version(pk, version_pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _VersionTransitionApi(AdminApi):
    transition = staticmethod(services.gallery_version_publish)

    @extend_schema(request=None, responses={200: AdminGalleryVersionSerializer, 409: _STATE_CONFLICT})
    def post(self, request, pk, version_pk):
        version = self.transition(version=_version(pk, version_pk), actor=request.user)
        return Response(AdminGalleryVersionSerializer(version).data)


class AdminGalleryVersionPublishApi(_VersionTransitionApi):
    """Offer a draft (or a deprecated version again) to tenants, after every definition check."""

    transition = staticmethod(services.gallery_version_publish)

    @extend_schema(
        request=None,
        responses={
            200: AdminGalleryVersionSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description='The documents fail a check: `{field: ["$.path: message"]}`. Still a draft.',
            ),
            409: _STATE_CONFLICT,
        },
    )
    def post(self, request, pk, version_pk):
        return super().post(request, pk, version_pk)


class AdminGalleryVersionUnpublishApi(_VersionTransitionApi):
    """Take a published version back to draft: tenants stop seeing it, and it can be edited."""

    transition = staticmethod(services.gallery_version_unpublish)


class AdminGalleryVersionDeprecateApi(_VersionTransitionApi):
    """Stop offering a published version for new deployments; existing ones keep it."""

    transition = staticmethod(services.gallery_version_deprecate)


# --- plan offers -----------------------------------------------------------------------------------


class _PlanOfferApi(AdminApi):
    """PUT offers the object to the plan, DELETE stops offering it; 204 either way."""

    model: type = GalleryItem
    attach = staticmethod(services.gallery_item_attach_plan)
    detach = staticmethod(services.gallery_item_detach_plan)
    keyword = "item"

    def _change(self, request, pk, plan_pk, action) -> Response:
        target = self.model.objects.get(pk=pk)
        plan = Plan.objects.get(pk=plan_pk)
        action(**{self.keyword: target, "plan": plan, "actor": request.user})
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    def put(self, request, pk, plan_pk):
        return self._change(request, pk, plan_pk, self.attach)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk, plan_pk):
        return self._change(request, pk, plan_pk, self.detach)


class AdminGalleryItemPlanApi(_PlanOfferApi):
    """Offer an item to a plan's subscribers, or stop (existing deployments are untouched)."""


class AdminVmSizePlanApi(_PlanOfferApi):
    """Offer a VM size to a plan's subscribers, or stop."""

    model = VMSize
    attach = staticmethod(services.vm_size_attach_plan)
    detach = staticmethod(services.vm_size_detach_plan)
    keyword = "size"


# --- VM sizes --------------------------------------------------------------------------------------


class SizeInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64, help_text="Lower-case letters, digits, dots, dashes.")
    vcpus = serializers.IntegerField(min_value=1)
    ram_gib = serializers.IntegerField(min_value=1)
    disk_gib = serializers.IntegerField(min_value=1, help_text="OS disk.")
    state = serializers.ChoiceField(
        choices=State.choices, required=False, help_text="Retired sizes are not offered for new deployments."
    )


class AdminVmSizeListApi(PaginatedListMixin, AdminApi):
    """VM size presets, smallest first, with the plans offering each."""

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=State.choices, required=False, default="")

    class InputSerializer(SizeInputSerializer):
        plans = serializers.PrimaryKeyRelatedField(
            queryset=Plan.objects.all(),
            pk_field=_UUID,
            many=True,
            required=False,
            help_text="Plans offering it.",
        )

    @extend_schema(parameters=[FilterSerializer], responses=AdminVmSizeSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        sizes = selectors.vm_size_list()
        if filters["state"]:
            sizes = sizes.filter(state=filters["state"])
        return self.paginated(sizes, lambda rows: AdminVmSizeSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: AdminVmSizeSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        size = services.vm_size_create(actor=request.user, **data.validated_data)
        return Response(_size_data(size.pk), status=status.HTTP_201_CREATED)


class AdminVmSizeDetailApi(AdminApi):
    @extend_schema(responses=AdminVmSizeSerializer)
    def get(self, request, pk):
        return Response(_size_data(pk))

    @extend_schema(request=SizeInputSerializer, responses=AdminVmSizeSerializer)
    def patch(self, request, pk):
        """Change a size; its name is fixed once a version lists it (409)."""
        size = VMSize.objects.get(pk=pk)
        data = SizeInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.vm_size_update(size=size, actor=request.user, **data.validated_data)
        return Response(_size_data(pk))
