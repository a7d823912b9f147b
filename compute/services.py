"""Compute writes: deploy, power operations, delete, scale, hosts.

Every operation follows DESIGN.md's recipe in one transaction: check the state with a
conditional UPDATE (wrong state → ``Conflict``, a 409), reserve or release quota, write the
rows in their pending state and the ``Job``; the task is enqueued when the transaction
commits. Nothing here calls a driver except host registration (which asks the host for its
capacity): the workers do, through compute/jobs.py.
"""

from __future__ import annotations

import re
import secrets as random_secrets
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from compute import placement
from compute.drivers import driver_for
from compute.models import Deployment, Host, ResourceConfiguration, VirtualMachine
from compute.placement import NoValidHost, place
from compute.secrets import seal
from controller.base import ControllerError, PowerAction, PowerState
from gallery.models import GalleryItemVersion, VMSize
from gallery.parameters import ParameterValidationError, redact
from gallery.selectors import vm_sizes_for
from portal import jobs
from portal.audit import audit_record
from portal.errors import Conflict
from portal.events import publish_on_commit
from portal.models import Job
from subscriptions.models import Subscription
from subscriptions.quota import Demand
from subscriptions.services import quota_release_many, quota_reserve_many

VM = VirtualMachine
RESOURCE_TYPE = "vm"
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class CapacityUnavailable(Conflict):
    """No host can take the VMs (a 409: the request was fine, the cloud is full)."""

    def __init__(self, error: NoValidHost) -> None:
        super().__init__(error.message, code="no_valid_host")
        self.detail = error.detail


# --- events ------------------------------------------------------------------------------


def vm_payload(vm: VirtualMachine) -> dict[str, Any]:
    return {
        "id": str(vm.pk),
        "name": vm.name,
        "deployment": str(vm.deployment_id),
        "provisioning_state": vm.provisioning_state,
        "power_state": vm.power_state,
        "task_state": vm.task_state,
        "status": vm.status,
        "message": vm.message,
    }


def publish_vm(vm: VirtualMachine) -> None:
    publish_on_commit(vm.tenant_id, "vm", vm_payload(vm))


def publish_deployment(deployment: Deployment) -> None:
    publish_on_commit(
        deployment.tenant_id,
        "deployment",
        {"id": str(deployment.pk), "state": deployment.state, "instance_count": deployment.instance_count},
    )


# --- deploy ------------------------------------------------------------------------------


def _field_errors(exc: ParameterValidationError) -> ValidationError:
    return ValidationError(
        {
            f"parameters.{name}" if name != "__all__" else "parameters": msgs
            for name, msgs in exc.errors.items()
        }
    )


def _deployment_name(version: GalleryItemVersion, name: str, tenant) -> str:
    if name:
        name = name.strip().lower()
        if not NAME_RE.fullmatch(name):
            raise ValidationError(
                {
                    "name": "Use 1–63 lower-case letters, digits and dashes, not starting or ending with a dash."
                }
            )
        if _name_taken(tenant, name):
            raise ValidationError({"name": f"You already have a deployment called {name}."})
        return name
    return f"{version.item.slug}-{random_secrets.token_hex(3)}"[:63]


def _hostname_prefix(version: GalleryItemVersion, cleaned: Mapping[str, Any], name: str) -> str:
    param = version.parameters.first_of_type("hostname_prefix")
    if param is not None and cleaned.get(param.name):
        return str(cleaned[param.name])
    return slugify(name)[:40].strip("-") or "vm"


def vm_demand(version: GalleryItemVersion, size: VMSize, values: Mapping[str, Any]) -> Demand:
    """What one VM of a deployment needs from the quota (the OS disk plus its data disks)."""
    return Demand(
        vms=1,
        vcpus=size.vcpus,
        ram_gib=size.ram_gib,
        disk_gib=size.disk_gib + sum(version.data_disk_sizes(values)),
    )


