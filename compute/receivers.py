"""Compute's reactions to other apps' signals."""

from __future__ import annotations

from django.dispatch import receiver

from compute.services import subscription_stop_vms
from subscriptions.signals import subscription_state_changed


@receiver(subscription_state_changed, dispatch_uid="compute.stop_vms_on_suspend")
def stop_vms_on_suspend(sender, *, subscription, action: str, actor, **kwargs) -> None:
    # Suspension stops the subscription's VMs in the suspending transaction; reactivation
    # only allows starting them again (people decide which to start).
    if action == "suspend":
        subscription_stop_vms(subscription=subscription, actor=actor)
