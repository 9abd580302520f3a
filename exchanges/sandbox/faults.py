"""Injected faults: the registry behind POST/DELETE /sandbox/v1/faults.

HTTP kinds (matched on the exact request path, optionally the method):
  timeout-before        hold the response `hold` seconds (default 30), do NOT execute, then
                        answer 408 -1007.
  timeout-after-execute execute the request, hold `hold` seconds, then answer 408 -1007.
  5xx-before            answer `status` (default 503) without executing.
  5xx-after-execute     execute, then answer `status` (default 503).
  -1006                 HTTP 500 {"code":-1006,...}; executes when `execute` (default true).
  -1007                 HTTP 408 {"code":-1007,...}; executes when `execute` (default true).
  429                   HTTP 429 -1003 with Retry-After `retry_after` (default 60), no execute.
  418                   HTTP 418 -1003 "IP banned until ..." with Retry-After, no execute.
WebSocket kinds (matched on a path prefix such as /ws-api/v3 or /fstream/private):
  ws-drop               abort `count` matching connections: open ones at once, then new ones
                        right after their handshake.
  ws-silent             matching connections keep answering pings but send no data frames,
                        for `hold` seconds if given, else until they close.
Every match consumes one unit of `count`; a fault disappears when its count reaches zero.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Protocol

HTTP_KINDS = (
    "timeout-before",
    "timeout-after-execute",
    "5xx-before",
    "5xx-after-execute",
    "-1006",
    "-1007",
    "429",
    "418",
)
WS_KINDS = ("ws-drop", "ws-silent")
KINDS = HTTP_KINDS + WS_KINDS
BEFORE_KINDS = frozenset({"timeout-before", "5xx-before", "429", "418"})


class FaultTarget(Protocol):
    path: str

    def drop(self) -> None: ...

    def silence(self, seconds: float | None) -> None: ...


@dataclass
class Fault:
    id: int
    path: str
    kind: str
    count: int = 1
    method: str | None = None
    hold: float | None = None
    execute: bool = True
    status: int | None = None
    code: int | None = None
    msg: str | None = None
    retry_after: int = 60
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def executes_first(self) -> bool:
        if self.kind in ("-1006", "-1007"):
            return self.execute
        return self.kind not in BEFORE_KINDS


class FaultRegistry:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._ws: set[FaultTarget] = set()
        # Quick check on the hot path: is there any HTTP fault at all?
        self.http_active = False

    def add(self, path: str, kind: str, count: int = 1, **extra) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
        if count < 1:
            raise ValueError("count must be >= 1")
        known = {
            k: extra.pop(k)
            for k in ("method", "hold", "execute", "status", "code", "msg", "retry_after")
            if k in extra
        }
        if known.get("method"):
            known["method"] = known["method"].upper()
        fault = Fault(next(self._ids), path, kind, count, extra=extra, **known)
        if kind in WS_KINDS:
            for conn in list(self._ws):
                if fault.count <= 0:
                    break
                if conn.path.startswith(path):
                    self._apply_ws(fault, conn)
                    fault.count -= 1
            if fault.count > 0:
                self.faults.append(fault)
        else:
            self.faults.append(fault)
        self._refresh()
        return fault

    def clear(self) -> None:
        self.faults.clear()
        self._refresh()

    def _refresh(self) -> None:
        self.http_active = any(f.kind in HTTP_KINDS for f in self.faults)

    def take_http(self, path: str, method: str) -> Fault | None:
        for fault in self.faults:
            if (
                fault.kind in HTTP_KINDS
                and fault.path == path
                and (fault.method is None or fault.method == method)
            ):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                    self._refresh()
                return fault
        return None

    # ---- websocket connections ----------------------------------------------------------
    def register_ws(self, conn: FaultTarget) -> None:
        """Call after the handshake; applies a pending ws fault to the new connection."""
        self._ws.add(conn)
        for fault in self.faults:
            if fault.kind in WS_KINDS and conn.path.startswith(fault.path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                self._apply_ws(fault, conn)
                break

    def unregister_ws(self, conn: FaultTarget) -> None:
        self._ws.discard(conn)

    @staticmethod
    def _apply_ws(fault: Fault, conn: FaultTarget) -> None:
        if fault.kind == "ws-drop":
            conn.drop()
        else:
            conn.silence(fault.hold)
