"""One shared market-data connection per environment and market, for every watched symbol.

The symbols come from the watch sets the websocket consumers keep in Redis (``watch``); the
hub subscribes and unsubscribes on the live connection as pages come and go. Events are
reduced to small ``ticker`` / ``kline`` messages and sent to the symbol's Channels group, so a
thousand pages watching BTCUSDT cost one upstream stream and one group_send per event. Market
data carries no per-user sequence number: a missed tick is superseded by the next one.

Several run_streams processes may run; a lease per (environment, market) makes one of them the
holder of each shared connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer

from exchanges.binance.streams import MarketStream
from exchanges.streams import watch

if TYPE_CHECKING:
    from exchanges.streams.runtime import StreamsRuntime

logger = logging.getLogger("exchanges.streams.market")

ENVIRONMENTS = ("sandbox", "testnet", "demo", "mainnet")
LIVE_KLINE_INTERVAL = "1m"
#: Keep an unwatched connection this long: a page reload should not reconnect upstream.
IDLE_GRACE = 30.0


def stream_names(symbol: str) -> list[str]:
    lower = symbol.lower()
    return [f"{lower}@ticker", f"{lower}@kline_{LIVE_KLINE_INTERVAL}"]


def market_message(environment: str, market: str, message: dict[str, Any]) -> dict | None:
    """Binance's combined-stream message -> the browser's ticker / kline message."""
    data = message.get("data")
    if not isinstance(data, dict):
        return None
    kind = data.get("e")
    symbol = str(data.get("s", ""))
    if kind == "24hrTicker":
        return {
            "type": "ticker",
            "environment": environment,
            "market": market,
            "symbol": symbol,
            "data": {
                "last": str(data.get("c")),
                "change": str(data.get("p")),
                "change_percent": str(data.get("P")),
                "high": str(data.get("h")),
                "low": str(data.get("l")),
                "volume": str(data.get("v")),
                "quote_volume": str(data.get("q")),
                "time": data.get("E"),
            },
        }
    if kind == "kline":
        k = data.get("k") or {}
        return {
            "type": "kline",
            "environment": environment,
            "market": market,
            "symbol": symbol,
            "data": {
                "interval": k.get("i"),
                "open_time": k.get("t"),
                "close_time": k.get("T"),
                "open": str(k.get("o")),
                "high": str(k.get("h")),
                "low": str(k.get("l")),
                "close": str(k.get("c")),
                "volume": str(k.get("v")),
                "closed": bool(k.get("x")),
            },
        }
    return None


class _Shared:
    def __init__(self, environment: str, market: str, stream: MarketStream) -> None:
        self.environment = environment
        self.market = market
        self.stream = stream
        self.symbols: set[str] = set()
        self.idle_since: float | None = None
        self.events = 0
        self.last_event_at: float | None = None

    @property
    def name(self) -> str:
        return f"market:{self.environment}:{self.market}"


class MarketHub:
    def __init__(self, runtime: StreamsRuntime) -> None:
        self.runtime = runtime
        self.shared: dict[str, _Shared] = {}
        self._lock = asyncio.Lock()
        self._soon: asyncio.Task[None] | None = None

    def sync_soon(self) -> None:
        if self._soon is None or self._soon.done():
            self._soon = asyncio.get_running_loop().create_task(self.sync())

    async def sync(self) -> None:
        async with self._lock:
            redis = self.runtime.redis
            assert redis is not None
            pairs = set(await watch.watched_markets(redis))
            pairs |= {(s.environment, s.market) for s in self.shared.values()}
            for environment, market in sorted(pairs):
                if environment not in ENVIRONMENTS or market not in watch.MARKETS:
                    continue
                symbols = await watch.watched_symbols(redis, environment, market)
                await self._sync_one(environment, market, symbols)

    async def _sync_one(self, environment: str, market: str, symbols: set[str]) -> None:
        from exchanges.clients import urls_for_environment

        name = f"market:{environment}:{market}"
        shared = self.shared.get(name)
        if shared is None:
            if not symbols:
                return
            leases = self.runtime.leases
            assert leases is not None
            if await leases.acquire(name) is None:
                return  # another run_streams process holds this connection
            urls = urls_for_environment(environment)
            streams = [s for symbol in sorted(symbols) for s in stream_names(symbol)]
            factory = MarketStream.spot if market == "spot" else MarketStream.usdm
            stream = factory(urls, streams, on_event=self._on_event_for(environment, market))
            shared = _Shared(environment, market, stream)
            shared.symbols = set(symbols)
            self.shared[name] = shared
            await stream.start()
            logger.info("market stream %s started with %d symbols", name, len(symbols))
            return
        added = symbols - shared.symbols
        removed = shared.symbols - symbols
        if added:
            await shared.stream.subscribe([s for sym in sorted(added) for s in stream_names(sym)])
        if removed:
            await shared.stream.unsubscribe(
                [s for sym in sorted(removed) for s in stream_names(sym)]
            )
        shared.symbols = set(symbols)
        if symbols:
            shared.idle_since = None
        elif shared.idle_since is None:
            shared.idle_since = time.monotonic()
        elif time.monotonic() - shared.idle_since > IDLE_GRACE:
            await self._stop(name)

    def _on_event_for(self, environment: str, market: str):
        layer = get_channel_layer()
        name = f"market:{environment}:{market}"

        async def on_event(message: dict[str, Any]) -> None:
            event = market_message(environment, market, message)
            if event is None:
                return
            shared = self.shared.get(name)
            if shared is not None:
                shared.events += 1
                shared.last_event_at = time.time()
            group = watch.market_group(environment, market, event["symbol"])
            await layer.group_send(group, {"type": "market.event", "event": event})

        return on_event

    async def _stop(self, name: str) -> None:
        shared = self.shared.pop(name, None)
        if shared is not None:
            await shared.stream.stop()
            logger.info("market stream %s stopped", name)
        if self.runtime.leases is not None:
            await self.runtime.leases.release(name)

    async def lease_lost(self, name: str) -> None:
        shared = self.shared.pop(name, None)
        if shared is not None:
            await shared.stream.stop()

    async def stop_all(self) -> None:
        for name in list(self.shared):
            await self._stop(name)

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "stream": s.name,
                "status": s.stream.status.value,
                "symbols": sorted(s.symbols),
                "events": s.events,
                "last_event_at": s.last_event_at,
            }
            for s in self.shared.values()
        ]
