"""Gallery items, their versions and the VM size presets they run on.

A version holds three JSON documents, in the spirit of Windows Azure Pack's VM Role:

- ``resource_definition``: image, allowed sizes, data disks, NIC count, instance count;
- ``parameter_definition``: the typed, localisable parameters that generate the deploy form
  (compiled and checked by ``gallery.parameters``);
- ``resource_extension``: the cloud-init user-data template (``gallery.extension``).

Published and deprecated versions are immutable: the services refuse edits, so a deployment
that records "version 1.2.3" always means the same documents.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from gallery.extension import UserDataTemplate
from gallery.parameters import Context, Definition, compile_definition
from portal.models import UUIDModel
from subscriptions.quota import Demand

VERSION_RE = re.compile(r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})")
SIZE_NAME_RE = r"^[a-z0-9][a-z0-9._-]{0,63}$"
LANGUAGE_RE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


def parse_version(text: str) -> tuple[int, int, int]:
    """``"1.2.3"`` → ``(1, 2, 3)``; a ``ValidationError`` for anything else."""
    match = VERSION_RE.fullmatch(str(text).strip())
    if match is None:
        raise ValidationError({"version": "Use major.minor.build, e.g. 1.0.0."})
    return int(match[1]), int(match[2]), int(match[3])


class State(models.TextChoices):
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class VMSize(UUIDModel):
    """An admin-defined hardware preset (Azure Pack's hardware profile). Plans offer sizes;
    versions list the sizes they run on; a deployment uses the intersection."""

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(SIZE_NAME_RE, "Use lower-case letters, digits, dots, dashes.")],
    )
    vcpus = models.PositiveIntegerField("vCPUs", validators=[MinValueValidator(1)])
    ram_gib = models.PositiveIntegerField("RAM (GiB)", validators=[MinValueValidator(1)])
    disk_gib = models.PositiveIntegerField("OS disk (GiB)", validators=[MinValueValidator(1)])
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    # The M2M lives here so that subscriptions/ never imports gallery/.
    plans = models.ManyToManyField("subscriptions.Plan", related_name="sizes", blank=True)

    class Meta:
        ordering = ["vcpus", "ram_gib", "disk_gib", "name"]
        verbose_name = "VM size"

    def __str__(self) -> str:
        return self.name

    @property
    def summary(self) -> str:
        return f"{self.vcpus} vCPU, {self.ram_gib} GiB RAM, {self.disk_gib} GiB disk"


class GalleryItem(UUIDModel):
    """Something tenants can deploy: a name and a face for a series of versions."""

    class Category(models.TextChoices):
        OPERATING_SYSTEM = "os", "Operating systems"
        WEB = "web", "Web servers"
        DATABASE = "database", "Databases"
        CLUSTER = "cluster", "Clusters and farms"
        DEVELOPER = "developer", "Developer tools"
        OTHER = "other", "Other"

    class OSFamily(models.TextChoices):
        LINUX = "linux", "Linux"
        WINDOWS = "windows", "Windows"
        OTHER = "other", "Other"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    publisher = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=5000)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.OTHER)
    os_family = models.CharField(max_length=16, choices=OSFamily.choices, default=OSFamily.LINUX)
    icon = models.CharField(
        max_length=64,
        default="box",
        help_text="A Bootstrap Icons name, e.g. hdd-stack.",
        validators=[RegexValidator(r"^[a-z0-9]+(-[a-z0-9]+)*$", "Use an icon name like hdd-stack.")],
    )
    # A plan offers only its items.
    plans = models.ManyToManyField("subscriptions.Plan", related_name="gallery_items", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "slug"]

    def __str__(self) -> str:
        return self.name


# Compiled parameter definitions of immutable versions, keyed by (pk, published_at): a version
# can only change in draft, and publishing again stamps a new published_at. Bounded, because a
# long-running worker may see many versions.
_COMPILED_MAX = 512
_compiled: OrderedDict[tuple, tuple[Definition, UserDataTemplate | None]] = OrderedDict()
_compiled_lock = threading.Lock()


class GalleryItemVersion(UUIDModel):
    """One immutable-once-published release of an item: ``major.minor.build``."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        DEPRECATED = "deprecated", "Deprecated"

    item = models.ForeignKey(GalleryItem, on_delete=models.CASCADE, related_name="versions")
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    build = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT, db_index=True)
    resource_definition = models.JSONField(default=dict)
    parameter_definition = models.JSONField(default=dict)
    resource_extension = models.JSONField(default=dict, blank=True)
    default_language = models.CharField(
        max_length=16, default="en", validators=[RegexValidator(LANGUAGE_RE, "Use a language tag like en.")]
    )
    notes = models.TextField(blank=True, max_length=5000)
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["item", "-major", "-minor", "-build"]
        constraints = [
            models.UniqueConstraint(fields=["item", "major", "minor", "build"], name="gallery_version_unique")
        ]
        indexes = [models.Index(fields=["item", "state"])]

    def __str__(self) -> str:
        # The item's name only when it is already loaded: str() must never cost a query.
        if GalleryItemVersion.item.is_cached(self):
            return f"{self.item.name} {self.version}"
        return f"version {self.version}"

    @property
    def version(self) -> str:
        """The version number as people write it: ``"1.2.3"``."""
        return f"{self.major}.{self.minor}.{self.build}"

    @property
    def number(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.build)

    @property
    def is_editable(self) -> bool:
        return self.state == self.State.DRAFT

    # --- compiled documents ---------------------------------------------------------------

    def _compile(self) -> tuple[Definition, UserDataTemplate | None]:
        definition = compile_definition(self.parameter_definition, default_language=self.default_language)
        text = (self.resource_extension or {}).get("user_data")
        template = UserDataTemplate.compile(text, definition) if text else None
        return definition, template

    def _compiled_pair(self) -> tuple[Definition, UserDataTemplate | None]:
        cached = self.__dict__.get("_compiled_pair_cache")
        if cached is not None:
            return cached
        if self.state == self.State.DRAFT or self.pk is None or self.published_at is None:
            # Drafts change; compile per instance only.
            pair = self._compile()
        else:
            key = (self.pk, self.published_at)
            with _compiled_lock:
                pair = _compiled.get(key)
                if pair is not None:
                    _compiled.move_to_end(key)
            if pair is None:
                pair = self._compile()
                with _compiled_lock:
                    _compiled[key] = pair
                    while len(_compiled) > _COMPILED_MAX:
                        _compiled.popitem(last=False)
        self.__dict__["_compiled_pair_cache"] = pair
        return pair

    @property
    def parameters(self) -> Definition:
        """The compiled parameter definition (raises ``DefinitionError`` if it is broken,
        which the services make impossible for published versions)."""
        return self._compiled_pair()[0]

    @property
    def user_data(self) -> UserDataTemplate | None:
        """The compiled cloud-init template, or None when the version has no extension."""
        return self._compiled_pair()[1]

    def refresh_from_db(self, *args, **kwargs) -> None:
        self.__dict__.pop("_compiled_pair_cache", None)
        super().refresh_from_db(*args, **kwargs)

    # --- resource definition helpers ------------------------------------------------------

    @property
    def instance_bounds(self) -> tuple[int, int, int]:
        """``(min, max, default)`` instance count."""
        spec = (self.resource_definition or {}).get("instance_count") or {}
        return int(spec.get("min", 1)), int(spec.get("max", 1)), int(spec.get("default", spec.get("min", 1)))

    @property
    def size_names(self) -> list[str]:
        return list((self.resource_definition or {}).get("sizes") or [])

    def validation_context(
        self, *, sizes: list[VMSize] | None = None, networks=None, language: str | None = None
    ) -> Context:
        """The context for ``parameters.validate``: the sizes a deployment may use (this
        version's sizes, intersected with the plan's active sizes the caller passes) and the
        tenant's networks."""
        allowed = set(self.size_names)
        if sizes is not None:
            allowed &= {s.name for s in sizes if s.state == State.ACTIVE}
        return Context(vm_sizes=allowed, networks=networks, language=language or self.default_language)

    def size_name(self, values: Mapping[str, Any] | None = None) -> str:
        """The size a deployment uses: the vm_size parameter's value, else the default."""
        param = self.parameters.first_of_type("vm_size")
        if param is not None and values and values.get(param.name):
            return str(values[param.name])
        return (self.resource_definition or {}).get("default_size", "")

    def image_name(self, values: Mapping[str, Any] | None = None) -> str:
        """The base image: fixed in the resource definition, or a choice parameter's value."""
        image = (self.resource_definition or {}).get("image")
        if isinstance(image, dict):
            return str((values or {}).get(image["param"], ""))
        return image or ""

    def data_disk_sizes(self, values: Mapping[str, Any] | None = None) -> list[int]:
        """GiB of each extra data disk; a disk may take its size from an integer parameter."""
        out = []
        for disk in (self.resource_definition or {}).get("data_disks") or []:
            size = disk.get("size_gib", 0)
            param = disk.get("size_gib_param")
            if param and values and isinstance(values.get(param), int):
                size = values[param]
            out.append(int(size))
        return out

    def check_instance_count(self, instance_count: int) -> None:
        low, high, _ = self.instance_bounds
        if not isinstance(instance_count, int) or isinstance(instance_count, bool):
            raise ValidationError({"instance_count": "Enter a whole number."})
        if not low <= instance_count <= high:
            raise ValidationError(
                {
                    "instance_count": f"Choose between {low} and {high} instances."
                    if low != high
                    else f"This item always deploys {low} instance(s)."
                }
            )

    def demand(self, instance_count: int, size: VMSize, *, values: Mapping[str, Any] | None = None) -> Demand:
        """What ``instance_count`` VMs of ``size`` need from a subscription's quota: VMs,
        vCPUs, RAM and disk (the size's OS disk plus every extra data disk, per instance).

        ``values`` are the cleaned parameters, for data disks sized by a parameter."""
        self.check_instance_count(instance_count)
        disk_per_vm = size.disk_gib + sum(self.data_disk_sizes(values))
        return Demand(
            vms=instance_count,
            vcpus=size.vcpus * instance_count,
            ram_gib=size.ram_gib * instance_count,
            disk_gib=disk_per_vm * instance_count,
        )
