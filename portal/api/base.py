"""Shared DRF pieces: every tenant-scoped API view resolves its tenant the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from portal.api.pagination import PortalPagination
from portal.tenancy import TenantContext, get_tenant_context
from tenants.models import ApiToken, Role


class IsServiceAdmin(permissions.BasePermission):
    message = "This endpoint is for service admins."

    def has_permission(self, request, view) -> bool:
        user = request.user
        # A token is always a tenant credential, even if its user were an admin.
        return bool(user and user.is_authenticated and user.is_service_admin and request.auth is None)


class TenantAPIMixin:
    """Resolves ``self.tenant_context`` in ``initial``; 403 if the user has no tenant.

    ``required_role`` applies to unsafe methods; ``read_role`` (reader by default) to reads.
    A request authenticated by a token with the reader role never writes, even on endpoints
    a reader may use in the browser (leaving a tenant, revoking one's own token): a read-only
    credential handed to a dashboard or a script must stay read-only.
    """

    required_role: str = Role.OPERATOR
    read_role: str = Role.READER

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        context = get_tenant_context(request._request)
        if context is None:
            raise PermissionDenied("You are not a member of any tenant.")
        safe = request.method in permissions.SAFE_METHODS
        needed = self.read_role if safe else self.required_role
        if not context.allows(needed):
            raise PermissionDenied(f"This needs the {Role(needed).label.lower()} role.")
        if not safe and isinstance(request.auth, ApiToken) and not context.allows(Role.OPERATOR):
            raise PermissionDenied("This token is read-only.")
        self.tenant_context: TenantContext = context

    @property
    def tenant(self):
        return self.tenant_context.tenant

    def require_role(self, role: str) -> None:
        """Object-level role check, after the object was found (so another tenant's id is a
        404 before anyone learns what role it would need)."""
        if not self.tenant_context.allows(role):
            raise PermissionDenied(f"This needs the {Role(role).label.lower()} role.")


def query_filters(request, serializer_class) -> dict:
    """Validate a list's query parameters with ``serializer_class``: 400 with field errors on
    bad input (an unknown state, a malformed id), the cleaned values otherwise. The same
    serializer documents the parameters: ``@extend_schema(parameters=[serializer_class])``."""
    filters = serializer_class(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return filters.validated_data


class PaginatedListMixin:
    """``self.paginated(queryset, to_data)``: one page, serialised, in the standard envelope.

    ``to_data`` receives the page's rows as a list (so the caller can load per-page extras,
    like quota usage, in a fixed number of queries) and returns the JSON-ready results.
    """

    pagination_class = PortalPagination

    def paginated(self, queryset, to_data: Callable[[list], Iterable[Any]]) -> Response:
        paginator = self.pagination_class()
        rows = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(list(to_data(rows)))
