"""Forms of the service admin portal.

Forms check shapes (types, lengths, ranges); the rules that need the database (unique names,
"a code plan needs a code", per-tenant limits) live in the services, whose
``ValidationError`` the views fold back into these forms beside the right field.
"""

from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.forms.models import fields_for_model

from subscriptions.models import AddOn, Plan, Subscription, Visibility
from subscriptions.quota import DIMENSION_LABELS, DIMENSIONS
from subscriptions.services import ADDON_FIELDS, PLAN_FIELDS
from tenants.forms import BootstrapForm
from tenants.models import Role, Tenant

QUOTA_HELP = {
    "vms": "Virtual machines that may exist at once, running or stopped.",
    "vcpus": "Virtual CPU cores summed over every VM.",
    "ram_gib": "Memory in GiB summed over every VM.",
    "disk_gib": "Disk space in GiB summed over every VM's disks.",
    "networks": "Virtual networks the subscription may create.",
    "public_ips": "Public IP addresses taken from the provider's pools.",
}
QUOTA_MAX = 1_000_000
_CHECK = {"class": "form-check-input"}
ADDON_QUOTA_HELP = {
    d: f"Added to the plan's {DIMENSION_LABELS[d]} limit, per unit attached." for d in DIMENSIONS
}


class _QuotaFormMixin:
    """Shared by the plan and add-on forms: the six quota fields, non-negative, with help."""

    quota_help: dict[str, str] = QUOTA_HELP

    def _setup_quota_fields(self) -> None:
        for dim in DIMENSIONS:
            field = self.fields[dim]
            field.label = DIMENSION_LABELS[dim]
            field.help_text = self.quota_help[dim]
            # The model's column is unsigned; the ceiling keeps typos like 10000000000 out.
            field.validators.append(MaxValueValidator(QUOTA_MAX))
            field.widget.attrs.update({"min": 0, "max": QUOTA_MAX})

    @property
    def quota_fields(self) -> list:
        return [self[d] for d in DIMENSIONS]

    def service_data(self) -> dict:
        """The cleaned values the service takes as keyword arguments."""
        return {k: v for k, v in self.cleaned_data.items() if k in self.model_fields}


class PlanForm(_QuotaFormMixin, BootstrapForm):
    """Create or edit a plan. Built from the model's fields, but not a ModelForm: the service
    validates and saves, so the form never touches the instance it edits (the audit event
    compares the old values with the new)."""

    model_fields = PLAN_FIELDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(Plan, fields=PLAN_FIELDS))
        self.fields["addons"] = forms.ModelMultipleChoiceField(
            label="Offered with this plan",
            queryset=AddOn.objects.order_by("name"),
            required=False,
            widget=forms.CheckboxSelectMultiple(attrs=_CHECK),
            help_text="Tenants subscribed to this plan may attach these add-ons.",
        )
        self.fields["visibility"].widget = forms.RadioSelect(choices=Visibility.choices, attrs=_CHECK)
        self.fields["visibility"].help_text = "Who can see and subscribe to this plan."
        self.fields[
            "invitation_code"
        ].help_text = "Required when visibility is “invitation code”: tenants type it to find the plan."
        self.fields["invitation_code"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})
        self.fields["description"].widget.attrs["rows"] = 3
        self.fields["description"].help_text = "Shown to tenants on the plan's card."
        self.fields["state"].help_text = "Retired plans take no new subscriptions; existing ones carry on."
        per_tenant = self.fields["max_subscriptions_per_tenant"]
        per_tenant.validators.append(MinValueValidator(1))
        per_tenant.widget.attrs["min"] = 1
        self._setup_quota_fields()
        # fields_for_model runs after BootstrapForm added its classes, so add them here too.
        _restyle(self)

    def clean(self) -> dict:
        data = super().clean()
        # plan_create/plan_update check this too; checking here as well shows the error in
        # the same round as the other field errors instead of after they are fixed.
        if data.get("visibility") == Visibility.CODE and not (data.get("invitation_code") or "").strip():
            self.add_error("invitation_code", "A plan with code visibility needs an invitation code.")
        return data


class AddOnForm(_QuotaFormMixin, BootstrapForm):
    """Create or edit an add-on: the quota it adds, and the plans it is offered with."""

    model_fields = ADDON_FIELDS
    quota_help = ADDON_QUOTA_HELP

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(AddOn, fields=ADDON_FIELDS))
        self.fields["plans"] = forms.ModelMultipleChoiceField(
            label="Offered with plans",
            queryset=Plan.objects.order_by("name"),
            required=False,
            widget=forms.CheckboxSelectMultiple(attrs=_CHECK),
            help_text="Subscriptions to these plans may attach the add-on.",
        )
        self.fields["description"].widget.attrs["rows"] = 3
        self.fields["state"].help_text = "Retired add-ons cannot be attached any more; attached ones stay."
        self._setup_quota_fields()
        _restyle(self)


def _restyle(form: forms.Form) -> None:
    """Give fields added after ``BootstrapFormMixin.__init__`` the same Bootstrap classes."""
    for field in form.fields.values():
        widget = field.widget
        if "class" in widget.attrs:
            continue
        if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
            continue
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs["class"] = "form-check-input"
        elif isinstance(widget, forms.Select) and not isinstance(widget, forms.SelectMultiple):
            widget.attrs["class"] = "form-select"
        else:
            widget.attrs["class"] = "form-control"


