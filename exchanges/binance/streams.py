"""Long-lived Binance websocket streams (asyncio, ``websockets``).

Three classes share one reconnecting core (:class:`BaseStream`):

* :class:`MarketStream`: combined market streams (spot, USD-M ``/market`` or ``/public``,
  COIN-M), subscribe/unsubscribe on the live connection.
* :class:`SpotUserDataStream`: spot user data through the WebSocket API
  (``userDataStream.subscribe.signature``, any key type; no listenKey since 2026-02-20).
* :class:`FuturesUserDataStream`: USD-M (``/private/ws?listenKey=..&events=..``) or COIN-M
  (``/ws/<listenKey>``) user data; the listenKey comes from a provider you pass in.

Each stream is one task and one socket: events go to ``on_event`` (sync or async callback) or,
without it, to an internal queue read with ``async for event in stream``. Status changes
(connecting / up / reconnecting / down, with a reason) go to ``on_status``. After every
successful (re)subscription ``on_reconnect`` is awaited *before* any event of the new
connection is delivered, so the caller can close the gap with REST (orders, balances) and
lose nothing; ``info.initial`` is True for the first connection.

Reconnects: exponential backoff with jitter; immediately on ``serverShutdown``,
``eventStreamTerminated`` and ``listenKeyExpired``; proactively before Binance's 24-hour cut
(``max_connection_age``). A watchdog reconnects a connection that answers pings but delivers
nothing for ``silence_timeout`` seconds (market streams), or that does not answer an
application-level ping (user data over the WebSocket API, where silence alone is normal).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import websockets
from websockets.asyncio.client import ClientConnection, connect

from .credentials import Credentials, ws_api_sign
from .environments import EnvironmentUrls
from .timesync import TimeOffsetRegistry
from .timesync import registry as default_time_offsets

logger = logging.getLogger("exchanges.binance.streams")

# websockets logs every frame at DEBUG, which would include signed subscription requests
# (apiKey, signature) and listenKeys in URLs: give it a logger that keeps warnings only.
_transport_logger = logging.getLogger("exchanges.binance.streams.transport")


class _DropDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_transport_logger.addFilter(_DropDebug())

Event = dict[str, Any]

USDM_USER_EVENTS: Final = (
    "ORDER_TRADE_UPDATE",
    "ACCOUNT_UPDATE",
    "MARGIN_CALL",
    "ALGO_UPDATE",
    "ACCOUNT_CONFIG_UPDATE",
    "TRADE_LITE",
    "listenKeyExpired",
)


class StreamStatus(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    RECONNECTING = "reconnecting"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class StatusChange:
    stream: str
    status: StreamStatus
    reason: str = ""
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class ReconnectInfo:
    """Given to ``on_reconnect``: events between ``disconnected_at`` and now may be missing."""

    stream: str
    initial: bool
    reason: str
    disconnected_at: float | None
    connected_at: float
    attempt: int


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Tuning for one stream. Defaults follow Binance's documented limits."""

    #: Our own websocket pings (seconds) and how long a pong may take.
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    #: Watchdog: no data for this long -> probe (user data) or reconnect (market). None = off.
    silence_timeout: float | None = None
    #: How long an application-level probe may go unanswered before reconnecting.
    probe_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    #: Reconnect on our own before Binance cuts connections at 24 h.
    max_connection_age: float = 23.5 * 3600
    open_timeout: float = 10.0
    #: Give up (status DOWN) after this many consecutive failed attempts; None = never.
    max_attempts: int | None = None
    queue_size: int = 10_000
    #: HTTPS proxy URL for the websocket connection (None: direct, environment ignored).
    proxy: str | None = None


class StreamAuthError(Exception):
    """The exchange refused the subscription for a reason retrying will not fix."""


