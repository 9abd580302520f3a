"""A tiny synchronous publish/subscribe bus for user-data events.

Channels are tuples: ("spot", account_id), ("usdm", account_id), ("coinm", account_id).
Subscribers are plain callables taking the event dict; they must not block (websocket
connections enqueue the message and return).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Hashable

log = logging.getLogger("sandbox.events")


class EventBus:
    def __init__(self) -> None:
        self._subs: dict[Hashable, dict[int, Callable[[dict], None]]] = {}
        self._ids = itertools.count(1)

    def subscribe(self, channel: Hashable, callback: Callable[[dict], None]) -> tuple:
        token = next(self._ids)
        self._subs.setdefault(channel, {})[token] = callback
        return (channel, token)

    def unsubscribe(self, handle: tuple) -> None:
        channel, token = handle
        subs = self._subs.get(channel)
        if subs is not None:
            subs.pop(token, None)
            if not subs:
                del self._subs[channel]

    def has_subscribers(self, channel: Hashable) -> bool:
        return bool(self._subs.get(channel))

    def publish(self, channel: Hashable, event: dict) -> None:
        for callback in list(self._subs.get(channel, {}).values()):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not break the engine
                log.exception("event subscriber failed")
