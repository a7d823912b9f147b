"""Output shapes of the admin gallery API: items with every version (drafts too), the
versions' documents, VM sizes, the plans offering each, and packages.

Input serializers live in their views (``adminportal.api.gallery_views``), one per action.
"""

from __future__ import annotations

from rest_framework import serializers

from gallery.models import GalleryItem, GalleryItemVersion, State
from subscriptions.api.serializers import PlanRefSerializer


class AdminGalleryItemSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    publisher = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    category = serializers.ChoiceField(choices=GalleryItem.Category.choices, read_only=True)
    os_family = serializers.ChoiceField(choices=GalleryItem.OSFamily.choices, read_only=True)
    icon = serializers.CharField(read_only=True, help_text="A Bootstrap Icons name.")
    plans = PlanRefSerializer(
        source="plans.all", many=True, read_only=True, help_text="Plans offering the item."
    )
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)


class AdminGalleryItemListSerializer(AdminGalleryItemSerializer):
    """A list row: counts instead of the versions (annotated by ``gallery_item_list``)."""

    version_count = serializers.IntegerField(read_only=True)
    published_count = serializers.IntegerField(read_only=True, help_text="Versions tenants see.")
    draft_count = serializers.IntegerField(read_only=True)


class AdminGalleryVersionSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    version = serializers.CharField(read_only=True, help_text="major.minor.build")
    state = serializers.ChoiceField(choices=GalleryItemVersion.State.choices, read_only=True)
    notes = serializers.CharField(read_only=True)
    sizes = serializers.ListField(
        child=serializers.CharField(), source="size_names", read_only=True, help_text="VM sizes it runs on."
    )
    published_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)


class AdminGalleryItemDetailSerializer(AdminGalleryItemSerializer):
    versions = AdminGalleryVersionSummarySerializer(
        source="versions.all", many=True, read_only=True, help_text="Every version, newest first."
    )


class AdminGalleryVersionSerializer(AdminGalleryVersionSummarySerializer):
    """A version with its three documents (see docs/gallery-packages.md for their format)."""

    item = serializers.UUIDField(source="item_id", read_only=True)
    default_language = serializers.CharField(read_only=True)
    resource_definition = serializers.DictField(read_only=True)
    parameter_definition = serializers.DictField(read_only=True)
    resource_extension = serializers.DictField(read_only=True)
    is_editable = serializers.BooleanField(read_only=True, help_text="Only drafts can change.")


class AdminVmSizeSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    vcpus = serializers.IntegerField(read_only=True)
    ram_gib = serializers.IntegerField(read_only=True)
    disk_gib = serializers.IntegerField(read_only=True, help_text="OS disk.")
    state = serializers.ChoiceField(choices=State.choices, read_only=True)
    summary = serializers.CharField(read_only=True)
    plans = PlanRefSerializer(source="plans.all", many=True, read_only=True, help_text="Plans offering it.")
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)


# --- packages (schema: the format itself is gallery/schema/package.schema.json) --------------------


class PackageItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.SlugField()
    publisher = serializers.CharField()
    description = serializers.CharField(required=False)
    category = serializers.ChoiceField(choices=GalleryItem.Category.choices, required=False)
    os_family = serializers.ChoiceField(choices=GalleryItem.OSFamily.choices, required=False)
    icon = serializers.CharField(required=False)


class PackageVersionSerializer(serializers.Serializer):
    version = serializers.CharField(help_text="major.minor.build")
    state = serializers.ChoiceField(choices=GalleryItemVersion.State.choices, required=False)
    default_language = serializers.CharField(required=False)
    notes = serializers.CharField(required=False)
    resource = serializers.DictField()
    parameters = serializers.DictField()
    extension = serializers.DictField(required=False)


class PackageSerializer(serializers.Serializer):
    """Schema only: a gallery package as docs/gallery-packages.md describes it. Import checks
    it against the package's own JSON Schema, which is stricter (unknown keys, patterns)."""

    format = serializers.ChoiceField(choices=["cloudstamp.gallery-package"])
    format_version = serializers.IntegerField()
    item = PackageItemSerializer()
    versions = PackageVersionSerializer(many=True)


class AdminGalleryImportSerializer(serializers.Serializer):
    created = serializers.BooleanField(read_only=True, help_text="The package's slug was new.")
    item_changes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Item fields the package changed (an existing item only).",
    )
    versions_created = serializers.ListField(child=serializers.CharField(), read_only=True)
    versions_unchanged = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Already stored with the same content."
    )
    item = AdminGalleryItemDetailSerializer(read_only=True)
