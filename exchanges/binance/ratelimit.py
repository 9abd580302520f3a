"""Request-weight budget and ban state, shared by every client that uses the same budget object.

Binance counts request weight per server IP, so all users of one KLINEO server share one
budget. The client talks to a :class:`RateLimitBudget`:

* :class:`InMemoryBudget` shares it between the clients of one process;
* :class:`RedisBudget` shares it between every process using the same Redis (web, worker,
  streams), so a 418 ban seen by one process stops all of them.

A *scope* is one REST host (``host:port``); Binance keeps separate counters for spot, USD-M and
COIN-M hosts. Weight windows are aligned to the wall-clock minute, like Binance's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

BANNED = "banned"
RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    """Answer of :meth:`RateLimitBudget.acquire`.

    ``granted``: the weight is reserved, send now. Otherwise ``wait`` seconds must pass first;
    ``blocked`` says why: ``"banned"`` (418), ``"rate_limited"`` (429 / Retry-After) or
    ``"budget"`` (the minute's weight is spent).
    """

    granted: bool
    wait: float = 0.0
    blocked: str | None = None


GRANTED = BudgetDecision(True)


@runtime_checkable
class RateLimitBudget(Protocol):
    """What the client needs from a shared budget. Times are epoch seconds."""

    def acquire(
        self, scope: str, weight: int, limit: int, now: float, account: str | None = None
    ) -> BudgetDecision:
        """Check bans/backoffs (of the scope, and of ``account`` if given) and reserve weight."""
        ...

    def record(self, scope: str, used_weight: int, now: float) -> None:
        """Store the used weight Binance reported for the current minute (keeps the maximum)."""
        ...

    def block(self, scope: str, until: float, reason: str) -> None:
        """Refuse every request to ``scope`` until ``until`` (``"banned"`` or ``"rate_limited"``).

        ``scope`` may also be an account scope (``account:<fingerprint>``) for order-count 429s.
        """
        ...

    def blocked_until(self, scope: str, now: float) -> tuple[str, float] | None:
        """(reason, until) when the scope is blocked, else ``None``."""
        ...


def _minute(now: float) -> int:
    return int(now // 60)


def _until_next_minute(now: float) -> float:
    return 60.0 - (now % 60.0) + 0.05


class InMemoryBudget:
    """A budget for the clients of one process. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[str, tuple[int, int]] = {}  # scope -> (minute, used)
        self._blocks: dict[str, tuple[str, float]] = {}

    def _block_of(self, scope: str, now: float) -> tuple[str, float] | None:
        block = self._blocks.get(scope)
        if block is None:
            return None
        if block[1] <= now:
            del self._blocks[scope]
            return None
        return block

    def acquire(
        self, scope: str, weight: int, limit: int, now: float, account: str | None = None
    ) -> BudgetDecision:
        with self._lock:
            for key in (scope, account) if account else (scope,):
                block = self._block_of(key, now)
                if block is not None:
                    return BudgetDecision(False, block[1] - now, block[0])
            minute = _minute(now)
            seen_minute, used = self._used.get(scope, (minute, 0))
            if seen_minute != minute:
                used = 0
            if weight and used + weight > limit:
                return BudgetDecision(False, _until_next_minute(now), "budget")
            self._used[scope] = (minute, used + weight)
            return GRANTED

    def record(self, scope: str, used_weight: int, now: float) -> None:
        with self._lock:
            minute = _minute(now)
            seen_minute, used = self._used.get(scope, (minute, 0))
            if seen_minute != minute:
                used = 0
            self._used[scope] = (minute, max(used, used_weight))

    def block(self, scope: str, until: float, reason: str) -> None:
        with self._lock:
            current = self._blocks.get(scope)
            # A ban is never shortened or downgraded by a later 429.
            if current and current[1] >= until and (current[0] == BANNED or reason != BANNED):
                return
            self._blocks[scope] = (reason, until)

    def blocked_until(self, scope: str, now: float) -> tuple[str, float] | None:
        with self._lock:
            return self._block_of(scope, now)

    def used(self, scope: str, now: float) -> int:
        """Weight used in the current minute as far as this budget knows (for tests, metrics)."""
        with self._lock:
            minute, used = self._used.get(scope, (-1, 0))
            return used if minute == _minute(now) else 0


_ACQUIRE_LUA = """
local n = #KEYS - 1
for i = 1, n do
  local b = redis.call('GET', KEYS[i])
  if b then return {1, b} end
end
local w = tonumber(ARGV[1])
if w > 0 then
  local used = tonumber(redis.call('GET', KEYS[n + 1]) or '0')
  if used + w > tonumber(ARGV[2]) then return {2, tostring(used)} end
  redis.call('INCRBY', KEYS[n + 1], w)
  redis.call('EXPIRE', KEYS[n + 1], 120)
end
return {0, ''}
"""

_RECORD_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local seen = tonumber(ARGV[1])
if seen > used then
  redis.call('SET', KEYS[1], seen, 'EX', 120)
end
return 0
"""

_BLOCK_LUA = """
local cur = redis.call('GET', KEYS[1])
local until_ms = tonumber(ARGV[1])
if cur then
  local sep = string.find(cur, ':')
  local kind = string.sub(cur, 1, sep - 1)
  local cur_until = tonumber(string.sub(cur, sep + 1))
  if cur_until >= until_ms and (kind == 'banned' or ARGV[2] ~= 'banned') then return 0 end
end
local ttl = until_ms - tonumber(ARGV[3])
if ttl <= 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[1], 'PX', ttl)
return 1
"""


class RedisBudget:
    """A budget shared through Redis by every process that uses the same ``prefix``.

    ``redis_client`` is a ``redis.Redis`` instance (sync API); it is used as given, so pass one
    created with the connection pool of your choice. One round trip per acquire and per record.
    Keys: ``<prefix>:block:<scope>`` (``reason:until_ms``, expiring with the block) and
    ``<prefix>:w:<scope>:<minute>`` (used weight, expiring after two minutes).
    """

    def __init__(self, redis_client: Any, prefix: str = "klineo:binance") -> None:
        self._redis = redis_client
        self._prefix = prefix
        self._acquire = redis_client.register_script(_ACQUIRE_LUA)
        self._record = redis_client.register_script(_RECORD_LUA)
        self._block = redis_client.register_script(_BLOCK_LUA)

    def _block_key(self, scope: str) -> str:
        return f"{self._prefix}:block:{scope}"

    def _weight_key(self, scope: str, now: float) -> str:
        return f"{self._prefix}:w:{scope}:{_minute(now)}"

    @staticmethod
    def _parse_block(raw: Any) -> tuple[str, float]:
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        reason, _, until_ms = text.partition(":")
        return reason, int(until_ms) / 1000.0

    def acquire(
        self, scope: str, weight: int, limit: int, now: float, account: str | None = None
    ) -> BudgetDecision:
        keys = [self._block_key(scope)]
        if account:
            keys.append(self._block_key(account))
        keys.append(self._weight_key(scope, now))
        status, value = self._acquire(keys=keys, args=[weight, limit])
        if status == 0:
            return GRANTED
        if status == 1:
            reason, until = self._parse_block(value)
            return BudgetDecision(False, max(until - now, 0.0), reason)
        return BudgetDecision(False, _until_next_minute(now), "budget")

    def record(self, scope: str, used_weight: int, now: float) -> None:
        self._record(keys=[self._weight_key(scope, now)], args=[used_weight])

    def block(self, scope: str, until: float, reason: str) -> None:
        self._block(
            keys=[self._block_key(scope)],
            args=[int(until * 1000), reason, int(time.time() * 1000)],
        )

    def blocked_until(self, scope: str, now: float) -> tuple[str, float] | None:
        raw = self._redis.get(self._block_key(scope))
        if raw is None:
            return None
        reason, until = self._parse_block(raw)
        return (reason, until) if until > now else None

    def used(self, scope: str, now: float) -> int:
        raw = self._redis.get(self._weight_key(scope, now))
        return int(raw) if raw is not None else 0

    def clear(self) -> None:
        """Delete every key of this prefix (tests, or an operator lifting a stale ban)."""
        for key in self._redis.scan_iter(match=f"{self._prefix}:*", count=500):
            self._redis.delete(key)
