"""Synthetic markets: a seeded random walk per underlying and an order book around it.

Floats are used only for the random walk itself; everything leaving this module (book levels,
last price, klines) is Decimal, quantised to the symbol's tick and step sizes.

The futures modules price their contracts off the same underlyings: ``engine.mid("BTCUSDT")``
and ``engine.add_listener(fn)`` (called with the underlying symbol after every move).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from .util import ZERO


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    start_price: Decimal
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    # Synthetic liquidity: notional (in quote) of one book level, min and max.
    level_notional: tuple[Decimal, Decimal]
    # Distance between synthetic book levels, in ticks.
    level_ticks: int
    spread_ticks: int = 1


SPOT_SYMBOLS: dict[str, SymbolSpec] = {
    s.symbol: s
    for s in (
        SymbolSpec(
            "BTCUSDT",
            "BTC",
            "USDT",
            Decimal("65000"),
            Decimal("0.01"),
            Decimal("0.00001"),
            Decimal("0.00001"),
            Decimal("9000"),
            Decimal("91.5"),
            Decimal("5"),
            Decimal("9000000"),
            (Decimal("300"), Decimal("3000")),
            50,
        ),
        SymbolSpec(
            "ETHUSDT",
            "ETH",
            "USDT",
            Decimal("3200"),
            Decimal("0.01"),
            Decimal("0.0001"),
            Decimal("0.0001"),
            Decimal("9000"),
            Decimal("3000"),
            Decimal("5"),
            Decimal("9000000"),
            (Decimal("300"), Decimal("3000")),
            5,
        ),
        SymbolSpec(
            "BNBUSDT",
            "BNB",
            "USDT",
            Decimal("600"),
            Decimal("0.01"),
            Decimal("0.001"),
            Decimal("0.001"),
            Decimal("9000"),
            Decimal("5000"),
            Decimal("5"),
            Decimal("9000000"),
            (Decimal("200"), Decimal("2000")),
            2,
        ),
        SymbolSpec(
            "ETHBTC",
            "ETH",
            "BTC",
            Decimal("0.049"),
            Decimal("0.00001"),
            Decimal("0.0001"),
            Decimal("0.0001"),
            Decimal("100000"),
            Decimal("2000"),
            Decimal("0.0001"),
            Decimal("9000000"),
            (Decimal("0.005"), Decimal("0.05")),
            1,
        ),
    )
}

# Random-walk volatility per second and the pull back towards the start price.
SIGMA_PER_SECOND = 0.00025
MEAN_REVERSION = 0.0005
HISTORY_SECONDS = 6 * 3600  # per-second bars kept for klines of the live period


def _to_dec(x: float, tick: Decimal) -> Decimal:
    return (Decimal(repr(x)) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick


class Bar:
    """Aggregated trades of one second (the live part of klines)."""

    __slots__ = ("c", "h", "l", "n", "o", "q", "tb", "tq", "v")

    def __init__(self, price: Decimal) -> None:
        self.o = self.h = self.l = self.c = price
        self.v = self.q = self.tb = self.tq = ZERO
        self.n = 0


@dataclass
class PublicTrade:
    id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_maker: bool


class Market:
    """One underlying: mid price, book generator, recent trades and per-second bars."""

    def __init__(self, spec: SymbolSpec, seed: int, start_ms: int) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.seed = seed
        self.start_ms = start_ms
        self.start_s = start_ms // 1000
        rng = random.Random(f"{seed}:{spec.symbol}:phases")
        self._phases = [rng.uniform(0, 2 * math.pi) for _ in range(4)]
        self.mid = float(spec.start_price)
        self.update_id = 1_000_000 + rng.randrange(1_000_000)
        self.consumed: dict[tuple[str, Decimal], Decimal] = {}
        # side -> (price, grid) of the first level that still had liquidity when last
        # walked. Liquidity only shrinks until `consumed` is cleared, so every level before
        # it stays empty: walks start there instead of stepping over the taken levels again.
        self._first_level: dict[str, tuple[Decimal, Decimal]] = {}
        self._qty_cache: dict[Decimal, Decimal] = {}
        self.trades: deque[PublicTrade] = deque(maxlen=20000)
        self.next_trade_id = 100_000 + rng.randrange(100_000)
        self.bars: dict[int, Bar] = {}
        self.last_price = self.quantize_price(self.mid)
        self.bid_price = self.ask_price = self.last_price
        self._rebuild_top()

    # ---- prices -------------------------------------------------------------------------
    def quantize_price(self, x: float | Decimal) -> Decimal:
        tick = self.spec.tick_size
        if isinstance(x, Decimal):
            return (x / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        return _to_dec(x, tick)

    def _rebuild_top(self) -> None:
        self._first_level.clear()
        tick = self.spec.tick_size
        half = self.spec.spread_ticks * tick / 2
        mid = Decimal(repr(self.mid))
        self.bid_price = ((mid - half) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        if self.bid_price <= 0:
            self.bid_price = tick
        self.ask_price = self.bid_price + self.spec.spread_ticks * tick

    def set_mid(self, price: float) -> None:
        self.mid = price
        self.consumed.clear()
        self._rebuild_top()
        self.update_id += 1

    def step(self, rng: random.Random, walk: bool) -> None:
        if walk:
            drift = -MEAN_REVERSION * math.log(self.mid / float(self.spec.start_price))
            self.mid *= math.exp(drift + SIGMA_PER_SECOND * rng.gauss(0.0, 1.0))
        # Liquidity taken by orders is replenished every second.
        self.consumed.clear()
        self._rebuild_top()
        self.update_id += 1

    def historic_price(self, t_ms: int) -> float:
        """A smooth deterministic path for times before the process started."""
        f = self._f(t_ms / 1000.0) - self._f(self.start_ms / 1000.0)
        return float(self.spec.start_price) * math.exp(f)

    def _f(self, t: float) -> float:
        p = self._phases
        return (
            0.05 * math.sin(2 * math.pi * t / (7 * 86400) + p[0])
            + 0.015 * math.sin(2 * math.pi * t / 86400 + p[1])
            + 0.004 * math.sin(2 * math.pi * t / 3600 + p[2])
            + 0.001 * math.sin(2 * math.pi * t / 300 + p[3])
        )

    # ---- order book ---------------------------------------------------------------------
    def _level_qty(self, price: Decimal) -> Decimal:
        qty = self._qty_cache.get(price)
        if qty is None:
            h = hashlib.blake2b(f"{self.seed}:{self.symbol}:{price}".encode(), digest_size=8)
            u = int.from_bytes(h.digest(), "big") / 2**64
            lo, hi = self.spec.level_notional
            notional = lo + (hi - lo) * Decimal(repr(round(u, 6)))
            step = self.spec.step_size
            qty = (notional / price / step).to_integral_value(rounding=ROUND_DOWN) * step
            qty = max(qty, self.spec.min_qty)
            if len(self._qty_cache) > 200_000:
                self._qty_cache.clear()
            self._qty_cache[price] = qty
        return qty

    def iter_levels(self, side: str) -> Iterator[tuple[Decimal, Decimal]]:
        """Yield (price, available qty) from the best level outwards. side: 'asks' or 'bids'."""
        level_step = self.spec.tick_size * self.spec.level_ticks
        consumed = self.consumed
        hint = self._first_level.get(side) if consumed else None
        first = True
        # The best level sits at the touch; deeper levels lie on a fixed grid so that a small
        # move of the mid changes only a few levels (realistic depth diffs).
        if side == "asks":
            if hint is not None:
                price, grid = hint
            else:
                price = self.ask_price
                grid = (price / level_step).to_integral_value(rounding=ROUND_FLOOR) * level_step
            while True:
                qty = self._level_qty(price) - consumed.get(("asks", price), ZERO)
                if qty > 0:
                    if first:
                        first = False
                        if consumed:
                            self._first_level["asks"] = (price, grid)
                    yield price, qty
                grid += level_step
                price = grid
        else:
            if hint is not None:
                price, grid = hint
            else:
                price = self.bid_price
                grid = (price / level_step).to_integral_value(rounding=ROUND_CEILING) * level_step
            while price > 0:
                qty = self._level_qty(price) - consumed.get(("bids", price), ZERO)
                if qty > 0:
                    if first:
                        first = False
                        if consumed:
                            self._first_level["bids"] = (price, grid)
                    yield price, qty
                grid -= level_step
                price = grid

    def levels(self, side: str, n: int) -> list[tuple[Decimal, Decimal]]:
        out = []
        for level in self.iter_levels(side):
            out.append(level)
            if len(out) >= n:
                break
        return out

    def consume(self, side: str, price: Decimal, qty: Decimal) -> None:
        key = (side, price)
        self.consumed[key] = self.consumed.get(key, ZERO) + qty
        self.update_id += 1

    # ---- trades and bars ----------------------------------------------------------------
    def record_trade(
        self, price: Decimal, qty: Decimal, t_ms: int, buyer_maker: bool
    ) -> PublicTrade:
        trade = PublicTrade(self.next_trade_id, price, qty, t_ms, buyer_maker)
        self.next_trade_id += 1
        self.trades.append(trade)
        self.last_price = price
        sec = t_ms // 1000
        bar = self.bars.get(sec)
        if bar is None:
            bar = self.bars[sec] = Bar(price)
            if len(self.bars) > HISTORY_SECONDS:
                for old in sorted(self.bars)[: len(self.bars) - HISTORY_SECONDS]:
                    del self.bars[old]
        if price > bar.h:
            bar.h = price
        if price < bar.l:
            bar.l = price
        bar.c = price
        quote = price * qty
        bar.v += qty
        bar.q += quote
        bar.n += 1
        if not buyer_maker:
            bar.tb += qty
            bar.tq += quote
        return trade

    def synthetic_trades(self, rng: random.Random, t_ms: int) -> list[PublicTrade]:
        out = []
        for _ in range(rng.randint(1, 3)):
            buyer_maker = rng.random() < 0.5
            price = self.bid_price if buyer_maker else self.ask_price
            notional = float(self.spec.level_notional[0]) * rng.uniform(0.01, 0.3)
            step = self.spec.step_size
            qty = (Decimal(repr(round(notional / float(price), 10))) / step).to_integral_value(
                rounding=ROUND_DOWN
            ) * step
            qty = max(qty, self.spec.min_qty)
            out.append(self.record_trade(price, qty, t_ms, buyer_maker))
        return out

    # ---- klines -------------------------------------------------------------------------
    def kline(self, open_ms: int, close_ms: int) -> list:
        """One kline row [openTime, o, h, l, c, v, closeTime, q, n, tb, tq, "0"] as Decimals."""
        o = h = low = c = None
        v = q = tb = tq = ZERO
        n = 0
        end_ms = close_ms + 1
        hist_end = min(end_ms, self.start_ms)
        if open_ms < hist_end:
            span = hist_end - open_ms
            samples = 4 if span <= 60_000 else 12
            prices = [
                self.quantize_price(self.historic_price(open_ms + span * i // samples))
                for i in range(samples + 1)
            ]
            o, c = prices[0], prices[-1]
            h, low = max(prices), min(prices)
            hsh = hashlib.blake2b(
                f"{self.seed}:{self.symbol}:{open_ms}:{span}".encode(), digest_size=4
            )
            u = int.from_bytes(hsh.digest(), "big") / 2**32
            per_sec = float(self.spec.level_notional[0]) * 0.5 / float(self.spec.start_price)
            vol = Decimal(repr(round(per_sec * (span / 1000.0) * (0.5 + u), 8)))
            v = vol.quantize(self.spec.step_size, rounding=ROUND_DOWN)
            q = (v * c).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
            tb = (v / 2).quantize(self.spec.step_size, rounding=ROUND_DOWN)
            tq = (tb * c).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
            n = max(1, int(span / 1000 * 2 * (0.5 + u)))
        if end_ms > self.start_ms and self.bars:
            first = max(open_ms, self.start_ms) // 1000
            last = (end_ms - 1) // 1000
            bars = self.bars
            if last - first > len(bars):
                secs = sorted(s for s in bars if first <= s <= last)
            else:
                secs = [s for s in range(first, last + 1) if s in bars]
            for s in secs:
                bar = bars[s]
                if o is None:
                    o, h, low = bar.o, bar.h, bar.l
                h = max(h, bar.h)
                low = min(low, bar.l)
                c = bar.c
                v += bar.v
                q += bar.q
                tb += bar.tb
                tq += bar.tq
                n += bar.n
        if o is None:
            o = h = low = c = self.last_price
        return [open_ms, o, h, low, c, v, close_ms, q, n, tb, tq, "0"]


class PriceEngine:
    """All markets plus listeners notified after every move (tick or control-API price)."""

    def __init__(self, seed: int, specs: dict[str, SymbolSpec] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.start_ms = int(time.time() * 1000)
        self.markets: dict[str, Market] = {
            sym: Market(spec, seed, self.start_ms) for sym, spec in (specs or SPOT_SYMBOLS).items()
        }
        self._listeners: list[Callable[[str, str], None]] = []

    def add_listener(self, fn: Callable[[str, str], None]) -> None:
        """fn(symbol, reason) with reason 'tick' or 'set'; called synchronously."""
        self._listeners.append(fn)

    def mid(self, symbol: str) -> Decimal:
        m = self.markets[symbol]
        return m.quantize_price(m.mid)

    def market(self, symbol: str) -> Market:
        return self.markets[symbol]

    def step_all(self, walk: bool, now_ms: int) -> None:
        for m in self.markets.values():
            m.step(self.rng, walk)
            m.synthetic_trades(self.rng, now_ms)
        for m in self.markets.values():
            self._notify(m.symbol, "tick")

    def set_price(self, symbol: str, price: Decimal, now_ms: int) -> None:
        m = self.markets[symbol]
        m.set_mid(float(price))
        # A print at the new price so last price, tickers and stops see the move at once.
        target = m.quantize_price(price)
        m.record_trade(target, m.spec.min_qty, now_ms, False)
        self._notify(symbol, "set")
        if m.last_price != target:
            # Resting orders the move crossed filled at their own limits; the market settles at
            # the requested price, so the last print is that price again.
            m.record_trade(target, m.spec.min_qty, now_ms, False)

    def _notify(self, symbol: str, reason: str) -> None:
        for fn in self._listeners:
            fn(symbol, reason)

    def dump(self) -> dict:
        return {
            s: {
                "mid": m.mid,
                "last": str(m.last_price),
                "trade_id": m.next_trade_id,
                "update_id": m.update_id,
            }
            for s, m in self.markets.items()
        }

    def load(self, data: dict) -> None:
        for s, d in data.items():
            m = self.markets.get(s)
            if m is None:
                continue
            m.mid = float(d["mid"])
            m.last_price = Decimal(d["last"])
            m.next_trade_id = int(d["trade_id"])
            m.update_id = int(d["update_id"])
            m._rebuild_top()
