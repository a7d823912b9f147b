"""WebSocket consumer that forwards a tenant's live events to the browser."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal.events import tenant_group


class TenantEventsConsumer(AsyncJsonWebsocketConsumer):
    """Authenticates the session and checks membership in ``connect``, joins the tenant's
    group, and only forwards events; it accepts nothing from the client."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        tenant_id = await self._member_tenant_id(user)
        if tenant_id is None:
            # 4403 tells the page's script not to reconnect in a loop.
            await self.close(code=4403)
            return
        self.group = tenant_group(tenant_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # The channel is one-way; anything a client sends is ignored.
        return

    async def portal_event(self, message: dict) -> None:
        await self.send_json({"event": message["event"], "payload": message["payload"]})

    async def portal_events(self, message: dict) -> None:
        # Several events of this tenant sent as one message (portal.events._Publisher): the
        # browser gets them as separate frames, in order, as if sent one by one.
        for item in message["events"]:
            await self.send_json({"event": item["event"], "payload": item["payload"]})

    @database_sync_to_async
    def _member_tenant_id(self, user):
        from portal.tenancy import session_tenant_id
        from tenants.models import Membership

        if user is None or not user.is_authenticated or not user.is_active or user.is_service_admin:
            return None
        # The same choice as portal.tenancy.get_tenant_context, so the socket follows the tenant
        # the page shows: the session's tenant if still a member there, else the first by name.
        memberships = Membership.objects.filter(user=user, tenant__state="active").order_by("tenant__name")
        wanted = session_tenant_id(self.scope.get("session"))
        membership = (memberships.filter(tenant_id=wanted).first() if wanted else None) or memberships.first()
        return membership.tenant_id if membership else None
