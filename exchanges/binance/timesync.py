"""Process-wide server-time offsets, one per REST base URL.

Every client of the same environment shares one offset, so a resync after -1021 by one client
fixes the timestamps of all of them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(slots=True)
class TimeOffset:
    """``offset_ms`` = server time - local time, measured at ``measured_at`` (local epoch s)."""

    offset_ms: float = 0.0
    measured_at: float | None = None
    round_trip_ms: float | None = None


class TimeOffsetRegistry:
    """Offsets keyed by REST base URL. Thread-safe; one instance per process (``registry``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offsets: dict[str, TimeOffset] = {}

    def get(self, base_url: str) -> TimeOffset:
        offset = self._offsets.get(base_url)
        if offset is None:
            with self._lock:
                offset = self._offsets.setdefault(base_url, TimeOffset())
        return offset

    def update(
        self, base_url: str, *, server_time_ms: int, sent_at: float, received_at: float
    ) -> TimeOffset:
        """Store the offset from one ``/time`` answer (assumes a symmetric round trip)."""
        midpoint_ms = (sent_at + received_at) * 500.0
        offset = TimeOffset(
            offset_ms=server_time_ms - midpoint_ms,
            measured_at=received_at,
            round_trip_ms=(received_at - sent_at) * 1000.0,
        )
        with self._lock:
            self._offsets[base_url] = offset
        return offset

    def forget(self, base_url: str | None = None) -> None:
        """Drop one offset (or all): the next signed request measures again."""
        with self._lock:
            if base_url is None:
                self._offsets.clear()
            else:
                self._offsets.pop(base_url, None)


#: The process-wide registry every client uses unless given another.
registry = TimeOffsetRegistry()
