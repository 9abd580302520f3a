"""Market-data websockets: a reusable hub plus the spot streams (/ws/..., /stream?streams=).

``MarketHub`` is the piece the futures modules reuse for /fstream and /dstream: it tracks which
connection wants which stream name, and ``publish(stream, payload)`` serialises the payload
once per mode (raw or combined) however many clients listen. ``StreamConnection`` speaks the
Binance protocol: streams from the URL, SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS /
SET_PROPERTY / GET_PROPERTY with ``{"result": ..., "id": ...}`` replies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from aiohttp import web

from .prices import Market
from .spot_rest import INTERVALS_MS, kline_close, kline_open, ticker_24h
from .state import SandboxState
from .util import dumpb, dumps, fmt8, loads
from .ws import WsConnection, text_frame

MAX_STREAMS = 1024
DIFF_LEVELS = 1000
ID_RE = re.compile(r"^[A-Za-z0-9]{1,36}$")


class MarketHub:
    def __init__(self) -> None:
        self.subs: dict[str, set[StreamConnection]] = {}

    def add(self, conn: StreamConnection, stream: str) -> None:
        self.subs.setdefault(stream, set()).add(conn)

    def remove(self, conn: StreamConnection, stream: str) -> None:
        conns = self.subs.get(stream)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.subs[stream]

    def has(self, stream: str) -> bool:
        return stream in self.subs

    def streams_with_prefix(self, prefix: str) -> list[str]:
        return [s for s in self.subs if s.startswith(prefix)]

    def publish(self, stream: str, data) -> None:
        """Encode once per mode (raw / combined) into a websocket frame; every subscriber
        gets the same bytes, written without awaiting anyone."""
        conns = self.subs.get(stream)
        if not conns:
            return
        raw = combined = None
        for conn in conns:
            if conn.combined:
                if combined is None:
                    combined = text_frame(dumpb({"stream": stream, "data": data}))
                conn.send_frame(combined)
            else:
                if raw is None:
                    raw = text_frame(dumpb(data))
                conn.send_frame(raw)


class StreamConnection(WsConnection):
    """One market-data websocket. ``validate(name)`` returns the canonical stream name or None."""

    def __init__(
        self,
        request: web.Request,
        state: SandboxState,
        hub: MarketHub,
        initial: list[str],
        combined: bool,
        validate: Callable[[str], str | None] = lambda s: s,
        on_subscribe: Callable[[str], None] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(request, state, **kwargs)
        self.hub = hub
        self.combined = combined
        self.validate = validate
        self.on_subscribe = on_subscribe
        self.streams: list[str] = []
        self._initial = initial

    def _subscribe(self, names: list[str]) -> None:
        for name in names:
            canon = self.validate(name)
            if canon is None or canon in self.streams:
                continue
            self.streams.append(canon)
            self.hub.add(self, canon)
            if self.on_subscribe is not None:
                self.on_subscribe(canon)

    async def on_open(self) -> None:
        self._subscribe(self._initial)

    async def on_close(self) -> None:
        for name in self.streams:
            self.hub.remove(self, name)
        self.streams = []

    def _reply(self, obj) -> None:
        self.send_text(dumps(obj))

    async def on_text(self, data: str) -> None:
        try:
            msg = loads(data)
        except ValueError:
            self._reply({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1"}})
            return
        if not isinstance(msg, dict):
            self._reply({"error": {"code": 2, "msg": "Invalid request: request must be an object"}})
            return
        req_id = msg.get("id")
        if req_id is not None and not (
            (isinstance(req_id, int) and not isinstance(req_id, bool))
            or (isinstance(req_id, str) and ID_RE.match(req_id))
        ):
            self._reply(
                {"error": {"code": 2, "msg": "Invalid request: invalid request ID"}, "id": None}
            )
            return
        method = msg.get("method")
        params = msg.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                self._reply(
                    {
                        "error": {
                            "code": 2,
                            "msg": "Invalid request: params must be a list of stream names",
                        },
                        "id": req_id,
                    }
                )
                return
            if method == "SUBSCRIBE":
                bad = [p for p in params if self.validate(p) is None]
                if bad:
                    self._reply(
                        {
                            "error": {
                                "code": 2,
                                "msg": f"Invalid request: unknown stream {bad[0]}",
                            },
                            "id": req_id,
                        }
                    )
                    return
                if len(set(self.streams) | set(params)) > MAX_STREAMS:
                    self._reply(
                        {
                            "error": {"code": 2, "msg": "Invalid request: too many streams"},
                            "id": req_id,
                        }
                    )
                    return
                self._subscribe(params)
            else:
                for name in params:
                    canon = self.validate(name) or name
                    if canon in self.streams:
                        self.streams.remove(canon)
                        self.hub.remove(self, canon)
            self._reply({"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            self._reply({"result": list(self.streams), "id": req_id})
        elif method == "SET_PROPERTY":
            if (
                params
                and params[0] == "combined"
                and len(params) == 2
                and isinstance(params[1], bool)
            ):
                self.combined = params[1]
                self._reply({"result": None, "id": req_id})
            else:
                self._reply({"error": {"code": 0, "msg": "Unknown property"}, "id": req_id})
        elif method == "GET_PROPERTY":
            if params == ["combined"]:
                self._reply({"result": self.combined, "id": req_id})
            else:
                self._reply({"error": {"code": 0, "msg": "Unknown property"}, "id": req_id})
        else:
            self._reply(
                {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": req_id}
            )


# ---- spot streams ------------------------------------------------------------------------
_SUFFIX_RE = re.compile(
    r"^(trade|aggTrade|kline_(?:1s|1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)"
    r"|miniTicker|ticker|bookTicker|avgPrice|depth(?:5|10|20)?(?:@100ms|@1000ms)?)$"
)


class SpotPublisher:
    """Turns market moves into spot stream payloads for whoever is subscribed."""

    def __init__(self, state: SandboxState, hub: MarketHub) -> None:
        self.state = state
        self.hub = hub
        self.by_lower = {s.lower(): s for s in state.prices.markets}
        self._last_trade: dict[str, int] = {
            s: m.next_trade_id - 1 for s, m in state.prices.markets.items()
        }
        self._prev_book: dict[str, tuple[dict, dict, int]] = {}
        self._kline_open: dict[str, int] = {}
        self._last_kline_push = 0.0
        state.prices.add_listener(self.on_price)
        engine = state.engines.get("spot")
        if engine is not None:
            engine.trade_listeners.append(lambda symbol, _trade: self.publish_trades(symbol))

    def validate(self, name: str) -> str | None:
        if name == "!miniTicker@arr":
            return name
        sym, _, suffix = name.partition("@")
        if sym not in self.by_lower or not _SUFFIX_RE.match(suffix):
            return None
        return name

    def on_price(self, symbol: str, reason: str) -> None:
        if not self.hub.subs:
            self._prev_book.clear()
            return
        m = self.state.prices.markets[symbol]
        now = self.state.now_ms()
        low = symbol.lower()
        hub = self.hub
        self.publish_trades(symbol)
        if hub.has(f"{low}@bookTicker"):
            ((bp, bq),) = m.levels("bids", 1)
            ((ap, aq),) = m.levels("asks", 1)
            hub.publish(
                f"{low}@bookTicker",
                {
                    "u": m.update_id,
                    "s": symbol,
                    "b": fmt8(bp),
                    "B": fmt8(bq),
                    "a": fmt8(ap),
                    "A": fmt8(aq),
                },
            )
        for n in (5, 10, 20):
            names = [f"{low}@depth{n}", f"{low}@depth{n}@100ms", f"{low}@depth{n}@1000ms"]
            wanted = [s for s in names if hub.has(s)]
            if wanted:
                payload = {
                    "lastUpdateId": m.update_id,
                    "bids": [[fmt8(p), fmt8(q)] for p, q in m.levels("bids", n)],
                    "asks": [[fmt8(p), fmt8(q)] for p, q in m.levels("asks", n)],
                }
                for s in wanted:
                    hub.publish(s, payload)
        self._publish_diff(m, now)
        if hub.has(f"{low}@miniTicker") or hub.has(f"{low}@ticker") or hub.has("!miniTicker@arr"):
            t = ticker_24h(m, now)
            mini = {
                "e": "24hrMiniTicker",
                "E": now,
                "s": symbol,
                "c": t["lastPrice"],
                "o": t["openPrice"],
                "h": t["highPrice"],
                "l": t["lowPrice"],
                "v": t["volume"],
                "q": t["quoteVolume"],
            }
            hub.publish(f"{low}@miniTicker", mini)
            if hub.has("!miniTicker@arr") and reason == "tick":
                hub.publish("!miniTicker@arr", [mini])
            if hub.has(f"{low}@ticker"):
                hub.publish(
                    f"{low}@ticker",
                    {
                        "e": "24hrTicker",
                        "E": now,
                        "s": symbol,
                        "p": t["priceChange"],
                        "P": t["priceChangePercent"],
                        "w": t["weightedAvgPrice"],
                        "x": t["prevClosePrice"],
                        "c": t["lastPrice"],
                        "Q": t["lastQty"],
                        "b": t["bidPrice"],
                        "B": t["bidQty"],
                        "a": t["askPrice"],
                        "A": t["askQty"],
                        "o": t["openPrice"],
                        "h": t["highPrice"],
                        "l": t["lowPrice"],
                        "v": t["volume"],
                        "q": t["quoteVolume"],
                        "O": t["openTime"],
                        "C": t["closeTime"],
                        "F": t["firstId"],
                        "L": t["lastId"],
                        "n": t["count"],
                    },
                )
        if hub.has(f"{low}@avgPrice"):
            engine = self.state.engines["spot"]
            hub.publish(
                f"{low}@avgPrice",
                {
                    "e": "avgPrice",
                    "E": now,
                    "s": symbol,
                    "i": "5m",
                    "w": fmt8(engine.avg_price(symbol, now)),
                    "T": now,
                },
            )
        self._publish_klines(m, now, force=reason == "set")

    def publish_trades(self, symbol: str) -> None:
        m = self.state.prices.markets[symbol]
        last = self._last_trade.get(symbol, 0)
        if m.next_trade_id - 1 <= last:
            return
        self._last_trade[symbol] = m.next_trade_id - 1
        low = symbol.lower()
        want_trade = self.hub.has(f"{low}@trade")
        want_agg = self.hub.has(f"{low}@aggTrade")
        if not (want_trade or want_agg):
            return
        now = self.state.now_ms()
        # The newest trades, oldest first, without copying the whole deque (20000 entries).
        new = []
        for t in reversed(m.trades):
            if t.id <= last:
                break
            new.append(t)
        new.reverse()
        for t in new:
            if want_trade:
                self.hub.publish(
                    f"{low}@trade",
                    {
                        "e": "trade",
                        "E": now,
                        "s": symbol,
                        "t": t.id,
                        "p": fmt8(t.price),
                        "q": fmt8(t.qty),
                        "T": t.time,
                        "m": t.buyer_maker,
                        "M": True,
                    },
                )
            if want_agg:
                self.hub.publish(
                    f"{low}@aggTrade",
                    {
                        "e": "aggTrade",
                        "E": now,
                        "s": symbol,
                        "a": t.id,
                        "p": fmt8(t.price),
                        "q": fmt8(t.qty),
                        "f": t.id,
                        "l": t.id,
                        "T": t.time,
                        "m": t.buyer_maker,
                        "M": True,
                    },
                )

    def _publish_diff(self, m: Market, now: int) -> None:
        low = m.symbol.lower()
        names = [
            s
            for s in (f"{low}@depth", f"{low}@depth@100ms", f"{low}@depth@1000ms")
            if self.hub.has(s)
        ]
        if not names:
            self._prev_book.pop(m.symbol, None)
            return
        bids = dict(m.levels("bids", DIFF_LEVELS))
        asks = dict(m.levels("asks", DIFF_LEVELS))
        prev = self._prev_book.get(m.symbol)
        self._prev_book[m.symbol] = (bids, asks, m.update_id)
        if prev is None:
            return
        pbids, pasks, pu = prev
        if pu >= m.update_id:
            return

        def diff(old: dict, new: dict) -> list[list[str]]:
            out = [[fmt8(p), fmt8(q)] for p, q in new.items() if old.get(p) != q]
            out += [[fmt8(p), "0.00000000"] for p in old if p not in new]
            return out

        payload = {
            "e": "depthUpdate",
            "E": now,
            "s": m.symbol,
            "U": pu + 1,
            "u": m.update_id,
            "b": diff(pbids, bids),
            "a": diff(pasks, asks),
        }
        for s in names:
            self.hub.publish(s, payload)

    def on_subscribe(self, stream: str) -> None:
        # Prime the diff-depth baseline so the first update follows the next change.
        sym, _, suffix = stream.partition("@")
        if suffix.startswith("depth") and not suffix[5:6].isdigit() and sym in self.by_lower:
            m = self.state.prices.markets[self.by_lower[sym]]
            if m.symbol not in self._prev_book:
                self._prev_book[m.symbol] = (
                    dict(m.levels("bids", DIFF_LEVELS)),
                    dict(m.levels("asks", DIFF_LEVELS)),
                    m.update_id,
                )

    def _publish_klines(self, m: Market, now: int, force: bool) -> None:
        low = m.symbol.lower()
        names = self.hub.streams_with_prefix(f"{low}@kline_")
        if not names:
            return
        push_due = now - self._last_kline_push >= self.state.config.kline_push_interval * 1000
        for name in names:
            interval = name.split("_", 1)[1]
            if interval not in INTERVALS_MS:
                continue
            open_ms = kline_open(now, interval)
            prev_open = self._kline_open.get(name)
            self._kline_open[name] = open_ms
            if prev_open is not None and prev_open < open_ms:
                self.hub.publish(name, self._kline_payload(m, interval, prev_open, now, True))
            elif not (push_due or force or interval == "1s"):
                continue
            self.hub.publish(name, self._kline_payload(m, interval, open_ms, now, False))
        if push_due:
            self._last_kline_push = now

    def _kline_payload(
        self, m: Market, interval: str, open_ms: int, now: int, closed: bool
    ) -> dict:
        close_ms = kline_close(open_ms, interval)
        r = m.kline(open_ms, min(close_ms, now))
        first = last = -1
        for t in m.trades:
            if open_ms <= t.time <= close_ms:
                if first == -1:
                    first = t.id
                last = t.id
        return {
            "e": "kline",
            "E": now,
            "s": m.symbol,
            "k": {
                "t": open_ms,
                "T": close_ms,
                "s": m.symbol,
                "i": interval,
                "f": first,
                "L": last,
                "o": fmt8(r[1]),
                "c": fmt8(r[4]),
                "h": fmt8(r[2]),
                "l": fmt8(r[3]),
                "v": fmt8(r[5]),
                "n": r[8],
                "x": closed,
                "q": fmt8(r[7]),
                "V": fmt8(r[9]),
                "Q": fmt8(r[10]),
                "B": "0",
            },
        }


def setup(app: web.Application, state: SandboxState) -> MarketHub:
    hub = MarketHub()
    publisher = SpotPublisher(state, hub)
    state.engines["spot_hub"] = hub
    state.engines["spot_publisher"] = publisher

    async def raw(request: web.Request):
        tail = request.match_info.get("tail", "")
        names = [s for s in tail.split("/") if s]
        conn = StreamConnection(
            request,
            state,
            hub,
            names,
            combined=False,
            validate=publisher.validate,
            on_subscribe=publisher.on_subscribe,
        )
        return await conn.run()

    async def combined(request: web.Request):
        names = [s for s in request.query.get("streams", "").split("/") if s]
        conn = StreamConnection(
            request,
            state,
            hub,
            names,
            combined=True,
            validate=publisher.validate,
            on_subscribe=publisher.on_subscribe,
        )
        return await conn.run()

    app.router.add_get("/ws", raw)
    app.router.add_get("/ws/{tail:.*}", raw)
    app.router.add_get("/stream", combined)
    return hub


__all__ = ["Decimal", "MarketHub", "StreamConnection", "setup"]
