"""Reads for tenants, team, invitations, API tokens and the tenant's activity.

Every function takes the tenant explicitly and starts from a tenant-scoped queryset, so
another tenant's rows can never appear; each runs a fixed number of queries.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from portal.models import AuditEvent
from tenants.models import ApiToken, Invitation, Membership, Role, Tenant, User

MEMBER_SORTS = {"email": "user__email", "name": "user__full_name", "role": "role", "joined": "created"}
TOKEN_SORTS = {"name": "name", "created": "created", "expires": "expires_at", "last_used": "last_used_at"}


def member_list(*, tenant: Tenant, search: str = "") -> QuerySet[Membership]:
    qs = Membership.objects.for_tenant(tenant).select_related("user")
    if search:
        qs = qs.filter(Q(user__email__icontains=search) | Q(user__full_name__icontains=search))
    return qs


def member_get(*, tenant: Tenant, pk) -> Membership:
    """One membership of ``tenant`` (``Membership.DoesNotExist`` for anyone else's)."""
    return Membership.objects.for_tenant(tenant).select_related("user", "tenant").get(pk=pk)


def open_invitations(*, tenant: Tenant) -> QuerySet[Invitation]:
    """Invitations nobody accepted or revoked, pending and expired alike (an owner may want to
    see that a link ran out and send a new one)."""
    return (
        Invitation.objects.for_tenant(tenant)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created")
    )


def invitation_get(*, tenant: Tenant, pk) -> Invitation:
    return Invitation.objects.for_tenant(tenant).select_related("tenant").get(pk=pk)


def api_token_list(*, tenant: Tenant, user: User, role: str) -> QuerySet[ApiToken]:
    """Owners see every token of the tenant; everyone else only their own."""
    qs = ApiToken.objects.for_tenant(tenant).select_related("user")
    if role != Role.OWNER:
        qs = qs.filter(user=user)
    return qs


def api_token_get(*, tenant: Tenant, pk) -> ApiToken:
    return ApiToken.objects.for_tenant(tenant).select_related("tenant", "user").get(pk=pk)


def tenant_counts(*, tenant: Tenant) -> dict[str, int]:
    """Members, pending invitations and usable API tokens, for the dashboard."""
    now = timezone.now()
    return {
        "members": Membership.objects.for_tenant(tenant).count(),
        "invitations": Invitation.objects.for_tenant(tenant)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
        .count(),
        "tokens": ApiToken.objects.for_tenant(tenant).usable().count(),
    }


def activity_list(*, tenant: Tenant, action: str = "", actor: str = "") -> QuerySet[AuditEvent]:
    """The tenant's audit events, newest first."""
    qs = AuditEvent.objects.for_tenant(tenant).order_by("-created", "-id")
    if action:
        qs = qs.filter(action=action)
    if actor:
        qs = qs.filter(actor_repr=actor)
    return qs


def activity_filter_choices(*, tenant: Tenant) -> tuple[list[str], list[str]]:
    """The actions and actors that occur in the tenant's log (for the filter menus)."""
    events = AuditEvent.objects.for_tenant(tenant).order_by()
    actions = list(events.values_list("action", flat=True).distinct().order_by("action"))
    actors = list(events.values_list("actor_repr", flat=True).distinct().order_by("actor_repr"))
    return actions, [a for a in actors if a]
