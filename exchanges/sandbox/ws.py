"""Common plumbing for every sandbox websocket: keep-alive, faults, ordered non-blocking sends.

Subclass ``WsConnection`` and implement ``on_text``; call ``send_text`` (sync, queued) from
anywhere, e.g. an event-bus callback. The server pings every ``ping_interval`` seconds and
drops the connection when no pong came within ``pong_timeout``. ``ws-drop`` aborts the TCP
connection without a close frame; ``ws-silent`` keeps answering pings but sends no data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiohttp import WSMsgType, web

from .state import SandboxState

log = logging.getLogger("sandbox.ws")


class WsConnection:
    def __init__(
        self,
        request: web.Request,
        state: SandboxState,
        ping_interval: Callable[[], float] | None = None,
        pong_timeout: Callable[[], float] | None = None,
    ) -> None:
        self.request = request
        self.state = state
        self.path = request.path
        self.ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        cfg = state.config
        self._ping_interval = ping_interval or (lambda: cfg.ws_ping_interval)
        self._pong_timeout = pong_timeout or (lambda: cfg.ws_pong_timeout)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._silent_until: float | None = None
        self._awaiting_pong_since: float | None = None
        self._transport = None
        self.closed = False
        self.connected_ms = state.now_ms()

    # ---- sending ------------------------------------------------------------------------
    @property
    def silent(self) -> bool:
        if self._silent_until is None:
            return False
        if time.monotonic() >= self._silent_until:
            self._silent_until = None
            return False
        return True

    def send_text(self, text: str) -> None:
        if self.closed or self.silent:
            return
        self._queue.put_nowait(text)

    def drop(self) -> None:
        """Abort the TCP connection: the client sees an abnormal closure (1006)."""
        self.closed = True
        transport = self._transport or self.request.transport
        if transport is not None:
            transport.abort()

    def silence(self, seconds: float | None) -> None:
        self._silent_until = float("inf") if seconds is None else time.monotonic() + seconds

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        self.closed = True
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=message)

    # ---- lifecycle ----------------------------------------------------------------------
    async def on_open(self) -> None:
        """Hook: after the handshake (e.g. subscribe to the initial streams)."""

    async def on_text(self, data: str) -> None:
        """Hook: one text frame from the client."""

    async def on_close(self) -> None:
        """Hook: connection finished (unsubscribe everything here)."""

    async def run(self) -> web.WebSocketResponse:
        self._transport = self.request.transport
        await self.ws.prepare(self.request)
        conns = self.state.engines.setdefault("ws_connections", set())
        conns.add(self)
        self.state.faults.register_ws(self)
        writer = asyncio.create_task(self._writer())
        pinger = asyncio.create_task(self._pinger())
        try:
            if not self.closed:
                await self.on_open()
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self.on_text(msg.data)
                elif msg.type == WSMsgType.PING:
                    await self.ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    self._awaiting_pong_since = None
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True
            writer.cancel()
            pinger.cancel()
            conns.discard(self)
            self.state.faults.unregister_ws(self)
            try:
                await self.on_close()
            except Exception:
                log.exception("on_close failed")
        return self.ws

    async def _writer(self) -> None:
        ws = self.ws
        queue = self._queue
        try:
            while True:
                text = await queue.get()
                if text is None or ws.closed:
                    return
                await ws.send_str(text)
        except (ConnectionResetError, RuntimeError):
            self.closed = True

    async def _pinger(self) -> None:
        try:
            next_ping = time.monotonic() + self._ping_interval()
            while not self.closed:
                now = time.monotonic()
                waiting = self._awaiting_pong_since
                if waiting is not None and now - waiting > self._pong_timeout():
                    log.info("no pong on %s: closing", self.path)
                    self.drop()
                    return
                if now >= next_ping:
                    if waiting is None:
                        self._awaiting_pong_since = now
                    await self.ws.ping(b"")
                    next_ping = now + self._ping_interval()
                deadline = next_ping
                if self._awaiting_pong_since is not None:
                    deadline = min(deadline, self._awaiting_pong_since + self._pong_timeout())
                await asyncio.sleep(max(0.01, deadline - time.monotonic() + 0.001))
        except (ConnectionResetError, RuntimeError):
            self.closed = True