def _new_vms(
    deployment: Deployment,
    configuration: ResourceConfiguration,
    *,
    count: int,
    actor,
    disk_gib: int,
    image: str,
) -> list[VirtualMachine]:
    vms = []
    size = deployment.size
    for _ in range(count):
        deployment.next_index += 1
        index = deployment.next_index
        hostname = f"{deployment.hostname_prefix}-{index:02d}"[:63]
        vms.append(
            VirtualMachine(
                id=uuid.uuid4(),
                tenant_id=deployment.tenant_id,
                subscription_id=deployment.subscription_id,
                deployment=deployment,
                configuration=configuration,
                index=index,
                name=f"{deployment.name}-{index:02d}"[:80],
                hostname=hostname,
                size_name=size.name,
                vcpus=size.vcpus,
                ram_gib=size.ram_gib,
                disk_gib=disk_gib,
                image=image,
                task_state=VM.Task.SPAWNING,
                created_by=actor if getattr(actor, "pk", None) else None,
            )
        )
    return vms


def _reserve_and_place(
    deployment: Deployment, vms: list[VirtualMachine], demand_per_vm, *, new_deployment: bool = False
) -> None:
    quota_reserve_many(
        subscription=deployment.subscription,
        resource_type=RESOURCE_TYPE,
        demands=[(vm.id, demand_per_vm) for vm in vms],
    )
    try:
        place(vms, new_deployment=new_deployment)
    except NoValidHost as exc:
        raise CapacityUnavailable(exc) from None


def _children(group: Job, vms: list[VirtualMachine], kind: str, actor) -> list[Job]:
    now = timezone.now()
    return jobs.jobs_create_many(
        [
            jobs.new_job(kind=kind, target=vm, tenant=group.tenant, actor=actor, parent=group, now=now)
            for vm in vms
        ]
    )


def _name_taken(tenant, name: str) -> bool:
    return (
        Deployment.objects.for_tenant(tenant)
        .exclude(state=Deployment.State.DELETED)
        .filter(name=name)
        .exists()
    )


def _deployment_write(
    *,
    tenant,
    actor,
    version: GalleryItemVersion,
    subscription: Subscription,
    size: VMSize,
    cleaned: Mapping[str, Any],
    name: str,
    instance_count: int,
    demand_per_vm: Demand,
) -> tuple[Deployment, ResourceConfiguration, list[VirtualMachine], Job]:
    """deployment_create's transaction. Every row is built first (ids are UUIDs made here),
    so each table takes one INSERT and the deployment goes in with its final ``next_index``."""
    creator = actor if getattr(actor, "pk", None) else None
    deployment = Deployment(
        id=uuid.uuid4(),
        tenant=tenant,
        subscription=subscription,
        version=version,
        name=name,
        hostname_prefix=_hostname_prefix(version, cleaned, name),
        size=size,
        instance_count=instance_count,
        created_by=creator,
    )
    configuration = ResourceConfiguration(
        deployment=deployment, number=1, values=redact(cleaned), secrets=seal(cleaned), created_by=creator
    )
    vms = _new_vms(
        deployment,
        configuration,
        count=instance_count,
        actor=actor,
        disk_gib=demand_per_vm.disk_gib,
        image=version.image_name(cleaned),
    )
    deployment.save(force_insert=True)
    configuration.save(force_insert=True)
    now = timezone.now()
    group = jobs.new_job(
        kind="deploy",
        target=deployment,
        tenant=tenant,
        actor=actor,
        params={"instance_count": instance_count},
        now=now,
    )
    children = [
        jobs.new_job(kind="create_vm", target=vm, tenant=tenant, actor=actor, parent=group, now=now)
        for vm in vms
    ]
    jobs.jobs_create_many([group, *children])
    jobs.publish_job(group)
    audit_record(
        actor=actor,
        tenant=tenant,
        action="deployment.create",
        target=deployment,
        data={
            "version": f"{version.item.slug} {version.version}",
            "instances": instance_count,
            "size": size.name,
            "parameters": redact(cleaned),
        },
    )
    publish_deployment(deployment)
    # Last, then the VMs and the commit: the reservation locks the subscription's row and
    # placement the chosen hosts' rows until the transaction ends, and every deployment to
    # the same hosts waits for them. (The jobs above name their VMs by id, not by a foreign
    # key, so they may go in first.)
    _reserve_and_place(deployment, vms, demand_per_vm, new_deployment=True)
    VirtualMachine.objects.bulk_create(vms)
    return deployment, configuration, vms, group