class _Reconnect(Exception):
    def __init__(self, reason: str, *, immediate: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.immediate = immediate


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if inspect.isawaitable(result):
        await result


EventCallback = Callable[[Event], Awaitable[None] | None]
StatusCallback = Callable[[StatusChange], Awaitable[None] | None]
ReconnectCallback = Callable[[ReconnectInfo], Awaitable[None] | None]

_STOP: Final = object()


class BaseStream:
    """The reconnecting core. Subclasses implement ``_url``, ``_on_open`` and ``_on_message``."""

    def __init__(
        self,
        name: str,
        *,
        options: StreamOptions | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        on_reconnect: ReconnectCallback | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.options = options or StreamOptions()
        self._on_event = on_event
        self._on_status = on_status
        self._on_reconnect = on_reconnect
        self._clock = clock
        self._queue: asyncio.Queue[Any] | None = (
            None if on_event else asyncio.Queue(self.options.queue_size)
        )
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._stopping = False
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._reading = False
        self._early: list[Any] = []
        self._up = asyncio.Event()
        self.status = StreamStatus.DOWN
        #: Number of connections opened so far (1 after the first).
        self.connections = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the stream task (returns at once; see :meth:`wait_up`)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"binance-stream:{self.name}")

    async def wait_up(self) -> None:
        """Wait until the stream is subscribed (wrap in ``asyncio.timeout`` to bound it)."""
        await self._up.wait()

    async def stop(self) -> None:
        """Close the connection and end the task; the iterator then ends."""
        self._stopping = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._task = None
        await self._set_status(StreamStatus.DOWN, "stopped")
        if self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_STOP)

    async def __aenter__(self) -> BaseStream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __aiter__(self) -> BaseStream:
        if self._queue is None:
            raise TypeError("this stream delivers to on_event; it cannot be iterated")
        return self

    async def __anext__(self) -> Event:
        assert self._queue is not None
        item = await self._queue.get()
        if item is _STOP:
            raise StopAsyncIteration
        event: Event = item
        return event

    # -- subclass hooks ---------------------------------------------------------------------

    async def _url(self) -> str:
        raise NotImplementedError

    async def _on_open(self, ws: ClientConnection) -> None:
        """Subscribe on a fresh connection; raise StreamAuthError for permanent refusals."""

    async def _on_message(self, message: Any) -> None:
        """Handle one decoded message (deliver events, resolve requests, raise _Reconnect)."""
        raise NotImplementedError

    def _probe_message(self) -> dict[str, Any] | None:
        """An application-level request whose answer proves the connection delivers data."""
        return None

    def _describe_url(self, url: str) -> str:
        return url.split("?", 1)[0]

    # -- helpers for subclasses -------------------------------------------------------------

    async def _deliver(self, event: Event) -> None:
        if self._on_event is not None:
            await _maybe_await(self._on_event(event))
        else:
            assert self._queue is not None
            await self._queue.put(event)  # backpressure rather than loss

    async def _request(
        self, ws: ClientConnection, payload: dict[str, Any], wait: float = 10.0
    ) -> Any:
        """Send a request with a fresh id and return the answer with that id.

        While the connection is being opened nobody else reads it, so the answer is read here
        and any other message is kept for the reader (nothing is dropped).
        """
        request_id = payload.setdefault("id", next(self._ids))
        text = json.dumps(payload, separators=(",", ":"))
        if not self._reading:
            await ws.send(text)
            async with asyncio.timeout(wait):
                while True:
                    message = json.loads(await ws.recv(), parse_float=Decimal)
                    if isinstance(message, dict) and message.get("id") == request_id:
                        return message
                    self._early.append(message)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await ws.send(text)
            return await asyncio.wait_for(future, wait)
        finally:
            self._pending.pop(request_id, None)

    def _resolve(self, message: dict[str, Any]) -> bool:
        """Complete a pending request if ``message`` answers one."""
        future = self._pending.get(message.get("id"))
        if future is None:
            return False
        if not future.done():
            future.set_result(message)
        return True

    async def _set_status(self, status: StreamStatus, reason: str = "", attempt: int = 0) -> None:
        if status is self.status and status is not StreamStatus.RECONNECTING:
            return
        self.status = status
        if status is StreamStatus.UP:
            self._up.set()
        else:
            self._up.clear()
        logger.info(
            "binance stream %s %s%s",
            self.name,
            status.value,
            f": {reason}" if reason else "",
            extra={
                "binance_stream": self.name,
                "binance_stream_status": status.value,
                "binance_stream_reason": reason,
                "binance_stream_attempt": attempt,
            },
        )
        if self._on_status is not None:
            try:
                await _maybe_await(
                    self._on_status(StatusChange(self.name, status, reason, attempt))
                )
            except Exception:
                logger.exception("on_status callback of stream %s failed", self.name)

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        opts = self.options
        attempt = 0
        reason = ""
        disconnected_at: float | None = None
        immediate = False
        while not self._stopping:
            if attempt or self.connections:
                await self._set_status(StreamStatus.RECONNECTING, reason, attempt)
                if not immediate:
                    delay = min(opts.backoff_max, opts.backoff_initial * 2 ** max(attempt - 1, 0))
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            else:
                await self._set_status(StreamStatus.CONNECTING)
            immediate = False
            try:
                url = await self._url()
                async with connect(
                    url,
                    open_timeout=opts.open_timeout,
                    ping_interval=opts.ping_interval,
                    ping_timeout=opts.ping_timeout,
                    close_timeout=2,
                    compression=None,
                    max_size=1 << 22,
                    proxy=opts.proxy,
                    logger=_transport_logger,
                    user_agent_header="klineo-binance/1",
                ) as ws:
                    self._ws = ws
                    self._reading = False
                    self._early.clear()
                    await self._on_open(ws)
                    opened_at = self._clock()
                    self.connections += 1
                    initial = self.connections == 1
                    await self._set_status(StreamStatus.UP, reason if not initial else "")
                    attempt = 0
                    if self._on_reconnect is not None:
                        await _maybe_await(
                            self._on_reconnect(
                                ReconnectInfo(
                                    self.name, initial, reason, disconnected_at, opened_at, attempt
                                )
                            )
                        )
                    await self._read(ws, opened_at)
            except _Reconnect as exc:
                reason, immediate = exc.reason, exc.immediate
            except StreamAuthError as exc:
                await self._set_status(StreamStatus.DOWN, str(exc))
                return
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:200]
            except Exception as exc:  # a bug in a callback must not kill 1000 streams
                logger.exception("binance stream %s failed", self.name)
                reason = f"{type(exc).__name__}"
            finally:
                self._ws = None
                self._reading = False
                for future in self._pending.values():
                    if not future.done():
                        future.cancel()
                self._pending.clear()
            if self._stopping:
                break
            disconnected_at = self._clock()
            attempt += 1
            if opts.max_attempts is not None and attempt > opts.max_attempts:
                await self._set_status(StreamStatus.DOWN, f"gave up after {attempt - 1}: {reason}")
                return

    async def _read(self, ws: ClientConnection, opened_at: float) -> None:
        opts = self.options
        probe_sent_at: float | None = None
        self._reading = True
        early, self._early = self._early, []
        for message in early:
            await self._on_message(message)
        while True:
            age = self._clock() - opened_at
            if age >= opts.max_connection_age:
                raise _Reconnect("connection age limit (24 h cut)", immediate=True)
            timeout = opts.max_connection_age - age
            if opts.silence_timeout is not None:
                timeout = min(
                    timeout, opts.probe_timeout if probe_sent_at else opts.silence_timeout
                )
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                if self._clock() - opened_at >= opts.max_connection_age:
                    continue
                probe = self._probe_message()
                if probe is None or probe_sent_at is not None:
                    raise _Reconnect(f"no data for {opts.silence_timeout:g} s") from None
                probe_sent_at = self._clock()
                probe.setdefault("id", f"probe{next(self._ids)}")
                await ws.send(json.dumps(probe))
                continue
            probe_sent_at = None
            try:
                message = json.loads(raw, parse_float=Decimal)
            except ValueError:
                logger.warning("binance stream %s: undecodable message dropped", self.name)
                continue
            await self._on_message(message)


