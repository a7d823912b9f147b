"""Gallery API serializers: items, versions with their localised parameter definition, and
the validation dry run."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gallery.models import GalleryItem, GalleryItemVersion


class VersionSummarySerializer(serializers.ModelSerializer):
    version = serializers.CharField(read_only=True)
    sizes = serializers.ListField(child=serializers.CharField(), source="size_names", read_only=True)
    instance_count = serializers.SerializerMethodField()

    class Meta:
        model = GalleryItemVersion
        fields = ["id", "version", "notes", "published_at", "sizes", "instance_count"]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "min": {"type": "integer"},
                "max": {"type": "integer"},
                "default": {"type": "integer"},
            },
        }
    )
    def get_instance_count(self, version: GalleryItemVersion) -> dict:
        low, high, default = version.instance_bounds
        return {"min": low, "max": high, "default": default}


class GalleryItemSerializer(serializers.ModelSerializer):
    versions = VersionSummarySerializer(many=True, source="published_versions", read_only=True)

    class Meta:
        model = GalleryItem
        fields = [
            "id",
            "name",
            "slug",
            "publisher",
            "description",
            "category",
            "os_family",
            "icon",
            "versions",
        ]


class FieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    label = serializers.CharField()
    help = serializers.CharField()
    placeholder = serializers.CharField()
    required = serializers.BooleanField()
    visible = serializers.BooleanField(help_text="Visible for the default values.")
    choices = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    min = serializers.IntegerField(allow_null=True)
    max = serializers.IntegerField(allow_null=True)
    min_length = serializers.IntegerField(allow_null=True)
    max_length = serializers.IntegerField(allow_null=True)
    multiline = serializers.BooleanField()


class SectionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    fields = FieldSerializer(many=True)


class VersionDetailSerializer(VersionSummarySerializer):
    item = serializers.UUIDField(source="item_id", read_only=True)
    parameters = serializers.SerializerMethodField()

    class Meta(VersionSummarySerializer.Meta):
        fields = [*VersionSummarySerializer.Meta.fields, "item", "parameters"]

    @extend_schema_field(SectionSerializer(many=True))
    def get_parameters(self, version: GalleryItemVersion) -> list:
        sections = version.parameters.form_state(language=self.context.get("language"))
        return SectionSerializer(sections, many=True).data


class ValidateRequestSerializer(serializers.Serializer):
    subscription = serializers.UUIDField()
    instance_count = serializers.IntegerField(required=False)
    parameters = serializers.DictField(required=False, default=dict)


class QuotaImpactSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    needed = serializers.IntegerField()
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    exceeds = serializers.BooleanField()


class ValidateResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    demand = serializers.DictField(child=serializers.IntegerField())
    quota = QuotaImpactSerializer(many=True)
