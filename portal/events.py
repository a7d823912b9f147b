"""Live events: services publish, the Channels consumer forwards to browsers.

Events are sent on commit, so a browser never hears of a change that was rolled back, and the
channel layer is only touched after the database work is durable.

Over the Redis channel layer (production, the benchmarks) an event is handed to the process's
publisher (``_Publisher``): one daemon thread running one asyncio loop, fed by a queue and
drained by a single coroutine, so a job never waits for Redis and events leave in the order
they were published. ``async_to_sync(layer.group_send)`` per event, as this module did before,
started a thread and an event loop per call, and channels_redis keeps its connection pools
per loop, so every event also opened a new Redis connection: about 45 % of a create_vm job's
time (benchmarks/provisioning.py). The drainer also sends what has piled up for one tenant as
one ``portal.events`` message, which ``TenantEventsConsumer.portal_events`` unpacks into the
same frames a browser gets one by one.

The in-memory layer (tests) is not safe across event loops, so it keeps the synchronous path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import defaultdict
from typing import Any

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_MESSAGE_TYPE = "portal.event"
BATCH_MESSAGE_TYPE = "portal.events"
# Events of one tenant sent as one message at most; a browser gets them as separate frames.
MAX_BATCH = 100


def tenant_group(tenant_id) -> str:
    """The channel-layer group of one tenant's browsers (names allow only [a-zA-Z0-9-_.])."""
    return f"tenant.{tenant_id}"


class _Publisher:
    """One per process: a daemon thread with a persistent event loop that sends events."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue | None = None
        self.shared = self.private = None

    def layer_for(self, shared):
        """Our own instance of the configured layer: channels_redis keeps a pool per event
        loop in each instance, and whoever else holds the shared one (a test, a consumer)
        may close all its pools from their loop, ours included. A new shared instance
        (settings changed) gets a new one of ours."""
        with self.lock:
            if self.shared is not shared:
                self.shared, self.private = shared, channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
            return self.private

    def submit(self, layer, group: str, event: str, payload: dict[str, Any]) -> None:
        loop = self._loop()
        # call_soon_threadsafe runs callbacks in the order they were scheduled, so the queue
        # holds events in publication order whichever thread published them.
        loop.call_soon_threadsafe(self.queue.put_nowait, (layer, group, event, payload))

    def _loop(self) -> asyncio.AbstractEventLoop:
        pid = os.getpid()
        if self.pid == pid and self.loop is not None:
            return self.loop
        with self.lock:
            # After a fork (prefork pool, uvicorn workers) the parent's thread does not exist
            # in the child: start our own.
            if self.pid != pid or self.loop is None:
                ready = threading.Event()
                thread = threading.Thread(target=self._run, args=(ready,), name="live-events", daemon=True)
                thread.start()
                ready.wait()
                self.pid = pid
        return self.loop

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop, self.queue = loop, asyncio.Queue()
        ready.set()
        loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        queue = self.queue
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 10 * MAX_BATCH:
                batch.append(queue.get_nowait())
            await self._send(batch)

    async def _send(self, batch: list[tuple]) -> None:
        # Grouped by (layer, group) in order of first appearance; each group's events keep
        # their order. Different tenants' browsers never compare notes, so no order across.
        groups: dict[tuple[int, str], list[tuple]] = defaultdict(list)
        for item in batch:
            groups[(id(item[0]), item[1])].append(item)
        for items in groups.values():
            layer, group = items[0][0], items[0][1]
            for start in range(0, len(items), MAX_BATCH):
                chunk = items[start : start + MAX_BATCH]
                if len(chunk) == 1:
                    message = {"type": EVENT_MESSAGE_TYPE, "event": chunk[0][2], "payload": chunk[0][3]}
                else:
                    events = [{"event": event, "payload": payload} for _, _, event, payload in chunk]
                    message = {"type": BATCH_MESSAGE_TYPE, "events": events}
                try:
                    await layer.group_send(group, message)
                except Exception:
                    # A live update is a convenience: the page's polling fallback still shows
                    # the truth. Log and go on with the next tenant's events.
                    logger.exception("could not publish %d event(s) to %s", len(chunk), group)


_publisher = _Publisher()


def send_event(tenant_id, event: str, payload: dict[str, Any]) -> None:
    """Send now (fire and forget over Redis). Prefer ``publish_on_commit`` from services."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            message = {"type": EVENT_MESSAGE_TYPE, "event": event, "payload": payload}
            async_to_sync(layer.group_send)(tenant_group(tenant_id), message)
        else:
            _publisher.submit(_publisher.layer_for(layer), tenant_group(tenant_id), event, payload)
    except Exception:
        # A live update is a convenience: the page's polling fallback still shows the truth,
        # so a broken channel layer must never fail the write that published it.
        logger.exception("could not publish %s to tenant %s", event, tenant_id)


def publish_on_commit(tenant_id, event: str, payload: dict[str, Any]) -> None:
    """Publish ``event`` to the tenant's browsers once the current transaction commits."""
    transaction.on_commit(lambda: send_event(tenant_id, event, payload))
