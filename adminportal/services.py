"""Admin-portal writes that combine the tenants services: a tenant with a (possibly new) owner,
a user created by an admin, and the "set your password" mail such users receive.

The building blocks (``user_create``, ``tenant_create``, ``invitation_create``) validate and
audit; these functions only compose them in one transaction, so a failure in the second step
leaves no half-made user behind.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tenants.models import Tenant, User
from tenants.services import invitation_create, tenant_create, user_create


def set_password_url(user: User) -> str:
    """A password-reset link for ``user``, valid as long as Django's reset tokens are."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.SITE_URL.rstrip("/") + reverse("password_reset_confirm", args=[uid, token])


def send_set_password_mail_on_commit(*, user: User, actor: User, tenant: Tenant | None = None) -> None:
    """Mail ``user`` a link to choose a password, once the surrounding transaction commits.
    ``tenant`` is the tenant they were made the owner of, if any.

    Django's ``PasswordResetForm`` skips users without a usable password, which is exactly
    what an admin-created user has, so the mail is built here with the same token generator.
    """

    def send() -> None:
        context = {
            "user": user,
            "actor": actor,
            "tenant": tenant,
            "url": set_password_url(user),
            "site_name": settings.SITE_NAME,
        }
        send_mail(
            f"Your {settings.SITE_NAME} account",
            render_to_string("adminportal/email/set_password.txt", context),
            None,
            [user.email],
            fail_silently=True,
        )

    transaction.on_commit(send)


@transaction.atomic
def tenant_create_with_owner(
    *, name: str, owner_email: str, owner_name: str = "", actor: User
) -> tuple[Tenant, User, bool]:
    """Create a tenant owned by the user with ``owner_email``, creating that user (with an
    unusable password and a set-password mail) when there is none.

    Returns the tenant, the owner, and whether the owner is new.
    """
    email = (owner_email or "").strip().lower()
    owner = User.objects.filter(email=email).first()
    created = owner is None
    if created:
        try:
            owner = user_create(email=email, password=None, full_name=owner_name, actor=actor)
        except ValidationError as error:
            # The form shows the owner's errors beside the owner's fields.
            raise ValidationError(_prefix_owner(error)) from None
    elif not owner.is_active:
        raise ValidationError({"owner_email": f"{email} is deactivated. Activate the user first."})
    try:
        tenant = tenant_create(name=name, owner=owner, actor=actor)
    except ValidationError as error:
        if hasattr(error, "error_dict") and "owner" in error.error_dict:
            raise ValidationError({"owner_email": error.error_dict["owner"]}) from None
        raise
    if created:
        send_set_password_mail_on_commit(user=owner, actor=actor, tenant=tenant)
    return tenant, owner, created


def _prefix_owner(error: ValidationError) -> dict | list:
    if not hasattr(error, "error_dict"):
        return error.messages
    renamed = {"email": "owner_email", "full_name": "owner_name"}
    return {renamed.get(key, key): value for key, value in error.error_dict.items()}


@transaction.atomic
def admin_user_create(
    *,
    email: str,
    full_name: str,
    is_service_admin: bool,
    actor: User,
    tenant: Tenant | None = None,
    role: str = "",
) -> User:
    """Create a user who chooses their own password from a mailed link. A tenant user may be
    invited to a tenant at once (the invitation link arrives in a second mail)."""
    user = user_create(
        email=email, password=None, full_name=full_name, is_service_admin=is_service_admin, actor=actor
    )
    if tenant is not None and not is_service_admin:
        invitation_create(tenant=tenant, email=user.email, role=role, actor=actor)
    send_set_password_mail_on_commit(user=user, actor=actor)
    return user
