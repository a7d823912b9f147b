"""Hosts, deployments, their resource configurations and virtual machines.

A VM's state is three fields, as Nova keeps them:

- ``provisioning_state``: where it is in its life (building, active, error, deleted);
- ``power_state``: what the hypervisor last reported (running, shutdown, …);
- ``task_state``: the operation in flight, or empty. Operations start with a conditional
  UPDATE from "no task" to their task, so two operations can never run on one VM at once,
  and one in the wrong state is a 409.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from controller.base import PowerState
from portal.models import TenantQuerySet, UUIDModel

POWER_LABELS = {
    PowerState.RUNNING: "Running",
    PowerState.SHUTDOWN: "Shut down",
    PowerState.PAUSED: "Paused",
    PowerState.CRASHED: "Crashed",
    PowerState.NOSTATE: "No state",
}


class Host(UUIDModel):
    """A hypervisor host the portal places VMs on, through the driver its ``driver`` names.

    The capacity fields are what placement schedules against: the host's totals (read from
    the driver at registration and on refresh) times the allocation ratios.
    """

    class State(models.TextChoices):
        ENABLED = "enabled", "Enabled"
        DRAINING = "draining", "Draining"  # keeps its VMs, takes no new ones
        DISABLED = "disabled", "Disabled"

    name = models.CharField(max_length=100, unique=True)
    driver = models.CharField(max_length=32, default="simulated")
    uri = models.CharField("URI", max_length=500, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ENABLED, db_index=True)
    vcpus = models.PositiveIntegerField("vCPUs", default=0)
    ram_gib = models.PositiveIntegerField("RAM (GiB)", default=0)
    disk_gib = models.PositiveIntegerField("Disk (GiB)", default=0)
    cpu_allocation_ratio = models.FloatField(
        default=4.0, validators=[MinValueValidator(0.1), MaxValueValidator(64)]
    )
    ram_allocation_ratio = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.1), MaxValueValidator(8)]
    )
    disk_allocation_ratio = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.1), MaxValueValidator(8)]
    )
    # What the host's building and active VMs hold. Placement adds to these in the statement
    # that checks the room (so it reads one row per host, not every VM); a VM that fails or is
    # deleted gives its share back in the transaction that says so. The VM rows stay the
    # ledger: reconciliation recounts from them and reports any drift (compute.placement).
    used_vcpus = models.PositiveIntegerField(default=0, editable=False)
    used_ram_gib = models.PositiveIntegerField(default=0, editable=False)
    used_disk_gib = models.PositiveIntegerField(default=0, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    notes = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # Each capacity total and the ratio it is scheduled with.
    RATIOS = {
        "vcpus": "cpu_allocation_ratio",
        "ram_gib": "ram_allocation_ratio",
        "disk_gib": "disk_allocation_ratio",
    }
    # Each capacity total and the counter of what is used of it.
    USED = {"vcpus": "used_vcpus", "ram_gib": "used_ram_gib", "disk_gib": "used_disk_gib"}

    @staticmethod
    def schedulable_of(fields: Mapping[str, float]) -> dict[str, float]:
        """Totals times ratios, from a host's fields (an instance's, or a ``values()`` row:
        placement reads plain rows)."""
        return {total: fields[total] * fields[ratio] for total, ratio in Host.RATIOS.items()}

    @property
    def schedulable(self) -> dict[str, float]:
        return self.schedulable_of(
            {name: getattr(self, name) for pair in self.RATIOS.items() for name in pair}
        )


class Deployment(UUIDModel):
    """A gallery version deployed with parameter values and an instance count: a set of
    identical VMs that scale out and in together (Azure Pack's VM Role instance)."""

    class State(models.TextChoices):
        DEPLOYING = "deploying", "Deploying"
        READY = "ready", "Ready"
        SCALING = "scaling", "Scaling"
        DEGRADED = "degraded", "Degraded"  # some VMs failed
        FAILED = "failed", "Failed"  # none came up
        DELETING = "deleting", "Deleting"
        DELETED = "deleted", "Deleted"

    BUSY_STATES = (State.DEPLOYING, State.SCALING, State.DELETING)

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="deployments")
    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.PROTECT, related_name="deployments"
    )
    version = models.ForeignKey(
        "gallery.GalleryItemVersion", on_delete=models.PROTECT, related_name="deployments"
    )
    name = models.CharField(max_length=63)
    hostname_prefix = models.CharField(max_length=40)
    size = models.ForeignKey("gallery.VMSize", on_delete=models.PROTECT, related_name="deployments")
    instance_count = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.DEPLOYING, db_index=True)
    configuration_version = models.PositiveIntegerField(default=1)
    next_index = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["tenant", "state", "-created"])]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=~models.Q(state="deleted"),
                name="deployment_name_unique_per_tenant",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_busy(self) -> bool:
        return self.state in self.BUSY_STATES


class ResourceConfiguration(models.Model):
    """The values a deployment was made with (Azure Pack's RESCONFIG). Never edited: a change
    of settings is a new version. Secrets are kept only encrypted (``compute.secrets``), for
    the guest payload of VMs added later by scaling out, and are never shown again."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="configurations")
    number = models.PositiveIntegerField()
    values = models.JSONField(default=dict)  # secrets redacted
    secrets = models.TextField(blank=True)  # Fernet token of the secret values, or empty
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["deployment", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="resource_configuration_unique")
        ]

    def __str__(self) -> str:
        return f"configuration {self.number}"


class VirtualMachine(UUIDModel):
    class Provisioning(models.TextChoices):
        BUILDING = "building", "Building"
        ACTIVE = "active", "Active"
        ERROR = "error", "Error"
        DELETED = "deleted", "Deleted"

    class Task(models.TextChoices):
        NONE = "", "—"
        SPAWNING = "spawning", "Spawning"
        POWERING_ON = "powering_on", "Starting"
        SHUTTING_DOWN = "shutting_down", "Shutting down"
        POWERING_OFF = "powering_off", "Powering off"
        REBOOTING = "rebooting", "Resetting"
        DELETING = "deleting", "Deleting"

    Power = models.TextChoices("Power", [(s.name, (s.value, POWER_LABELS[s])) for s in PowerState])

    # Provisioning states whose VM holds host capacity (placement counts them).
    HOLDS_HOST = ("building", "active")

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="vms")
    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.PROTECT, related_name="vms"
    )
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="vms")
    configuration = models.ForeignKey(ResourceConfiguration, on_delete=models.CASCADE, related_name="vms")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=80)
    hostname = models.CharField(max_length=63)
    size_name = models.CharField(max_length=64)
    vcpus = models.PositiveIntegerField()
    ram_gib = models.PositiveIntegerField()
    disk_gib = models.PositiveIntegerField()  # OS disk plus data disks
    image = models.CharField(max_length=200)
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.PROTECT, related_name="vms")
    provisioning_state = models.CharField(
        max_length=16, choices=Provisioning.choices, default=Provisioning.BUILDING
    )
    power_state = models.CharField(max_length=16, choices=Power.choices, default=PowerState.NOSTATE)
    task_state = models.CharField(max_length=16, choices=Task.choices, default="", blank=True)
    message = models.CharField(max_length=500, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "name"]
        indexes = [
            models.Index(fields=["tenant", "provisioning_state", "-created"]),
            models.Index(fields=["deployment", "index"]),
            models.Index(fields=["host", "provisioning_state"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> str:
        """One word for people: the task if one runs, else the power or provisioning state."""
        if self.task_state:
            return self.task_state
        if self.provisioning_state == self.Provisioning.ACTIVE:
            return self.power_state
        return self.provisioning_state
