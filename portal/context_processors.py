from django.conf import settings
from django.http import HttpRequest

from portal.tenancy import get_memberships, get_tenant_context


def portal(request: HttpRequest) -> dict:
    """What every page's chrome needs: site name, current tenant and the switcher's list."""
    user = getattr(request, "user", None)
    is_admin_portal = request.resolver_match is not None and request.resolver_match.namespace == "adminportal"
    data = {
        "SITE_NAME": settings.SITE_NAME,
        "SIGNUP_ENABLED": settings.SIGNUP_ENABLED,
        "is_admin_portal": is_admin_portal,
    }
    if user is not None and user.is_authenticated and not user.is_service_admin:
        data["tenant_context"] = get_tenant_context(request)
        data["memberships"] = get_memberships(request)
    return data
