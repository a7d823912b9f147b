"""Forms of the admin portal's provisioning pages: register a host, edit its allocation
ratios, and the hosts' and jobs' list filters.

As in adminportal/forms.py, forms check shapes; compute.services checks the rest (a unique
name, a host that answers) and the views put its ``ValidationError`` beside the field.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator

from adminportal.compute_selectors import JOB_KINDS
from adminportal.forms import _FilterForm
from compute.models import Host
from portal.models import Job
from tenants.forms import BootstrapForm
from tenants.models import Tenant

RATIO_FIELDS = ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio")
# How each driver's URIs look, for the URI field's help (only configured drivers are shown).
URI_FORMATS = {
    "simulated": "Simulated hosts: <code>sim://&lt;name&gt;?vcpus=64&amp;ram_gib=256&amp;disk_gib=4000</code> "
    "(the name is the host's identity in the simulated fleet; the figures are its capacity).",
    "libvirt": "libvirt hosts: <code>qemu+ssh://root@host.example/system</code>.",
}


def ratio_bounds(name: str) -> tuple[float, float]:
    """An allocation ratio's bounds, from the model's validators (the API uses them too)."""
    validators = Host._meta.get_field(name).validators
    low = next(v.limit_value for v in validators if isinstance(v, MinValueValidator))
    high = next(v.limit_value for v in validators if isinstance(v, MaxValueValidator))
    return low, high


def _ratio_field(name: str, label: str, help_text: str) -> forms.FloatField:
    """A ratio field with the model's bounds, so the form and the database agree."""
    low, high = ratio_bounds(name)
    return forms.FloatField(
        label=label,
        min_value=low,
        max_value=high,
        initial=Host._meta.get_field(name).default,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "any", "min": low, "max": high}),
    )


def _notes_field() -> forms.CharField:
    return forms.CharField(
        label="Notes",
        required=False,
        max_length=Host._meta.get_field("notes").max_length,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For the service team: rack, warranty, who to call.",
    )


class _RatiosForm(BootstrapForm):
    cpu_allocation_ratio = _ratio_field(
        "cpu_allocation_ratio",
        "CPU allocation ratio",
        "Virtual CPUs placed per physical core. 4 is usual for general-purpose VMs.",
    )
    ram_allocation_ratio = _ratio_field(
        "ram_allocation_ratio",
        "RAM allocation ratio",
        "Above 1 overcommits memory; keep 1 unless the host can swap or balloon.",
    )
    disk_allocation_ratio = _ratio_field(
        "disk_allocation_ratio",
        "Disk allocation ratio",
        "Above 1 relies on thin-provisioned disks not filling up.",
    )


class HostRegisterForm(_RatiosForm):
    """Register a host. The driver choices are read from settings when the form is made, so
    a deployment that adds a driver needs no code change here."""

    name = forms.CharField(
        label="Name",
        max_length=Host._meta.get_field("name").max_length,
        help_text="How the portal names the host, e.g. rack1-node1. Tenants never see it.",
    )
    driver = forms.ChoiceField(label="Driver", help_text="The controller driver that manages the host.")
    uri = forms.CharField(
        label="URI",
        max_length=Host._meta.get_field("uri").max_length,
        widget=forms.TextInput(
            attrs={
                "placeholder": "sim://rack1-node1?vcpus=64&ram_gib=256&disk_gib=4000",
                "spellcheck": "false",
            }
        ),
    )
    notes = _notes_field()

    field_order = ["name", "driver", "uri", *RATIO_FIELDS, "notes"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        drivers = list(settings.COMPUTE_DRIVERS)
        self.fields["driver"].choices = [(d, d.replace("_", " ").capitalize()) for d in drivers]
        formats = [URI_FORMATS[d] for d in drivers if d in URI_FORMATS]
        self.fields["uri"].help_text = " ".join(["How the driver reaches the host.", *formats])
        if "simulated" in drivers:
            self.fields["driver"].initial = "simulated"


class HostEditForm(_RatiosForm):
    """Rename a host, change its allocation ratios or notes (placement uses the new ratios
    from the next VM on; VMs already placed stay where they are)."""

    name = forms.CharField(label="Name", max_length=Host._meta.get_field("name").max_length)
    notes = _notes_field()

    field_order = ["name", *RATIO_FIELDS, "notes"]


def host_initial(host: Host) -> dict:
    return {f: getattr(host, f) for f in ("name", *RATIO_FIELDS, "notes")}


class HostStateForm(forms.Form):
    state = forms.ChoiceField(choices=Host.State.choices)


# --- list filters --------------------------------------------------------------------------


class HostFilterForm(_FilterForm):
    state = forms.ChoiceField(label="State", required=False, choices=[("", "Any state"), *Host.State.choices])


class JobFilterForm(_FilterForm):
    state = forms.ChoiceField(label="State", required=False, choices=[("", "Any state"), *Job.State.choices])
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Any kind"), *JOB_KINDS])
    tenant = forms.ModelChoiceField(
        label="Tenant", required=False, queryset=Tenant.objects.order_by("name"), empty_label="Any tenant"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs["placeholder"] = "Target, message or id"
