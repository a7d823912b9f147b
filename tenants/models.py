"""Identity and tenancy: users, tenants (organisations), memberships, invitations, API tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone

from portal.models import TenantQuerySet, UUIDModel


class Role(models.TextChoices):
    """A member's role in a tenant. Order matters: each role can do what the ones below it can."""

    READER = "reader", "Reader"
    OPERATOR = "operator", "Operator"
    OWNER = "owner", "Owner"

    @property
    def rank(self) -> int:
        return ROLE_RANK[self.value]

    def allows(self, required: str) -> bool:
        return ROLE_RANK[self.value] >= ROLE_RANK[required]


ROLE_RANK = {Role.READER: 0, Role.OPERATOR: 1, Role.OWNER: 2}


def lower_role(a: str, b: str) -> Role:
    """The weaker of two roles: a token never grants more than its user's membership."""
    return Role(a) if ROLE_RANK[a] <= ROLE_RANK[b] else Role(b)


class CloudstampUserManager(UserManager):
    """Users sign in with their e-mail address; ``username`` is kept equal to it."""

    def _create_user(self, username, email, password, **extra_fields):
        email = self.normalize_email(email or username).lower()
        return super()._create_user(email, email, password, **extra_fields)

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.pop("username", None)
        return super().create_user(email, email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields.pop("username", None)
        extra_fields.setdefault("is_service_admin", True)
        return super().create_superuser(email, email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in.

    Two kinds: tenant users, who reach tenants through memberships, and service admins
    (``is_service_admin``), who run the admin portal and belong to no tenant.
    ``is_staff`` / ``is_superuser`` only open Django's debugging admin site.
    """

    # Addressed by UUID like every other object, so ids in URLs reveal nothing (not even a count).
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("e-mail address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_service_admin = models.BooleanField(
        default=False, help_text="Service admins use the admin portal and belong to no tenant."
    )

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = CloudstampUserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = (self.email or "").strip().lower()

    def save(self, *args, **kwargs) -> None:
        # username is Django's unique login column; keeping it equal to the e-mail address
        # lets third-party code that reads ``username`` keep working.
        self.email = (self.email or "").strip().lower()
        self.username = self.email
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email


class Tenant(UUIDModel):
    """An organisation that subscribes to plans and owns resources."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    members = models.ManyToManyField(User, through="Membership", related_name="tenants")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(UUIDModel):
    """A user's role in one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READER)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["tenant__name", "user__email"]
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret. Random 32-byte secrets need no salt or slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class InvitationQuerySet(TenantQuerySet):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(UUIDModel):
    """An invitation by link to join a tenant with a role. Only the link's hash is stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.tenant}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiTokenQuerySet(TenantQuerySet):
    def usable(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(UUIDModel):
    """A bearer token for the REST API, scoped to one tenant and a role, with an expiry.

    The secret is shown once at creation; only its SHA-256 is stored. ``prefix`` (the first
    characters) lets people tell their tokens apart without revealing them.
    """

    PREFIX = "cst_"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READER)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"
