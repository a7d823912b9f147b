"""The compute pages' vocabulary: what each VM status is called, which power actions a VM's
state allows, and the same as JSON for static/portal/live.js, which redraws badges and
enables buttons from live events with exactly these rules."""

from __future__ import annotations

from typing import Any

from django import template

from compute.models import Deployment, VirtualMachine
from compute.services import POWER_OPERATIONS
from portal.models import GROUP_KINDS, Job
from portal.templatetags.portal import _STATE_COLOURS

register = template.Library()

VM = VirtualMachine

# VirtualMachine.status → what people read. Tasks keep the model's labels ("Starting" for
# powering_on); "shutdown" reads as "Stopped", which is what a tenant means by it.
VM_STATUS_LABELS: dict[str, str] = {
    "building": "Building",
    "active": "Active",
    "error": "Error",
    "deleted": "Deleted",
    "running": "Running",
    "shutdown": "Stopped",
    "paused": "Paused",
    "crashed": "Crashed",
    "nostate": "Unknown",
    **{value: label for value, label in VM.Task.choices if value},
}

# The actions a tenant can take on one VM, in button order, with their button labels.
VM_ACTIONS: dict[str, str] = {
    "start": "Start",
    "shutdown": "Shut down",
    "power_off": "Power off",
    "reset": "Reset",
    "delete": "Delete",
}


def vm_allows(vm: VirtualMachine | dict, action: str) -> bool:
    """Whether ``action`` fits the VM's state now (the services decide for real: this only
    greys out buttons that would answer 409)."""
    get = vm.get if isinstance(vm, dict) else lambda key: getattr(vm, key)
    if action == "delete":
        return get("provisioning_state") != VM.Provisioning.DELETED and get("task_state") != VM.Task.DELETING
    if action not in POWER_OPERATIONS:
        return False
    sources = POWER_OPERATIONS[action][1]
    return (
        get("provisioning_state") == VM.Provisioning.ACTIVE
        and not get("task_state")
        and get("power_state") in sources
    )


@register.filter
def vm_status_label(status: str) -> str:
    return VM_STATUS_LABELS.get(status, str(status).replace("_", " ").capitalize())


@register.filter
def vm_can(vm: VirtualMachine, action: str) -> bool:
    return vm_allows(vm, action)


@register.filter
def step_label(step: str) -> str:
    """A job's current step for people: power jobs name their step after the VM's task
    ("shutting_down"), which reads as the task's label."""
    if step in VM_STATUS_LABELS:
        return VM_STATUS_LABELS[step]
    return step.replace("_", " ").capitalize() if step else ""


@register.filter
def job_key(state: str) -> str:
    """The colour key of a job state: a running job is work in progress (blue, spinner),
    unlike a running VM (green)."""
    return "running_job" if state == Job.State.RUNNING else state


# A job's bar: moving stripes while it works, then the colour of how it ended.
JOB_BARS = {
    Job.State.SUCCEEDED: "bg-success",
    Job.State.FAILED: "bg-danger",
    Job.State.CANCELLED: "bg-secondary",
}
JOB_BAR_ACTIVE = "progress-bar-striped progress-bar-animated"


@register.filter
def job_bar(state: str) -> str:
    return JOB_BARS.get(state, JOB_BAR_ACTIVE)


@register.filter
def vm_busy(vm: VirtualMachine) -> bool:
    """Work is in flight: the page keeps polling this VM while the live socket is down."""
    return bool(vm.task_state) or vm.provisioning_state == VM.Provisioning.BUILDING


@register.filter
def deployment_scalable(deployment: Deployment) -> bool:
    return deployment.state in (Deployment.State.READY, Deployment.State.DEGRADED, Deployment.State.FAILED)


@register.simple_tag
def live_maps() -> dict[str, Any]:
    """What live.js needs to draw the same badges and buttons as these templates."""
    return {
        "colours": _STATE_COLOURS,
        "vm_labels": VM_STATUS_LABELS,
        "deployment_labels": dict(Deployment.State.choices),
        "job_labels": dict(Job.State.choices),
        "job_bars": {**JOB_BARS, "active": JOB_BAR_ACTIVE},
        "power_sources": {action: list(spec[1]) for action, spec in POWER_OPERATIONS.items()},
        "scalable": [Deployment.State.READY, Deployment.State.DEGRADED, Deployment.State.FAILED],
        "group_kinds": sorted(GROUP_KINDS),
    }