def deployment_create(
    *,
    tenant,
    actor,
    version: GalleryItemVersion,
    subscription: Subscription,
    values: Mapping[str, Any],
    instance_count: int,
    name: str = "",
    language: str | None = None,
) -> Deployment:
    """Deploy ``instance_count`` VMs of ``version`` under ``subscription``.

    The caller has already checked the version is visible to ``tenant`` (a selector) and the
    actor's role. Raises ``ValidationError`` (every problem at once: parameters, instance
    count, name, subscription), ``QuotaExceeded`` or ``Conflict`` (409).
    """
    errors: dict[str, list[str]] = {}
    if subscription.tenant_id != tenant.pk:
        raise ValidationError({"subscription": "Choose one of your subscriptions."})
    if version.state != GalleryItemVersion.State.PUBLISHED:
        raise Conflict(
            "This version is not published: deploy a published version.", code="version_not_published"
        )
    if not subscription.plan.gallery_items.filter(pk=version.item_id).exists():
        errors["subscription"] = ["This subscription's plan does not offer this item."]
    sizes = vm_sizes_for(version=version, plan=subscription.plan)
    context = version.validation_context(sizes=sizes, language=language)
    try:
        version.check_instance_count(instance_count)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    cleaned: dict[str, Any] = {}
    try:
        cleaned = version.parameters.validate(values, context)
    except ParameterValidationError as exc:
        errors.update(_field_errors(exc).message_dict)
    try:
        name = _deployment_name(version, name, tenant)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    size = next((s for s in sizes if s.name == version.size_name(cleaned)), None) if cleaned else None
    if cleaned and size is None:
        errors["parameters"] = ["No size this plan offers fits this item: ask your service team."]
    if errors:
        raise ValidationError(errors)
    if version.user_data is not None:
        try:
            version.user_data.render(cleaned)  # fails early if the payload would be too large
        except ParameterValidationError as exc:
            raise _field_errors(exc) from None

    demand_per_vm = vm_demand(version, size, cleaned)
    try:
        with transaction.atomic():
            deployment, configuration, vms, group = _deployment_write(
                tenant=tenant,
                actor=actor,
                version=version,
                subscription=subscription,
                size=size,
                cleaned=cleaned,
                name=name,
                instance_count=instance_count,
                demand_per_vm=demand_per_vm,
            )
    except IntegrityError:
        # Another request took the name between the check above and the INSERT (the
        # deployment is the transaction's first row, so nothing else was written). Checking
        # afterwards spares every deployment a savepoint round trip around its INSERT.
        if _name_taken(tenant, name):
            raise ValidationError({"name": f"You already have a deployment called {name}."}) from None
        raise
    # What the caller shows next (the API's 201 body), as written: no second read.
    deployment.job, deployment.created_vms, deployment.created_configuration = group, vms, configuration
    return deployment


# --- VM operations -----------------------------------------------------------------------

# action → (task while it runs, power states it may start from)
POWER_OPERATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "start": (VM.Task.POWERING_ON, (PowerState.SHUTDOWN, PowerState.CRASHED)),
    "shutdown": (VM.Task.SHUTTING_DOWN, (PowerState.RUNNING,)),
    "power_off": (VM.Task.POWERING_OFF, (PowerState.RUNNING, PowerState.PAUSED, PowerState.CRASHED)),
    "reset": (VM.Task.REBOOTING, (PowerState.RUNNING,)),
}


def _wrong_state(vm: VirtualMachine, what: str) -> Conflict:
    vm.refresh_from_db()
    if vm.task_state:
        why = f"it is busy ({vm.get_task_state_display().lower()})"
    elif vm.provisioning_state != VM.Provisioning.ACTIVE:
        why = f"it is {vm.get_provisioning_state_display().lower()}"
    else:
        why = f"it is {vm.get_power_state_display().lower()}"
    return Conflict(f"Cannot {what} {vm.name}: {why}.", code="wrong_state")


