"""Futures websockets: /fstream (USD-M, 2026 routed paths) and /dstream (COIN-M).

USD-M (``wss://fstream.binance.com`` maps to ``ws://HOST:PORT/fstream``):
  /fstream/public/ws/<s1>/<s2>, /fstream/public/stream?streams=a/b    bookTicker, depth
  /fstream/market/ws/<s1>/<s2>, /fstream/market/stream?streams=a/b    aggTrade, markPrice, kline,
                                                                      miniTicker, ticker
  /fstream/ws/<s>, /fstream/stream?streams=   legacy unrouted: only /public data is delivered,
                                              market streams stay silent (reference §8)
  /fstream/private/ws?listenKey=<k>&events=A/B, /fstream/private/ws/<k>,
  /fstream/private/stream?listenKey=<k1>&events=..&listenKey=<k2>&events=..    user data
COIN-M (``wss://dstream.binance.com`` maps to ``ws://HOST:PORT/dstream``): /dstream/ws/<name>
and /dstream/stream?streams=, where a name is a market stream or a COIN-M listenKey.
JSON SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY work on the
market connections. The server pings every ``fstream_ping_interval`` seconds and drops a
connection whose pong is ``fstream_pong_timeout`` late (the core's WsConnection).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .futures_engine import ZERO, fmt, fmt8
from .util import dumpb, dumps
from .ws import WsConnection, text_frame

if TYPE_CHECKING:
    from .futures import Venue

log = logging.getLogger("sandbox.fstream")

PUBLIC_KINDS = ("bookTicker", "depth")
MARKET_KINDS = ("aggTrade", "markPrice", "kline", "miniTicker", "ticker")
KLINE_INTERVALS = (
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
)


def stream_kind(name: str) -> str | None:
    """'public', 'market' or None (unknown) for a stream name such as btcusdt@depth5@100ms."""
    parts = name.split("@")
    if len(parts) < 2:
        return None
    kind = parts[1]
    if name == "!bookTicker":
        return "public"
    if kind == "bookTicker" or kind.startswith("depth"):
        return "public"
    if kind in ("aggTrade", "markPrice", "miniTicker", "ticker") or kind.startswith("kline_"):
        return "market"
    if name.startswith("!markPrice@arr") or name == "!miniTicker@arr" or name == "!ticker@arr":
        return "market"
    return None


# Every connection's producer wakes on the same PRODUCE_STEP grid. Streams whose payload is
# the same for every connection (no per-connection ids or diffs) are built once per step and
# market update, and the same frame goes to every connection due in that step.
PRODUCE_STEP = 0.05
_SHARED_KINDS = ("bookTicker", "markPrice", "miniTicker", "ticker", "kline_")


def shareable(name: str) -> bool:
    parts = name.split("@")
    if name.startswith("!"):  # !markPrice@arr[@1s], !miniTicker@arr, !ticker@arr
        return len(parts) > 1 and parts[1] == "arr" and parts[0][1:].startswith(_SHARED_KINDS)
    return len(parts) > 1 and parts[1].startswith(_SHARED_KINDS)


class StreamState:
    """Per-stream bookkeeping of one connection (when it last sent, what it last saw)."""

    __slots__ = ("book", "last_trade_id", "next_due", "update_id")

    def __init__(self) -> None:
        self.next_due = 0.0
        self.last_trade_id: int | None = None
        self.book: dict[str, dict[Decimal, Decimal]] | None = None
        self.update_id = 0


class MarketConnection(WsConnection):
    """A market-data websocket. ``route``: 'public', 'market', 'legacy' or 'dstream'."""

    def __init__(
        self, request: web.Request, venue: Venue, route: str, combined: bool, streams: list[str]
    ) -> None:
        cfg = venue.state.config
        super().__init__(
            request,
            venue.state,
            ping_interval=lambda: cfg.fstream_ping_interval,
            pong_timeout=lambda: cfg.fstream_pong_timeout,
        )
        self.venue = venue
        self.route = route
        self.combined = combined
        self.streams: dict[str, StreamState] = {}
        for name in streams:
            self._add(name)
        self._producer: asyncio.Task | None = None
        self.user: UserStreamBinding | None = None

    def _add(self, name: str) -> None:
        if name and name not in self.streams:
            self.streams[name] = StreamState()

    def delivers(self, name: str) -> bool:
        kind = stream_kind(name)
        if kind is None:
            return False
        if self.route in ("dstream",):
            return True
        if self.route == "legacy":
            return kind == "public"
        return kind == self.route

    async def on_open(self) -> None:
        self._producer = asyncio.create_task(self._produce())

    async def on_close(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
        if self.user is not None:
            self.user.close()

    async def on_text(self, data: str) -> None:
        try:
            msg = json.loads(data)
            method = msg.get("method")
            req_id = msg.get("id")
            params = msg.get("params") or []
        except (ValueError, AttributeError):
            self.send_text(dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None}))
            return
        result: Any = None
        if method == "SUBSCRIBE":
            for name in params:
                self._add(str(name))
        elif method == "UNSUBSCRIBE":
            for name in params:
                self.streams.pop(str(name), None)
        elif method == "LIST_SUBSCRIPTIONS":
            result = list(self.streams)
        elif method == "SET_PROPERTY":
            if len(params) == 2 and params[0] == "combined":
                self.combined = bool(params[1])
        elif method == "GET_PROPERTY":
            result = self.combined if params == ["combined"] else None
        else:
            self.send_text(dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": req_id}))
            return
        self.send_text(dumps({"result": result, "id": req_id}))

    def emit(self, name: str, payload: Any) -> None:
        if self.combined:
            self.send_text(dumps({"stream": name, "data": payload}))
        else:
            self.send_text(dumps(payload))

    def shared_frame(self, name: str, now: float) -> tuple[float, bytes | None]:
        """(interval, frame) of a stream whose payload does not depend on the connection,
        built once per producer step and market update for every connection that wants it."""
        cache = self.venue.stream_cache
        step = int(now / PRODUCE_STEP)
        version = self._version(name)
        entry = cache.get(name)
        if entry is None or entry[0] != step or entry[1] != version:
            interval, payload = self.venue_payload(name, StreamState())
            if payload is None:
                entry = (step, version, interval, None, None)
            else:
                entry = (
                    step,
                    version,
                    interval,
                    text_frame(dumpb(payload)),
                    text_frame(dumpb({"stream": name, "data": payload})),
                )
            cache[name] = entry
        return entry[2], entry[4] if self.combined else entry[3]

    def _version(self, name: str) -> int:
        symbol = name.split("@", 1)[0].upper()
        if symbol in self.venue.contracts:
            return _market(self.venue, symbol).update_id
        return 0

    async def _produce(self) -> None:
        try:
            while not self.closed:
                now = time.monotonic()
                for name, st in list(self.streams.items()):
                    if now < st.next_due or not self.delivers(name):
                        continue
                    try:
                        if shareable(name):
                            interval, frame = self.shared_frame(name, now)
                            if frame is not None:
                                self.send_frame(frame)
                            st.next_due = now + interval - PRODUCE_STEP / 2
                            continue
                        interval, payload = self.venue_payload(name, st)
                    except Exception:
                        log.exception("stream %s failed", name)
                        interval, payload = 5.0, None
                    # Half a step early: wake-ups land just past the grid, a little late or
                    # early, and the stream should still go out every `interval`.
                    st.next_due = now + interval - PRODUCE_STEP / 2
                    if payload is not None:
                        self.emit(name, payload)
                # Sleep to the next step of the shared grid (just past it).
                await asyncio.sleep(PRODUCE_STEP - time.monotonic() % PRODUCE_STEP + 0.001)
        except asyncio.CancelledError:
            pass

    # -- payloads ------------------------------------------------------------------------

    def venue_payload(self, name: str, st: StreamState) -> tuple[float, Any]:
        venue = self.venue
        now = venue.state.now_ms()
        parts = name.split("@")
        if name.startswith("!"):
            kind = parts[0][1:]  # "!markPrice@arr@1s" -> "markPrice"
            if name == "!bookTicker":
                return 0.5, None  # the all-market book ticker is sent per symbol below
            if kind == "markPrice":
                fast = name.endswith("@1s")
                return (1.0 if fast else 3.0), [
                    mark_price_event(venue, s, now) for s in venue.contracts
                ]
            if kind == "miniTicker":
                return 1.0, [mini_ticker(venue, s, now, full=False) for s in venue.contracts]
            if kind == "ticker":
                return 1.0, [mini_ticker(venue, s, now, full=True) for s in venue.contracts]
            return 5.0, None
        symbol = parts[0].upper()
        if symbol not in venue.contracts:
            return 5.0, None
        kind = parts[1]
        suffix = parts[2] if len(parts) > 2 else ""
        if kind == "bookTicker":
            return 0.25, book_ticker_event(venue, symbol, now)
        if kind.startswith("depth"):
            speed = {"100ms": 0.1, "500ms": 0.5}.get(suffix, 0.25)
            levels = kind[len("depth") :]
            if levels:
                if levels not in ("5", "10", "20"):
                    return 5.0, None
                return speed, depth_event(venue, symbol, int(levels), st, now, partial=True)
            return speed, depth_event(venue, symbol, 50, st, now, partial=False)
        if kind == "aggTrade":
            return 0.1, agg_trades(venue, symbol, st, now, self)
        if kind == "markPrice":
            return (1.0 if suffix == "1s" else 3.0), mark_price_event(venue, symbol, now)
        if kind.startswith("kline_"):
            interval = kind[len("kline_") :]
            if interval not in KLINE_INTERVALS:
                return 5.0, None
            return venue.state.config.kline_push_interval, kline_event(venue, symbol, interval, now)
        if kind == "miniTicker":
            return 1.0, mini_ticker(venue, symbol, now, full=False)
        if kind == "ticker":
            return 1.0, mini_ticker(venue, symbol, now, full=True)
        return 5.0, None


def _market(venue: Venue, symbol: str):
    return venue.state.prices.market(venue.contracts[symbol].price_source)


def book_ticker_event(venue: Venue, symbol: str, now: int) -> dict:
    from .futures import book

    bids, asks = book(venue, symbol, 1)
    body = {
        "e": "bookTicker",
        "u": _market(venue, symbol).update_id,
        "s": symbol,
    }
    if venue.inverse:
        body["ps"] = venue.contracts[symbol].pair
    body.update(
        {"b": bids[0][0], "B": bids[0][1], "a": asks[0][0], "A": asks[0][1], "T": now, "E": now}
    )
    return body


def depth_event(
    venue: Venue, symbol: str, levels: int, st: StreamState, now: int, partial: bool
) -> dict | None:
    from .futures import book

    bids, asks = book(venue, symbol, levels)
    market_id = _market(venue, symbol).update_id
    previous = st.update_id or market_id - 1
    # Update ids only grow: the book's id if it moved, else one past the last sent.
    update_id = max(market_id, previous + 1)
    body: dict[str, Any] = {"e": "depthUpdate", "E": now, "T": now, "s": symbol}
    if venue.inverse:
        body["ps"] = venue.contracts[symbol].pair
    if partial:
        body.update({"U": previous + 1, "u": update_id, "pu": previous, "b": bids, "a": asks})
        st.update_id = update_id
        return body
    current = {
        "b": {Decimal(p): Decimal(q) for p, q in bids},
        "a": {Decimal(p): Decimal(q) for p, q in asks},
    }
    old = st.book or {"b": {}, "a": {}}
    spec = venue.contracts[symbol]
    changes = {}
    for side in ("b", "a"):
        rows = []
        for price, qty in current[side].items():
            if old[side].get(price) != qty:
                rows.append([spec.fmt_price(price), spec.fmt_qty(qty)])
        for price in old[side]:
            if price not in current[side]:
                rows.append([spec.fmt_price(price), spec.fmt_qty(ZERO)])
        changes[side] = rows
    st.book = current
    if st.update_id and not changes["b"] and not changes["a"]:
        return None
    body.update({"U": previous + 1, "u": update_id, "pu": previous, **changes})
    st.update_id = update_id
    return body


def agg_trades(venue: Venue, symbol: str, st: StreamState, now: int, conn: MarketConnection):
    market = _market(venue, symbol)
    spec = venue.contracts[symbol]
    trades = market.trades
    if st.last_trade_id is None:
        st.last_trade_id = trades[-1].id if trades else 0
        return None
    # The newest (at most 200) trades after the last one sent, oldest first, without copying
    # the whole deque (20000 entries) on every poll.
    last = st.last_trade_id
    new = list(itertools.takewhile(lambda t: t.id > last, itertools.islice(reversed(trades), 200)))
    new.reverse()
    if not new:
        return None
    st.last_trade_id = new[-1].id
    for trade in new[:-1]:
        conn.emit(f"{symbol.lower()}@aggTrade", agg_trade_event(spec, trade, now))
    return agg_trade_event(spec, new[-1], now)


def agg_trade_event(spec, trade, now: int) -> dict:
    if spec.inverse:
        qty = max(
            Decimal(1),
            (trade.qty * trade.price / spec.contract_size).to_integral_value(rounding=ROUND_DOWN),
        )
    else:
        qty = max(
            spec.min_qty,
            (trade.qty / spec.step_size).to_integral_value(rounding=ROUND_DOWN) * spec.step_size,
        )
    return {
        "e": "aggTrade",
        "E": now,
        "a": trade.id,
        "s": spec.symbol,
        "p": spec.fmt_price(spec.round_price(trade.price)),
        "q": spec.fmt_qty(qty),
        "f": trade.id,
        "l": trade.id,
        "T": trade.time,
        "m": trade.buyer_maker,
    }


def mark_price_event(venue: Venue, symbol: str, now: int) -> dict:
    from .futures import FUNDING_RATE, next_funding

    mark = venue.mark(symbol)
    body: dict[str, Any] = {"e": "markPriceUpdate", "E": now, "s": symbol}
    if venue.inverse:
        body["ps"] = venue.contracts[symbol].pair
    body.update(
        {
            "p": fmt8(mark),
            "i": fmt8(mark),
            "P": fmt8(mark),
            "r": fmt8(FUNDING_RATE),
            "T": next_funding(now),
        }
    )
    return body


def kline_event(venue: Venue, symbol: str, interval: str, now: int) -> dict:
    from .futures import INTERVAL_MS, kline_open, kline_row

    spec = venue.contracts[symbol]
    open_ms = kline_open(now, interval)
    close_ms = open_ms + INTERVAL_MS[interval] - 1
    row = kline_row(spec, _market(venue, symbol).kline(open_ms, close_ms))
    return {
        "e": "kline",
        "E": now,
        "s": symbol,
        "k": {
            "t": open_ms,
            "T": close_ms,
            "s": symbol,
            "i": interval,
            "f": 1,
            "L": max(1, row[8]),
            "o": row[1],
            "c": row[4],
            "h": row[2],
            "l": row[3],
            "v": row[5],
            "n": row[8],
            "x": False,
            "q": row[7],
            "V": row[9],
            "Q": row[10],
            "B": "0",
        },
    }


def mini_ticker(venue: Venue, symbol: str, now: int, full: bool) -> dict:
    from .futures import ticker_24hr

    t = ticker_24hr(venue, symbol, now)
    volume_key = "baseVolume" if venue.inverse else "quoteVolume"
    if not full:
        return {
            "e": "24hrMiniTicker",
            "E": now,
            "s": symbol,
            "c": t["lastPrice"],
            "o": t["openPrice"],
            "h": t["highPrice"],
            "l": t["lowPrice"],
            "v": t["volume"],
            "q": t[volume_key],
        }
    return {
        "e": "24hrTicker",
        "E": now,
        "s": symbol,
        "p": t["priceChange"],
        "P": t["priceChangePercent"],
        "w": t["weightedAvgPrice"],
        "c": t["lastPrice"],
        "Q": t["lastQty"],
        "o": t["openPrice"],
        "h": t["highPrice"],
        "l": t["lowPrice"],
        "v": t["volume"],
        "q": t[volume_key],
        "O": t["openTime"],
        "C": t["closeTime"],
        "F": t["firstId"],
        "L": t["lastId"],
        "n": t["count"],
    }


# ---------------------------------------------------------------------------------------------
# User data


class UserStreamBinding:
    """Forwards one account's events for one listenKey to a connection, filtered by type."""

    def __init__(
        self,
        venue: Venue,
        conn: WsConnection,
        keys: list[tuple[str, set[str] | None]],
        combined: bool,
    ) -> None:
        self.venue = venue
        self.conn = conn
        self.combined = combined
        self.handles: list[tuple] = []
        self.key_callbacks: list[tuple[str, Any]] = []
        for key, events in keys:
            lk = venue.listen_keys.active(key)
            if lk is None:
                continue
            callback = self._callback(key, events)
            self.handles.append(venue.state.bus.subscribe((venue.market, lk.account_id), callback))
            venue.key_listeners.setdefault(key, set()).add(callback)
            self.key_callbacks.append((key, callback))

    @property
    def bound(self) -> bool:
        return bool(self.handles)

    def _callback(self, key: str, events: set[str] | None):
        venue = self.venue

        def deliver(event: dict) -> None:
            etype = event.get("e")
            if etype != "listenKeyExpired" and venue.listen_keys.active(key) is None:
                return  # expired or closed: no more events flow on this key
            if events is not None and etype not in events:
                return
            if self.combined:
                self.conn.send_text(dumps({"stream": key, "data": event}))
            else:
                self.conn.send_text(dumps(event))

        return deliver

    def close(self) -> None:
        for handle in self.handles:
            self.venue.state.bus.unsubscribe(handle)
        self.handles = []
        for key, callback in self.key_callbacks:
            listeners = self.venue.key_listeners.get(key)
            if listeners is not None:
                listeners.discard(callback)
                if not listeners:
                    del self.venue.key_listeners[key]
        self.key_callbacks = []


