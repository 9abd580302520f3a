"""/ws/live/: authenticate, join the user's group, forward events. No database writes.

Authentication: the session cookie (browsers), or, for clients that send no Origin header
(scripts; browsers always send one), a JWT access token in the first message
``{"type": "auth", "token": "<access>"}`` within AUTH_TIMEOUT seconds.

Client messages: ``auth``, ``ping``, ``resume {since}``, ``subscribe_market_data {symbols,
market, environment?}`` and ``unsubscribe_market_data``. Server messages: ``hello {seq}``,
the user's events (``order.update``, ``fill``, ``balance.update``, ``position.update``,
``connection.status``) each with a per-user ``seq``, ``resync`` when a gap cannot be replayed,
and market data (``ticker``, ``kline``) fanned out per symbol group, without ``seq``.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from exchanges import events
from exchanges.streams import watch

CLOSE_UNAUTHENTICATED = 4401
AUTH_TIMEOUT = 5.0
ENVIRONMENTS = ("sandbox", "testnet", "demo", "mainnet")

_redis_by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _redis() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _redis_by_loop.get(loop)
    if client is None:
        client = aioredis.from_url(settings.REDIS_URL)
        _redis_by_loop[loop] = client
    return client


def _has_origin(scope: dict[str, Any]) -> bool:
    return any(name == b"origin" for name, _ in scope.get("headers", []))


def _user_from_token(token: str):
    """The active user of a valid JWT access token, or None."""
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.settings import api_settings
    from rest_framework_simplejwt.tokens import AccessToken

    try:
        access = AccessToken(token)
    except TokenError:
        return None
    user_id = access.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    if user is None or not user.is_active or getattr(user, "deleted_at", None) is not None:
        return None
    return user


def _stream_states(user_id: int) -> list[dict[str, Any]]:
    from exchanges.models import StreamState

    return [
        {"connection_id": c, "stream": k, "status": s, "reason": r}
        for c, k, s, r in StreamState.objects.filter(
            connection__owner_id=user_id, connection__deleted_at__isnull=True
        ).values_list("connection_id", "kind", "status", "reason")
    ]


class LiveConsumer(AsyncJsonWebsocketConsumer):
    user_id: int | None = None

    async def connect(self) -> None:
        self.watching: dict[tuple[str, str], set[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self.accept()
            await self._start(user.id)
            return
        if _has_origin(self.scope):
            # A browser without a session: nothing to do here.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.accept()
        self._tasks.append(asyncio.create_task(self._auth_deadline()))

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(AUTH_TIMEOUT)
        if self.user_id is None:
            await self.send_json({"type": "error", "message": "Authenticate within 5 seconds."})
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _start(self, user_id: int) -> None:
        self.user_id = user_id
        self.group = events.user_group(user_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        seq = await database_sync_to_async(events.current_seq)(user_id=user_id)
        streams = await database_sync_to_async(_stream_states)(user_id)
        await self.send_json({"type": "hello", "seq": seq, "streams": streams})

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "_tasks", []):
            task.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        for (environment, market), symbols in getattr(self, "watching", {}).items():
            await self._unwatch(environment, market, set(symbols))

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            await self._error("Messages must be JSON objects.")
            return
        kind = content.get("type")
        if self.user_id is None:
            if kind == "auth":
                await self._auth(content.get("token"))
            else:
                await self._error('Authenticate first: {"type": "auth", "token": ...}.')
                await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "resume":
            await self._resume(content.get("since"))
        elif kind == "subscribe_market_data":
            await self._subscribe(content)
        elif kind == "unsubscribe_market_data":
            await self._unsubscribe(content)
        elif kind == "auth":
            await self._error("Already authenticated.")
        else:
            await self._error(f"Unknown message type {kind!r}.")

    async def _error(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})

    async def _auth(self, token: Any) -> None:
        user = None
        if isinstance(token, str) and 0 < len(token) < 4096:
            user = await database_sync_to_async(_user_from_token)(token)
        if user is None:
            await self._error("The token is invalid or expired.")
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self._start(user.pk)

    async def _resume(self, since) -> None:
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            await self._error("resume needs a non-negative integer 'since'.")
            return
        missed, complete = await database_sync_to_async(events.events_since)(
            user_id=self.user_id, since=since
        )
        if not complete:
            seq = await database_sync_to_async(events.current_seq)(user_id=self.user_id)
            await self.send_json({"type": "resync", "since": since, "seq": seq})
            return
        for event in missed:
            await self.send_json(event)

    # -- market data --------------------------------------------------------------------------

    def _market_args(self, content: dict) -> tuple[str, str, list[str]] | None:
        market = content.get("market", "spot")
        environment = content.get("environment") or settings.MARKET_DATA_ENVIRONMENT
        symbols = content.get("symbols")
        if market not in watch.MARKETS or environment not in ENVIRONMENTS:
            return None
        if not isinstance(symbols, list) or not all(
            isinstance(s, str) and watch.SYMBOL_RE.match(s.upper()) for s in symbols
        ):
            return None
        return environment, market, sorted({s.upper() for s in symbols})

    async def _subscribe(self, content: dict) -> None:
        args = self._market_args(content)
        if args is None:
            await self._error(
                "subscribe_market_data needs 'symbols' (e.g. [\"BTCUSDT\"]) and 'market' "
                "('spot' or 'usdm')."
            )
            return
        environment, market, symbols = args
        current = self.watching.setdefault((environment, market), set())
        total = sum(len(s) for s in self.watching.values()) + len(set(symbols) - current)
        if total > watch.MAX_SYMBOLS_PER_SOCKET:
            await self._error(f"At most {watch.MAX_SYMBOLS_PER_SOCKET} symbols per connection.")
            return
        for symbol in symbols:
            await self.channel_layer.group_add(
                watch.market_group(environment, market, symbol), self.channel_name
            )
        current.update(symbols)
        await watch.watch_add(
            _redis(),
            environment=environment,
            market=market,
            symbols=symbols,
            channel=self.channel_name,
        )
        if not any(t.get_name() == "watch-refresh" for t in self._tasks):
            self._tasks.append(asyncio.create_task(self._refresh_watches(), name="watch-refresh"))
        await self.send_json(
            {
                "type": "subscribed",
                "environment": environment,
                "market": market,
                "symbols": sorted(current),
            }
        )

    async def _unsubscribe(self, content: dict) -> None:
        args = self._market_args(content)
        if args is None:
            await self._error("unsubscribe_market_data needs 'symbols' and 'market'.")
            return
        environment, market, symbols = args
        await self._unwatch(environment, market, set(symbols))
        await self.send_json(
            {
                "type": "unsubscribed",
                "environment": environment,
                "market": market,
                "symbols": symbols,
            }
        )

    async def _unwatch(self, environment: str, market: str, symbols: set[str]) -> None:
        current = self.watching.get((environment, market), set())
        gone = current & symbols
        if not gone:
            return
        for symbol in gone:
            await self.channel_layer.group_discard(
                watch.market_group(environment, market, symbol), self.channel_name
            )
        current -= gone
        with contextlib.suppress(Exception):
            await watch.watch_remove(
                _redis(),
                environment=environment,
                market=market,
                symbols=gone,
                channel=self.channel_name,
            )

    async def _refresh_watches(self) -> None:
        # Keep this socket's watches alive in Redis; a crashed web process's watches expire.
        while True:
            await asyncio.sleep(watch.WATCH_TTL / 3)
            for (environment, market), symbols in self.watching.items():
                if symbols:
                    with contextlib.suppress(Exception):
                        await watch.watch_add(
                            _redis(),
                            environment=environment,
                            market=market,
                            symbols=symbols,
                            channel=self.channel_name,
                            notify=False,
                        )

    # -- channel layer handlers ----------------------------------------------------------------

    async def live_event(self, message) -> None:
        await self.send_json(message["event"])

    async def market_event(self, message) -> None:
        await self.send_json(message["event"])