def vm_power(*, vm: VirtualMachine, action: str, actor, system: bool = False) -> Job:
    """Queue a power operation (start, shutdown, power_off, reset) on an active VM."""
    if action not in POWER_OPERATIONS:
        raise ValidationError({"action": f"Unknown action {action!r}."})
    task, sources = POWER_OPERATIONS[action]
    with transaction.atomic():
        if action == "start" and not system:
            state = Subscription.objects.filter(pk=vm.subscription_id).values_list("state", flat=True).first()
            if state != Subscription.State.ACTIVE:
                raise Conflict(
                    f"The subscription of {vm.name} is {state}: VMs cannot be started.",
                    code="subscription_not_active",
                )
        updated = VM.objects.filter(
            pk=vm.pk, provisioning_state=VM.Provisioning.ACTIVE, task_state="", power_state__in=sources
        ).update(task_state=task, updated=timezone.now())
        if not updated:
            raise _wrong_state(vm, action.replace("_", " "))
        vm.task_state = task
        job = jobs.job_create(kind=action, target=vm, tenant=vm.tenant, actor=actor)
        if not system:
            audit_record(actor=actor, tenant=vm.tenant, action=f"vm.{action}", target=vm)
        publish_vm(vm)
    return job


def vm_delete(*, vm: VirtualMachine, actor) -> Job:
    """Queue the deletion of a VM in any state but deleted; an operation in flight is
    superseded (its job sees the VM is being deleted and stops)."""
    with transaction.atomic():
        updated = (
            VM.objects.filter(pk=vm.pk)
            .exclude(provisioning_state=VM.Provisioning.DELETED)
            .exclude(task_state=VM.Task.DELETING)
            .update(task_state=VM.Task.DELETING, updated=timezone.now())
        )
        if not updated:
            raise _wrong_state(vm, "delete")
        vm.task_state = VM.Task.DELETING
        job = jobs.job_create(kind="delete_vm", target=vm, tenant=vm.tenant, actor=actor)
        audit_record(actor=actor, tenant=vm.tenant, action="vm.delete", target=vm)
        publish_vm(vm)
    return job


def vms_bulk(*, vms: list[VirtualMachine], action: str, actor) -> tuple[list[Job], list[str]]:
    """Apply ``action`` (a power action or "delete") to many VMs; the ones in the wrong
    state are skipped with a reason instead of failing the whole batch."""
    queued, skipped = [], []
    for vm in vms:
        try:
            queued.append(
                vm_delete(vm=vm, actor=actor)
                if action == "delete"
                else vm_power(vm=vm, action=action, actor=actor)
            )
        except Conflict as exc:
            skipped.append(exc.message)
    return queued, skipped


# --- deployments -------------------------------------------------------------------------


def _begin(deployment: Deployment, target: str, what: str) -> None:
    updated = Deployment.objects.filter(
        pk=deployment.pk,
        state__in=(Deployment.State.READY, Deployment.State.DEGRADED, Deployment.State.FAILED),
    ).update(state=target, updated=timezone.now())
    if not updated:
        deployment.refresh_from_db()
        raise Conflict(
            f"Cannot {what} {deployment.name} while it is {deployment.get_state_display().lower()}.",
            code="wrong_state",
        )
    deployment.state = target


def _live_vms(deployment: Deployment):
    return VM.objects.filter(deployment=deployment).exclude(provisioning_state=VM.Provisioning.DELETED)


def deployment_scale(*, deployment: Deployment, instance_count: int, actor) -> Job:
    """Scale to ``instance_count`` VMs within the item's bounds: out creates VMs with the
    current configuration; in deletes the newest (failed ones first)."""
    version = deployment.version
    version.check_instance_count(instance_count)
    with transaction.atomic():
        # The state first: a busy deployment is a 409 whatever the count asked for, and the
        # count below is read with the deployment's row locked by that UPDATE.
        previous = deployment.state
        _begin(deployment, Deployment.State.SCALING, "scale")
        current = _live_vms(deployment).exclude(task_state=VM.Task.DELETING).count()
        if instance_count == current:
            deployment.state = previous  # rolled back with the transaction
            raise ValidationError({"instance_count": f"{deployment.name} already has {current} instance(s)."})
        if instance_count > current:
            job = _scale_out(deployment, instance_count - current, actor)
        else:
            job = _scale_in(deployment, current - instance_count, actor)
        Deployment.objects.filter(pk=deployment.pk).update(
            instance_count=instance_count, next_index=deployment.next_index
        )
        deployment.instance_count = instance_count
        audit_record(
            actor=actor,
            tenant=deployment.tenant,
            action="deployment.scale",
            target=deployment,
            data={"from": current, "to": instance_count},
        )
        publish_deployment(deployment)
    return job


