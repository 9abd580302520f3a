"""Stream ownership leases in Redis, so each stream is held by exactly one run_streams process.

A lease is ``SET key "<holder>|<fence>" NX PX ttl``; the holder renews it every ttl/3 with a
compare-and-set script and gives it up the same way. The fence is a counter that only grows:
the database write of a stream's state carries it, so a process that lost its lease (paused,
partitioned) cannot overwrite the state written by the new holder. A crashed process's leases
expire after ``ttl`` and are taken over by the next supervisor pass of another process.

Processes also announce themselves (``processes`` hash with a heartbeat) so the live ones can
share the streams fairly and ``streams_status --check`` can tell that somebody holds leases.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

PREFIX = "klineo:streams"
FENCE_KEY = f"{PREFIX}:fence"
PROCESSES_KEY = f"{PREFIX}:processes"
CONTROL_CHANNEL = f"{PREFIX}:control"

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_key(name: str) -> str:
    return f"{PREFIX}:lease:{name}"


@dataclass(slots=True)
class Lease:
    name: str
    value: str
    fence: int
    #: time.monotonic() after which this process must consider the lease lost.
    valid_until: float


class LeaseManager:
    """Acquire, renew and release leases for one process (``holder``)."""

    def __init__(self, client: aioredis.Redis, *, holder: str, ttl: float) -> None:
        self.redis = client
        self.holder = holder
        self.ttl_ms = max(200, int(ttl * 1000))
        self.held: dict[str, Lease] = {}

    @property
    def ttl(self) -> float:
        return self.ttl_ms / 1000

    async def acquire(self, name: str) -> Lease | None:
        """Take the lease if nobody holds it; None when another process does."""
        if await self.redis.exists(lease_key(name)):
            return None
        fence = int(await self.redis.incr(FENCE_KEY))
        value = f"{self.holder}|{fence}"
        started = time.monotonic()
        if not await self.redis.set(lease_key(name), value, nx=True, px=self.ttl_ms):
            return None
        lease = Lease(name, value, fence, started + self.ttl * 0.9)
        self.held[name] = lease
        return lease

    async def renew_all(self) -> list[str]:
        """Renew every held lease; returns the names of leases that were lost."""
        if not self.held:
            return []
        started = time.monotonic()
        pipe = self.redis.pipeline(transaction=False)
        names = list(self.held)
        for name in names:
            pipe.eval(_RENEW, 1, lease_key(name), self.held[name].value, self.ttl_ms)
        results = await pipe.execute()
        lost = []
        for name, ok in zip(names, results, strict=True):
            if ok:
                self.held[name].valid_until = started + self.ttl * 0.9
            else:
                lost.append(name)
                self.held.pop(name, None)
        return lost

    def expired_locally(self) -> list[str]:
        """Leases whose renewal has not succeeded in time (e.g. Redis unreachable)."""
        now = time.monotonic()
        return [name for name, lease in self.held.items() if lease.valid_until < now]

    async def release(self, name: str) -> None:
        lease = self.held.pop(name, None)
        if lease is not None:
            await self.redis.eval(_RELEASE, 1, lease_key(name), lease.value)

    def forget(self, name: str) -> None:
        self.held.pop(name, None)

    async def release_all(self) -> None:
        for name in list(self.held):
            await self.release(name)

    # -- processes ----------------------------------------------------------------------------

    async def heartbeat(self, info: str) -> None:
        now_ms = int(time.time() * 1000)
        await self.redis.hset(PROCESSES_KEY, self.holder, f"{now_ms}|{info}")

    async def leave(self) -> None:
        await self.redis.hdel(PROCESSES_KEY, self.holder)

    async def live_processes(self) -> int:
        return len(await live_processes(self.redis, self.ttl))

    def fair_share(self, desired: int, processes: int) -> int:
        return math.ceil(desired / max(1, processes))


async def live_processes(client: aioredis.Redis, ttl: float) -> dict[str, str]:
    """Processes whose heartbeat is younger than ``ttl``; stale entries are removed."""
    now_ms = int(time.time() * 1000)
    entries = await client.hgetall(PROCESSES_KEY)
    live, stale = {}, []
    for holder, value in entries.items():
        holder = holder.decode() if isinstance(holder, bytes) else holder
        value = value.decode() if isinstance(value, bytes) else value
        stamp, _, info = value.partition("|")
        if now_ms - int(stamp) <= ttl * 1000:
            live[holder] = info
        else:
            stale.append(holder)
    if stale:
        await client.hdel(PROCESSES_KEY, *stale)
    return live


def parse_lease_value(value: str | bytes | None) -> tuple[str, int] | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    holder, _, fence = value.rpartition("|")
    return holder, int(fence or 0)
