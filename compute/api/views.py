"""Tenant compute API: deployments, VMs and the jobs that change them.

HackSoft style: one APIView per action, Input serializers nested in their views, writes
through ``compute.services`` (and ``portal.jobs.job_cancel``), reads through
``compute.selectors``, which filter by the tenant first: another tenant's id is
``DoesNotExist``, a 404. Readers read; operators and owners act (``TenantAPIMixin``).

Every operation queues a job and answers 202 with it (a deployment's creation 201, with the
deployment and its job); follow it at ``GET /api/v1/jobs/{id}/``. Writes accept an
``Idempotency-Key`` (portal/api/idempotency.py).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from compute import selectors
from compute.api.serializers import (
    VM_STATUSES,
    DeploymentDetailSerializer,
    DeploymentSerializer,
    JobDetailSerializer,
    JobSerializer,
    VmDetailSerializer,
    VmSerializer,
    vm_list_data,
)
from compute.models import Deployment, ResourceConfiguration, VirtualMachine
from compute.services import deployment_create, deployment_delete, deployment_scale, vm_delete, vm_power
from gallery.models import GalleryItemVersion
from gallery.selectors import gallery_item_for_tenant, gallery_version_for_tenant
from portal.api.base import PaginatedListMixin, TenantAPIMixin, query_filters
from portal.api.idempotency import IDEMPOTENCY_KEY, IDEMPOTENCY_RESPONSES, idempotent
from portal.jobs import job_cancel
from portal.models import Job
from subscriptions.models import Subscription

VM = VirtualMachine

# --- deployments -------------------------------------------------------------------------


def deployment_detail_data(
    deployment: Deployment,
    tenant,
    job: Job | None = None,
    *,
    vms: list[VirtualMachine] | None = None,
    configuration: ResourceConfiguration | None = None,
) -> dict:
    """A deployment with its live VMs, current configuration and active job (3 queries).
    ``job``, ``vms``, ``configuration``: what the caller has just written (a new deployment),
    else they are read."""
    if vms is None:
        vms = list(selectors.vm_list(tenant=tenant, deployment=deployment).order_by("index"))
    if configuration is None:
        configuration = deployment.configurations.order_by("-number").first()
    if job is None:
        job = selectors.active_jobs_for(tenant=tenant, target_ids=[deployment.pk]).get(deployment.pk)
    context: dict[str, Any] = {"vms": vms, "configuration": configuration, "job": job}
    return DeploymentDetailSerializer(deployment, context=context).data


def _version_to_deploy(tenant, data: dict) -> GalleryItemVersion | None:
    """The version the request names (or the item's newest published one), as the gallery API
    shows it: a draft, or a version no plan of this tenant offers, does not exist (None).

    A version the tenant was offered that is no longer published is returned anyway, so the
    service answers what is true: 409 ``version_not_published``."""
    if "version" not in data:
        try:
            item = gallery_item_for_tenant(tenant=tenant, pk=data["item"])
        except ObjectDoesNotExist:
            return None
        return item.published_versions[0]
    try:
        version = gallery_version_for_tenant(tenant=tenant, pk=data["version"])
    except GalleryItemVersion.DoesNotExist:
        # The same "offered" rule as gallery.selectors (one filter() call: a plan of one of
        # the tenant's active subscriptions offers the item), for a deprecated version.
        version = (
            GalleryItemVersion.objects.filter(
                pk=data["version"],
                state=GalleryItemVersion.State.DEPRECATED,
                item__plans__subscriptions__tenant=tenant,
                item__plans__subscriptions__state=Subscription.State.ACTIVE,
            )
            .select_related("item")
            .first()
        )
    if version is not None and "item" in data and version.item_id != data["item"]:
        return None
    return version


class DeploymentListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """Your tenant's deployments (not deleted), newest first; operators deploy a gallery
    version."""

    class FilterSerializer(serializers.Serializer):
        search = serializers.CharField(
            required=False, default="", allow_blank=True, help_text="Match the name."
        )
        state = serializers.ChoiceField(
            choices=Deployment.State.choices, required=False, default="", allow_blank=True
        )

    class InputSerializer(serializers.Serializer):
        version = serializers.UUIDField(
            required=False, help_text="The gallery version to deploy (GET /api/v1/gallery/items/)."
        )
        item = serializers.UUIDField(
            required=False, help_text="Instead of `version`: deploy the item's newest published version."
        )
        subscription = serializers.UUIDField(help_text="The subscription whose quota the VMs use.")
        parameters = serializers.DictField(
            required=False,
            default=dict,
            help_text="Parameter values by name (the version's `parameters`); problems come back "
            "as `parameters.<name>`.",
        )
        instance_count = serializers.IntegerField(
            required=False, help_text="How many VMs, within the version's bounds (default: its default)."
        )
        name = serializers.CharField(
            max_length=63,
            required=False,
            default="",
            allow_blank=True,
            help_text="Lower-case letters, digits and dashes; generated if left out.",
        )

        def validate(self, data: dict) -> dict:
            if "version" not in data and "item" not in data:
                raise serializers.ValidationError({"version": ["Send the id of the version to deploy."]})
            return data

    @extend_schema(responses=DeploymentSerializer(many=True), parameters=[FilterSerializer])
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        deployments = selectors.deployment_list(tenant=self.tenant, **filters)
        return self.paginated(deployments, lambda rows: DeploymentSerializer(rows, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: DeploymentDetailSerializer, **IDEMPOTENCY_RESPONSES},
        parameters=[IDEMPOTENCY_KEY, OpenApiParameter("lang", str, description="Language of the messages.")],
        description="Validates everything at once (400 with `parameters.<name>`, `instance_count`, "
        "`name`, `subscription`, `version`), reserves quota (409 `quota_exceeded` with every "
        "exceeded dimension), places the VMs (409 `no_valid_host`) and queues the deploy job.",
    )
    @idempotent
    def post(self, request):
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        errors: dict[str, list[str]] = {}
        version = _version_to_deploy(self.tenant, data)
        if version is None:
            field = "version" if "version" in data else "item"
            errors[field] = ["No published version with this id is offered to you."]
        subscription = (
            Subscription.objects.for_tenant(self.tenant)
            .select_related("plan")
            .filter(pk=data["subscription"])
            .first()
        )
        if subscription is None:
            errors["subscription"] = ["Choose one of your subscriptions."]
        if errors:
            raise ValidationError(errors)
        deployment = deployment_create(
            tenant=self.tenant,
            actor=request.user,
            version=version,
            subscription=subscription,
            values=data["parameters"],
            instance_count=data.get("instance_count", version.instance_bounds[2]),
            name=data["name"],
            language=request.query_params.get("lang") or None,
        )
        return Response(
            deployment_detail_data(
                deployment,
                self.tenant,
                job=deployment.job,
                vms=deployment.created_vms,
                configuration=deployment.created_configuration,
            ),
            status=status.HTTP_201_CREATED,
        )


class DeploymentDetailApi(TenantAPIMixin, APIView):
    """One deployment with its VMs and current configuration (secrets redacted); operators
    delete it (every VM, then the deployment)."""

    @extend_schema(responses=DeploymentDetailSerializer)
    def get(self, request, pk):
        deployment = selectors.deployment_get(tenant=self.tenant, pk=pk)
        return Response(deployment_detail_data(deployment, self.tenant))

    @extend_schema(
        responses={202: JobSerializer, **IDEMPOTENCY_RESPONSES},
        parameters=[IDEMPOTENCY_KEY],
        description="Queues the deletion (409 if it is already being deleted).",
    )
    @idempotent
    def delete(self, request, pk):
        deployment = selectors.deployment_get(tenant=self.tenant, pk=pk)
        job = deployment_delete(deployment=deployment, actor=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class DeploymentScaleApi(TenantAPIMixin, APIView):
    """Scale out or in within the item's bounds: out adds VMs with the current configuration,
    in deletes the newest (failed ones first)."""

    class InputSerializer(serializers.Serializer):
        instance_count = serializers.IntegerField(help_text="The new number of VMs.")

    @extend_schema(
        request=InputSerializer,
        responses={202: JobSerializer, **IDEMPOTENCY_RESPONSES},
        parameters=[IDEMPOTENCY_KEY],
        description="400 outside the item's bounds or for the current count; 409 while the "
        "deployment is busy (deploying, scaling, deleting), for quota or for capacity.",
    )
    @idempotent
    def post(self, request, pk):
        deployment = selectors.deployment_get(tenant=self.tenant, pk=pk)
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = deployment_scale(
            deployment=deployment, instance_count=body.validated_data["instance_count"], actor=request.user
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


# --- VMs ---------------------------------------------------------------------------------


def _active_job(tenant, target) -> Job | None:
    return selectors.active_jobs_for(tenant=tenant, target_ids=[target.pk]).get(target.pk)


class VmListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """Your tenant's VMs (not deleted, unless ``?status=deleted``), newest first.

    Two queries with a token, whatever the page size: the token, and the page with its
    deployment and subscription names and the list's total (``selectors.vm_list_page``: SQL
    compiled once, rows rendered as plain dicts)."""

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=VM_STATUSES, required=False, default="", allow_blank=True)
        deployment = serializers.UUIDField(
            required=False, default=None, help_text="Only this deployment's VMs."
        )
        search = serializers.CharField(
            required=False, default="", allow_blank=True, help_text="Match the name or hostname."
        )

    @extend_schema(responses=VmSerializer(many=True), parameters=[FilterSerializer])
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        paginator = self.pagination_class()
        rows = paginator.paginate_with(
            lambda offset, size: selectors.vm_list_page(
                tenant=self.tenant, offset=offset, size=size, **filters
            ),
            request,
        )
        return paginator.get_paginated_response(vm_list_data(rows))


class VmDetailApi(TenantAPIMixin, APIView):
    """One VM, what may be done to it now and the operation running on it; operators delete
    it (in any state but deleted: an operation in flight is superseded)."""

    @extend_schema(responses=VmDetailSerializer)
    def get(self, request, pk):
        vm = selectors.vm_get(tenant=self.tenant, pk=pk)
        return Response(VmDetailSerializer(vm, context={"job": _active_job(self.tenant, vm)}).data)

    @extend_schema(responses={202: JobSerializer, **IDEMPOTENCY_RESPONSES}, parameters=[IDEMPOTENCY_KEY])
    @idempotent
    def delete(self, request, pk):
        vm = selectors.vm_get(tenant=self.tenant, pk=pk)
        job = vm_delete(vm=vm, actor=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class _VmPowerApi(TenantAPIMixin, APIView):
    """A power operation: 202 with its job; 409 ``wrong_state`` when the VM is not in a state
    it can start from (or is busy with another operation)."""

    action = ""

    @idempotent
    def post(self, request, pk):
        vm = selectors.vm_get(tenant=self.tenant, pk=pk)
        job = vm_power(vm=vm, action=self.action, actor=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _power_schema(what: str):
    return extend_schema(
        request=None,
        responses={202: JobSerializer, **IDEMPOTENCY_RESPONSES},
        parameters=[IDEMPOTENCY_KEY],
        description=what,
    )


@extend_schema_view(
    post=_power_schema("Start a VM that is shut down (or crashed). 409 if its subscription is not active.")
)
class VmStartApi(_VmPowerApi):
    action = "start"


@extend_schema_view(
    post=_power_schema("Ask the guest to shut down; powered off after a timeout if it does not.")
)
class VmShutdownApi(_VmPowerApi):
    action = "shutdown"


@extend_schema_view(post=_power_schema("Pull the plug: off at once, whatever the guest is doing."))
class VmPowerOffApi(_VmPowerApi):
    action = "power_off"


@extend_schema_view(post=_power_schema("Hard-reset a running VM."))
class VmResetApi(_VmPowerApi):
    action = "reset"


# --- jobs --------------------------------------------------------------------------------


class JobListApi(TenantAPIMixin, PaginatedListMixin, APIView):
    """Your tenant's jobs, newest first: top-level ones (a deploy, not its per-VM jobs)
    unless ``?parent=`` or ``?target=`` asks for more."""

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(
            choices=Job.State.choices, required=False, default="", allow_blank=True
        )
        parent = serializers.UUIDField(
            required=False, default=None, help_text="The per-VM jobs of this group job."
        )
        target = serializers.UUIDField(
            required=False, default=None, help_text="Jobs of this deployment or VM (per-VM jobs included)."
        )

    @extend_schema(responses=JobSerializer(many=True), parameters=[FilterSerializer])
    def get(self, request):
        filters = query_filters(request, self.FilterSerializer)
        parent = filters["parent"]
        jobs = selectors.job_list(
            tenant=self.tenant,
            state=filters["state"],
            target_id=filters["target"],
            top_level=parent is None and filters["target"] is None,
        )
        if parent is not None:
            jobs = jobs.filter(parent_id=parent)
        return self.paginated(jobs, lambda rows: JobSerializer(rows, many=True).data)


class JobDetailApi(TenantAPIMixin, APIView):
    """One job, with a group job's per-VM jobs."""

    @extend_schema(responses=JobDetailSerializer)
    def get(self, request, pk):
        job = selectors.job_get(tenant=self.tenant, pk=pk)
        children = list(selectors.job_list(tenant=self.tenant).filter(parent=job)) if job.is_group else []
        return Response(JobDetailSerializer(job, context={"children": children}).data)


class JobCancelApi(TenantAPIMixin, APIView):
    """Cancel a job: a queued one at once (200, ``cancelled``), a running one at its next step
    (202, ``cancel_requested``); a group job cancels its per-VM jobs. 409 ``job_finished``
    once it has ended."""

    @extend_schema(
        request=None,
        responses={200: JobSerializer, 202: JobSerializer, **IDEMPOTENCY_RESPONSES},
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request, pk):
        job = job_cancel(job=selectors.job_get(tenant=self.tenant, pk=pk), actor=request.user)
        done = job.state == Job.State.CANCELLED
        return Response(
            JobSerializer(job).data, status=status.HTTP_200_OK if done else status.HTTP_202_ACCEPTED
        )
