"""Spot balances valued in USDT, and a small market snapshot (last price, 24 h change, bid/ask).

Balances are cached for BALANCE_CACHE_SECONDS per connection (Django cache), so reloading a
page does not spend the server's shared request weight; `refresh=True` bypasses the cache.
Everything is Decimal; the cache holds strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.utils import timezone

from exchanges.binance import BinanceError, ErrorCategory
from exchanges.clients import client_for
from exchanges.models import ExchangeConnection
from exchanges.services.connections import balances_cache_key, connection_client
from exchanges.services.explanations import exchange_error
from klineo.exceptions import ApplicationError

BALANCE_CACHE_SECONDS = 10
DUST_THRESHOLD_USDT = Decimal("1")
QUOTE = "USDT"
# Valued 1:1 with USDT (close enough for a portfolio overview).
STABLECOINS = frozenset({"USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "USD1"})
SNAPSHOT_MAX_SYMBOLS = 20
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
_USDT_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class SpotBalance:
    asset: str
    free: Decimal
    locked: Decimal
    total: Decimal
    price_usdt: Decimal | None
    value_usdt: Decimal | None

    def is_dust(self, threshold: Decimal = DUST_THRESHOLD_USDT) -> bool:
        """Worth less than `threshold` USDT (an asset without a price is never dust)."""
        return self.value_usdt is not None and self.value_usdt < threshold


@dataclass(frozen=True)
class BalanceSnapshot:
    connection_id: int
    balances: tuple[SpotBalance, ...]
    total_usdt: Decimal
    unpriced_assets: tuple[str, ...]
    fetched_at: str
    cached: bool

    def visible(self, *, hide_dust: bool, threshold: Decimal = DUST_THRESHOLD_USDT):
        return [b for b in self.balances if not (hide_dust and b.is_dust(threshold))]

    def dust_count(self, threshold: Decimal = DUST_THRESHOLD_USDT) -> int:
        return sum(1 for b in self.balances if b.is_dust(threshold))


def usdt_price(asset: str, prices: dict[str, Decimal]) -> Decimal | None:
    """USDT value of one unit: stablecoins 1:1, else XUSDT, else XBTC x BTCUSDT, else None."""
    if asset in STABLECOINS:
        return Decimal(1)
    direct = prices.get(f"{asset}{QUOTE}")
    if direct is not None:
        return direct
    via_btc, btc = prices.get(f"{asset}BTC"), prices.get(f"BTC{QUOTE}")
    if via_btc is not None and btc is not None:
        return via_btc * btc
    return None


def _value_rows(raw_balances, prices: dict[str, Decimal]) -> list[SpotBalance]:
    rows = []
    for b in raw_balances:
        total = b.free + b.locked
        if total == 0:
            continue
        price = usdt_price(b.asset, prices)
        value = (total * price).quantize(_USDT_PLACES) if price is not None else None
        rows.append(SpotBalance(b.asset, b.free, b.locked, total, price, value))
    # Most valuable first; unpriced assets after, alphabetically.
    rows.sort(key=lambda r: (r.value_usdt is None, -(r.value_usdt or 0), r.asset))
    return rows


def _dump(snapshot: BalanceSnapshot) -> dict:
    return {
        "balances": [
            [b.asset, str(b.free), str(b.locked), str(b.total), _s(b.price_usdt), _s(b.value_usdt)]
            for b in snapshot.balances
        ],
        "total_usdt": str(snapshot.total_usdt),
        "unpriced": list(snapshot.unpriced_assets),
        "fetched_at": snapshot.fetched_at,
    }


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _load(connection_id: int, data: dict) -> BalanceSnapshot:
    return BalanceSnapshot(
        connection_id=connection_id,
        balances=tuple(
            SpotBalance(a, Decimal(f), Decimal(lk), Decimal(t), _d(p), _d(v))
            for a, f, lk, t, p, v in data["balances"]
        ),
        total_usdt=Decimal(data["total_usdt"]),
        unpriced_assets=tuple(data["unpriced"]),
        fetched_at=data["fetched_at"],
        cached=True,
    )


def connection_balances(
    *, connection: ExchangeConnection, refresh: bool = False
) -> BalanceSnapshot:
    """Spot balances of the connection with their USDT value (signed GET /api/v3/account plus
    one GET /api/v3/ticker/price). Cached BALANCE_CACHE_SECONDS; `refresh` bypasses the cache.

    Raises ApplicationError ("exchange_<category>", 429/503/502) when Binance fails.
    """
    key = balances_cache_key(connection)
    if not refresh:
        hit = cache.get(key)
        if hit is not None:
            return _load(connection.pk, hit)
    try:
        with connection_client(connection) as client:
            account = client.spot.account(omit_zero_balances=True)
            prices = {t.symbol: t.price for t in client.spot.ticker_prices()}
    except BinanceError as exc:
        raise exchange_error(exc, environment=connection.environment) from exc
    rows = _value_rows(account.balances, prices)
    snapshot = BalanceSnapshot(
        connection_id=connection.pk,
        balances=tuple(rows),
        total_usdt=sum((r.value_usdt for r in rows if r.value_usdt is not None), Decimal("0")),
        unpriced_assets=tuple(r.asset for r in rows if r.value_usdt is None),
        fetched_at=timezone.now().isoformat(),
        cached=False,
    )
    cache.set(key, _dump(snapshot), BALANCE_CACHE_SECONDS)
    return snapshot


@dataclass(frozen=True)
class MarketTicker:
    symbol: str
    last: Decimal
    change: Decimal
    change_percent: Decimal
    bid: Decimal
    ask: Decimal


def parse_symbols(raw: str | None) -> list[str]:
    """`BTCUSDT,ETHUSDT` -> ['BTCUSDT', 'ETHUSDT']; raises ApplicationError naming "symbols"."""
    symbols = [s.strip().upper() for s in (raw or "").split(",") if s.strip()]
    problem = None
    if not symbols:
        problem = "Give one or more symbols, comma-separated, e.g. BTCUSDT,ETHUSDT."
    elif len(symbols) > SNAPSHOT_MAX_SYMBOLS:
        problem = f"At most {SNAPSHOT_MAX_SYMBOLS} symbols at a time."
    else:
        bad = [s for s in symbols if not _SYMBOL.match(s)]
        if bad:
            problem = f"'{bad[0][:24]}' is not a symbol (letters and digits, e.g. BTCUSDT)."
    if problem:
        raise ApplicationError(problem, code="invalid", fields={"symbols": [problem]})
    return list(dict.fromkeys(symbols))


def market_snapshot(*, environment: str, symbols: list[str]) -> list[MarketTicker]:
    """Last price, 24 h change and best bid/ask of `symbols` in `environment` (public data)."""
    try:
        with client_for(environment=environment) as client:
            tickers = {t.symbol: t for t in client.spot.tickers_24h(symbols)}
            books = {b.symbol: b for b in client.spot.book_tickers(symbols)}
    except BinanceError as exc:
        if exc.category is ErrorCategory.INVALID_SYMBOL:
            message = "One of the symbols is not listed in this environment."
            raise ApplicationError(message, code="invalid", fields={"symbols": [message]}) from exc
        raise exchange_error(exc, environment=environment) from exc
    out = []
    for symbol in symbols:
        t, b = tickers.get(symbol), books.get(symbol)
        if t is None or b is None:
            message = f"{symbol} is not listed in this environment."
            raise ApplicationError(message, code="invalid", fields={"symbols": [message]})
        out.append(
            MarketTicker(
                symbol=symbol,
                last=t.last_price,
                change=t.price_change,
                change_percent=t.price_change_percent,
                bid=b.bid_price,
                ask=b.ask_price,
            )
        )
    return out