class UserConnection(WsConnection):
    def __init__(
        self,
        request: web.Request,
        venue: Venue,
        keys: list[tuple[str, set[str] | None]],
        combined: bool,
    ) -> None:
        cfg = venue.state.config
        super().__init__(
            request,
            venue.state,
            ping_interval=lambda: cfg.fstream_ping_interval,
            pong_timeout=lambda: cfg.fstream_pong_timeout,
        )
        self.venue = venue
        self.keys = keys
        self.combined = combined
        self.binding: UserStreamBinding | None = None

    async def on_open(self) -> None:
        self.binding = UserStreamBinding(self.venue, self, self.keys, self.combined)
        if not self.binding.bound:
            # UNCONFIRMED how Binance answers an unknown/expired listenKey on connect; the
            # sandbox closes with 1008 so clients notice at once.
            await self.close(1008, b"Invalid listenKey")

    async def on_text(self, data: str) -> None:
        with contextlib.suppress(ValueError, AttributeError):
            msg = json.loads(data)
            self.send_text(dumps({"result": None, "id": msg.get("id")}))

    async def on_close(self) -> None:
        if self.binding is not None:
            self.binding.close()


def parse_events(raw: str | None) -> set[str] | None:
    if not raw:
        return None
    return {e for e in raw.split("/") if e}


