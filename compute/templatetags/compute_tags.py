"""The compute pages' vocabulary: what each VM status is called, which power actions a VM's
state allows, and the same as JSON for static/portal/live.js, which redraws badges and
enables buttons from live events with exactly these rules."""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from compute.models import Deployment, VirtualMachine
from compute.selectors import VM_ROW_COLUMNS
from compute.services import POWER_OPERATIONS
from portal.models import GROUP_KINDS, Job
from portal.templatetags.portal import _STATE_COLOURS, state_colour

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
    return vm_is_busy(vm.provisioning_state, vm.task_state)


def vm_is_busy(provisioning_state: str, task_state: str) -> bool:
    return bool(task_state) or provisioning_state == VM.Provisioning.BUILDING


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


# --- state badges and VM rows, in Python -------------------------------------------------
#
# The VM list renders up to 100 rows per request. As templates (a row, its status and its
# badge as nested includes, ``{% url %}`` and filters per row) they cost about 0.3 ms a row,
# flattened about 50 µs, against under 10 µs as one format string with the URLs reversed
# once per table (benchmarks/vm_list.py). So the row's markup lives here, once, for every
# table that shows VMs; the templates call ``{% vm_rows %}`` and ``{% vm_row %}``.
# live.js finds rows by ``data-live-vm``, redraws them from the ``data-*`` state, the
# ``[data-vm-status]`` badge and the ``[data-vm-field]`` cells, and polls ``hx-get`` while
# ``data-live-poll`` is set: keep those in step with static/portal/live.js.

_SPINNER = '<span class="spinner-border spinner-border-sm me-1" aria-hidden="true"></span>'


def badge_html(key: str, label: Any) -> str:
    """A state badge (templates/compute/_partials/badge.html): the colour of ``key``, with a
    spinner for work in progress (live.js draws the same)."""
    colour = state_colour(key)
    spinner = _SPINNER if colour == "primary" else ""
    return (
        f'<span class="badge state-badge text-bg-{colour}" data-state="{conditional_escape(key)}">'
        f"{spinner}{conditional_escape(label)}</span>"
    )


@register.simple_tag
def state_badge(key: str, label: Any) -> SafeString:
    return mark_safe(badge_html(key, label))  # noqa: S308 (badge_html escapes both)


# Reversed once per table with a stand-in id, which each row's id then takes the place of.
_STAND_IN = str(uuid.UUID(int=0))


def _url_around_id(name: str) -> tuple[str, str]:
    """The URL ``name`` of an object, as (before its id, after it)."""
    return _url_parts(name, get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())


@lru_cache(maxsize=64)
def _url_parts(name: str, urlconf: str, prefix: str) -> tuple[str, str]:
    # ``prefix`` only keys the cache: reverse() reads the current one itself.
    before, after = reverse(name, urlconf=urlconf, args=[_STAND_IN]).split(_STAND_IN)
    return before, after


@lru_cache(maxsize=16)
def _short_months(language: str | None) -> tuple[str, ...]:
    """The ``date`` filter's "M" for each month (index 1 to 12), in ``language``, the active one
    (dateformat itself costs 15 µs a call)."""
    return ("", *(str(MONTHS_3[month]).title() for month in range(1, 13)))


def _vm_fields(vm: VirtualMachine | Mapping[str, Any], in_deployment: bool) -> Mapping[str, Any]:
    """A VM as ``values(*VM_ROW_COLUMNS)`` gives it."""
    if isinstance(vm, dict):
        return vm
    fields = {name: getattr(vm, name) for name in VM_ROW_COLUMNS if "__" not in name}
    fields["deployment__name"] = "" if in_deployment else vm.deployment.name
    return fields


