"""Admin API for provisioning, under /api/v1/admin/: hosts (register, edit, enable / drain /
disable, delete) and every tenant's jobs (admin detail, retry, cancel).

Service admins only, by session (``IsServiceAdmin``). Reads go through
``adminportal.compute_selectors``, writes through ``compute.services`` and ``portal.jobs``,
as the admin portal's pages do; their errors become 400 (ValidationError: a host that does
not answer is a 400 on ``uri``) and 409 (a host in use, a job that is not failed).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from adminportal import compute_selectors as selectors
from adminportal.api.compute_serializers import (
    AdminHostDetailSerializer,
    AdminHostSerializer,
    AdminJobDetailSerializer,
    AdminJobSerializer,
)
from adminportal.api.views import AdminApi
from adminportal.compute_forms import ratio_bounds
from compute import services
from compute.models import Host
from portal.api.base import PaginatedListMixin, query_filters
from portal.jobs import job_cancel
from portal.models import Job

# Rows a detail response lists at most (a host's VMs, a group job's steps).
DETAIL_ROWS = 500


def _ratio(name: str, help_text: str) -> serializers.FloatField:
    # The model's validators are the bounds (the service's full_clean checks them too).
    low, high = ratio_bounds(name)
    return serializers.FloatField(required=False, min_value=low, max_value=high, help_text=help_text)


class AdminHostInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    cpu_allocation_ratio = _ratio("cpu_allocation_ratio", "Virtual CPUs placed per physical core.")
    ram_allocation_ratio = _ratio("ram_allocation_ratio", "Above 1 overcommits memory.")
    disk_allocation_ratio = _ratio("disk_allocation_ratio", "Above 1 relies on thin-provisioned disks.")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


def _host_data(pk) -> dict:
    host = selectors.host_get(pk)
    host.vm_rows = list(selectors.host_vms(host)[:DETAIL_ROWS])
    return AdminHostDetailSerializer(host).data


def _job_data(pk) -> dict:
    job = selectors.job_get(pk)
    job.child_rows = list(selectors.job_children(job)[:DETAIL_ROWS]) if job.is_group else []
    return AdminJobDetailSerializer(job).data


# --- hosts ---------------------------------------------------------------------------------


class AdminHostListApi(PaginatedListMixin, AdminApi):
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, default="", help_text="Search name and URI.")
        state = serializers.ChoiceField(choices=Host.State.choices, required=False, default="")

    class InputSerializer(AdminHostInputSerializer):
        uri = serializers.CharField(
            max_length=500,
            help_text="How the driver reaches the host, e.g. `sim://rack1-node1?vcpus=64&ram_gib=256&disk_gib=4000`.",
        )
        driver = serializers.CharField(
            max_length=32, default="simulated", help_text="A driver named in the COMPUTE_DRIVERS setting."
        )

    @extend_schema(parameters=[FilterSerializer], responses=AdminHostSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        hosts = selectors.host_list(search=filters["q"], state=filters["state"]).order_by("name", "pk")
        return self.paginated(hosts, lambda rows: AdminHostSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: AdminHostDetailSerializer})
    def post(self, request):
        """Register a host. The driver is asked for the host's capacity first: a host that
        does not answer is a 400 on `uri`, and nothing is saved."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        host = services.host_register(actor=request.user, **data.validated_data)
        return Response(_host_data(host.pk), status=status.HTTP_201_CREATED)


class AdminHostDetailApi(AdminApi):
    @extend_schema(responses=AdminHostDetailSerializer)
    def get(self, request, pk):
        return Response(_host_data(pk))

    @extend_schema(request=AdminHostInputSerializer, responses=AdminHostDetailSerializer)
    def patch(self, request, pk):
        """Rename the host, change its allocation ratios or notes."""
        host = selectors.host_get(pk)
        data = AdminHostInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.host_update(host=host, actor=request.user, **data.validated_data)
        return Response(_host_data(pk))

    @extend_schema(request=None, responses={204: OpenApiResponse(description="Deleted.")})
    def delete(self, request, pk):
        """Forget the host; 409 (`host_in_use`) while it still has VMs."""
        services.host_delete(host=selectors.host_get(pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdminHostStateApi(AdminApi):
    """Enable a host, drain it (it keeps its VMs and takes no new ones) or disable it (no new
    VMs, and reconciliation skips it)."""

    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=Host.State.choices)

    @extend_schema(request=InputSerializer, responses=AdminHostDetailSerializer)
    def post(self, request, pk):
        host = selectors.host_get(pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.host_set_state(host=host, state=data.validated_data["state"], actor=request.user)
        return Response(_host_data(pk))


# --- jobs ----------------------------------------------------------------------------------


class AdminJobListApi(PaginatedListMixin, AdminApi):
    """Every tenant's jobs, newest first."""

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(
            required=False,
            default="",
            help_text="Search the target's name and the message; an id finds that job, its steps "
            "and the jobs of that target.",
        )
        state = serializers.ChoiceField(choices=Job.State.choices, required=False, default="")
        kind = serializers.ChoiceField(choices=selectors.JOB_KINDS, required=False, default="")
        tenant = serializers.UUIDField(required=False, default=None, help_text="Only this tenant's.")

    @extend_schema(parameters=[FilterSerializer], responses=AdminJobSerializer(many=True))
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        jobs = selectors.job_list(
            state=filters["state"], kind=filters["kind"], tenant=filters["tenant"], search=filters["q"]
        )
        return self.paginated(jobs, lambda rows: AdminJobSerializer(rows, many=True).data)


class AdminJobDetailApi(AdminApi):
    @extend_schema(responses=AdminJobDetailSerializer)
    def get(self, request, pk):
        return Response(_job_data(pk))


class AdminJobRetryApi(AdminApi):
    """Run a failed job's operation again as a new job (a failed VM is rebuilt, with its quota
    reserved again). 409 for a job that did not fail, a group job (retry its failed steps),
    a VM that is gone, or no room on any host or in the tenant's quota."""

    @extend_schema(request=None, responses={202: AdminJobDetailSerializer})
    def post(self, request, pk):
        job = services.job_retry(job=selectors.job_get(pk), actor=request.user)
        return Response(_job_data(job.pk), status=status.HTTP_202_ACCEPTED)


class AdminJobCancelApi(AdminApi):
    """Cancel a queued job now, or ask a running one to stop at its next step (a group job
    cancels its steps). 409 for a job that has already ended."""

    @extend_schema(request=None, responses=AdminJobDetailSerializer)
    def post(self, request, pk):
        job = job_cancel(job=selectors.job_get(pk), actor=request.user)
        return Response(_job_data(job.pk))