def setup_fstream(app: web.Application, venue: Venue) -> None:
    async def market_ws(request: web.Request) -> web.StreamResponse:
        route = request.match_info.get("route", "legacy")
        names = [n for n in request.match_info.get("streams", "").split("/") if n]
        return await MarketConnection(request, venue, route, False, names).run()

    async def market_stream(request: web.Request) -> web.StreamResponse:
        route = request.match_info.get("route", "legacy")
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await MarketConnection(request, venue, route, True, names).run()

    async def private_ws(request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("key") or request.query.get("listenKey", "")
        events = parse_events(request.query.get("events"))
        return await UserConnection(request, venue, [(key, events)], False).run()

    async def private_stream(request: web.Request) -> web.StreamResponse:
        keys = request.query.getall("listenKey", [])
        events = request.query.getall("events", [])
        pairs = [
            (key, parse_events(events[i] if i < len(events) else None))
            for i, key in enumerate(keys)
        ]
        return await UserConnection(request, venue, pairs, True).run()

    router = app.router
    router.add_get("/fstream/private/ws", private_ws)
    router.add_get("/fstream/private/ws/{key}", private_ws)
    router.add_get("/fstream/private/stream", private_stream)
    router.add_get(r"/fstream/{route:(public|market)}/ws/{streams:.*}", market_ws)
    router.add_get(r"/fstream/{route:(public|market)}/ws", market_ws)
    router.add_get(r"/fstream/{route:(public|market)}/stream", market_stream)
    router.add_get("/fstream/ws/{streams:.*}", market_ws)
    router.add_get("/fstream/ws", market_ws)
    router.add_get("/fstream/stream", market_stream)


class DStreamConnection(MarketConnection):
    """COIN-M: market streams and listenKeys share /dstream/ws/<name> and /stream."""

    async def on_open(self) -> None:
        keys = [name for name in list(self.streams) if self.venue.listen_keys.active(name)]
        # Names without "@" can only be listenKeys; unknown or expired ones are refused.
        stale = [
            n for n in self.streams if "@" not in n and not n.startswith("!") and n not in keys
        ]
        if stale:
            await self.close(1008, b"Invalid listenKey")
            return
        if keys:
            for key in keys:
                self.streams.pop(key, None)
            self.user = UserStreamBinding(
                self.venue, self, [(k, None) for k in keys], self.combined
            )
        await super().on_open()


def setup_dstream(app: web.Application, venue: Venue) -> None:
    async def ws(request: web.Request) -> web.StreamResponse:
        names = [n for n in request.match_info.get("streams", "").split("/") if n]
        return await DStreamConnection(request, venue, "dstream", False, names).run()

    async def stream(request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await DStreamConnection(request, venue, "dstream", True, names).run()

    app.router.add_get("/dstream/ws/{streams:.*}", ws)
    app.router.add_get("/dstream/ws", ws)
    app.router.add_get("/dstream/stream", stream)


__all__ = ["fmt", "setup_dstream", "setup_fstream"]
