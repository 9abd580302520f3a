"""The one shared state object of a sandbox process (``app["state"]``).

Everything a route needs hangs off ``SandboxState``: config, clock (with the control-API
skew), keys/accounts, the price engine, faults, rate limits, the registry of every accepted
order by client order id, and the user-data event bus. The futures modules receive it in
``setup(app, state)``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .accounts import KeyStore
from .config import SandboxConfig
from .events import EventBus
from .faults import FaultRegistry
from .limits import RateLimiter
from .prices import PriceEngine

log = logging.getLogger("sandbox.state")

REQUEST_LOG_SIZE = 200_000


class OrderRegistry:
    """Every order ever accepted, by client order id, across spot, USD-M and COIN-M.

    ``add(client_order_id, market, order)``: ``order`` is either an object with a
    ``registry_view() -> dict`` method (read live, so the status is current) or a dict that
    the caller keeps updating. ``market`` is "spot", "usdm" or "coinm".
    """

    def __init__(self) -> None:
        self._by_id: dict[str, list[tuple[str, Any]]] = {}

    def add(self, client_order_id: str, market: str, order: Any) -> None:
        self._by_id.setdefault(client_order_id, []).append((market, order))

    def lookup(self, client_order_id: str) -> list[dict]:
        out = []
        for market, order in self._by_id.get(client_order_id, []):
            view = order.registry_view() if hasattr(order, "registry_view") else dict(order)
            out.append({"market": market, **view})
        return out

    def clear(self) -> None:
        self._by_id.clear()


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.start_config = config.snapshot()
        self.skew_ms = 0
        self.keys = KeyStore()
        self.prices = PriceEngine(config.seed)
        self.faults = FaultRegistry()
        self.limits = RateLimiter(config)
        self.orders = OrderRegistry()
        self.bus = EventBus()
        # (arrival ms, method, path, HTTP status) of the latest REST requests, oldest first:
        # read-only evidence for GET /sandbox/v1/requests (e.g. "nothing arrived during a ban").
        self.request_log: deque[tuple[int, str, str, int]] = deque(maxlen=REQUEST_LOG_SIZE)
        # Set by the spot module; futures modules may add their own entries here.
        self.engines: dict[str, Any] = {}
        self._persisters: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}
        self._reset_hooks: list[Callable[[], None]] = []

    # ---- clock --------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Server time in ms, including the skew set with POST /sandbox/v1/clock."""
        return int(time.time() * 1000) + self.skew_ms

    # ---- hooks --------------------------------------------------------------------------
    def register_persistence(
        self, name: str, dump: Callable[[], Any], load: Callable[[Any], None]
    ) -> None:
        """Include ``dump()`` under ``name`` in the --state file; ``load(data)`` at start."""
        self._persisters[name] = (dump, load)

    def on_reset(self, fn: Callable[[], None]) -> None:
        """Called by POST /sandbox/v1/reset after faults and limits are back to defaults."""
        self._reset_hooks.append(fn)

    def reset(self) -> None:
        self.config.restore(self.start_config)
        self.faults.clear()
        self.limits.reset()
        self.skew_ms = 0
        for fn in self._reset_hooks:
            fn()

    # ---- persistence --------------------------------------------------------------------
    def dump(self) -> dict:
        data = {
            "version": 1,
            "saved_at": int(time.time() * 1000),
            "keys": self.keys.to_json(),
            "prices": self.prices.dump(),
        }
        for name, (dump, _load) in self._persisters.items():
            data[name] = dump()
        return data

    def save(self, path: str | None = None) -> None:
        path = path or self.config.state_file
        if not path:
            return
        data = json.dumps(self.dump(), default=_json_default)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-state-", dir=directory)
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def load(self, path: str | None = None) -> bool:
        path = path or self.config.state_file
        if not path or not os.path.exists(path):
            return False
        with open(path) as fh:
            data = json.load(fh)
        self.keys.load(data.get("keys", {}))
        self.prices.load(data.get("prices", {}))
        for name, (_dump, load) in self._persisters.items():
            if name in data:
                load(data[name])
        log.info("state loaded from %s", path)
        return True


def _json_default(obj):
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(type(obj).__name__)