def _scale_out(deployment: Deployment, count: int, actor) -> Job:
    configuration = deployment.configurations.order_by("-number").first()
    size: VMSize = deployment.size
    values = configuration.values
    demand_per_vm = vm_demand(deployment.version, size, values)
    # next_index under the deployment's own row: two scale-outs cannot reuse an index
    # (the state change above already serialises them; this keeps indexes dense anyway).
    deployment.next_index = max(
        deployment.next_index, VM.objects.filter(deployment=deployment).aggregate(m=Max("index"))["m"] or 0
    )
    vms = _new_vms(
        deployment,
        configuration,
        count=count,
        actor=actor,
        disk_gib=demand_per_vm.disk_gib,
        image=deployment.version.image_name(values),
    )
    group = jobs.job_create(
        kind="scale_out", target=deployment, tenant=deployment.tenant, actor=actor, params={"add": count}
    )
    _children(group, vms, "create_vm", actor)
    # Late, as in deployment_create: the locks it takes are held until the commit.
    _reserve_and_place(deployment, vms, demand_per_vm)
    VirtualMachine.objects.bulk_create(vms)
    return group


def _scale_in(deployment: Deployment, count: int, actor) -> Job:
    # Failed VMs go first, then the newest: the oldest, longest-serving nodes stay.
    candidates = list(
        _live_vms(deployment)
        .exclude(task_state=VM.Task.DELETING)
        .order_by("-provisioning_state", "-index")  # "error" sorts after "active"/"building"
    )
    errored = [v for v in candidates if v.provisioning_state == VM.Provisioning.ERROR]
    others = sorted(
        (v for v in candidates if v.provisioning_state != VM.Provisioning.ERROR), key=lambda v: -v.index
    )
    victims = (errored + others)[:count]
    VM.objects.filter(pk__in=[v.pk for v in victims]).update(
        task_state=VM.Task.DELETING, updated=timezone.now()
    )
    group = jobs.job_create(
        kind="scale_in", target=deployment, tenant=deployment.tenant, actor=actor, params={"remove": count}
    )
    _children(group, victims, "delete_vm", actor)
    for vm in victims:
        vm.task_state = VM.Task.DELETING
        publish_vm(vm)
    return group


def deployment_delete(*, deployment: Deployment, actor) -> Job:
    """Delete every VM of the deployment, then the deployment. Allowed while it deploys or
    scales: the VMs' own jobs see the deletion and stop."""
    with transaction.atomic():
        updated = (
            Deployment.objects.filter(pk=deployment.pk)
            .exclude(state__in=(Deployment.State.DELETING, Deployment.State.DELETED))
            .update(state=Deployment.State.DELETING, updated=timezone.now())
        )
        if not updated:
            deployment.refresh_from_db()
            raise Conflict(
                f"{deployment.name} is already {deployment.get_state_display().lower()}.", code="wrong_state"
            )
        deployment.state = Deployment.State.DELETING
        victims = list(_live_vms(deployment).exclude(task_state=VM.Task.DELETING))
        VM.objects.filter(pk__in=[v.pk for v in victims]).update(
            task_state=VM.Task.DELETING, updated=timezone.now()
        )
        group = jobs.job_create(
            kind="delete_deployment", target=deployment, tenant=deployment.tenant, actor=actor
        )
        _children(group, victims, "delete_vm", actor)
        # VMs already being deleted by another job are followed by the group too, so the
        # deployment is marked deleted only when every VM is gone.
        audit_record(actor=actor, tenant=deployment.tenant, action="deployment.delete", target=deployment)
        publish_deployment(deployment)
        if not victims:
            jobs.group_update(group.pk)
    return group


