"""Output shapes of the compute API: deployments, VMs and jobs (Input serializers live in
their views).

Jobs are shown to tenants with their tenant-safe fields only: never ``detail`` (what really
happened, for service admins), ``worker``, ``claim`` or ``celery_task_id``.

The VM list is the hot path (``GET /api/v1/vms/``, thousands of VMs per tenant, pages of up to
500): ``vm_list_data`` renders ``values()`` rows straight to dicts, without model instances or
DRF fields. ``VmSerializer`` documents the same shape and tests/api/test_compute_api.py keeps
the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compute.models import Deployment, VirtualMachine
from controller.base import PowerState
from portal.models import Job
from tenants.api.serializers import UserRefSerializer

VM = VirtualMachine

# The one-word status people see (VirtualMachine.status): a task while one runs, the power
# state of an active VM, else the provisioning state. Also the values ``?status=`` accepts.
VM_STATUSES = [
    VM.Provisioning.BUILDING.value,
    *[s.value for s in PowerState],
    *[t for t in VM.Task.values if t],
    VM.Provisioning.ERROR.value,
    VM.Provisioning.DELETED.value,
]


def vm_status(provisioning_state: str, power_state: str, task_state: str) -> str:
    """``VirtualMachine.status`` for a ``values()`` row (the test keeps them equal)."""
    if task_state:
        return task_state
    if provisioning_state == VM.Provisioning.ACTIVE:
        return power_state
    return provisioning_state


def _datetime(value: datetime | None, tz: tzinfo) -> str | None:
    """What ``serializers.DateTimeField`` renders: ISO 8601 in the current time zone, UTC as Z."""
    if value is None:
        return None
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- shared pieces -----------------------------------------------------------------------


class RefSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)


class ItemRefSerializer(RefSerializer):
    slug = serializers.CharField(read_only=True)


class VersionRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    version = serializers.CharField(read_only=True, help_text="e.g. 1.0.0")


class SizeSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    vcpus = serializers.IntegerField(read_only=True)
    ram_gib = serializers.IntegerField(read_only=True)
    disk_gib = serializers.IntegerField(read_only=True)


# --- jobs --------------------------------------------------------------------------------


class JobTargetSerializer(serializers.Serializer):
    type = serializers.CharField(
        source="target_type", read_only=True, help_text="`deployment` or `virtualmachine`."
    )
    id = serializers.UUIDField(source="target_id", read_only=True)
    name = serializers.CharField(source="target_repr", read_only=True)


class JobSerializer(serializers.Serializer):
    """A job as tenants see it."""

    id = serializers.UUIDField(read_only=True)
    kind = serializers.CharField(
        read_only=True, help_text="e.g. `deploy`, `create_vm`, `start`, `scale_out`."
    )
    label = serializers.CharField(source="get_kind_display", read_only=True)
    state = serializers.ChoiceField(choices=Job.State.choices, read_only=True)
    progress = serializers.IntegerField(read_only=True, help_text="Percent done.")
    step = serializers.CharField(read_only=True, help_text="The current step, e.g. `spawning`.")
    message = serializers.CharField(read_only=True, help_text="What went wrong (or why it is retrying).")
    target = JobTargetSerializer(source="*", read_only=True)
    parent = serializers.UUIDField(
        source="parent_id",
        read_only=True,
        allow_null=True,
        help_text="The group job (deploy, scale, delete a deployment) this per-VM job belongs to.",
    )
    attempts = serializers.IntegerField(read_only=True)
    cancel_requested = serializers.BooleanField(read_only=True)
    created = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)


class JobDetailSerializer(JobSerializer):
    children = serializers.SerializerMethodField(
        help_text="A group job's per-VM jobs (empty for the others)."
    )

    @extend_schema_field(JobSerializer(many=True))
    def get_children(self, job: Job) -> list:
        return JobSerializer(self.context.get("children", []), many=True).data


# --- VMs ---------------------------------------------------------------------------------


@extend_schema_field(SizeSerializer)
class VmSizeField(serializers.Field):
    """A VM's size snapshot (its own columns: a size edited later does not change it)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, vm: VirtualMachine) -> dict:
        return {"name": vm.size_name, "vcpus": vm.vcpus, "ram_gib": vm.ram_gib, "disk_gib": vm.disk_gib}


