"""Forms of the tenant compute pages: the scale slider and the VM list's bulk actions.

They only check the shape of the input; the services decide whether the action fits the
objects' state (``Conflict``) and the quota (``QuotaExceeded``).
"""

from __future__ import annotations

import uuid

from django import forms
from django.core.exceptions import ValidationError

from compute.models import Deployment
from compute.templatetags.compute_tags import VM_ACTIONS
from tenants.forms import BootstrapForm

# One bulk request acts on at most this many VMs: the page shows at most 100 rows.
BULK_MAX = 100


class ScaleForm(BootstrapForm):
    """How many instances a deployment should have, within its version's bounds."""

    instance_count = forms.IntegerField(label="Instances")

    def __init__(self, *args, deployment: Deployment, **kwargs) -> None:
        kwargs.setdefault("initial", {"instance_count": deployment.instance_count})
        super().__init__(*args, **kwargs)
        low, high, _ = deployment.version.instance_bounds
        self.bounds = (low, high)
        field = self.fields["instance_count"]
        field.widget.attrs.update(min=low, max=high, step=1)
        field.help_text = (
            f"Between {low} and {high}. New instances use the deployment's settings; "
            "scaling in removes failed instances first, then the newest."
        )

    def clean_instance_count(self) -> int:
        count = self.cleaned_data["instance_count"]
        low, high = self.bounds
        if not low <= count <= high:
            raise ValidationError(f"Choose between {low} and {high} instances.")
        return count


class UUIDListField(forms.Field):
    """Repeated ``vm`` checkboxes: a list of UUIDs (anything else is a form error)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Select at least one virtual machine.",
        "invalid": "The selection is not valid: reload the page and try again.",
        "too_many": "Select at most %(max)s virtual machines at once.",
    }

    def to_python(self, value) -> list[uuid.UUID]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        try:
            ids = list(dict.fromkeys(uuid.UUID(str(v)) for v in value))
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if len(ids) > BULK_MAX:
            raise ValidationError(self.error_messages["too_many"], code="too_many", params={"max": BULK_MAX})
        return ids


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=list(VM_ACTIONS.items()))
    vm = UUIDListField()