# ---------------------------------------------------------------------------------------------


def normalize_stream(name: str) -> str:
    """Binance stream names have a lowercase symbol and a case-sensitive type
    (``btcusdt@bookTicker``, ``!miniTicker@arr``)."""
    if name.startswith("!"):
        return name
    symbol, sep, rest = name.partition("@")
    return f"{symbol.lower()}{sep}{rest}"


class MarketStream(BaseStream):
    """Combined market streams with live subscribe/unsubscribe.

    Events are delivered as Binance sends them in combined mode: ``{"stream": name, "data":
    {...}}``. Use the constructors :meth:`spot`, :meth:`usdm` and :meth:`coinm`.
    """

    #: Streams put in the URL at connect time; more are subscribed in batches.
    _URL_STREAMS = 100
    _BATCH = 200

    def __init__(
        self,
        base_url: str,
        streams: Iterable[str] = (),
        *,
        name: str = "market",
        options: StreamOptions | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        on_reconnect: ReconnectCallback | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        opts = options or StreamOptions(silence_timeout=60.0)
        super().__init__(
            name,
            options=opts,
            on_event=on_event,
            on_status=on_status,
            on_reconnect=on_reconnect,
            clock=clock,
        )
        self.base_url = base_url.rstrip("/")
        self._streams: dict[str, None] = dict.fromkeys(normalize_stream(s) for s in streams)

    @classmethod
    def spot(cls, urls: EnvironmentUrls, streams: Iterable[str] = (), **kw: Any) -> MarketStream:
        return cls(urls.spot_stream, streams, name=kw.pop("name", f"{urls.name}:spot"), **kw)

    @classmethod
    def usdm(
        cls, urls: EnvironmentUrls, streams: Iterable[str] = (), route: str = "market", **kw: Any
    ) -> MarketStream:
        """USD-M streams; ``route`` is ``market`` (trades, klines, mark price, tickers) or
        ``public`` (book ticker, depth): Binance delivers nothing on the wrong route."""
        return cls(
            urls.usdm_stream_url(route),
            streams,
            name=kw.pop("name", f"{urls.name}:usdm-{route}"),
            **kw,
        )

    @classmethod
    def coinm(cls, urls: EnvironmentUrls, streams: Iterable[str] = (), **kw: Any) -> MarketStream:
        return cls(urls.coinm_stream, streams, name=kw.pop("name", f"{urls.name}:coinm"), **kw)

    @property
    def streams(self) -> list[str]:
        return list(self._streams)

    async def _url(self) -> str:
        first = list(self._streams)[: self._URL_STREAMS]
        return (
            f"{self.base_url}/stream?streams={'/'.join(first)}"
            if first
            else (f"{self.base_url}/stream")
        )

    async def _on_open(self, ws: ClientConnection) -> None:
        rest = list(self._streams)[self._URL_STREAMS :]
        for i in range(0, len(rest), self._BATCH):
            await self._control(ws, "SUBSCRIBE", rest[i : i + self._BATCH])
            await asyncio.sleep(0.25)  # Binance allows 5 incoming messages per second

    async def _control(self, ws: ClientConnection, method: str, params: list[str]) -> bool:
        answer = await self._request(ws, {"method": method, "params": params})
        return isinstance(answer, dict) and answer.get("error") is None

    async def subscribe(self, streams: Iterable[str]) -> bool:
        """Add streams (kept across reconnects). True when the live connection acknowledged
        them, False when not connected (they are subscribed on the next connection)."""
        new = [n for n in map(normalize_stream, streams) if n not in self._streams]
        self._streams.update(dict.fromkeys(new))
        if not new or self._ws is None or self.status is not StreamStatus.UP:
            return False
        try:
            return await self._control(self._ws, "SUBSCRIBE", new)
        except (TimeoutError, websockets.exceptions.WebSocketException):
            return False

    async def unsubscribe(self, streams: Iterable[str]) -> bool:
        gone = [n for n in map(normalize_stream, streams) if n in self._streams]
        for name in gone:
            self._streams.pop(name, None)
        if not gone or self._ws is None or self.status is not StreamStatus.UP:
            return False
        try:
            return await self._control(self._ws, "UNSUBSCRIBE", gone)
        except (TimeoutError, websockets.exceptions.WebSocketException):
            return False

    async def _on_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if "id" in message and ("result" in message or "error" in message):
            self._resolve(message)
            return
        data = message.get("data", message)
        if isinstance(data, dict) and data.get("e") == "serverShutdown":
            raise _Reconnect("serverShutdown", immediate=True)
        if "data" not in message:  # raw mode or an unwrapped event
            message = {"stream": "", "data": message}
        await self._deliver(message)


class SpotUserDataStream(BaseStream):
    """Spot user data over the WebSocket API (``userDataStream.subscribe.signature``).

    Works with HMAC, Ed25519 and RSA keys. Events are delivered unwrapped (the inner
    ``event`` object: ``executionReport``, ``outboundAccountPosition``, ``balanceUpdate``,
    ``listStatus``, ...). Timestamps use the process-wide server-time offset of
    ``urls.spot_rest`` (shared with the REST clients); on -1021 the offset is re-measured with
    the WebSocket API's ``time`` method.
    """

    def __init__(
        self,
        urls: EnvironmentUrls,
        credentials: Credentials,
        *,
        recv_window: int = 5000,
        name: str | None = None,
        options: StreamOptions | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        on_reconnect: ReconnectCallback | None = None,
        clock: Callable[[], float] = time.time,
        time_offsets: TimeOffsetRegistry | None = None,
    ) -> None:
        opts = options or StreamOptions(silence_timeout=60.0)
        super().__init__(
            name or f"{urls.name}:spot-user:{credentials.masked_api_key}",
            options=opts,
            on_event=on_event,
            on_status=on_status,
            on_reconnect=on_reconnect,
            clock=clock,
        )
        self.urls = urls
        self._credentials = credentials
        self._recv_window = recv_window
        self._offsets = time_offsets or default_time_offsets
        self.subscription_id: int | None = None

    async def _url(self) -> str:
        return self.urls.spot_ws_api

    def _timestamp(self) -> int:
        offset = self._offsets.get(self.urls.spot_rest)
        return int(self._clock() * 1000 + offset.offset_ms)

    async def _sync_time(self, ws: ClientConnection) -> None:
        sent = self._clock()
        answer = await self._request(ws, {"method": "time"})
        received = self._clock()
        server_time = (answer.get("result") or {}).get("serverTime")
        if server_time is not None:
            self._offsets.update(
                self.urls.spot_rest,
                server_time_ms=int(server_time),
                sent_at=sent,
                received_at=received,
            )

    async def _on_open(self, ws: ClientConnection) -> None:
        offset = self._offsets.get(self.urls.spot_rest)
        if offset.measured_at is None:
            with contextlib.suppress(TimeoutError):
                await self._sync_time(ws)
        for retry in (False, True):
            params = ws_api_sign(
                {"timestamp": self._timestamp(), "recvWindow": self._recv_window},
                self._credentials,
            )
            answer = await self._request(
                ws, {"method": "userDataStream.subscribe.signature", "params": params}
            )
            if answer.get("status") == 200:
                result = answer.get("result") or {}
                self.subscription_id = result.get("subscriptionId")
                return
            error = answer.get("error") or {}
            code = error.get("code")
            if code == -1021 and not retry:
                await self._sync_time(ws)
                continue
            text = f"subscription refused: code {code} {error.get('msg', '')}".strip()
            if code in (-2014, -2015, -1022, -1002):
                raise StreamAuthError(text)
            raise _Reconnect(text)

    def _probe_message(self) -> dict[str, Any] | None:
        return {"method": "ping"}

    async def _on_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if "id" in message and "status" in message:
            self._resolve(message)
            if message.get("status") == 401:  # key revoked mid-session
                raise StreamAuthError("the API key was revoked (401)")
            return
        event = message.get("event")
        if not isinstance(event, dict):
            return
        kind = event.get("e")
        if kind == "serverShutdown":
            raise _Reconnect("serverShutdown", immediate=True)
        await self._deliver(event)
        if kind == "eventStreamTerminated":
            raise _Reconnect("eventStreamTerminated", immediate=True)


ListenKeyProvider = Callable[[], Awaitable[str]]


class FuturesUserDataStream(BaseStream):
    """USD-M or COIN-M user data through a listenKey.

    ``listen_key_provider`` is awaited before every connection and returns a valid listenKey
    (create or reuse one over REST, e.g. ``asyncio.to_thread(client.usdm.create_listen_key)``);
    keeping it alive every ~30 minutes is the caller's job (a Celery task). On
    ``listenKeyExpired`` the stream reconnects with a fresh key from the provider.
    USD-M uses the routed ``/private`` path and lists ``events`` explicitly.
    """

    def __init__(
        self,
        urls: EnvironmentUrls,
        listen_key_provider: ListenKeyProvider,
        *,
        market: str = "usdm",
        events: Sequence[str] = USDM_USER_EVENTS,
        name: str | None = None,
        options: StreamOptions | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        on_reconnect: ReconnectCallback | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if market not in ("usdm", "coinm"):
            raise ValueError("market must be 'usdm' or 'coinm'")
        super().__init__(
            name or f"{urls.name}:{market}-user",
            options=options,
            on_event=on_event,
            on_status=on_status,
            on_reconnect=on_reconnect,
            clock=clock,
        )
        self.urls = urls
        self.market = market
        self._provider = listen_key_provider
        events = list(events)
        if "listenKeyExpired" not in events:
            events.append("listenKeyExpired")
        self.events = tuple(events)

    async def _url(self) -> str:
        key = await self._provider()
        if self.market == "usdm":
            return (
                f"{self.urls.usdm_stream_url('private')}/ws?listenKey={key}"
                f"&events={'/'.join(self.events)}"
            )
        return f"{self.urls.coinm_stream}/ws/{key}"

    async def _on_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if "id" in message and ("result" in message or "error" in message):
            self._resolve(message)
            return
        event = message.get("data", message)
        if not isinstance(event, dict):
            return
        kind = event.get("e")
        if kind == "serverShutdown":
            raise _Reconnect("serverShutdown", immediate=True)
        await self._deliver(event)
        if kind == "listenKeyExpired":
            raise _Reconnect("listenKeyExpired", immediate=True)