class VmSerializer(serializers.Serializer):
    """A VM as listed. Its host is the service team's business and never shown."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    hostname = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(
        choices=VM_STATUSES,
        read_only=True,
        help_text="One word: the running task, else the power state of an active VM, else "
        "building, error or deleted.",
    )
    provisioning_state = serializers.ChoiceField(choices=VM.Provisioning.choices, read_only=True)
    # Not VM.Power.choices: its values came out capitalised ("Running"), the stored ones are not.
    power_state = serializers.ChoiceField(choices=[s.value for s in PowerState], read_only=True)
    task_state = serializers.ChoiceField(choices=VM.Task.choices, read_only=True)
    message = serializers.CharField(read_only=True, help_text="Why it failed, if it did.")
    size = VmSizeField()
    image = serializers.CharField(read_only=True)
    deployment = RefSerializer(read_only=True)
    subscription = RefSerializer(read_only=True)
    created = serializers.DateTimeField(read_only=True)
    launched_at = serializers.DateTimeField(read_only=True, allow_null=True)


def vm_list_data(rows: Iterable[dict]) -> list[dict]:
    """``VmSerializer``'s output for ``compute.selectors.vm_list_page`` rows, built directly."""
    tz = timezone.get_current_timezone()
    return [
        {
            "id": str(row["id"]),
            "name": row["name"],
            "hostname": row["hostname"],
            "status": vm_status(row["provisioning_state"], row["power_state"], row["task_state"]),
            "provisioning_state": row["provisioning_state"],
            "power_state": row["power_state"],
            "task_state": row["task_state"],
            "message": row["message"],
            "size": {
                "name": row["size_name"],
                "vcpus": row["vcpus"],
                "ram_gib": row["ram_gib"],
                "disk_gib": row["disk_gib"],
            },
            "image": row["image"],
            "deployment": {"id": str(row["deployment_id"]), "name": row["deployment__name"]},
            "subscription": {"id": str(row["subscription_id"]), "name": row["subscription__name"]},
            "created": _datetime(row["created"], tz),
            "launched_at": _datetime(row["launched_at"], tz),
        }
        for row in rows
    ]


class VmDetailSerializer(VmSerializer):
    item = ItemRefSerializer(source="deployment.version.item", read_only=True)
    actions = serializers.SerializerMethodField(
        help_text="What may be done to it now: start, shutdown, power_off, reset, delete."
    )
    job = serializers.SerializerMethodField(help_text="The operation running on it, if any.")

    @extend_schema_field(
        serializers.ListField(
            child=serializers.ChoiceField(choices=["start", "shutdown", "power_off", "reset", "delete"])
        )
    )
    def get_actions(self, vm: VirtualMachine) -> list[str]:
        from compute.services import POWER_OPERATIONS

        if vm.provisioning_state == VM.Provisioning.DELETED or vm.task_state == VM.Task.DELETING:
            return []
        actions = []
        if vm.provisioning_state == VM.Provisioning.ACTIVE and not vm.task_state:
            actions = [a for a, (_, sources) in POWER_OPERATIONS.items() if vm.power_state in sources]
        return [*actions, "delete"]

    @extend_schema_field(JobSerializer(allow_null=True))
    def get_job(self, vm: VirtualMachine) -> dict | None:
        job = self.context.get("job")
        return JobSerializer(job).data if job is not None else None


# --- deployments -------------------------------------------------------------------------


class VmCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(read_only=True, help_text="VMs not deleted.")
    running = serializers.IntegerField(read_only=True)
    error = serializers.IntegerField(read_only=True)


class DeploymentSerializer(serializers.Serializer):
    """A deployment as listed (``compute.selectors.deployment_list`` annotates the counts)."""

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=Deployment.State.choices, read_only=True)
    item = ItemRefSerializer(source="version.item", read_only=True)
    version = VersionRefSerializer(read_only=True)
    subscription = RefSerializer(read_only=True)
    size = SizeSerializer(read_only=True)
    instance_count = serializers.IntegerField(read_only=True)
    vms = serializers.SerializerMethodField()
    created = serializers.DateTimeField(read_only=True)

    @extend_schema_field(VmCountsSerializer)
    def get_vms(self, deployment: Deployment) -> dict:
        return {"total": deployment.vm_total, "running": deployment.vm_running, "error": deployment.vm_error}


class DeploymentVmSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    hostname = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=VM_STATUSES, read_only=True)
    message = serializers.CharField(read_only=True)


class ConfigurationSerializer(serializers.Serializer):
    number = serializers.IntegerField(read_only=True, help_text="Grows by one with every change of settings.")
    values = serializers.DictField(
        read_only=True, help_text="The parameter values; secrets are always `********`."
    )
    created = serializers.DateTimeField(read_only=True)


class DeploymentDetailSerializer(DeploymentSerializer):
    """A deployment with its VMs, its current configuration and the job running on it.
    Built from ``context``: ``vms`` (its live VMs), ``configuration`` and ``job``."""

    instances = serializers.SerializerMethodField(help_text="Its VMs (not deleted), in order.")
    configuration = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField(
        help_text="The operation running on it (deploy, scale, delete), if any."
    )

    @extend_schema_field(VmCountsSerializer)
    def get_vms(self, deployment: Deployment) -> dict:
        vms = self.context["vms"]
        return {
            "total": len(vms),
            "running": sum(
                1
                for v in vms
                if v.provisioning_state == VM.Provisioning.ACTIVE and v.power_state == "running"
            ),
            "error": sum(1 for v in vms if v.provisioning_state == VM.Provisioning.ERROR),
        }

    @extend_schema_field(DeploymentVmSerializer(many=True))
    def get_instances(self, deployment: Deployment) -> list:
        return DeploymentVmSerializer(self.context["vms"], many=True).data

    @extend_schema_field(ConfigurationSerializer(allow_null=True))
    def get_configuration(self, deployment: Deployment) -> dict | None:
        configuration = self.context.get("configuration")
        return ConfigurationSerializer(configuration).data if configuration is not None else None

    @extend_schema_field(JobSerializer(allow_null=True))
    def get_job(self, deployment: Deployment) -> dict | None:
        job = self.context.get("job")
        return JobSerializer(job).data if job is not None else None