def plan_initial(plan: Plan) -> dict:
    return {**{f: getattr(plan, f) for f in PLAN_FIELDS}, "addons": list(plan.addons.all())}


def addon_initial(addon: AddOn) -> dict:
    return {**{f: getattr(addon, f) for f in ADDON_FIELDS}, "plans": list(addon.plans.all())}


# --- tenants and users -------------------------------------------------------------------------


class TenantCreateForm(BootstrapForm):
    name = forms.CharField(label="Tenant name", max_length=100, help_text="The organisation's name.")
    owner_email = forms.EmailField(
        label="Owner's e-mail address",
        help_text="An existing user becomes the owner; otherwise a new user is created and sent a "
        "link to choose a password.",
    )
    owner_name = forms.CharField(
        label="Owner's full name",
        max_length=150,
        required=False,
        help_text="Only used when a new user is created.",
    )


class UserCreateForm(BootstrapForm):
    KIND_CHOICES = [
        ("tenant", "Tenant user: reaches tenants through memberships"),
        ("admin", "Service admin: uses this admin portal, belongs to no tenant"),
    ]

    kind = forms.ChoiceField(
        label="Kind of user", choices=KIND_CHOICES, initial="tenant", widget=forms.RadioSelect(attrs=_CHECK)
    )
    email = forms.EmailField(label="E-mail address", help_text="They sign in with it.")
    full_name = forms.CharField(label="Full name", max_length=150, required=False)
    tenant = forms.ModelChoiceField(
        label="Invite to tenant",
        queryset=Tenant.objects.filter(state=Tenant.State.ACTIVE).order_by("name"),
        required=False,
        empty_label="No tenant for now",
        help_text="Tenant users only: they receive an invitation link to join it.",
    )
    role = forms.ChoiceField(
        label="Role in that tenant", choices=Role.choices, initial=Role.READER, required=False
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") == "admin" and data.get("tenant"):
            self.add_error("tenant", "Service admins cannot belong to a tenant.")
        if data.get("tenant") and not data.get("role"):
            self.add_error("role", "Choose the role they get in the tenant.")
        return data


# --- subscriptions -----------------------------------------------------------------------------


class SubscriptionCreateForm(BootstrapForm):
    """Assign a plan to a tenant. Admins may assign any active plan, whatever its visibility."""

    tenant = forms.ModelChoiceField(
        label="Tenant",
        queryset=Tenant.objects.filter(state=Tenant.State.ACTIVE).order_by("name"),
        empty_label="Choose a tenant",
    )
    plan = forms.ModelChoiceField(
        label="Plan",
        queryset=Plan.objects.active().order_by("name"),
        empty_label="Choose a plan",
        help_text="Private and code plans included: an admin's assignment needs no code.",
    )
    name = forms.CharField(
        label="Subscription name",
        max_length=Subscription._meta.get_field("name").max_length,
        required=False,
        help_text="Optional. Defaults to the plan's name.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].label_from_instance = lambda p: (
            f"{p.name} ({p.get_visibility_display().split(':')[0]})"
        )


class ReasonForm(BootstrapForm):
    reason = forms.CharField(label="Reason", max_length=200, required=False)


# --- list filters ------------------------------------------------------------------------------


class _FilterForm(BootstrapForm):
    """A GET form of list filters; invalid values are simply ignored."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.SearchInput(attrs={"placeholder": "Search"}),
    )

    def values(self) -> dict:
        if not self.is_bound or not self.is_valid():
            return {name: "" for name in self.fields}
        return {k: (v.strip() if isinstance(v, str) else v) for k, v in self.cleaned_data.items()}


class TenantFilterForm(_FilterForm):
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "Any state"), *Tenant.State.choices]
    )


class UserFilterForm(_FilterForm):
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "Every kind"), ("tenant", "Tenant users"), ("admin", "Service admins")],
    )
    active = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Active or not"), ("yes", "Active"), ("no", "Deactivated")],
    )


class PlanFilterForm(_FilterForm):
    state = forms.ChoiceField(label="State", required=False, choices=[("", "Any state"), *Plan.State.choices])


class SubscriptionFilterForm(_FilterForm):
    state = forms.ChoiceField(
        label="State", required=False, choices=[("", "Any state"), *Subscription.State.choices]
    )
    plan = forms.ModelChoiceField(
        label="Plan", required=False, queryset=Plan.objects.order_by("name"), empty_label="Any plan"
    )


class ActivityFilterForm(BootstrapForm):
    tenant = forms.CharField(
        label="Tenant",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "Name or id"}),
    )
    actor = forms.CharField(
        label="Actor", required=False, max_length=254, widget=forms.TextInput(attrs={"placeholder": "E-mail"})
    )
    action = forms.ChoiceField(label="Action", required=False)

    def __init__(self, *args, actions: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        families = sorted({a.split(".")[0] for a in actions})
        choices: list = [("", "All actions")]
        for family in families:
            members = [(a, a) for a in actions if a.split(".")[0] == family]
            choices.append((family.replace("_", " ").capitalize(), [(family, f"All {family}.*"), *members]))
        self.fields["action"].choices = choices

    def values(self) -> dict:
        if not self.is_bound or not self.is_valid():
            return {"tenant": "", "actor": "", "action": ""}
        return {k: v.strip() for k, v in self.cleaned_data.items()}
