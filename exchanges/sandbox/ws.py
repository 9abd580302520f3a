"""Common plumbing for every sandbox websocket: keep-alive, faults, ordered non-blocking sends.

Subclass ``WsConnection`` and implement ``on_text``; call ``send_text`` (sync) from anywhere,
e.g. an event-bus callback. The server pings every ``ping_interval`` seconds and drops the
connection when no pong came within ``pong_timeout``. ``ws-drop`` aborts the TCP connection
without a close frame; ``ws-silent`` keeps answering pings but sends no data.

Sending: a message becomes one unmasked, uncompressed text frame (``text_frame``), written
straight to the transport while the client keeps up; fan-out (``send_frame``) builds that
frame once and writes the same bytes to every subscriber. When a client's socket buffer is
over ``HIGH_WATER`` the frames queue up in order and a writer task feeds them as it drains.
Per-message deflate is not offered (Binance's streams do not need it, and compressing per
client would defeat the shared frame).
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

# Bytes waiting in a client's socket buffer above which frames are queued instead of written.
HIGH_WATER = 256 * 1024


def text_frame(data: str | bytes) -> bytes:
    """One final, unmasked, uncompressed text frame (server to client, RFC 6455 5.2)."""
    if isinstance(data, str):
        data = data.encode()
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + data
    return b"\x81\x7f" + n.to_bytes(8, "big") + data


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
        self.ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20, compress=False)
        cfg = state.config
        self._ping_interval = ping_interval or (lambda: cfg.ws_ping_interval)
        self._pong_timeout = pong_timeout or (lambda: cfg.ws_pong_timeout)
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        # Frames handed to the queue and not yet written (direct writes wait until it is 0).
        self._backlog = 0
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

    def send_text(self, text: str | bytes) -> None:
        """Send one text message (a str, or UTF-8 bytes such as orjson output)."""
        if self.closed or (self._silent_until is not None and self.silent):
            return
        self.send_frame(text_frame(text))

    def send_frame(self, frame: bytes) -> None:
        """Send a frame built by ``text_frame`` (the same bytes may go to many clients)."""
        if self.closed or (self._silent_until is not None and self.silent):
            return
        transport = self._transport
        if (
            self._backlog == 0
            and transport is not None
            and not self.ws.closed
            and not transport.is_closing()
            and transport.get_write_buffer_size() <= HIGH_WATER
        ):
            transport.write(frame)
            return
        # Not open yet (sent once the handshake is done), backlogged or slow client: queue.
        self._backlog += 1
        self._queue.put_nowait(frame)

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
        await self.ws.prepare(self.request)
        # Frames go straight to the transport from now on (send_frame), never before the
        # handshake answer.
        self._transport = self.request.transport
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
        """Writes queued frames in order once the client has drained its buffer."""
        ws = self.ws
        queue = self._queue
        transport = self._transport
        try:
            while True:
                frame = await queue.get()
                if frame is None or ws.closed or transport is None:
                    return
                # aiohttp owns the protocol (and its drain waiter), so poll the buffer: this
                # path only runs for clients that do not keep up.
                slow = HIGH_WATER
                while transport.get_write_buffer_size() > slow and not transport.is_closing():  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                if transport.is_closing() or ws.closed:
                    self.closed = True
                    return
                transport.write(frame)
                self._backlog -= 1
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
