"""Which symbols open pages watch: shared by the websocket consumer and the market hub.

Each consumer registers ``<SYMBOL>|<channel name>`` in a sorted set per environment and market,
scored with an expiry time it refreshes while connected, so a crashed web process's watches
fade out on their own. A change is announced on the streams control channel so run_streams
subscribes or unsubscribes on its live market connection at once.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable

import redis.asyncio as aioredis

from exchanges.streams.leases import CONTROL_CHANNEL, PREFIX

WATCH_TTL = 90.0
MARKETS = ("spot", "usdm")
KLINE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d")
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
MAX_SYMBOLS_PER_SOCKET = 20


def watch_key(environment: str, market: str) -> str:
    return f"{PREFIX}:watch:{environment}:{market}"


def market_group(environment: str, market: str, symbol: str) -> str:
    """The Channels group of one symbol's market data (no per-user sequence numbers)."""
    return f"market.{environment}.{market}.{symbol}"


async def watch_add(
    client: aioredis.Redis,
    *,
    environment: str,
    market: str,
    symbols: Iterable[str],
    channel: str,
    notify: bool = True,
) -> None:
    expires = time.time() + WATCH_TTL
    members = {f"{symbol}|{channel}": expires for symbol in symbols}
    if members:
        await client.zadd(watch_key(environment, market), members)
        if notify:
            await client.publish(CONTROL_CHANNEL, json.dumps({"op": "market"}))


async def watch_remove(
    client: aioredis.Redis, *, environment: str, market: str, symbols: Iterable[str], channel: str
) -> None:
    members = [f"{symbol}|{channel}" for symbol in symbols]
    if members:
        await client.zrem(watch_key(environment, market), *members)
        await client.publish(CONTROL_CHANNEL, json.dumps({"op": "market"}))


async def watched_symbols(client: aioredis.Redis, environment: str, market: str) -> set[str]:
    key = watch_key(environment, market)
    await client.zremrangebyscore(key, "-inf", time.time())
    members = await client.zrange(key, 0, -1)
    symbols = set()
    for member in members:
        text = member.decode() if isinstance(member, bytes) else member
        symbols.add(text.split("|", 1)[0])
    return symbols


async def watched_markets(client: aioredis.Redis) -> list[tuple[str, str]]:
    """(environment, market) pairs that have a watch set."""
    pairs = []
    async for key in client.scan_iter(match=f"{PREFIX}:watch:*", count=100):
        text = key.decode() if isinstance(key, bytes) else key
        _, _, environment, market = text.rsplit(":", 3)
        pairs.append((environment, market))
    return pairs
