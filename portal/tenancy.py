"""Tenancy plumbing: which tenant a request acts in, and what role it has there.

Browser sessions keep the current tenant's id in the session (the tenant switcher changes
it). API requests authenticated by a token act in the token's tenant with the weaker of the
token's and the membership's roles. Either way the answer is a ``TenantContext``, and every
tenant-scoped read filters by ``context.tenant``.

Every tenant page needs the user and their memberships (the context, the tenant switcher):
``AuthenticationMiddleware`` loads both in one query where Django's would load the user alone
and this module the memberships after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, wraps

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, get_user_model, load_backend
from django.contrib.auth import SESSION_KEY as USER_SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

from portal.audit import current_ip
from portal.compiled import StandIn, compile_once
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
    loaded = getattr(request, "_user_memberships", None)
    # Loaded with the user by AuthenticationMiddleware, unless the request has changed users
    # since (a login).
    memberships = loaded[1] if loaded is not None and loaded[0] == user.pk else user_memberships(user)
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


# --- the signed-in user, with their memberships -------------------------------------------


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    """Django's, except that ``request.user`` comes with the user's memberships, in one query.

    Only for sessions signed in through Django's ``ModelBackend`` (every login here: django-
    axes only watches), with the same checks as ``django.contrib.auth.get_user``: the backend
    must still be configured, an inactive user is anonymous, and the session's auth hash
    must match the user's (else the session is flushed: the password changed). Any other
    session goes through ``get_user`` itself.
    """

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _cached_user(request))


def _cached_user(request: HttpRequest):
    if not hasattr(request, "_cached_user"):
        request._cached_user = _session_user(request)
    return request._cached_user


@cache
def _loads_like_model_backend(backend_path: str) -> bool:
    backend = type(load_backend(backend_path))
    return issubclass(backend, ModelBackend) and backend.get_user is ModelBackend.get_user


def _session_user(request: HttpRequest):
    session = request.session
    backend_path = session.get(BACKEND_SESSION_KEY)
    if (
        USER_SESSION_KEY not in session
        or backend_path not in settings.AUTHENTICATION_BACKENDS
        or not _loads_like_model_backend(backend_path)
    ):
        return auth.get_user(request)
    user_id = get_user_model()._meta.pk.to_python(session[USER_SESSION_KEY])
    user, memberships = _user_with_memberships(user_id)
    # ModelBackend.get_user: a user gone or refused by the backend (inactive) is nobody.
    if user is None or not load_backend(backend_path).user_can_authenticate(user):
        return AnonymousUser()
    if not _session_hash_verified(request, user):
        return AnonymousUser()
    request._user_memberships = (user.pk, memberships)
    return user


def _session_hash_verified(request: HttpRequest, user) -> bool:
    """``django.contrib.auth.get_user``'s session verification: the hash the session was
    signed in with must be the user's current one (it changes with the password); a hash made
    with a key of ``SECRET_KEY_FALLBACKS`` is renewed; anything else flushes the session."""
    session = request.session
    session_hash = session.get(HASH_SESSION_KEY)
    current = user.get_session_auth_hash()
    if session_hash and constant_time_compare(session_hash, current):
        return True
    if session_hash and any(
        constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash()
    ):
        session.cycle_key()
        session[HASH_SESSION_KEY] = current
        return True
    session.flush()
    return False


def _columns(model, prefix: str = "") -> list[str]:
    return [prefix + field.attname for field in model._meta.concrete_fields]


_TENANT = "memberships__tenant__"


def _user_query(user_id) -> QuerySet[dict]:
    """The user as ``values()`` rows, one per membership (``memberships__…``, with its tenant's
    columns ``memberships__tenant__…``), by tenant name; one row of NULLs for none at all."""
    user_model = get_user_model()
    return (
        user_model._default_manager.filter(pk=user_id)
        .order_by("memberships__tenant__name")
        .values(*_columns(user_model), *_columns(Membership, "memberships__"), *_columns(Tenant, _TENANT))
    )


def _user_with_memberships(user_id) -> tuple:
    """The user and their memberships in active tenants (tenant loaded, by tenant name, as
    ``user_memberships`` gives them), or (None, []): the user LEFT JOIN their memberships and
    tenants, one query whose SQL is compiled once per process (``portal.compiled``; building
    and compiling it through the ORM cost more than running it)."""
    user_model = get_user_model()
    connection = connections[router.db_for_read(user_model)]
    # Any id no user has will do.
    stand_in = StandIn(uuid.UUID("5e55104e-0000-4000-8000-000000000000"), user_model._meta.pk)
    compiled = compile_once("session_user", connection, _user_query, {"user_id": stand_in})
    if compiled is None:
        rows = list(_user_query(user_id).using(connection.alias))
    else:
        rows = compiled.fetch(connection, {"user_id": user_id})
    if not rows:
        return None, []
    alias = connection.alias
    user = _from_row(user_model, rows[0], alias)
    memberships = []
    for row in rows:
        if row["memberships__id"] is None or row[_TENANT + "state"] != Tenant.State.ACTIVE:
            continue
        membership = _from_row(Membership, row, alias, "memberships__")
        # As select_related("tenant", "user") would: no query when they are read.
        Membership.tenant.field.set_cached_value(membership, _from_row(Tenant, row, alias, _TENANT))
        Membership.user.field.set_cached_value(membership, user)
        memberships.append(membership)
    return user, memberships


def _from_row(model, row: dict, alias: str, prefix: str = ""):
    """A model instance from its columns in a ``values()`` row, as if the ORM had loaded it."""
    return model.from_db(alias, _columns(model), [row[name] for name in _columns(model, prefix)])


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