def deployment_settle(deployment_id, *, kind: str) -> Deployment | None:
    """After a group job of ``kind`` ends (or ``kind="vm"``: one VM changed outside a group):
    the deployment's state from its VMs. Only the deletion's own group ends a deletion (a
    deploy cut short by it must not)."""
    deployment = Deployment.objects.select_for_update().filter(pk=deployment_id).first()
    if deployment is None:
        return None
    rows = list(_live_vms(deployment).values_list("provisioning_state", "task_state"))
    states = [state for state, _ in rows]
    if deployment.state == Deployment.State.DELETING:
        if kind not in ("delete_deployment", "vm"):
            return deployment
        if not states:
            deployment.state = Deployment.State.DELETED
            deployment.deleted_at = timezone.now()
        elif any(task == VM.Task.DELETING for _, task in rows):
            # VMs whose deletion another job runs (deleted one by one just before): the
            # deployment is deleted when the last of them settles (kind "vm").
            return deployment
        elif kind == "delete_deployment":
            deployment.state = Deployment.State.DEGRADED
        else:
            return deployment
    elif deployment.state in (Deployment.State.DEPLOYING, Deployment.State.SCALING) or (
        kind == "vm"
        and deployment.state in (Deployment.State.READY, Deployment.State.DEGRADED, Deployment.State.FAILED)
    ):
        # kind "vm": one VM changed on its own (rebuilt, deleted, found lost).
        active = states.count(VM.Provisioning.ACTIVE)
        if states and active == len(states):
            deployment.state = Deployment.State.READY
        elif active or not states:
            # No VMs left at all (each deleted on its own) is not "ready" either.
            deployment.state = Deployment.State.DEGRADED
        else:
            deployment.state = Deployment.State.FAILED
    else:
        return deployment
    deployment.save(update_fields=["state", "deleted_at", "updated"])
    publish_deployment(deployment)
    return deployment


# --- jobs --------------------------------------------------------------------------------


def job_retry(*, job: Job, actor) -> Job:
    """Run a failed job's operation again (the admin portal's retry button): a failed VM is
    rebuilt (quota reserved again), a failed power operation or deletion is queued again."""
    if job.state != Job.State.FAILED:
        raise Conflict("Only a failed job can be retried.", code="job_not_failed")
    if job.is_group:
        raise Conflict("Retry the failed VMs of this job one by one.", code="job_is_group")
    vm = (
        VM.objects.select_related("tenant", "deployment", "deployment__size", "deployment__version")
        .filter(pk=job.target_id)
        .first()
    )
    if vm is None or vm.provisioning_state == VM.Provisioning.DELETED:
        raise Conflict("The VM of this job is gone.", code="target_gone")
    if Job.objects.filter(target_id=job.target_id, created__gt=job.created).exclude(pk=job.pk).exists():
        # Retrying an old failure after newer work on the same VM would undo that work.
        raise Conflict(
            "Newer jobs have run on this VM since: retry the latest one if it failed.", code="job_superseded"
        )
    if job.kind == "create_vm":
        return vm_rebuild(vm=vm, actor=actor)
    if job.kind == "delete_vm":
        return vm_delete(vm=vm, actor=actor)
    return vm_power(vm=vm, action=job.kind, actor=actor)


def vm_rebuild(*, vm: VirtualMachine, actor) -> Job:
    """Try again to create a VM that failed to build."""
    with transaction.atomic():
        deployment = vm.deployment
        demand = vm_demand(deployment.version, deployment.size, vm.configuration.values)
        if not VM.objects.filter(pk=vm.pk, provisioning_state=VM.Provisioning.ERROR, task_state="").update(
            provisioning_state=VM.Provisioning.BUILDING,
            task_state=VM.Task.SPAWNING,
            message="",
            host=None,
            updated=timezone.now(),  # reconciliation tells changed rows by this
        ):
            raise _wrong_state(vm, "rebuild")
        vm.refresh_from_db()
        quota_reserve_many(
            subscription=vm.subscription, resource_type=RESOURCE_TYPE, demands=[(vm.pk, demand)]
        )
        try:
            place([vm])
        except NoValidHost as exc:
            raise CapacityUnavailable(exc) from None
        VM.objects.filter(pk=vm.pk).update(host=vm.host, updated=timezone.now())
        job = jobs.job_create(kind="create_vm", target=vm, tenant=vm.tenant, actor=actor)
        audit_record(actor=actor, tenant=vm.tenant, action="vm.rebuild", target=vm)
        publish_vm(vm)
    return job


def release_vm(vm: VirtualMachine, *, held_host: bool = True) -> None:
    """Give back what a VM that has just failed or been deleted held: its quota and, if it was
    building or active until this transaction (``held_host``), its share of its host. Call it
    in the transaction that records the change, once."""
    quota_release_many(resource_type=RESOURCE_TYPE, resource_ids=[vm.pk])
    if held_host:
        placement.release([vm])


