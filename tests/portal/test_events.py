"""Live events end to end: a service publishes on commit, the consumer forwards to members.

The sockets go through the real ASGI application (origin check, cookie, session and auth
middleware, URL router), authenticated by a session cookie from the test client. pytest-asyncio
is not installed, so each test runs one coroutine with ``async_to_sync``; database work inside
it goes through ``sync_to_async`` (thread-sensitive: the test's own thread and connection), and
the event published on commit reaches the channel layer on the same event loop.

Transactional tests, so commits are real commits and ``on_commit`` fires as in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client

from portal.asgi import application
from portal.events import publish_on_commit, tenant_group
from portal.tenancy import SESSION_KEY
from tenants.models import Role, Tenant
from tests.backends import require_redis
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://testserver"
PATH = "/ws/events/"
EVENT = "subscription.changed"


class Rollback(Exception):
    pass


def session_headers(user, *, origin: bytes | None = ORIGIN, tenant: Tenant | None = None) -> list:
    """Headers of a browser signed in as ``user`` (optionally with ``tenant`` current)."""
    client = Client()
    client.force_login(user)
    if tenant is not None:
        session = client.session
        session[SESSION_KEY] = str(tenant.pk)
        session.save()
    cookie = (
        f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}"
    )
    headers = [(b"host", b"testserver"), (b"cookie", cookie.encode())]
    if origin is not None:
        headers.append((b"origin", origin))
    return headers


def socket(headers: list) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, PATH, headers=headers)


def publish(tenant_id, payload: dict, *, commit: bool = True, before_commit: Callable | None = None) -> None:
    """What a service does: publish inside its transaction, which then commits or rolls back."""
    try:
        with transaction.atomic():
            publish_on_commit(tenant_id, EVENT, payload)
            if before_commit is not None:
                before_commit()
            if not commit:
                raise Rollback
    except Rollback:
        pass


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


# --- the consumer over the in-memory layer --------------------------------------------------


def test_a_member_receives_an_event_once_the_transaction_commits(alice, acme):
    headers = session_headers(alice)

    async def scenario():
        ws = socket(headers)
        connected, _ = await ws.connect()
        assert connected
        nothing_before_commit = []

        def probe():
            # Still inside the transaction: the browser must not have heard anything yet.
            nothing_before_commit.append(async_to_sync(ws.receive_nothing)(0.1))

        await sync_to_async(publish)(acme.pk, {"id": "1", "state": "active"}, before_commit=probe)
        assert nothing_before_commit == [True]
        assert await ws.receive_json_from(timeout=2) == {
            "event": EVENT,
            "payload": {"id": "1", "state": "active"},
        }
        await ws.disconnect()

    run(scenario)


def test_an_event_of_a_rolled_back_transaction_is_never_sent(alice, acme):
    headers = session_headers(alice)

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect())[0]
        await sync_to_async(publish)(acme.pk, {"id": "lost"}, commit=False)
        assert await ws.receive_nothing(timeout=0.3)
        # The socket still works: the next committed event arrives, and only that one.
        await sync_to_async(publish)(acme.pk, {"id": "kept"})
        assert (await ws.receive_json_from(timeout=2))["payload"] == {"id": "kept"}
        assert await ws.receive_nothing(timeout=0.1)
        await ws.disconnect()

    run(scenario)


def test_an_anonymous_socket_is_closed_with_4403(db):
    async def scenario():
        ws = socket([(b"host", b"testserver"), (b"origin", ORIGIN)])
        assert await ws.connect() == (False, 4403)

    run(scenario)


def test_a_user_of_another_tenant_does_not_receive_the_event(alice, charlie, acme, globex):
    alice_headers, charlie_headers = session_headers(alice), session_headers(charlie)

    async def scenario():
        alice_ws, charlie_ws = socket(alice_headers), socket(charlie_headers)
        assert (await alice_ws.connect())[0]
        assert (await charlie_ws.connect())[0]  # charlie is a member of Globex
        await sync_to_async(publish)(acme.pk, {"id": "acme-only"})
        assert (await alice_ws.receive_json_from(timeout=2))["payload"] == {"id": "acme-only"}
        assert await charlie_ws.receive_nothing(timeout=0.3)
        await sync_to_async(publish)(globex.pk, {"id": "globex-only"})
        assert (await charlie_ws.receive_json_from(timeout=2))["payload"] == {"id": "globex-only"}
        assert await alice_ws.receive_nothing(timeout=0.3)
        await alice_ws.disconnect()
        await charlie_ws.disconnect()

    run(scenario)


@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://testserver.evil.example", None])
def test_a_socket_from_another_origin_is_rejected(alice, acme, origin):
    headers = session_headers(alice, origin=origin)

    async def scenario():
        connected, _ = await socket(headers).connect()
        assert not connected

    run(scenario)


def test_a_socket_joins_the_tenant_current_in_the_session(alice, acme, globex):
    MembershipFactory(tenant=globex, user=alice, role=Role.READER)
    headers = session_headers(alice, tenant=globex)

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect())[0]
        await sync_to_async(publish)(acme.pk, {"id": "acme"})
        assert await ws.receive_nothing(timeout=0.3)
        await sync_to_async(publish)(globex.pk, {"id": "globex"})
        assert (await ws.receive_json_from(timeout=2))["payload"] == {"id": "globex"}
        await ws.disconnect()

    run(scenario)


def test_a_stale_session_tenant_falls_back_to_the_first_membership_like_the_page(alice, acme, globex):
    # alice switched to Globex, then lost her membership there: the page shows Acme, so
    # the socket must follow Acme rather than refuse to connect.
    membership = MembershipFactory(tenant=globex, user=alice, role=Role.READER)
    headers = session_headers(alice, tenant=globex)
    membership.delete()

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect())[0]
        await sync_to_async(publish)(acme.pk, {"id": "acme"})
        assert (await ws.receive_json_from(timeout=2))["payload"] == {"id": "acme"}
        await ws.disconnect()

    run(scenario)


def test_a_member_of_a_disabled_tenant_is_refused(alice, acme):
    headers = session_headers(alice)
    Tenant.objects.filter(pk=acme.pk).update(state=Tenant.State.DISABLED)

    async def scenario():
        assert await socket(headers).connect() == (False, 4403)

    run(scenario)


def test_a_service_admin_has_no_tenant_socket(admin):
    headers = session_headers(admin)

    async def scenario():
        assert await socket(headers).connect() == (False, 4403)

    run(scenario)


def test_a_deactivated_user_is_refused(alice, acme):
    headers = session_headers(alice)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)

    async def scenario():
        assert await socket(headers).connect() == (False, 4403)

    run(scenario)


def test_the_socket_ignores_what_the_client_sends(alice, acme):
    headers = session_headers(alice)

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect())[0]
        await ws.send_json_to({"type": "portal.event", "event": "forged", "payload": {}})
        assert await ws.receive_nothing(timeout=0.2)
        await ws.disconnect()

    run(scenario)


def test_a_broken_channel_layer_never_fails_the_write(alice, acme, monkeypatch, caplog):
    async def broken(group, message):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(get_channel_layer(), "group_send", broken)
    publish(acme.pk, {"id": "x"})  # no exception escapes the commit
    assert f"could not publish {EVENT}" in caplog.text


# --- the same, over the real Redis channel layer ---------------------------------------------


@pytest.fixture
def redis_layer(settings):
    url = require_redis()
    # A prefix of our own: other test runs and the dev server share this Redis.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": f"cstest-{uuid.uuid4().hex[:12]}", "expiry": 10},
        }
    }
    return settings.CHANNEL_LAYERS


@pytest.mark.redis
def test_events_flow_through_the_real_redis_channel_layer(redis_layer, alice, charlie, acme, globex):
    from channels_redis.core import RedisChannelLayer

    alice_headers, charlie_headers = session_headers(alice), session_headers(charlie)

    async def scenario():
        layer = get_channel_layer()
        assert isinstance(layer, RedisChannelLayer)
        alice_ws, charlie_ws = socket(alice_headers), socket(charlie_headers)
        try:
            assert (await alice_ws.connect())[0]
            assert (await charlie_ws.connect())[0]
            await sync_to_async(publish)(acme.pk, {"id": "rolled back"}, commit=False)
            await sync_to_async(publish)(acme.pk, {"id": "via redis"})
            assert await alice_ws.receive_json_from(timeout=5) == {
                "event": EVENT,
                "payload": {"id": "via redis"},
            }
            assert await alice_ws.receive_nothing(timeout=0.3)
            assert await charlie_ws.receive_nothing(timeout=0.3)
            # The group really lives in Redis under our prefix.
            group_key = layer._group_key(tenant_group(acme.pk))
            assert group_key.startswith(redis_layer["default"]["CONFIG"]["prefix"].encode())
        finally:
            await alice_ws.disconnect()
            await charlie_ws.disconnect()
            await layer.flush()
            await layer.close_pools()

    run(scenario)
