"""Shared DRF pieces: every tenant-scoped API view resolves its tenant the same way."""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from portal.tenancy import TenantContext, get_tenant_context
from tenants.models import Role


class IsServiceAdmin(permissions.BasePermission):
    message = "This endpoint is for service admins."

    def has_permission(self, request, view) -> bool:
        user = request.user
        # A token is always a tenant credential, even if its user were an admin.
        return bool(user and user.is_authenticated and user.is_service_admin and request.auth is None)


class TenantAPIMixin:
    """Resolves ``self.tenant_context`` in ``initial``; 403 if the user has no tenant.

    ``required_role`` applies to unsafe methods; ``read_role`` (reader by default) to reads.
    """

    required_role: str = Role.OPERATOR
    read_role: str = Role.READER

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        context = get_tenant_context(request._request)
        if context is None:
            raise PermissionDenied("You are not a member of any tenant.")
        needed = self.read_role if request.method in permissions.SAFE_METHODS else self.required_role
        if not context.allows(needed):
            raise PermissionDenied(f"This needs the {Role(needed).label.lower()} role.")
        self.tenant_context: TenantContext = context

    @property
    def tenant(self):
        return self.tenant_context.tenant
