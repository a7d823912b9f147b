"""Reconciliation: the hosts' real state against the database, as Nova's periodic tasks do.

For each enabled or draining host, the portal's VMs are read first and the host's list second,
and every correction is a conditional UPDATE that also requires the VM to be unchanged since
the first read — so a VM created, deleted or powered while reconciliation runs is never
mistaken for an orphan or a lost VM.

- **orphan**: on the host, unknown to the portal. Reported (log + audit); destroyed only with
  RECONCILE_REMOVE_ORPHANS, since it may be someone's VM made outside the portal.
- **leftover**: on the host, but the portal has it deleted or failed: the portal wanted it gone
  (a job died before it could clean up), so it is destroyed.
- **lost**: active in the portal, missing from its host: marked in error, its quota released.
- **power drift**: a guest that shut itself down (or was started outside): the power state is
  updated.
- **usage drift**: the hosts' used-capacity counters (what placement reads) are recomputed from
  the VM rows and any difference is fixed and reported; no code path should cause one.
- **running while suspended**: suspension powers off the idle VMs in its own transaction,
  and an operation in flight powers its VM off when it ends if the subscription is no longer
  active. An operation that ends while the suspension commits can slip past both (each read
  the other's rows before the other committed), so every pass powers off what still runs
  under a suspended subscription. Locking the subscription row in every job's last
  transaction would close the gap at once, at the price of workers queueing behind the
  API's quota reservations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compute import placement, services
from compute.drivers import driver_for
from compute.models import Host, VirtualMachine
from controller.base import ControllerError, PowerState
from portal.audit import audit_record
from subscriptions.models import Subscription

logger = logging.getLogger(__name__)
VM = VirtualMachine


@dataclass
class ReconcileReport:
    hosts: int = 0
    unreachable: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    orphans_removed: int = 0
    leftovers_removed: int = 0
    lost: list[str] = field(default_factory=list)
    power_updated: int = 0
    suspended_powered_off: int = 0
    usage_fixed: list[str] = field(default_factory=list)


def reconcile_hosts(*, remove_orphans: bool | None = None) -> ReconcileReport:
    if remove_orphans is None:
        remove_orphans = settings.RECONCILE_REMOVE_ORPHANS
    report = ReconcileReport()
    for host in Host.objects.exclude(state=Host.State.DISABLED):
        report.hosts += 1
        _reconcile_host(host, report, remove_orphans)
    _power_off_suspended(report)
    report.usage_fixed = placement.recount()
    if report.usage_fixed:
        logger.warning(
            "host usage counters drifted from the VM rows, recounted: %s", ", ".join(report.usage_fixed)
        )
    return report


def _power_off_suspended(report: ReconcileReport) -> None:
    running = (
        VM.objects.filter(subscription__state=Subscription.State.SUSPENDED)
        .filter(provisioning_state=VM.Provisioning.ACTIVE, task_state="")
        .exclude(power_state=PowerState.SHUTDOWN)
    )
    for subscription in Subscription.objects.filter(pk__in=running.values("subscription_id")):
        with transaction.atomic():
            stopped = services.subscription_stop_vms(subscription=subscription, actor=None)
        if stopped:
            logger.warning(
                "%d VM(s) of suspended subscription %s were still running: powering them off",
                len(stopped),
                subscription.pk,
            )
            report.suspended_powered_off += len(stopped)


def _reconcile_host(host: Host, report: ReconcileReport, remove_orphans: bool) -> None:
    started = timezone.now()
    known = {
        str(row["id"]): row
        for row in VM.objects.filter(host=host).values(
            "id", "provisioning_state", "power_state", "task_state", "updated"
        )
    }
    driver = driver_for(host)
    try:
        observed = {o.uuid: o for o in driver.list_vms()}
    except ControllerError as exc:
        Host.objects.filter(pk=host.pk).update(last_error=exc.message[:500])
        report.unreachable.append(host.name)
        return
    Host.objects.filter(pk=host.pk).update(last_seen_at=timezone.now(), last_error="")

    unknown = [u for u in observed if u not in known]
    if unknown:
        # Created after the first read? Look again before calling anything an orphan.
        for row in VM.objects.filter(pk__in=unknown).values(
            "id", "provisioning_state", "power_state", "task_state", "updated"
        ):
            known[str(row["id"])] = row
    for uuid, vm in observed.items():
        row = known.get(uuid)
        if row is None:
            report.orphans.append(uuid)
            logger.warning("orphan VM %s on host %s", uuid, host.name)
            audit_record(actor=None, tenant=None, action="host.orphan_found", target=host, data={"vm": uuid})
            if remove_orphans:
                report.orphans_removed += _destroy(driver, uuid)
        elif (
            row["provisioning_state"] in (VM.Provisioning.DELETED, VM.Provisioning.ERROR)
            and not row["task_state"]
        ):
            if VM.objects.filter(
                pk=uuid, provisioning_state=row["provisioning_state"], task_state="", updated=row["updated"]
            ).exists():
                report.leftovers_removed += _destroy(driver, uuid)
        elif row["provisioning_state"] == VM.Provisioning.ACTIVE and not row["task_state"]:
            if vm.power_state != row["power_state"]:
                if VM.objects.filter(pk=uuid, task_state="", updated=row["updated"]).update(
                    power_state=vm.power_state, updated=timezone.now()
                ):
                    report.power_updated += 1
                    services.publish_vm(VM.objects.get(pk=uuid))

    for uuid, row in known.items():
        if uuid in observed or row["provisioning_state"] != VM.Provisioning.ACTIVE or row["task_state"]:
            continue
        if row["updated"] > started:
            continue
        with transaction.atomic():
            if VM.objects.filter(
                pk=uuid, provisioning_state=VM.Provisioning.ACTIVE, task_state="", updated=row["updated"]
            ).update(
                provisioning_state=VM.Provisioning.ERROR,
                power_state="nostate",
                message="The VM was not found on its host.",
                updated=timezone.now(),
            ):
                vm = VM.objects.select_related("tenant").get(pk=uuid)
                services.release_vm(vm)
                audit_record(
                    actor=None, tenant=vm.tenant, action="vm.lost", target=vm, data={"host": host.name}
                )
                services.publish_vm(vm)
                report.lost.append(uuid)


def _destroy(driver, uuid: str) -> int:
    try:
        return int(bool(driver.delete_vm(uuid)))
    except ControllerError as exc:
        logger.warning("could not remove VM %s: %s", uuid, exc.detail)
        return 0
