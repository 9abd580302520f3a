"""/ws/live/: authenticate, join the user's group, forward events. No database writes."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from exchanges import events

CLOSE_UNAUTHENTICATED = 4401


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.id
        self.group = events.user_group(user.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        seq = await database_sync_to_async(events.current_seq)(user_id=user.id)
        await self.send_json({"type": "hello", "seq": seq})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "message": "Messages must be JSON objects."})
            return
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "resume":
            await self._resume(content.get("since"))
        else:
            await self.send_json({"type": "error", "message": f"Unknown message type {kind!r}."})

    async def _resume(self, since) -> None:
        if not isinstance(since, int) or since < 0:
            await self.send_json(
                {"type": "error", "message": "resume needs a non-negative integer 'since'."}
            )
            return
        missed, complete = await database_sync_to_async(events.events_since)(
            user_id=self.user_id, since=since
        )
        if not complete:
            await self.send_json({"type": "resync", "since": since})
            return
        for event in missed:
            await self.send_json(event)

    async def live_event(self, message) -> None:
        await self.send_json(message["event"])