# --- suspension --------------------------------------------------------------------------


def subscription_stop_vms(*, subscription: Subscription, actor) -> list[Job]:
    """A suspended subscription's running VMs are powered off (in the suspending
    transaction). VMs busy with another task are left to finish it; starting is refused."""
    out = []
    for vm in (
        VM.objects.filter(subscription=subscription, provisioning_state=VM.Provisioning.ACTIVE, task_state="")
        .exclude(power_state=PowerState.SHUTDOWN)
        .select_related("tenant")
    ):
        try:
            out.append(vm_power(vm=vm, action="power_off", actor=actor, system=True))
        except Conflict:
            pass
    return out


# --- hosts (service admins) --------------------------------------------------------------


def host_register(*, actor, name: str, uri: str, driver: str = "simulated", **extra) -> Host:
    """Register a host: the driver is asked for its capacity first, so a wrong URI is a
    clear form error, not a host that fails every placement."""
    from django.conf import settings

    if driver not in settings.COMPUTE_DRIVERS:
        raise ValidationError(
            {"driver": f"Unknown driver. Choose one of: {', '.join(settings.COMPUTE_DRIVERS)}."}
        )
    host = Host(name=name.strip(), uri=uri.strip(), driver=driver, **extra)
    host.full_clean()
    _refresh_capacity(host)
    with transaction.atomic():
        host.save(force_insert=True)
        audit_record(actor=actor, tenant=None, action="host.register", target=host, data={"uri": host.uri})
    return host


def _refresh_capacity(host: Host) -> None:
    try:
        capacity = driver_for(host).host_capacity()
    except (ControllerError, ValueError) as exc:
        raise ValidationError({"uri": f"The host did not answer: {getattr(exc, 'message', exc)}"}) from None
    host.vcpus = capacity.vcpus
    host.ram_gib = capacity.ram_mib // 1024
    host.disk_gib = capacity.disk_gib
    host.last_seen_at = timezone.now()
    host.last_error = ""


def host_refresh(*, host: Host, actor) -> Host:
    try:
        _refresh_capacity(host)
    except ValidationError as exc:
        # Keep the reason on the host, for the hosts list, then tell the caller.
        Host.objects.filter(pk=host.pk).update(
            last_error=" ".join(exc.messages)[:500], updated=timezone.now()
        )
        raise
    host.save(update_fields=["vcpus", "ram_gib", "disk_gib", "last_seen_at", "last_error", "updated"])
    return host


def host_update(*, host: Host, actor, **data) -> Host:
    allowed = ("name", "cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio", "notes")
    for key, value in data.items():
        if key not in allowed:
            raise ValidationError({key: "This field cannot be changed."})
        setattr(host, key, value)
    host.full_clean()
    with transaction.atomic():
        host.save()
        audit_record(
            actor=actor,
            tenant=None,
            action="host.update",
            target=host,
            data={k: str(v) for k, v in data.items()},
        )
    return host


def host_set_state(*, host: Host, state: str, actor) -> Host:
    """Enable, drain (keep VMs, take no new ones) or disable a host."""
    if state not in Host.State.values:
        raise ValidationError({"state": "Choose enabled, draining or disabled."})
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(state=state, updated=timezone.now())
        host.state = state
        audit_record(actor=actor, tenant=None, action=f"host.{state}", target=host)
    return host


def host_delete(*, host: Host, actor) -> None:
    with transaction.atomic():
        # Lock the host first: placement locks the hosts it chose until its VM rows commit, so
        # no VM can land on this host between the check and the delete.
        Host.objects.select_for_update().filter(pk=host.pk).first()
        # VMs that failed or were deleted hold nothing on the host; only live ones block.
        if VM.objects.filter(host=host, provisioning_state__in=VM.HOLDS_HOST).exists():
            raise Conflict(
                f"{host.name} still has VMs: drain it and move or delete them first.", code="host_in_use"
            )
        VM.objects.filter(host=host).update(host=None)
        audit_record(actor=actor, tenant=None, action="host.delete", target=host)
        host.delete()


POWER_ACTIONS = {a.value: a for a in PowerAction}
