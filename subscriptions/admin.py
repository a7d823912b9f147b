"""Django's admin site for debugging (only mounted when DEBUG). The real admin portal is /manage/."""

from django.contrib import admin

from subscriptions.models import AddOn, Allocation, Plan, Subscription, SubscriptionAddOn


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "visibility",
        "state",
        "vms",
        "vcpus",
        "ram_gib",
        "disk_gib",
        "networks",
        "public_ips",
    )
    list_filter = ("visibility", "state")
    search_fields = ("name",)


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ("name", "state", "vms", "vcpus", "ram_gib", "disk_gib", "networks", "public_ips")
    list_filter = ("state",)
    search_fields = ("name",)
    filter_horizontal = ("plans",)


class SubscriptionAddOnInline(admin.TabularInline):
    model = SubscriptionAddOn
    extra = 0


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "plan", "state", "created")
    list_filter = ("state", "plan")
    search_fields = ("name", "tenant__name")
    list_select_related = ("tenant", "plan")
    raw_id_fields = ("tenant", "created_by")
    inlines = [SubscriptionAddOnInline]


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    """The quota ledger. Read-only here: rows are written with their resources, never by hand."""

    list_display = ("resource_type", "resource_id", "subscription", "vms", "vcpus", "ram_gib", "created")
    list_filter = ("resource_type",)
    list_select_related = ("subscription",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
