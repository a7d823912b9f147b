"""Tenancy plumbing: which tenant a request acts in, and what role it has there.

Browser sessions keep the current tenant's id in the session (the tenant switcher changes
it). API requests authenticated by a token act in the token's tenant with the weaker of the
token's and the membership's roles. Either way the answer is a ``TenantContext``, and every
tenant-scoped read filters by ``context.tenant``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from portal.audit import current_ip
from tenants.models import Membership, Role, Tenant

SESSION_KEY = "tenant_id"


@dataclass(frozen=True)
class TenantContext:
    tenant: Tenant
    role: Role

    def allows(self, required: str) -> bool:
        return self.role.allows(required)

    def require(self, required: str) -> None:
        if not self.role.allows(required):
            raise PermissionDenied(
                f"This needs the {Role(required).label.lower()} role in {self.tenant.name}."
            )


def session_tenant_id(session) -> str | None:
    if session is None:
        return None
    return session.get(SESSION_KEY)


def user_memberships(user) -> list[Membership]:
    """The user's memberships in active tenants, tenant loaded, in one query."""
    return list(
        Membership.objects.filter(user=user, tenant__state=Tenant.State.ACTIVE)
        .select_related("tenant")
        .order_by("tenant__name")
    )


def _resolve(request: HttpRequest) -> tuple[list[Membership], TenantContext | None]:
    user = request.user
    if not user.is_authenticated or user.is_service_admin:
        return [], None
    memberships = user_memberships(user)
    wanted = session_tenant_id(getattr(request, "session", None))
    current = next((m for m in memberships if str(m.tenant_id) == str(wanted)), None)
    if current is None and memberships:
        current = memberships[0]
    context = TenantContext(current.tenant, Role(current.role)) if current else None
    return memberships, context


def get_tenant_context(request: HttpRequest) -> TenantContext | None:
    """The request's tenant and role, resolved once per request."""
    if not hasattr(request, "_tenant_context"):
        request._memberships, request._tenant_context = _resolve(request)
    return request._tenant_context


def get_memberships(request: HttpRequest) -> list[Membership]:
    get_tenant_context(request)
    return request._memberships


def switch_tenant(request: HttpRequest, tenant_id) -> TenantContext | None:
    """Make ``tenant_id`` current if the user is a member; returns the new context or None."""
    membership = next((m for m in get_memberships(request) if str(m.tenant_id) == str(tenant_id)), None)
    if membership is None:
        return None
    request.session[SESSION_KEY] = str(membership.tenant_id)
    request._tenant_context = TenantContext(membership.tenant, Role(membership.role))
    return request._tenant_context


class CurrentTenantMiddleware:
    """Records the client address for the audit log; tenant resolution itself is lazy."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_ip.set(request.META.get("REMOTE_ADDR"))
        try:
            return self.get_response(request)
        finally:
            current_ip.reset(token)


def tenant_view(role: str = Role.READER):
    """Decorator for tenant portal views: signed in, a tenant user with a current tenant, and
    at least ``role`` there. The view receives ``request.tenant_context``.

    Service admins are sent to the admin portal; users without any tenant to onboarding.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.user.is_service_admin:
                return redirect("adminportal:overview")
            context = get_tenant_context(request)
            if context is None:
                return redirect("tenants:onboarding")
            context.require(role)
            request.tenant_context = context
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def service_admin_view(view):
    """Decorator for admin portal views: signed in as a service admin, else 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_service_admin:
            raise PermissionDenied("This page is for service admins.")
        return view(request, *args, **kwargs)

    return wrapper