class VmRowRenderer:
    """Rows of a VM table. ``in_deployment``: on a deployment's page (no deployment and
    created columns; the row partial is asked for with ``?in=deployment``); ``selectable``:
    a checkbox for the bulk actions (operators, on the VM list)."""

    def __init__(self, *, in_deployment: bool = False, selectable: bool = False) -> None:
        self.in_deployment = in_deployment
        self.selectable = selectable and not in_deployment
        self.vm_url = _url_around_id("compute:vm")
        row_url = _url_around_id("compute:vm-row")
        self.row_url = (row_url[0], row_url[1] + ("?in=deployment" if in_deployment else ""))
        self.deployment_url = _url_around_id("compute:deployment")
        self.tz = timezone.get_current_timezone()
        self.months = _short_months(get_language())
        self.badges: dict[str, str] = {}

    def _badge(self, status: str) -> str:
        if status not in self.badges:
            self.badges[status] = badge_html(status, vm_status_label(status))
        return self.badges[status]

    def render(self, vm: VirtualMachine | Mapping[str, Any]) -> str:
        f = _vm_fields(vm, self.in_deployment)
        e = html.escape
        pk, deployment_id, name, message = str(f["id"]), str(f["deployment_id"]), e(f["name"]), f["message"]
        provisioning, power, task = f["provisioning_state"], f["power_state"], f["task_state"]
        # VirtualMachine.status, from the row's columns.
        status = task or (power if provisioning == VM.Provisioning.ACTIVE else provisioning)
        deleted = provisioning == VM.Provisioning.DELETED
        busy = vm_is_busy(provisioning, task)
        provisioning, power, task = e(provisioning), e(power), e(task)
        check = deployment = created = ""
        if self.selectable:
            check = (
                f'  <td class="col-check"><input class="form-check-input" type="checkbox" name="vm" '
                f'value="{pk}" form="bulk-form" id="check-{pk}" hx-preserve aria-label="Select {name}" '
                f"data-bulk-check{' disabled' if deleted else ''}></td>\n"
            )
        if not self.in_deployment:
            url = self.deployment_url
            deployment = (
                f'  <td><a href="{url[0]}{deployment_id}{url[1]}">{e(f["deployment__name"])}</a></td>\n'
            )
            # As ``created|date:"c"`` and ``created|date:"j M Y, H:i"`` in the current time zone.
            when = timezone.localtime(f["created"], self.tz)
            created = (
                f'  <td class="small text-nowrap"><time datetime="{when.isoformat()}">{when.day} '
                f"{self.months[when.month]} {when.year}, {when.hour:02d}:{when.minute:02d}</time></td>\n"
            )
        row_url, vm_url = self.row_url, self.vm_url
        return (
            f'<tr id="vm-{pk}" class="vm-row{" vm-deleted" if deleted else ""}" data-live-vm="{pk}" '
            f'data-deployment="{deployment_id}"\n'
            f'    data-provisioning="{provisioning}" data-power="{power}" data-task="{task}"'
            f"{' data-live-poll' if busy else ''}\n"
            f'    hx-get="{row_url[0]}{pk}{row_url[1]}" hx-trigger="live-poll" hx-swap="outerHTML">\n'
            f"{check}"
            f'  <td><a class="fw-semibold text-nowrap" href="{vm_url[0]}{pk}{vm_url[1]}">{name}</a>\n'
            f'    <div class="small text-body-secondary" data-vm-field="message"{"" if message else " hidden"}>'
            f"{e(message)}</div></td>\n"
            f"  <td><span data-vm-status>{self._badge(status)}</span></td>\n"
            f"{deployment}"
            f'  <td class="small text-nowrap">{e(f["size_name"])} <span class="text-body-secondary">'
            f"· {f['vcpus']} vCPU · {f['ram_gib']} GiB</span></td>\n"
            f'  <td class="small"><code>{e(f["hostname"])}</code></td>\n'
            f"{created}"
            "</tr>\n"
        )


@register.simple_tag(takes_context=True)
def vm_rows(context, vms: Iterable, in_deployment: bool = False) -> SafeString:
    """The ``<tr>`` of each VM (model instances or ``values(*VM_ROW_COLUMNS)`` dicts), with a
    checkbox for operators outside a deployment's page."""
    renderer = VmRowRenderer(in_deployment=in_deployment, selectable=bool(context.get("is_operator")))
    # Every value the renderer puts in the markup is escaped (or an id, a number or a URL).
    return mark_safe("".join(renderer.render(vm) for vm in vms))  # noqa: S308


@register.simple_tag(takes_context=True)
def vm_row(context, vm, in_deployment: bool = False) -> SafeString:
    return vm_rows(context, [vm], in_deployment=in_deployment)
