"""REQUEST_WEIGHT per IP, order counts per account, 429 and 418 bans.

Buckets separate the spot ("spot"), USD-M ("fapi") and COIN-M ("dapi") limits, which Binance
counts on different hosts. Windows are fixed and aligned to the clock (a minute window resets
at the full minute), which is what the X-MBX-USED-WEIGHT-1M header reflects.
"""

from __future__ import annotations

import math

from .config import SandboxConfig
from .errors import MSG_IP_BANNED, MSG_TOO_MANY_ORDERS, MSG_WEIGHT_EXCEEDED, ApiError

_INTERVAL_MS = {"10s": 10_000, "1m": 60_000, "1d": 86_400_000}
_INTERVAL_WORDS = {"10s": "10 SECOND", "1m": "1 MINUTE", "1d": "1 DAY"}
_HEADER_SUFFIX = {"10s": "10S", "1m": "1M", "1d": "1D"}


class RateLimiter:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        # (bucket, ip) -> [window index, used weight]
        self._weight: dict[tuple[str, str], list[int]] = {}
        # (bucket, ip) -> number of requests refused with 429 in the current window
        self._strikes: dict[tuple[str, str], list[int]] = {}
        # (bucket, ip) -> banned until (ms)
        self._bans: dict[tuple[str, str], int] = {}
        # (bucket, account id, interval) -> [window index, count]
        self._orders: dict[tuple[str, str, str], list[int]] = {}

    def reset(self) -> None:
        self._weight.clear()
        self._strikes.clear()
        self._bans.clear()
        self._orders.clear()

    # ---- request weight -----------------------------------------------------------------
    def used_weight(self, bucket: str, ip: str, now_ms: int) -> int:
        entry = self._weight.get((bucket, ip))
        if entry is None or entry[0] != now_ms // 60_000:
            return 0
        return entry[1]

    def check(self, bucket: str, ip: str, weight: int, now_ms: int) -> int:
        """Refuse the request if banned or over the limit (raises), else return used weight.

        Does not add the weight: call ``add`` once the outcome (and so the cost) is known.
        """
        key = (bucket, ip)
        until = self._bans.get(key)
        if until is not None:
            if now_ms < until:
                raise self._ban_error(until, now_ms)
            del self._bans[key]
        limit = self.config.limits.get(bucket, {}).get("request_weight_1m")
        window = now_ms // 60_000
        entry = self._weight.get(key)
        if entry is None or entry[0] != window:
            entry = self._weight[key] = [window, 0]
            self._strikes.pop(key, None)
        if limit and entry[1] + weight > limit:
            strikes = self._strikes.setdefault(key, [window, 0])
            strikes[1] += 1
            if strikes[1] > self.config.ban_after_429s:
                until = now_ms + int(self.config.ban_seconds * 1000)
                self._bans[key] = until
                raise self._ban_error(until, now_ms)
            retry = math.ceil(((window + 1) * 60_000 - now_ms) / 1000)
            raise ApiError(
                -1003,
                MSG_WEIGHT_EXCEEDED.format(limit=limit, interval="1 MINUTE"),
                429,
                {"Retry-After": str(max(retry, 1)), **self.weight_headers(entry[1])},
            )
        return entry[1]

    def add(self, bucket: str, ip: str, weight: int, now_ms: int) -> int:
        key = (bucket, ip)
        window = now_ms // 60_000
        entry = self._weight.get(key)
        if entry is None or entry[0] != window:
            entry = self._weight[key] = [window, 0]
        entry[1] += weight
        return entry[1]

    def ban(self, bucket: str, ip: str, seconds: float, now_ms: int) -> None:
        self._bans[(bucket, ip)] = now_ms + int(seconds * 1000)

    def _ban_error(self, until: int, now_ms: int) -> ApiError:
        retry = max(1, math.ceil((until - now_ms) / 1000))
        return ApiError(-1003, MSG_IP_BANNED.format(until=until), 418, {"Retry-After": str(retry)})

    @staticmethod
    def weight_headers(used: int) -> dict[str, str]:
        s = str(used)
        return {"X-MBX-USED-WEIGHT": s, "X-MBX-USED-WEIGHT-1M": s}

    # ---- order counts -------------------------------------------------------------------
    def _order_intervals(self, bucket: str) -> list[tuple[str, int]]:
        out = []
        for key, limit in self.config.limits.get(bucket, {}).items():
            if key.startswith("orders_"):
                out.append((key[len("orders_") :], limit))
        return out

    def order_counts(self, bucket: str, account_id: str, now_ms: int) -> dict[str, str]:
        headers = {}
        for interval, _limit in self._order_intervals(bucket):
            span = _INTERVAL_MS[interval]
            entry = self._orders.get((bucket, account_id, interval))
            count = entry[1] if entry and entry[0] == now_ms // span else 0
            headers[f"X-MBX-ORDER-COUNT-{_HEADER_SUFFIX[interval]}"] = str(count)
        return headers

    def charge_order(self, bucket: str, account_id: str, now_ms: int, n: int = 1) -> dict[str, str]:
        """Count `n` new orders for the account; raises -1015 when a window is full."""
        intervals = self._order_intervals(bucket)
        entries = []
        for interval, limit in intervals:
            span = _INTERVAL_MS[interval]
            key = (bucket, account_id, interval)
            entry = self._orders.get(key)
            if entry is None or entry[0] != now_ms // span:
                entry = self._orders[key] = [now_ms // span, 0]
            if limit and entry[1] + n > limit:
                raise ApiError(
                    -1015,
                    MSG_TOO_MANY_ORDERS.format(limit=limit, interval=_INTERVAL_WORDS[interval]),
                    429,
                    self.order_counts(bucket, account_id, now_ms),
                )
            entries.append((interval, entry))
        headers = {}
        for interval, entry in entries:
            entry[1] += n
            headers[f"X-MBX-ORDER-COUNT-{_HEADER_SUFFIX[interval]}"] = str(entry[1])
        return headers

    def order_count_values(self, bucket: str, account_id: str, now_ms: int) -> list[dict]:
        """For GET /api/v3/rateLimit/order and WS-API rateLimits."""
        out = []
        for interval, limit in self._order_intervals(bucket):
            span = _INTERVAL_MS[interval]
            entry = self._orders.get((bucket, account_id, interval))
            count = entry[1] if entry and entry[0] == now_ms // span else 0
            num, word = _INTERVAL_WORDS[interval].split()
            out.append(
                {
                    "rateLimitType": "ORDERS",
                    "interval": word,
                    "intervalNum": int(num),
                    "limit": limit,
                    "count": count,
                }
            )
        return out
