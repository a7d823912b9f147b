"""Signals other apps listen to, so subscriptions/ never imports compute/ or network/."""

from django.dispatch import Signal

# Sent inside the transaction that changed the state, with ``subscription``, ``action``
# ("suspend", "reactivate", "cancel") and ``actor``. Receivers write their own consequences
# (compute stops a suspended subscription's VMs) in the same transaction.
subscription_state_changed = Signal()
