"""Forms of the admin portal's gallery pages: items, versions, packages, VM sizes, plans, and
the preview of a version's deploy form.

As elsewhere in the admin portal, forms check shapes (JSON syntax, a version number that
looks like one) and the services check everything else; the views fold a service's
``ValidationError`` back beside the field it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import fields_for_model

from adminportal.forms import _FilterForm, _restyle
from gallery.forms import DeployForm
from gallery.models import VERSION_RE, GalleryItem, GalleryItemVersion, State, VMSize
from gallery.packages import MAX_PACKAGE_BYTES
from gallery.services import ITEM_FIELDS, SIZE_FIELDS
from subscriptions.models import Plan, Subscription
from tenants.forms import BootstrapForm

# --- lists -----------------------------------------------------------------------------------------


class GalleryFilterForm(_FilterForm):
    category = forms.ChoiceField(
        label="Category", required=False, choices=[("", "Every category"), *GalleryItem.Category.choices]
    )
    os = forms.ChoiceField(
        label="OS family", required=False, choices=[("", "Every OS family"), *GalleryItem.OSFamily.choices]
    )


class SizeFilterForm(_FilterForm):
    state = forms.ChoiceField(label="State", required=False, choices=[("", "Any state"), *State.choices])


# --- items -----------------------------------------------------------------------------------------


class GalleryItemForm(BootstrapForm):
    """An item's metadata. Not a ModelForm: the service saves and audits what changed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(GalleryItem, fields=ITEM_FIELDS))
        self.fields[
            "slug"
        ].help_text = "Names the item in packages: importing a package with this slug updates this item."
        self.fields["os_family"].label = "OS family"
        self.fields["description"].widget.attrs["rows"] = 4
        self.fields["description"].help_text = "Shown to tenants on the item's page."
        self.fields["icon"].help_text = "A Bootstrap Icons name, e.g. terminal, database, hdd-stack."
        _restyle(self)

    def service_data(self) -> dict:
        return {k: self.cleaned_data[k] for k in ITEM_FIELDS}


def item_initial(item: GalleryItem) -> dict:
    return {f: getattr(item, f) for f in ITEM_FIELDS}


# --- versions --------------------------------------------------------------------------------------


class JSONDocumentField(forms.CharField):
    """A JSON object typed into a textarea. Syntax errors name the line and column; what was
    typed is re-rendered as typed, so nothing is lost when it is wrong."""

    widget = forms.Textarea

    def __init__(self, *args, rows: int = 14, **kwargs) -> None:
        kwargs.setdefault("strip", True)
        super().__init__(*args, **kwargs)
        self.widget.attrs.update(
            {"rows": rows, "class": "font-monospace small", "spellcheck": "false", "autocomplete": "off"}
        )

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, indent=2, ensure_ascii=False)
        return value

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if text in self.empty_values:
            return {}
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                "Line %(line)s, column %(column)s: %(message)s.",
                code="invalid_json",
                params={"line": exc.lineno, "column": exc.colno, "message": exc.msg},
            ) from None
        if not isinstance(document, dict):
            raise ValidationError("Enter a JSON object: { … }.", code="not_an_object")
        return document


