"""Output shapes of the admin API's provisioning endpoints: hosts with capacity and usage,
and jobs with what only admins see (the controller's ``detail``, the worker, the task id)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from adminportal.compute_selectors import host_usage
from compute.models import Host, VirtualMachine
from portal.models import Job
from tenants.api.serializers import TenantRefSerializer


class AdminHostDimensionSerializer(serializers.Serializer):
    total = serializers.IntegerField(read_only=True, help_text="What the host reported.")
    ratio = serializers.FloatField(read_only=True, help_text="Allocation ratio.")
    schedulable = serializers.IntegerField(
        source="limit", read_only=True, help_text="total × ratio, rounded down: what placement may use."
    )
    used = serializers.IntegerField(read_only=True, help_text="Held by VMs that are building or active.")
    free = serializers.IntegerField(read_only=True)


class AdminHostCapacitySerializer(serializers.Serializer):
    vcpus = AdminHostDimensionSerializer(read_only=True)
    ram_gib = AdminHostDimensionSerializer(read_only=True)
    disk_gib = AdminHostDimensionSerializer(read_only=True)


class AdminHostSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    driver = serializers.CharField(read_only=True)
    uri = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=Host.State.choices, read_only=True)
    capacity = serializers.SerializerMethodField(
        help_text="Per dimension: total, ratio, schedulable, used, free."
    )
    vm_count = serializers.IntegerField(read_only=True, help_text="VMs holding capacity on it.")
    last_seen_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_error = serializers.CharField(read_only=True)
    notes = serializers.CharField(read_only=True)
    created = serializers.DateTimeField(read_only=True)
    updated = serializers.DateTimeField(read_only=True)

    @extend_schema_field(AdminHostCapacitySerializer)
    def get_capacity(self, host: Host) -> dict:
        return AdminHostCapacitySerializer({row["dimension"]: row for row in host_usage(host)}).data


class AdminHostVmSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    tenant = TenantRefSerializer(read_only=True)
    deployment = serializers.UUIDField(source="deployment_id", read_only=True)
    status = serializers.CharField(
        read_only=True, help_text="The task if one runs, else the power or provisioning state."
    )
    provisioning_state = serializers.ChoiceField(choices=VirtualMachine.Provisioning.choices, read_only=True)
    vcpus = serializers.IntegerField(read_only=True)
    ram_gib = serializers.IntegerField(read_only=True)
    disk_gib = serializers.IntegerField(read_only=True)
    created = serializers.DateTimeField(read_only=True)


class AdminHostDetailSerializer(AdminHostSerializer):
    vms = AdminHostVmSerializer(
        source="vm_rows", many=True, read_only=True, help_text="Its VMs (not deleted), at most 500."
    )


class AdminJobTargetSerializer(serializers.Serializer):
    type = serializers.CharField(
        source="target_type", read_only=True, help_text="`virtualmachine` or `deployment`."
    )
    id = serializers.UUIDField(source="target_id", read_only=True)
    name = serializers.CharField(source="target_repr", read_only=True)


class AdminJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    kind = serializers.CharField(read_only=True)
    label = serializers.CharField(source="get_kind_display", read_only=True)
    state = serializers.ChoiceField(choices=Job.State.choices, read_only=True)
    progress = serializers.IntegerField(read_only=True, help_text="Percent done.")
    step = serializers.CharField(read_only=True)
    target = AdminJobTargetSerializer(source="*", read_only=True)
    tenant = TenantRefSerializer(read_only=True, allow_null=True)
    parent = serializers.UUIDField(source="parent_id", read_only=True, allow_null=True)
    attempts = serializers.IntegerField(read_only=True)
    max_attempts = serializers.IntegerField(read_only=True)
    message = serializers.CharField(read_only=True, help_text="What the tenant is told.")
    cancel_requested = serializers.BooleanField(read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)


class AdminJobChildSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    kind = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=Job.State.choices, read_only=True)
    progress = serializers.IntegerField(read_only=True)
    target = AdminJobTargetSerializer(source="*", read_only=True)
    message = serializers.CharField(read_only=True)


class AdminJobDetailSerializer(AdminJobSerializer):
    detail = serializers.CharField(read_only=True, help_text="What really happened: admins only.")
    worker = serializers.CharField(read_only=True)
    celery_task_id = serializers.CharField(read_only=True)
    heartbeat_at = serializers.DateTimeField(read_only=True, allow_null=True)
    deadline = serializers.DateTimeField(read_only=True)
    run_after = serializers.DateTimeField(read_only=True, allow_null=True)
    children = AdminJobChildSerializer(
        source="child_rows", many=True, read_only=True, help_text="A group job's per-VM jobs."
    )
