"""Forms of the tenant portal's subscription pages. Writes happen in subscriptions.services."""

from __future__ import annotations

from django import forms

from subscriptions.models import AddOn, Plan, Subscription
from subscriptions.quota import DIMENSIONS
from tenants.forms import BootstrapForm

_NAME_MAX = Subscription._meta.get_field("name").max_length


class SubscribeForm(BootstrapForm):
    """Subscribe to one plan: the plan's card holds this form, the code (for code plans) rides
    along hidden once the tenant has typed it."""

    plan = forms.ModelChoiceField(queryset=Plan.objects.active(), widget=forms.HiddenInput)
    name = forms.CharField(
        label="Subscription name",
        max_length=_NAME_MAX,
        required=False,
        help_text="Optional. Defaults to the plan's name.",
    )
    code = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class PlanCodeForm(BootstrapForm):
    code = forms.CharField(
        label="Invitation code",
        max_length=64,
        help_text="Your service provider gives codes for plans that are not listed here.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class RenameForm(BootstrapForm):
    name = forms.CharField(label="Name", max_length=_NAME_MAX)


class AddOnForm(BootstrapForm):
    addon = forms.ModelChoiceField(
        label="Add-on", queryset=AddOn.objects.none(), empty_label="Choose an add-on"
    )
    quantity = forms.IntegerField(label="Quantity", min_value=1, max_value=100, initial=1)

    def __init__(self, *args, addons, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["addon"].queryset = addons
        self.fields["addon"].label_from_instance = lambda a: f"{a.name} ({quota_summary(a, sign='+')})"


# How amounts read in a sentence ("40 GiB RAM"), as opposed to column headings ("RAM (GiB)").
_SUMMARY_UNITS = {
    "vms": "VMs",
    "vcpus": "vCPUs",
    "ram_gib": "GiB RAM",
    "disk_gib": "GiB disk",
    "networks": "networks",
    "public_ips": "public IPs",
}


def quota_summary(obj, *, sign: str = "") -> str:
    """The non-zero quota dimensions of a plan or add-on, e.g. "+5 VMs, +10 vCPUs"."""
    parts = [f"{sign}{getattr(obj, d)} {_SUMMARY_UNITS[d]}" for d in DIMENSIONS if getattr(obj, d)]
    return ", ".join(parts) or "no quota"
