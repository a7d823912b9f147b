"""Live events: services publish, the Channels consumer forwards to browsers.

Events are sent on commit, so a browser never hears of a change that was rolled back, and the
channel layer is only touched after the database work is durable.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_MESSAGE_TYPE = "portal.event"


def tenant_group(tenant_id) -> str:
    """The channel-layer group of one tenant's browsers (names allow only [a-zA-Z0-9-_.])."""
    return f"tenant.{tenant_id}"


def send_event(tenant_id, event: str, payload: dict[str, Any]) -> None:
    """Send now. Prefer ``publish_on_commit`` from services."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": EVENT_MESSAGE_TYPE, "event": event, "payload": payload}
    try:
        async_to_sync(layer.group_send)(tenant_group(tenant_id), message)
    except Exception:
        # A live update is a convenience: the page's polling fallback still shows the truth,
        # so a broken channel layer must never fail the write that published it.
        logger.exception("could not publish %s to tenant %s", event, tenant_id)


def publish_on_commit(tenant_id, event: str, payload: dict[str, Any]) -> None:
    """Publish ``event`` to the tenant's browsers once the current transaction commits."""
    transaction.on_commit(lambda: send_event(tenant_id, event, payload))
