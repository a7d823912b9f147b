"""Forms of the tenant portal: sign-in and sign-up, tenants, team, invitations, API tokens.

Forms validate input and carry Bootstrap classes; the writes themselves happen in
``tenants.services``, whose ``ValidationError`` is folded back into the form with
``add_service_errors`` so the message appears beside the field that caused it.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
)
from django.core.exceptions import ValidationError

from tenants.models import ROLE_RANK, Role, Tenant, User
from tenants.services import TOKEN_LIFETIMES


class BootstrapFormMixin:
    """Adds Bootstrap's classes to every widget, and ``is-invalid`` to the fields that failed
    validation (static/portal/app.js focuses the first of them)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select) and not isinstance(widget, forms.SelectMultiple):
                css = "form-select"
            elif isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                css = ""
            else:
                css = "form-control"
            if css:
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        for name in self._errors or {}:
            field = self.fields.get(name)
            if field is not None and "is-invalid" not in field.widget.attrs.get("class", ""):
                field.widget.attrs["class"] = f"{field.widget.attrs.get('class', '')} is-invalid".strip()

    def add_error(self, field, error) -> None:
        super().add_error(field, error)
        # Errors added after cleaning (from a service) must light up their field too.
        self._mark_invalid()


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ``ValidationError`` on the form: keyed messages beside their field when
    the form has it, everything else at the top of the form."""
    if hasattr(error, "error_dict"):
        for key, messages in error.message_dict.items():
            form.add_error(key if key in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class BootstrapForm(BootstrapFormMixin, forms.Form):
    pass


# --- authentication -------------------------------------------------------------------------


class EmailAuthenticationForm(BootstrapFormMixin, AuthenticationForm):
    """Django's sign-in form, with the e-mail address as the user name.

    The field keeps the name ``username`` because Django and django-axes read it by that name.
    """

    username = forms.EmailField(
        label="E-mail",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean_username(self) -> str:
        # Addresses are stored lower-case; people type them however they like.
        return self.cleaned_data["username"].strip().lower()


class PortalPasswordChangeForm(BootstrapFormMixin, PasswordChangeForm):
    pass


class PortalPasswordResetForm(BootstrapFormMixin, PasswordResetForm):
    email = forms.EmailField(
        label="E-mail",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class PortalSetPasswordForm(BootstrapFormMixin, SetPasswordForm):
    pass


class SignupForm(BootstrapForm):
    """Self sign-up: a person, their password and (unless they come to accept an invitation)
    the organisation they will own."""

    full_name = forms.CharField(
        label="Your name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(
        label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    tenant_name = forms.CharField(
        label="Organisation",
        max_length=100,
        help_text="The tenant you will own. You can invite your team once you are in.",
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, needs_tenant: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not needs_tenant:
            del self.fields["tenant_name"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email=email).exists():
            raise ValidationError("An account with this e-mail address already exists. Sign in instead.")
        return email

    def clean(self) -> dict:
        data = super().clean()
        password1, password2 = data.get("password1"), data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ.")
        elif password1:
            candidate = User(email=data.get("email") or "", full_name=data.get("full_name") or "")
            try:
                password_validation.validate_password(password1, user=candidate)
            except ValidationError as error:
                self.add_error("password1", error)
        return data


# --- tenants and team ------------------------------------------------------------------------


class TenantForm(BootstrapForm):
    name = forms.CharField(
        label="Organisation name",
        max_length=Tenant._meta.get_field("name").max_length,
        help_text="You will be its owner. Rename it later if you need to.",
    )


class MemberRoleForm(BootstrapForm):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class InvitationForm(BootstrapForm):
    email = forms.EmailField(label="E-mail", max_length=254, help_text="We send the invitation link there.")
    role = forms.ChoiceField(
        label="Role",
        choices=Role.choices,
        initial=Role.READER,
        help_text="Readers see everything, operators also deploy and manage resources, owners also manage the team and subscriptions.",
    )


# --- API tokens -------------------------------------------------------------------------------


class ApiTokenForm(BootstrapForm):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What uses it, e.g. “CI pipeline”. Only you and the tenant's owners see it.",
    )
    role = forms.ChoiceField(label="Role", help_text="A token can never do more than your own role allows.")
    expires_in_days = forms.TypedChoiceField(label="Expires after", coerce=int)

    def __init__(self, *args, max_role: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Offer only the roles the creator holds; the service enforces it again.
        self.fields["role"].choices = [
            (v, label) for v, label in Role.choices if ROLE_RANK[v] <= ROLE_RANK[max_role]
        ]
        self.fields["role"].initial = Role.READER
        lifetimes = [d for d in TOKEN_LIFETIMES if d <= settings.API_TOKEN_MAX_DAYS] or [
            settings.API_TOKEN_MAX_DAYS
        ]
        self.fields["expires_in_days"].choices = [(d, f"{d} days") for d in lifetimes]
        self.fields["expires_in_days"].initial = 30 if 30 in lifetimes else lifetimes[0]


# --- activity -----------------------------------------------------------------------------------


class ActivityFilterForm(BootstrapForm):
    """The activity page's filters. Choices come from the tenant's own events."""

    action = forms.ChoiceField(label="Action", required=False)
    actor = forms.ChoiceField(label="Actor", required=False)

    def __init__(self, *args, actions: list[str], actors: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "All actions"), *[(a, a) for a in actions]]
        self.fields["actor"].choices = [("", "Everyone"), *[(a, a) for a in actors]]
