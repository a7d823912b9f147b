"""Django's admin site for debugging (only mounted when DEBUG). The real admin portal is /manage/."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants.models import ApiToken, Invitation, Membership, Tenant, User


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("email", "full_name", "is_service_admin", "is_active", "last_login")
    list_filter = ("is_service_admin", "is_active", "is_staff")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "is_service_admin")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "state", "created")
    list_filter = ("state",)
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created")
    list_filter = ("role",)
    search_fields = ("user__email", "tenant__name")
    list_select_related = ("user", "tenant")
    raw_id_fields = ("user", "tenant")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "tenant", "role", "expires_at", "accepted_at", "revoked_at")
    search_fields = ("email", "tenant__name")
    list_select_related = ("tenant",)
    # The hash is useless to a person and must never be edited.
    readonly_fields = ("token_hash",)
    raw_id_fields = ("tenant", "invited_by", "accepted_by")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "tenant", "user", "role", "expires_at", "last_used_at", "revoked_at")
    search_fields = ("name", "prefix", "tenant__name", "user__email")
    list_select_related = ("tenant", "user")
    readonly_fields = ("key_hash", "prefix", "last_used_at")
    raw_id_fields = ("tenant", "user")
