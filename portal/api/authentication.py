"""``Authorization: Bearer <token>`` authentication for the REST API."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portal.tenancy import TenantContext
from tenants.models import Membership, lower_role


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates a tenant API token. The request then acts in the token's tenant, with
    the lower of the token's role and its user's current role there.

    A missing header falls through to session authentication; a present but unusable token
    (unknown, expired, revoked, user gone) is a 401, never an anonymous request.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as 'Authorization: Bearer <token>'.")
        from tenants.services import api_token_authenticate

        found = api_token_authenticate(parts[1])
        if found is None:
            raise exceptions.AuthenticationFailed("This token is unknown, expired or revoked.")
        token, member_role = found
        request._request._tenant_context = TenantContext(token.tenant, lower_role(token.role, member_role))
        # A token request sees only the token's tenant. The membership is described from what
        # the authentication query already read, not loaded again (see /api/v1/me/).
        request._request._memberships = [Membership(tenant=token.tenant, user=token.user, role=member_role)]
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A Cloudstamp API token (cst_…)."}