class VersionForm(BootstrapForm):
    """A draft version: its number (on create only) and its three JSON documents."""

    version = forms.CharField(
        label="Version",
        max_length=32,
        help_text="major.minor.build, e.g. 1.2.0. Published versions never change: give changed content a new number.",
    )
    resource_definition = JSONDocumentField(
        label="Resource definition",
        help_text="Image, sizes, default size, NIC count, instance count and data disks.",
    )
    parameter_definition = JSONDocumentField(
        label="Parameter definition",
        rows=20,
        help_text="Sections of typed parameters: they generate the deploy form tenants fill in.",
    )
    resource_extension = JSONDocumentField(
        label="Extension",
        required=False,
        rows=10,
        help_text='Optional: {"user_data": "#cloud-config …"}, the guest customisation template.',
    )
    default_language = forms.CharField(
        label="Default language",
        max_length=16,
        initial="en",
        help_text="Used for labels that have no text in the tenant's language.",
    )
    notes = forms.CharField(
        label="Release notes",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    document_fields = ("resource_definition", "parameter_definition", "resource_extension")

    def __init__(self, *args, item: GalleryItem, editing: GalleryItemVersion | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.item = item
        self.editing = editing
        if editing is not None:
            # The number names the version in deployments and packages; it is fixed once made.
            del self.fields["version"]
        _restyle(self)

    def clean_version(self) -> str:
        text = self.cleaned_data["version"].strip()
        match = VERSION_RE.fullmatch(text)
        if match is None:
            raise ValidationError("Use major.minor.build, e.g. 1.0.0.")
        number = tuple(int(part) for part in match.groups())
        # The service refuses a duplicate too (and wins any race); checking here puts a
        # readable message beside the field in the same round as the documents' errors.
        if self.item.versions.filter(major=number[0], minor=number[1], build=number[2]).exists():
            raise ValidationError(f"{self.item.name} already has a version {text}.")
        return text

    def service_data(self) -> dict:
        return dict(self.cleaned_data)


def version_initial(version: GalleryItemVersion) -> dict:
    return {
        "resource_definition": version.resource_definition,
        "parameter_definition": version.parameter_definition,
        "resource_extension": version.resource_extension,
        "default_language": version.default_language,
        "notes": version.notes,
    }


def version_skeleton(size_names: list[str]) -> dict:
    """A minimal, publishable first version: one image, the sizes that exist, a size choice
    and a host name. Easier to change than to write from nothing."""
    sizes = size_names[:4] or ["small"]
    return {
        "version": "1.0.0",
        "default_language": "en",
        "resource_definition": {
            "image": "debian-12-genericcloud-amd64",
            "sizes": sizes,
            "default_size": sizes[0],
            "nic_count": 1,
            "instance_count": {"min": 1, "max": 1, "default": 1},
        },
        "parameter_definition": {
            "sections": [
                {
                    "name": "basics",
                    "label": "Basics",
                    "parameters": [
                        {
                            "name": "size",
                            "type": "vm_size",
                            "label": "Size",
                            "default": sizes[0],
                            "required": True,
                        },
                        {
                            "name": "hostname",
                            "type": "hostname_prefix",
                            "label": "Host name prefix",
                            "default": "vm",
                            "required": True,
                        },
                    ],
                }
            ]
        },
        "resource_extension": {},
    }


def next_version(source: GalleryItemVersion, versions: list[GalleryItemVersion]) -> str:
    """The number offered to a copy of ``source``: the next free build of its major.minor."""
    builds = [v.build for v in versions if (v.major, v.minor) == (source.major, source.minor)]
    return f"{source.major}.{source.minor}.{max(builds, default=source.build) + 1}"


# --- packages --------------------------------------------------------------------------------------


class ImportForm(BootstrapForm):
    """A package as an uploaded .json file or as pasted text (one of the two)."""

    file = forms.FileField(
        label="Package file",
        required=False,
        help_text="A .json package exported from Cloudstamp, at most 1 MiB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )
    text = forms.CharField(
        label="…or paste the package JSON",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 12, "class": "font-monospace small", "spellcheck": "false", "autocomplete": "off"}
        ),
    )

    def clean(self) -> dict:
        data = super().clean()
        upload, text = data.get("file"), (data.get("text") or "")
        if upload and text.strip():
            raise ValidationError("Upload a file or paste JSON, not both.")
        if not upload and not text.strip():
            raise ValidationError("Choose a package file or paste its JSON.")
        if upload and upload.size > MAX_PACKAGE_BYTES:
            self.add_error("file", f"The file is larger than 1 MiB ({MAX_PACKAGE_BYTES} bytes).")
        return data

    def package_data(self) -> bytes | str:
        """The raw package: bytes of the file (the service decodes and reports bad UTF-8
        with its position), or the pasted text."""
        upload = self.cleaned_data.get("file")
        if upload:
            return upload.read(MAX_PACKAGE_BYTES + 1)
        return self.cleaned_data["text"]


# --- sizes -----------------------------------------------------------------------------------------


class VMSizeForm(BootstrapForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(fields_for_model(VMSize, fields=SIZE_FIELDS))
        self.fields[
            "name"
        ].help_text = "Versions list sizes by this name, so it cannot change once a version uses it."
        self.fields["state"].help_text = "Retired sizes are no longer offered for new deployments."
        for name in ("vcpus", "ram_gib", "disk_gib"):
            self.fields[name].widget.attrs["min"] = 1
        _restyle(self)

    def service_data(self) -> dict:
        return {k: self.cleaned_data[k] for k in SIZE_FIELDS}


def size_initial(size: VMSize) -> dict:
    return {f: getattr(size, f) for f in SIZE_FIELDS}


# --- plans -----------------------------------------------------------------------------------------


class PlanAttachForm(BootstrapForm):
    """Offer an item or size to one more plan: only the plans that do not offer it yet."""

    plan = forms.ModelChoiceField(label="Plan", queryset=Plan.objects.none(), empty_label="Choose a plan")

    def __init__(self, *args, exclude: list[Plan], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = Plan.objects.exclude(pk__in=[p.pk for p in exclude]).order_by("name")


# --- preview ---------------------------------------------------------------------------------------


@dataclass
class PreviewForm(DeployForm):
    """The tenant's deploy form for a service admin, who has no tenant and no subscription.

    Each plan that offers the item stands in for a subscription to it (an unsaved
    ``Subscription`` whose id is the plan's, so a choice survives the htmx round trip):
    choosing one shows the sizes a tenant on that plan is offered. When no plan offers the
    item yet, every active size the version lists is offered, so the form can still be tried.
    Nothing here is ever saved."""

    plans: list[Plan] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()  # tenant=None: no subscriptions, no sizes
        self.subscriptions = [
            Subscription(
                id=plan.pk, plan=plan, name="A tenant's subscription", state=Subscription.State.ACTIVE
            )
            for plan in self.plans
        ]
        chosen = str(self.data.get("subscription", "")) if self.data else ""
        self.subscription = next((s for s in self.subscriptions if str(s.pk) == chosen), None) or (
            self.subscriptions[0] if self.subscriptions else None
        )
        self.without_plan = not self.plans
        query = VMSize.objects.filter(name__in=self.version.size_names, state=State.ACTIVE)
        if self.subscription is not None:
            query = query.filter(plans=self.subscription.plan)
        self.sizes = list(query.order_by("vcpus", "ram_gib", "disk_gib", "name"))

    def validate(self) -> bool:
        valid = super().validate()
        if self.without_plan:
            # Not the preview's problem: the banner already says no plan offers the item.
            self.errors.pop("subscription", None)
            valid = not self.errors
        return valid
