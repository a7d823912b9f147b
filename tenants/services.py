"""Writes for users, tenants, memberships, invitations and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connections, router, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from portal.audit import audit_record
from portal.compiled import StandIn, compile_once
from portal.errors import Conflict
from tenants.models import (
    ROLE_RANK,
    ApiToken,
    Invitation,
    Membership,
    Role,
    Tenant,
    User,
    hash_secret,
    new_secret,
)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:80] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def user_create(
    *, email: str, password: str | None, full_name: str = "", is_service_admin: bool = False, actor=None
) -> User:
    """Create a user. ``password=None`` leaves an unusable password (they reset it by mail)."""
    email = (email or "").strip().lower()
    if User.objects.filter(email=email).exists():
        raise ValidationError({"email": "A user with this e-mail address already exists."})
    user = User(email=email, username=email, full_name=full_name.strip(), is_service_admin=is_service_admin)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    audit_record(
        actor=actor or user,
        tenant=None,
        action="user.create",
        target=user,
        data={"service_admin": is_service_admin},
    )
    return user


@transaction.atomic
def user_set_active(*, user: User, active: bool, actor) -> User:
    """Deactivate (or reactivate) a user. A deactivated user's sessions and tokens stop working
    because authentication checks ``is_active`` on every request."""
    if user == actor and not active:
        raise Conflict("You cannot deactivate yourself.", code="self_deactivate")
    User.objects.filter(pk=user.pk).update(is_active=active)
    user.is_active = active
    audit_record(
        actor=actor, tenant=None, action="user.activate" if active else "user.deactivate", target=user
    )
    return user


@transaction.atomic
def tenant_create(*, name: str, owner: User | None, actor) -> Tenant:
    """Create a tenant; ``owner`` (if any) becomes its first owner."""
    name = (name or "").strip()
    if owner is not None and owner.is_service_admin:
        raise ValidationError({"owner": "Service admins cannot be tenant members."})
    tenant = Tenant(name=name, slug=_unique_slug(name))
    tenant.full_clean()
    tenant.save()
    if owner is not None:
        Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    audit_record(
        actor=actor,
        tenant=tenant,
        action="tenant.create",
        target=tenant,
        data={"owner": owner.email if owner else None},
    )
    return tenant


@transaction.atomic
def tenant_rename(*, tenant: Tenant, name: str, actor) -> Tenant:
    tenant.name = (name or "").strip()
    tenant.full_clean()
    tenant.save(update_fields=["name", "updated"])
    audit_record(actor=actor, tenant=tenant, action="tenant.rename", target=tenant)
    return tenant


@transaction.atomic
def tenant_set_state(*, tenant: Tenant, state: str, actor) -> Tenant:
    """Disable or enable a tenant (service admins). A disabled tenant's members can no longer
    act in it: it drops out of their tenant list and its tokens stop authenticating."""
    if state not in Tenant.State.values:
        raise ValidationError({"state": "Unknown state."})
    old = tenant.state
    if (
        Tenant.objects.filter(pk=tenant.pk).exclude(state=state).update(state=state, updated=timezone.now())
        != 1
    ):
        raise Conflict(f"{tenant.name} is already {state}.", code="same_state")
    tenant.state = state
    audit_record(
        actor=actor,
        tenant=tenant,
        action=f"tenant.{'enable' if state == 'active' else 'disable'}",
        target=tenant,
        data={"from": old},
    )
    return tenant


@transaction.atomic
def user_signup(*, email: str, password: str, full_name: str, tenant_name: str) -> tuple[User, Tenant]:
    """Self sign-up (when SIGNUP_ENABLED): a user and a tenant they own."""
    if not settings.SIGNUP_ENABLED:
        raise PermissionDenied("Sign-up is closed.")
    user = user_create(email=email, password=password, full_name=full_name)
    tenant = tenant_create(name=tenant_name or f"{full_name or email}'s organisation", owner=user, actor=user)
    return user, tenant


def _owner_count(tenant: Tenant) -> int:
    return Membership.objects.filter(tenant=tenant, role=Role.OWNER).count()


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor) -> Membership:
    """Change a member's role; a tenant always keeps at least one owner."""
    if role not in Role.values:
        raise ValidationError({"role": f"Role must be one of {', '.join(Role.values)}."})
    Tenant.objects.select_for_update().filter(pk=membership.tenant_id).first()
    membership.refresh_from_db()
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(membership.tenant) == 1:
        raise Conflict(
            "A tenant needs at least one owner. Make someone else an owner first.", code="last_owner"
        )
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated"])
    # Tokens never outrank their user; authentication already takes the lower of the two,
    # this just keeps what the token list shows honest.
    ApiToken.objects.filter(tenant=membership.tenant, user=membership.user).filter(
        role__in=[r for r in Role.values if ROLE_RANK[r] > ROLE_RANK[role]]
    ).update(role=role)
    audit_record(
        actor=actor,
        tenant=membership.tenant,
        action="membership.role",
        target=membership,
        data={"user": membership.user.email, "from": old, "to": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor) -> None:
    """Remove a member (or leave, when actor is the member). Their tokens for this tenant go too."""
    Tenant.objects.select_for_update().filter(pk=membership.tenant_id).first()
    membership.refresh_from_db()
    if membership.role == Role.OWNER and _owner_count(membership.tenant) == 1:
        raise Conflict("The last owner cannot leave. Make someone else an owner first.", code="last_owner")
    ApiToken.objects.filter(tenant=membership.tenant, user=membership.user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit_record(
        actor=actor,
        tenant=membership.tenant,
        action="membership.remove",
        target=membership,
        data={"user": membership.user.email},
    )
    membership.delete()


def invitation_url(raw_token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("tenants:invitation", args=[raw_token])


@transaction.atomic
def invitation_create(*, tenant: Tenant, email: str, role: str, actor) -> tuple[Invitation, str]:
    """Invite ``email`` to ``tenant``. Returns the invitation and the raw link token, which is
    mailed and shown once; only its hash is stored."""
    email = (email or "").strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": "Unknown role."})
    if Membership.objects.filter(tenant=tenant, user__email=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {tenant.name}."})
    if Invitation.objects.for_tenant(tenant).pending().filter(email=email).exists():
        raise ValidationError(
            {"email": f"{email} already has a pending invitation. Revoke it to send a new one."}
        )
    raw = new_secret()
    invitation = Invitation(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=hash_secret(raw),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_DAYS),
    )
    invitation.full_clean()
    invitation.save()
    audit_record(
        actor=actor,
        tenant=tenant,
        action="invitation.create",
        target=invitation,
        data={"email": email, "role": role},
    )
    link = invitation_url(raw)
    transaction.on_commit(
        lambda: send_mail(
            f"You are invited to {tenant.name} on {settings.SITE_NAME}",
            f"{actor.display_name} invited you to join {tenant.name} as {Role(role).label.lower()}.\n\n"
            f"Accept the invitation: {link}\n\nThe link expires in {settings.INVITATION_DAYS} days.",
            None,
            [email],
            fail_silently=True,
        )
    )
    return invitation, raw


def invitation_for_token(raw: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("tenant", "invited_by").filter(token_hash=hash_secret(raw)).first()
    )


@transaction.atomic
def invitation_accept(*, raw_token: str, user: User) -> Membership:
    """Redeem an invitation link as ``user``. Single use; expired or revoked links are refused."""
    if user.is_service_admin:
        raise ValidationError("Service admins cannot join tenants.")
    invitation = Invitation.objects.select_for_update().filter(token_hash=hash_secret(raw_token)).first()
    if invitation is None:
        raise ValidationError("This invitation link is not valid.")
    if invitation.status != "pending":
        raise Conflict(f"This invitation is {invitation.status}.", code=f"invitation_{invitation.status}")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(tenant=invitation.tenant, user=user, role=invitation.role)
    except IntegrityError:
        raise Conflict(
            f"You are already a member of {invitation.tenant.name}.", code="already_member"
        ) from None
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated"])
    audit_record(
        actor=user,
        tenant=invitation.tenant,
        action="invitation.accept",
        target=invitation,
        data={"email": user.email, "role": invitation.role},
    )
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor) -> Invitation:
    updated = Invitation.objects.filter(
        pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if updated != 1:
        raise Conflict(f"This invitation is {invitation.status}.", code="invitation_closed")
    invitation.refresh_from_db()
    audit_record(actor=actor, tenant=invitation.tenant, action="invitation.revoke", target=invitation)
    return invitation


TOKEN_LIFETIMES = (7, 30, 90, 365)


@transaction.atomic
def api_token_create(
    *, tenant: Tenant, user: User, name: str, role: str, expires_in_days: int, actor_role: str
) -> tuple[ApiToken, str]:
    """Create an API token for ``user`` in ``tenant``. Returns the token and its secret, which
    is shown once. The role cannot exceed the creator's own role in the tenant."""
    errors = {}
    if not Membership.objects.filter(tenant=tenant, user=user).exists():
        raise PermissionDenied(f"{user} is not a member of {tenant.name}.")
    if role not in Role.values:
        errors["role"] = "Unknown role."
    elif ROLE_RANK[role] > ROLE_RANK[actor_role]:
        errors["role"] = "A token cannot have a higher role than your own."
    if not 1 <= int(expires_in_days) <= settings.API_TOKEN_MAX_DAYS:
        errors["expires_in_days"] = f"Choose between 1 and {settings.API_TOKEN_MAX_DAYS} days."
    if errors:
        raise ValidationError(errors)
    secret = new_secret()
    raw = f"{ApiToken.PREFIX}{secret}"
    token = ApiToken(
        tenant=tenant,
        user=user,
        name=(name or "").strip(),
        role=role,
        prefix=raw[: len(ApiToken.PREFIX) + 6],
        key_hash=hash_secret(raw),
        expires_at=timezone.now() + timedelta(days=int(expires_in_days)),
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=user,
        tenant=tenant,
        action="api_token.create",
        target=token,
        data={"role": role, "expires_at": token.expires_at.isoformat()},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()) != 1:
        raise Conflict("This token is already revoked.", code="token_revoked")
    token.refresh_from_db()
    audit_record(actor=actor, tenant=token.tenant, action="api_token.revoke", target=token)
    return token


# How stale last_used_at may get: writing it on every request would turn reads into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _columns(model, prefix: str = "") -> list[str]:
    return [prefix + field.attname for field in model._meta.concrete_fields]


def _token_query(key_hash: str, now: datetime) -> QuerySet[dict]:
    """The usable token for ``key_hash`` as one ``values()`` row: its own columns, its tenant's
    (``tenant__…``) and user's (``user__…``), and the user's current role in the tenant
    (``member_role``, None if no longer a member). Usable as in ``ApiTokenQuerySet.usable``:
    not revoked, not expired at ``now``; and its user active, its tenant active."""
    member_role = (
        Membership.objects.filter(tenant_id=OuterRef("tenant_id"), user_id=OuterRef("user_id"))
        .order_by()
        .values("role")[:1]
    )
    return (
        ApiToken.objects.filter(
            key_hash=key_hash,
            revoked_at__isnull=True,
            expires_at__gt=now,
            user__is_active=True,
            tenant__state=Tenant.State.ACTIVE,
        )
        .order_by()  # key_hash is unique: one row, nothing to sort
        .values(
            *_columns(ApiToken),
            *_columns(Tenant, "tenant__"),
            *_columns(User, "user__"),
            member_role=Subquery(member_role),
        )[:1]
    )


def _token_stand_ins() -> dict[str, StandIn]:
    return {
        "key_hash": StandIn("<a token's hash>", ApiToken._meta.get_field("key_hash")),
        "now": StandIn(
            datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=UTC), ApiToken._meta.get_field("expires_at")
        ),
    }


def _from_row(model, row: dict, alias: str, prefix: str = ""):
    """A model instance from its columns in a ``values()`` row, as if the ORM had loaded it."""
    return model.from_db(alias, _columns(model), [row[name] for name in _columns(model, prefix)])


def api_token_authenticate(raw: str) -> tuple[ApiToken, Role] | None:
    """The usable token for ``raw`` (tenant and user loaded) and its user's current role in
    the token's tenant, or None (expired, revoked, unknown, inactive user, disabled tenant,
    user no longer a member).

    One query: every API request runs this, so the membership's role rides along on the
    token's row as a subquery instead of costing a second round trip, and its SQL is compiled
    once per process (``portal.compiled``), which halves the Python time of authenticating.
    The only write is ``last_used_at``, at most once per ``LAST_USED_RESOLUTION``.
    """
    if not raw.startswith(ApiToken.PREFIX) or len(raw) > 100:
        return None
    key_hash, now = hash_secret(raw), timezone.now()
    connection = connections[router.db_for_read(ApiToken)]
    compiled = compile_once("api_token_authenticate", connection, _token_query, _token_stand_ins())
    if compiled is None:
        rows = list(_token_query(key_hash, now).using(connection.alias))
    else:
        rows = compiled.fetch(connection, {"key_hash": key_hash, "now": now})
    if not rows or rows[0]["member_role"] is None:
        return None
    row = rows[0]
    token = _from_row(ApiToken, row, connection.alias)
    token.tenant = _from_row(Tenant, row, connection.alias, "tenant__")
    token.user = _from_row(User, row, connection.alias, "user__")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token, Role(row["member_role"])


def expire_invitations() -> int:
    """Nothing to write for expiry itself (status is computed); delete long-dead rows."""
    cutoff = timezone.now() - timedelta(days=90)
    deleted, _ = Invitation.objects.filter(expires_at__lt=cutoff, accepted_at__isnull=True).delete()
    return deleted
