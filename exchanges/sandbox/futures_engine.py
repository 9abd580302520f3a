"""Futures domain logic of the sandbox: contracts, positions, margin, PnL, orders, algo orders.

Plain Python, no I/O: the HTTP and websocket layers (futures.py, coinm.py) parse requests, call
the methods here with the current mark price and the time, and forward the returned user-stream
events. One engine serves both USD-M (linear, quantity in base asset, margin in USDT) and COIN-M
(inverse, quantity in contracts of `contract_size` USD, margin and PnL in the coin).

Every amount is a Decimal. The mark price comes from the shared price engine; the sandbox has no
separate index or last price, so mark == last == index here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from .errors import ApiError
from .util import new_client_order_id

ZERO = Decimal(0)
MAKER_RATE = Decimal("0.0002")
TAKER_RATE = Decimal("0.0005")
DEFAULT_LEVERAGE = 20
MAX_LEVERAGE = 125
EIGHT = Decimal("0.00000001")

CLIENT_ORDER_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
CLIENT_ORDER_ID_RE = re.compile(CLIENT_ORDER_ID_PATTERN)

ORDER_TYPES = ("LIMIT", "MARKET")
ALGO_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "GTD")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")

MSG_ALGO_SWITCH = (
    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
)


class FuturesError(ApiError):
    """A Binance futures error (code, message, HTTP status); rendered by the REST wrapper."""


def fmt(value: Decimal, places: int) -> str:
    """Fixed-point string with `places` decimals, like Binance futures amounts."""
    if places <= 0:
        return str(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"


def fmt8(value: Decimal) -> str:
    return fmt(value, 8)


def decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# ---------------------------------------------------------------------------------------------
# Contracts


@dataclass(frozen=True)
class Bracket:
    bracket: int
    initial_leverage: int
    notional_cap: Decimal
    notional_floor: Decimal
    maint_margin_ratio: Decimal
    cum: Decimal


def make_brackets(rows: list[tuple[int, str, str]]) -> tuple[Bracket, ...]:
    """Build brackets from (leverage, cap, maintenance ratio); floors and cum are derived."""
    brackets = []
    floor = ZERO
    cum = ZERO
    previous_mmr = ZERO
    for index, (leverage, cap, mmr) in enumerate(rows, start=1):
        ratio = Decimal(mmr)
        cum = cum + floor * (ratio - previous_mmr)
        brackets.append(Bracket(index, leverage, Decimal(cap), floor, ratio, cum))
        floor = Decimal(cap)
        previous_mmr = ratio
    return tuple(brackets)


@dataclass(frozen=True)
class ContractSpec:
    symbol: str
    pair: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    price_source: str  # symbol of the shared price engine that drives the mark price
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    price_precision: int
    quantity_precision: int
    brackets: tuple[Bracket, ...]
    min_notional: Decimal | None = None
    min_notional_text: str = ""
    contract_size: Decimal | None = None  # set for inverse (COIN-M) contracts
    max_num_orders: int = 200
    multiplier_up: Decimal = Decimal("1.0500")
    multiplier_down: Decimal = Decimal("0.9500")

    @property
    def inverse(self) -> bool:
        return self.contract_size is not None

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        """Notional in the margin asset (USDT for linear, the coin for inverse)."""
        if self.contract_size is None:
            return qty * price
        if price <= 0:
            return ZERO
        return qty * self.contract_size / price

    def pnl(self, signed_amount: Decimal, entry: Decimal, exit_price: Decimal) -> Decimal:
        """Profit of a signed position (negative = short) from entry to exit, margin asset."""
        if self.contract_size is None:
            return signed_amount * (exit_price - entry)
        if entry <= 0 or exit_price <= 0:
            return ZERO
        return (signed_amount * self.contract_size * (1 / entry - 1 / exit_price)).quantize(
            EIGHT, rounding=ROUND_DOWN
        )

    def average_entry(self, old_qty: Decimal, old_entry: Decimal, qty: Decimal, price: Decimal):
        """Entry price after adding `qty` at `price` to `old_qty` at `old_entry` (absolutes)."""
        if old_qty == 0:
            return price
        if self.contract_size is None:
            return (old_qty * old_entry + qty * price) / (old_qty + qty)
        return (old_qty + qty) / (old_qty / old_entry + qty / price)

    def round_price(self, value: Decimal) -> Decimal:
        return (value / self.tick_size).to_integral_value(rounding=ROUND_HALF_UP) * self.tick_size

    def fmt_price(self, value: Decimal) -> str:
        return fmt(value, self.price_precision)

    def fmt_qty(self, value: Decimal) -> str:
        return fmt(value, self.quantity_precision)

    def bracket_for_leverage(self, leverage: int) -> Bracket:
        """The largest bracket that still allows `leverage` (its cap is maxNotionalValue)."""
        allowed = [b for b in self.brackets if b.initial_leverage >= leverage]
        return allowed[-1] if allowed else self.brackets[0]

    def bracket_for_notional(self, notional: Decimal) -> Bracket:
        for bracket in self.brackets:
            if notional <= bracket.notional_cap:
                return bracket
        return self.brackets[-1]


# Bracket values modelled on Binance's public tables; UNCONFIRMED as of 2026.
BTC_BRACKETS = make_brackets(
    [
        (125, "50000", "0.004"),
        (100, "600000", "0.005"),
        (75, "3000000", "0.0065"),
        (50, "12000000", "0.01"),
        (25, "70000000", "0.02"),
        (20, "100000000", "0.025"),
        (10, "230000000", "0.05"),
        (5, "480000000", "0.1"),
        (4, "600000000", "0.125"),
        (3, "800000000", "0.15"),
        (2, "1200000000", "0.25"),
        (1, "1800000000", "0.5"),
    ]
)
ETH_BRACKETS = make_brackets(
    [
        (125, "50000", "0.004"),
        (100, "500000", "0.005"),
        (75, "2000000", "0.0065"),
        (50, "10000000", "0.01"),
        (25, "50000000", "0.02"),
        (20, "70000000", "0.025"),
        (10, "100000000", "0.05"),
        (5, "200000000", "0.1"),
        (4, "300000000", "0.125"),
        (3, "400000000", "0.15"),
        (2, "500000000", "0.25"),
        (1, "800000000", "0.5"),
    ]
)
# COIN-M brackets are in coin notional.
BTCUSD_BRACKETS = make_brackets(
    [
        (125, "5", "0.004"),
        (100, "10", "0.005"),
        (50, "20", "0.01"),
        (20, "50", "0.025"),
        (10, "100", "0.05"),
        (5, "200", "0.1"),
        (4, "400", "0.125"),
        (3, "1000", "0.15"),
        (2, "1500", "0.25"),
        (1, "3000", "0.5"),
    ]
)
ETHUSD_BRACKETS = make_brackets(
    [
        (125, "150", "0.004"),
        (100, "300", "0.005"),
        (50, "1500", "0.01"),
        (20, "3000", "0.025"),
        (10, "6000", "0.05"),
        (5, "12000", "0.1"),
        (4, "20000", "0.125"),
        (3, "30000", "0.15"),
        (2, "50000", "0.25"),
        (1, "100000", "0.5"),
    ]
)

USDM_CONTRACTS: dict[str, ContractSpec] = {
    "BTCUSDT": ContractSpec(
        symbol="BTCUSDT",
        pair="BTCUSDT",
        base_asset="BTC",
        quote_asset="USDT",
        margin_asset="USDT",
        price_source="BTCUSDT",
        tick_size=Decimal("0.10"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("1000"),
        market_max_qty=Decimal("120"),
        min_price=Decimal("261.10"),
        max_price=Decimal("809484"),
        price_precision=2,
        quantity_precision=3,
        brackets=BTC_BRACKETS,
        min_notional=Decimal("100"),
        min_notional_text="100",
    ),
    "ETHUSDT": ContractSpec(
        symbol="ETHUSDT",
        pair="ETHUSDT",
        base_asset="ETH",
        quote_asset="USDT",
        margin_asset="USDT",
        price_source="ETHUSDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("10000"),
        market_max_qty=Decimal("2000"),
        min_price=Decimal("39.86"),
        max_price=Decimal("306177"),
        price_precision=2,
        quantity_precision=3,
        brackets=ETH_BRACKETS,
        min_notional=Decimal("5"),
        min_notional_text="5",
    ),
}

COINM_CONTRACTS: dict[str, ContractSpec] = {
    "BTCUSD_PERP": ContractSpec(
        symbol="BTCUSD_PERP",
        pair="BTCUSD",
        base_asset="BTC",
        quote_asset="USD",
        margin_asset="BTC",
        price_source="BTCUSDT",
        tick_size=Decimal("0.1"),
        step_size=Decimal("1"),
        min_qty=Decimal("1"),
        max_qty=Decimal("1000000"),
        market_max_qty=Decimal("60000"),
        min_price=Decimal("1000"),
        max_price=Decimal("4520958"),
        price_precision=1,
        quantity_precision=0,
        brackets=BTCUSD_BRACKETS,
        contract_size=Decimal("100"),
    ),
    "ETHUSD_PERP": ContractSpec(
        symbol="ETHUSD_PERP",
        pair="ETHUSD",
        base_asset="ETH",
        quote_asset="USD",
        margin_asset="ETH",
        price_source="ETHUSDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("1"),
        min_qty=Decimal("1"),
        max_qty=Decimal("1000000"),
        market_max_qty=Decimal("100000"),
        min_price=Decimal("50"),
        max_price=Decimal("306177"),
        price_precision=2,
        quantity_precision=0,
        brackets=ETHUSD_BRACKETS,
        contract_size=Decimal("10"),
    ),
}


# ---------------------------------------------------------------------------------------------
# Account state


@dataclass
class Position:
    symbol: str
    side: str  # BOTH, LONG or SHORT
    amount: Decimal = ZERO  # signed; SHORT positions are negative like Binance shows them
    entry_price: Decimal = ZERO
    break_even_price: Decimal = ZERO
    accumulated_realized: Decimal = ZERO
    isolated_wallet: Decimal = ZERO
    update_time: int = 0


@dataclass
class FuturesOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    position_side: str
    type: str
    orig_type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    stop_price: Decimal
    reduce_only: bool
    close_position: bool
    working_type: str
    price_protect: bool
    price_match: str
    stp_mode: str
    good_till_date: int
    time: int
    update_time: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO  # quote for linear, base coin (cumBase) for inverse
    realized_pnl: Decimal = ZERO
    activate_price: Decimal | None = None
    price_rate: Decimal | None = None
    algo_id: int | None = None

    @property
    def avg_price(self) -> Decimal:
        return self.cum_price_sum / self.executed_qty if self.executed_qty else ZERO

    cum_price_sum: Decimal = ZERO  # sum(qty*price), for the average price

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_qty

    def registry_view(self) -> dict:
        """What GET /sandbox/v1/orders shows for this order (read live)."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "clientOrderId": self.client_order_id,
            "side": self.side,
            "type": self.type,
            "status": self.status,
            "origQty": str(self.quantity),
            "executedQty": str(self.executed_qty),
            "price": str(self.price),
            "time": self.time,
            "updateTime": self.update_time,
        }

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass
class FuturesTrade:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    position_side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    maker: bool
    time: int


@dataclass
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    position_side: str
    order_type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    trigger_price: Decimal
    working_type: str
    price_match: str
    close_position: bool
    price_protect: bool
    reduce_only: bool
    activate_price: Decimal | None
    callback_rate: Decimal | None
    stp_mode: str
    good_till_date: int
    create_time: int
    update_time: int
    status: str = "NEW"
    trigger_time: int = 0
    actual_order_id: int | None = None
    fail_reason: str = ""
    activated: bool = False
    extreme: Decimal | None = None  # best price seen since activation (trailing stops)

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"

    def registry_view(self) -> dict:
        return {
            "symbol": self.symbol,
            "algoId": self.algo_id,
            "clientAlgoId": self.client_algo_id,
            "clientOrderId": self.client_algo_id,
            "algoType": "CONDITIONAL",
            "side": self.side,
            "type": self.order_type,
            "status": self.status,
            "algoStatus": self.status,
            "origQty": str(self.quantity),
            "triggerPrice": str(self.trigger_price),
            "actualOrderId": self.actual_order_id,
            "time": self.create_time,
            "updateTime": self.update_time,
        }


Event = dict
PriceFn = Callable[[str], Decimal]


@dataclass
class OrderRequest:
    """A validated order as the HTTP layer parsed it."""

    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal = ZERO
    position_side: str = "BOTH"
    time_in_force: str = "GTC"
    reduce_only: bool = False
    reduce_only_sent: bool = False
    client_order_id: str = ""
    price_match: str = "NONE"
    stp_mode: str = "EXPIRE_MAKER"
    good_till_date: int = 0
    orig_type: str = ""
    stop_price: Decimal = ZERO
    working_type: str = "CONTRACT_PRICE"
    close_position: bool = False
    price_protect: bool = False
    algo_id: int | None = None


@dataclass
class AlgoRequest:
    symbol: str
    side: str
    type: str
    quantity: Decimal
    trigger_price: Decimal
    price: Decimal = ZERO
    position_side: str = "BOTH"
    time_in_force: str = "GTC"
    reduce_only: bool = False
    reduce_only_sent: bool = False
    close_position: bool = False
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False
    price_match: str = "NONE"
    client_algo_id: str = ""
    activate_price: Decimal | None = None
    callback_rate: Decimal | None = None
    stp_mode: str = "EXPIRE_MAKER"
    good_till_date: int = 0


class Ids:
    """Id sequences shared by all accounts of one market (Binance ids are global)."""

    def __init__(self, order_start: int, trade_start: int, algo_start: int) -> None:
        self.orders = itertools.count(order_start)
        self.trades = itertools.count(trade_start)
        self.algos = itertools.count(algo_start)

    def skip_past(self, order_id: int, trade_id: int, algo_id: int) -> None:
        """After loading saved state: continue above the highest ids in use."""
        self.orders = itertools.count(max(next(self.orders), order_id + 1))
        self.trades = itertools.count(max(next(self.trades), trade_id + 1))
        self.algos = itertools.count(max(next(self.algos), algo_id + 1))


def _to_json(obj) -> dict:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(obj).items()}


def _from_json(cls, data: dict):
    """Rebuild a state dataclass saved by _to_json (Decimal fields come back from strings)."""
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if value is not None and "Decimal" in str(f.type):
            value = Decimal(value)
        kwargs[f.name] = value
    return cls(**kwargs)


@dataclass
class FuturesAccount:
    """One account's futures wallet of one market (USD-M or COIN-M)."""

    account_id: str
    contracts: dict[str, ContractSpec]
    ids: Ids
    balances: dict[str, Decimal]
    market: str = "um"  # "um" or "cm"
    dual_side: bool = False
    multi_assets: bool = False
    fee_tier: int = 0
    leverage: dict[str, int] = field(default_factory=dict)
    margin_type: dict[str, str] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: dict[int, FuturesOrder] = field(default_factory=dict)
    trades: list[FuturesTrade] = field(default_factory=list)
    algos: dict[int, AlgoOrder] = field(default_factory=dict)
    client_ids: set[str] = field(default_factory=set)
    update_time: int = 0

    # -- persistence -----------------------------------------------------------------------

    def dump(self) -> dict:
        """JSON-able state for the sandbox's --state file (balances live in the Account)."""
        return {
            "dual_side": self.dual_side,
            "leverage": self.leverage,
            "margin_type": self.margin_type,
            "positions": [
                _to_json(p) for p in self.positions.values() if p.amount or p.accumulated_realized
            ],
            "orders": [_to_json(o) for o in self.orders.values()],
            "trades": [_to_json(t) for t in self.trades],
            "algos": [_to_json(a) for a in self.algos.values()],
            "update_time": self.update_time,
        }

    def load(self, data: dict) -> None:
        self.dual_side = bool(data.get("dual_side", False))
        self.leverage = {k: int(v) for k, v in data.get("leverage", {}).items()}
        self.margin_type = dict(data.get("margin_type", {}))
        for row in data.get("positions", []):
            position = _from_json(Position, row)
            self.positions[(position.symbol, position.side)] = position
        for row in data.get("orders", []):
            order = _from_json(FuturesOrder, row)
            self.orders[order.order_id] = order
            self.client_ids.add(order.client_order_id)
        self.trades = [_from_json(FuturesTrade, row) for row in data.get("trades", [])]
        for row in data.get("algos", []):
            algo = _from_json(AlgoOrder, row)
            self.algos[algo.algo_id] = algo
            self.client_ids.add(algo.client_algo_id)
        self.update_time = int(data.get("update_time", 0))

    # -- configuration ---------------------------------------------------------------------

    def spec(self, symbol: str) -> ContractSpec:
        spec = self.contracts.get(symbol)
        if spec is None:
            raise FuturesError(-1121, "Invalid symbol.")
        return spec

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, DEFAULT_LEVERAGE)

    def margin_type_of(self, symbol: str) -> str:
        return self.margin_type.get(symbol, "CROSSED")

    def isolated(self, symbol: str) -> bool:
        return self.margin_type_of(symbol) == "ISOLATED"

    def open_orders(self, symbol: str | None = None) -> list[FuturesOrder]:
        return [
            o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def open_algos(self, symbol: str | None = None) -> list[AlgoOrder]:
        return [
            a for a in self.algos.values() if a.is_open and (symbol is None or a.symbol == symbol)
        ]

    def position(self, symbol: str, side: str) -> Position:
        key = (symbol, side)
        if key not in self.positions:
            self.positions[key] = Position(symbol=symbol, side=side)
        return self.positions[key]

    def active_positions(self, symbol: str | None = None) -> list[Position]:
        return [
            p
            for p in self.positions.values()
            if p.amount != 0 and (symbol is None or p.symbol == symbol)
        ]

    def position_sides(self) -> tuple[str, ...]:
        return ("LONG", "SHORT") if self.dual_side else ("BOTH",)

    def set_leverage(self, symbol: str, leverage: int, mark: PriceFn, now: int) -> list[Event]:
        spec = self.spec(symbol)
        if leverage < 1 or leverage > MAX_LEVERAGE:
            raise FuturesError(-4028, f"Leverage {leverage} is not valid")
        cap = spec.bracket_for_leverage(leverage)
        if spec.brackets[0].initial_leverage < leverage:
            raise FuturesError(-4028, f"Leverage {leverage} is not valid")
        for position in self.active_positions(symbol):
            notional = spec.notional(abs(position.amount), mark(symbol))
            if notional > cap.notional_cap:
                raise FuturesError(
                    -2027, "Exceeded the maximum allowable position at current leverage."
                )
        self.leverage[symbol] = leverage
        self.update_time = now
        return [
            {"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now, "ac": {"s": symbol, "l": leverage}}
        ]

    def set_margin_type(self, symbol: str, margin_type: str, now: int) -> list[Event]:
        self.spec(symbol)
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise FuturesError(-4044, "The margin type is invalid.")
        if self.margin_type_of(symbol) == margin_type:
            raise FuturesError(-4046, "No need to change margin type.")
        if self.open_orders(symbol) or self.open_algos(symbol):
            raise FuturesError(-4047, "Margin type cannot be changed if there exists open orders.")
        if self.active_positions(symbol):
            raise FuturesError(-4048, "Margin type cannot be changed if there exists position.")
        self.margin_type[symbol] = margin_type
        self.update_time = now
        return []

    def set_dual_side(self, dual: bool, now: int) -> list[Event]:
        if dual == self.dual_side:
            raise FuturesError(-4059, "No need to change position side.")
        if self.open_orders() or self.open_algos():
            raise FuturesError(
                -4067, "Position side cannot be changed if there exists open orders."
            )
        if self.active_positions():
            raise FuturesError(-4068, "Position side cannot be changed if there exists position.")
        self.dual_side = dual
        self.update_time = now
        return []

    # -- margin ------------------------------------------------------------------------------

    def unrealized(self, position: Position, mark: PriceFn) -> Decimal:
        if position.amount == 0:
            return ZERO
        spec = self.spec(position.symbol)
        return spec.pnl(position.amount, position.entry_price, mark(position.symbol))

    def position_initial_margin(self, position: Position, mark: PriceFn) -> Decimal:
        spec = self.spec(position.symbol)
        notional = spec.notional(abs(position.amount), mark(position.symbol))
        return notional / self.leverage_of(position.symbol)

    def maint_margin(self, position: Position, mark: PriceFn) -> Decimal:
        spec = self.spec(position.symbol)
        notional = spec.notional(abs(position.amount), mark(position.symbol))
        bracket = spec.bracket_for_notional(notional)
        return max(ZERO, notional * bracket.maint_margin_ratio - bracket.cum)

    def order_initial_margin(self, order: FuturesOrder, mark: PriceFn) -> Decimal:
        if order.reduce_only or order.close_position or not order.is_open:
            return ZERO
        spec = self.spec(order.symbol)
        price = order.price if order.price > 0 else mark(order.symbol)
        return spec.notional(order.remaining, price) / self.leverage_of(order.symbol)

    def isolated_total(self, asset: str) -> Decimal:
        return sum(
            (
                p.isolated_wallet
                for p in self.positions.values()
                if self.spec(p.symbol).margin_asset == asset
            ),
            ZERO,
        )

    def asset_summary(self, asset: str, mark: PriceFn) -> dict[str, Decimal]:
        """Wallet figures of one margin asset, as Binance's account endpoints report them."""
        wallet = self.balances.get(asset, ZERO)
        cross_wallet = wallet - self.isolated_total(asset)
        unrealized = ZERO
        cross_unrealized = ZERO
        position_im = ZERO
        cross_position_im = ZERO
        maint = ZERO
        for position in self.positions.values():
            spec = self.spec(position.symbol)
            if spec.margin_asset != asset or position.amount == 0:
                continue
            up = self.unrealized(position, mark)
            im = self.position_initial_margin(position, mark)
            unrealized += up
            position_im += im
            maint += self.maint_margin(position, mark)
            if not self.isolated(position.symbol):
                cross_unrealized += up
                cross_position_im += im
        order_im = sum(
            (
                self.order_initial_margin(o, mark)
                for o in self.orders.values()
                if self.spec(o.symbol).margin_asset == asset
            ),
            ZERO,
        )
        available = cross_wallet + cross_unrealized - cross_position_im - order_im
        return {
            "walletBalance": wallet,
            "unrealizedProfit": unrealized,
            "marginBalance": wallet + unrealized,
            "maintMargin": maint,
            "initialMargin": position_im + order_im,
            "positionInitialMargin": position_im,
            "openOrderInitialMargin": order_im,
            "crossWalletBalance": cross_wallet,
            "crossUnPnl": cross_unrealized,
            "availableBalance": available,
            "maxWithdrawAmount": max(ZERO, min(available, cross_wallet)),
        }

    def liquidation_price(self, position: Position) -> Decimal:
        """Rough isolated/cross liquidation estimate; 0 when flat. UNCONFIRMED formula."""
        if position.amount == 0:
            return ZERO
        spec = self.spec(position.symbol)
        if spec.inverse:
            return ZERO
        qty = abs(position.amount)
        if self.isolated(position.symbol):
            margin = position.isolated_wallet
        else:
            margin = self.balances.get(spec.margin_asset, ZERO) - self.isolated_total(
                spec.margin_asset
            )
        bracket = spec.bracket_for_notional(qty * position.entry_price)
        mmr = bracket.maint_margin_ratio
        if position.amount > 0:
            price = (qty * position.entry_price - margin - bracket.cum) / (qty * (1 - mmr))
        else:
            price = (qty * position.entry_price + margin + bracket.cum) / (qty * (1 + mmr))
        return max(ZERO, price)

    # -- orders ------------------------------------------------------------------------------

    def _check_position_side(self, request: OrderRequest | AlgoRequest) -> None:
        if self.dual_side:
            if request.position_side not in ("LONG", "SHORT"):
                raise FuturesError(-4061, "Order's position side does not match user's setting.")
            if request.reduce_only_sent:
                raise FuturesError(-1106, "Parameter 'reduceonly' sent when not required.")
        elif request.position_side != "BOTH":
            raise FuturesError(-4061, "Order's position side does not match user's setting.")

    def _position_for(self, symbol: str, side: str, position_side: str) -> Position:
        return self.position(symbol, position_side)

    def _reducing_qty(self, symbol: str, side: str, position_side: str) -> Decimal:
        """How much of an order in `side` would reduce the current position (absolute)."""
        position = self.positions.get((symbol, position_side))
        amount = position.amount if position else ZERO
        if position_side == "LONG":
            return amount if side == "SELL" else ZERO
        if position_side == "SHORT":
            return -amount if side == "BUY" else ZERO
        if side == "SELL" and amount > 0:
            return amount
        if side == "BUY" and amount < 0:
            return -amount
        return ZERO

    def check_new_order(self, request: OrderRequest, mark: PriceFn) -> None:
        """Domain checks of a new order: position side, reduce-only, notional, margin."""
        spec = self.spec(request.symbol)
        self._check_position_side(request)
        if request.client_order_id in self.client_ids:
            raise FuturesError(-4116, "clientOrderId is duplicated")
        reducing = self._reducing_qty(request.symbol, request.side, request.position_side)
        closing_hedge = (request.position_side, request.side) in (
            ("LONG", "SELL"),
            ("SHORT", "BUY"),
        )
        if (request.reduce_only or closing_hedge) and reducing <= 0:
            raise FuturesError(-2022, "ReduceOnly Order is rejected.")
        if closing_hedge and request.quantity > reducing:
            raise FuturesError(-2022, "ReduceOnly Order is rejected.")
        price = request.price if request.type == "LIMIT" else mark(request.symbol)
        if (
            spec.min_notional is not None
            and not request.reduce_only
            and not closing_hedge
            and request.quantity * price < spec.min_notional
        ):
            raise FuturesError(
                -4164,
                f"Order's notional must be no smaller than {spec.min_notional_text} "
                "(unless you choose reduce only).",
            )
        if request.reduce_only or closing_hedge:
            return
        increasing = max(ZERO, request.quantity - reducing)
        if increasing <= 0:
            return
        position = self.positions.get((request.symbol, request.position_side))
        current = abs(position.amount) if position and reducing == 0 else ZERO
        leverage = self.leverage_of(request.symbol)
        cap = spec.bracket_for_leverage(leverage).notional_cap
        if spec.notional(current + increasing, price) > cap:
            raise FuturesError(
                -2027, "Exceeded the maximum allowable position at current leverage."
            )
        required = spec.notional(increasing, price) / leverage
        required += spec.notional(request.quantity, price) * TAKER_RATE
        summary = self.asset_summary(spec.margin_asset, mark)
        if required > summary["availableBalance"]:
            raise FuturesError(-2019, "Margin is insufficient.")

    def place_order(
        self, request: OrderRequest, mark: PriceFn, now: int
    ) -> tuple[FuturesOrder, list[Event]]:
        """Accept an order (after check_new_order) and match it against the mark price."""
        spec = self.spec(request.symbol)
        price_now = mark(request.symbol)
        marketable = request.type == "MARKET" or (
            request.price >= price_now if request.side == "BUY" else request.price <= price_now
        )
        if request.type == "LIMIT" and request.time_in_force == "GTX" and marketable:
            raise FuturesError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be "
                "rejected. The order will not be recorded in the order history",
            )
        if request.type == "LIMIT" and request.time_in_force == "FOK" and not marketable:
            raise FuturesError(
                -5021,
                "Due to the order could not be filled immediately, the FOK order has been "
                "rejected. The order will not be recorded in the order history",
            )
        client_id = request.client_order_id or new_client_order_id()
        order = FuturesOrder(
            order_id=next(self.ids.orders),
            client_order_id=client_id,
            symbol=spec.symbol,
            side=request.side,
            position_side=request.position_side,
            type=request.type,
            orig_type=request.orig_type or request.type,
            time_in_force=request.time_in_force,
            quantity=request.quantity,
            price=request.price if request.type == "LIMIT" else ZERO,
            stop_price=request.stop_price,
            reduce_only=request.reduce_only,
            close_position=request.close_position,
            working_type=request.working_type,
            price_protect=request.price_protect,
            price_match=request.price_match,
            stp_mode=request.stp_mode,
            good_till_date=request.good_till_date,
            time=now,
            update_time=now,
            algo_id=request.algo_id,
        )
        self.orders[order.order_id] = order
        self.client_ids.add(client_id)
        events = [self.order_event(order, "NEW", now)]
        if marketable:
            events += self.fill(
                order, order.remaining, spec.round_price(price_now), maker=False, now=now, mark=mark
            )
            if order.is_open:  # reduce-only capped by the position: the rest expires
                events += self.finish(order, "EXPIRED", now)
        elif request.type == "LIMIT" and request.time_in_force == "IOC":
            events += self.finish(order, "EXPIRED", now)
        return order, events

    def finish(self, order: FuturesOrder, status: str, now: int) -> list[Event]:
        order.status = status
        order.update_time = now
        return [self.order_event(order, status, now), *self.sync_algo_status(order, now)]

    def cancel(self, order: FuturesOrder, now: int) -> list[Event]:
        if not order.is_open:
            raise FuturesError(-2011, "Unknown order sent.")
        return self.finish(order, "CANCELED", now)

    def find_order(self, symbol: str, order_id: int | None, client_id: str | None) -> FuturesOrder:
        for order in self.orders.values():
            if order.symbol != symbol:
                continue
            if order_id is not None and order.order_id == order_id:
                if client_id and order.client_order_id != client_id:
                    break
                return order
            if order_id is None and client_id and order.client_order_id == client_id:
                return order
        raise FuturesError(-2013, "Order does not exist.")

    def fill(
        self,
        order: FuturesOrder,
        qty: Decimal,
        price: Decimal,
        *,
        maker: bool,
        now: int,
        mark: PriceFn | None = None,
    ) -> list[Event]:
        """Execute `qty` of `order` at `price`: position, PnL, commission, events."""
        spec = self.spec(order.symbol)
        position = self.position(order.symbol, order.position_side)
        if order.reduce_only or order.close_position or order.position_side in ("LONG", "SHORT"):
            reducing = self._reducing_qty(order.symbol, order.side, order.position_side)
            increases = (order.position_side, order.side) in (("LONG", "BUY"), ("SHORT", "SELL"))
            if not increases:
                qty = min(qty, reducing)
        if qty <= 0:
            return self.finish(order, "EXPIRED", now)
        signed = qty if order.side == "BUY" else -qty
        notional = spec.notional(qty, price)
        rate = MAKER_RATE if maker else TAKER_RATE
        commission = (notional * rate).quantize(EIGHT, rounding=ROUND_HALF_UP)
        realized = ZERO
        leverage = self.leverage_of(order.symbol)
        old = position.amount
        if old == 0 or (old > 0) == (signed > 0):
            position.entry_price = spec.average_entry(abs(old), position.entry_price, qty, price)
            position.amount = old + signed
            if self.isolated(order.symbol):
                position.isolated_wallet += notional / leverage
        else:
            closing = min(qty, abs(old))
            closed_signed = closing if old > 0 else -closing
            realized = spec.pnl(closed_signed, position.entry_price, price)
            if self.isolated(order.symbol):
                position.isolated_wallet -= position.isolated_wallet * closing / abs(old)
            position.amount = old + signed
            rest = qty - closing
            if position.amount == 0:
                position.entry_price = ZERO
                position.isolated_wallet = ZERO
            elif rest > 0:  # one-way flip: the remainder opens the other side at this price
                position.entry_price = price
                if self.isolated(order.symbol):
                    position.isolated_wallet = spec.notional(rest, price) / leverage
        position.accumulated_realized += realized
        position.update_time = now
        position.break_even_price = (
            ZERO
            if position.amount == 0
            else position.entry_price * (1 + TAKER_RATE if position.amount > 0 else 1 - TAKER_RATE)
        )
        asset = spec.margin_asset
        self.balances[asset] = self.balances.get(asset, ZERO) + realized - commission
        self.update_time = now

        order.executed_qty += qty
        order.cum_price_sum += qty * price
        order.cum_quote += notional
        order.realized_pnl += realized
        order.update_time = now
        order.status = "FILLED" if order.executed_qty >= order.quantity else "PARTIALLY_FILLED"
        trade = FuturesTrade(
            trade_id=next(self.ids.trades),
            order_id=order.order_id,
            symbol=order.symbol,
            side=order.side,
            position_side=order.position_side,
            price=price,
            qty=qty,
            quote_qty=notional,
            commission=commission,
            commission_asset=asset,
            realized_pnl=realized,
            maker=maker,
            time=now,
        )
        self.trades.append(trade)
        return [
            self.trade_lite_event(order, trade, now),
            self.account_event("ORDER", [asset], [position], now, mark),
            self.order_event(order, "TRADE", now, trade),
            *self.sync_algo_status(order, now),
        ]

    # -- price ticks -------------------------------------------------------------------------

    def on_price(self, symbol: str, mark: PriceFn, now: int) -> list[Event]:
        """Match resting orders and trigger algo orders after the mark price of `symbol` moved."""
        events: list[Event] = []
        price = mark(symbol)
        for order in sorted(self.open_orders(symbol), key=lambda o: o.order_id):
            if (
                order.good_till_date
                and order.time_in_force == "GTD"
                and now >= order.good_till_date
            ):
                events += self.finish(order, "EXPIRED", now)
                continue
            if order.type != "LIMIT":
                continue
            crossed = price <= order.price if order.side == "BUY" else price >= order.price
            if crossed:
                events += self.fill(
                    order, order.remaining, order.price, maker=True, now=now, mark=mark
                )
        for algo in sorted(self.open_algos(symbol), key=lambda a: a.algo_id):
            if self._algo_triggered(algo, price):
                events += self.trigger_algo(algo, mark, now)
        return events

    # -- algo orders -------------------------------------------------------------------------

    def _algo_triggered(self, algo: AlgoOrder, price: Decimal) -> bool:
        if algo.order_type == "TRAILING_STOP_MARKET":
            if not algo.activated:
                activate = algo.activate_price
                if (
                    activate is None
                    or (algo.side == "SELL" and price >= activate)
                    or (algo.side == "BUY" and price <= activate)
                ):
                    algo.activated = True
                if algo.activated:
                    algo.extreme = price
                return False
            assert algo.callback_rate is not None
            rate = algo.callback_rate / 100
            if algo.side == "SELL":
                algo.extreme = max(algo.extreme or price, price)
                return price <= algo.extreme * (1 - rate)
            algo.extreme = min(algo.extreme or price, price)
            return price >= algo.extreme * (1 + rate)
        stop = algo.order_type in ("STOP", "STOP_MARKET")
        if algo.side == "BUY":
            return price >= algo.trigger_price if stop else price <= algo.trigger_price
        return price <= algo.trigger_price if stop else price >= algo.trigger_price

    def check_new_algo(self, request: AlgoRequest, mark: PriceFn) -> None:
        spec = self.spec(request.symbol)
        self._check_position_side(request)
        if request.client_algo_id in self.client_ids:
            raise FuturesError(-4116, "clientOrderId is duplicated")
        if len(self.open_algos()) >= 200:
            raise FuturesError(-4045, "Reach max stop order limit.")
        if len(self.open_orders(request.symbol)) + len(self.open_algos(request.symbol)) >= (
            spec.max_num_orders
        ):
            raise FuturesError(-2025, "Reach max open order limit.")
        if request.reduce_only and not request.close_position:
            reducing = self._reducing_qty(request.symbol, request.side, request.position_side)
            if reducing <= 0:
                raise FuturesError(-2022, "ReduceOnly Order is rejected.")
        if request.type != "TRAILING_STOP_MARKET":
            probe = AlgoOrder(
                algo_id=0,
                client_algo_id="",
                symbol=request.symbol,
                side=request.side,
                position_side=request.position_side,
                order_type=request.type,
                time_in_force=request.time_in_force,
                quantity=request.quantity,
                price=request.price,
                trigger_price=request.trigger_price,
                working_type=request.working_type,
                price_match=request.price_match,
                close_position=request.close_position,
                price_protect=request.price_protect,
                reduce_only=request.reduce_only,
                activate_price=None,
                callback_rate=None,
                stp_mode=request.stp_mode,
                good_till_date=0,
                create_time=0,
                update_time=0,
            )
            if self._algo_triggered(probe, mark(request.symbol)):
                raise FuturesError(-2021, "Order would immediately trigger.")
        elif request.activate_price is not None:
            price = mark(request.symbol)
            if (request.side == "SELL" and request.activate_price <= price) or (
                request.side == "BUY" and request.activate_price >= price
            ):
                raise FuturesError(-2021, "Order would immediately trigger.")

    def place_algo(self, request: AlgoRequest, now: int) -> tuple[AlgoOrder, list[Event]]:
        client_id = request.client_algo_id or new_client_order_id()
        algo = AlgoOrder(
            algo_id=next(self.ids.algos),
            client_algo_id=client_id,
            symbol=request.symbol,
            side=request.side,
            position_side=request.position_side,
            order_type=request.type,
            time_in_force=request.time_in_force,
            quantity=request.quantity,
            price=request.price,
            trigger_price=request.trigger_price,
            working_type=request.working_type,
            price_match=request.price_match,
            close_position=request.close_position,
            price_protect=request.price_protect,
            reduce_only=request.reduce_only,
            activate_price=request.activate_price,
            callback_rate=request.callback_rate,
            stp_mode=request.stp_mode,
            good_till_date=request.good_till_date,
            create_time=now,
            update_time=now,
        )
        self.algos[algo.algo_id] = algo
        self.client_ids.add(client_id)
        return algo, [self.algo_event(algo, now)]

    def cancel_algo(self, algo: AlgoOrder, now: int) -> list[Event]:
        if not algo.is_open:
            raise FuturesError(-2011, "Unknown order sent.")
        algo.status = "CANCELED"
        algo.update_time = now
        return [self.algo_event(algo, now)]

    def find_algo(self, algo_id: int | None, client_algo_id: str | None) -> AlgoOrder:
        for algo in self.algos.values():
            if algo_id is not None and algo.algo_id == algo_id:
                return algo
            if algo_id is None and client_algo_id and algo.client_algo_id == client_algo_id:
                return algo
        raise FuturesError(-2013, "Order does not exist.")

    def trigger_algo(self, algo: AlgoOrder, mark: PriceFn, now: int) -> list[Event]:
        """Turn a triggered conditional order into a normal order and match it."""
        algo.status = "TRIGGERING"
        algo.trigger_time = now
        algo.update_time = now
        events = [self.algo_event(algo, now)]
        quantity = algo.quantity
        if algo.close_position:
            quantity = self._reducing_qty(algo.symbol, algo.side, algo.position_side)
        market = algo.order_type in ("STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
        request = OrderRequest(
            symbol=algo.symbol,
            side=algo.side,
            type="MARKET" if market else "LIMIT",
            quantity=quantity,
            price=ZERO if market else algo.price,
            position_side=algo.position_side,
            time_in_force="GTC" if market else algo.time_in_force,
            reduce_only=algo.reduce_only or algo.close_position,
            client_order_id=algo.client_algo_id,
            orig_type=algo.order_type,
            stop_price=algo.trigger_price,
            working_type=algo.working_type,
            close_position=algo.close_position,
            price_protect=algo.price_protect,
            price_match=algo.price_match,
            stp_mode=algo.stp_mode,
            algo_id=algo.algo_id,
        )
        if quantity <= 0:
            algo.status = "REJECTED" if not algo.close_position else "EXPIRED"
            algo.fail_reason = "Reduce Only reject"
            return [*events, self.algo_event(algo, now)]
        try:
            self.client_ids.discard(algo.client_algo_id)
            self.check_new_order(request, mark)
            order, order_events = self.place_order(request, mark, now)
        except FuturesError as error:
            self.client_ids.add(algo.client_algo_id)
            algo.status = "REJECTED"
            algo.fail_reason = error.msg
            algo.update_time = now
            return [*events, self.algo_event(algo, now)]
        algo.status = "TRIGGERED"
        algo.actual_order_id = order.order_id
        events.append(self.algo_event(algo, now))
        events += order_events
        if not order.is_open:
            algo.status = "FINISHED"
            events.append(self.algo_event(algo, now))
        return events

    def sync_algo_status(self, order: FuturesOrder, now: int) -> list[Event]:
        """Mark the algo order FINISHED once the order it produced is done."""
        if order.algo_id is None or order.is_open:
            return []
        algo = self.algos.get(order.algo_id)
        if algo is None or algo.status != "TRIGGERED":
            return []
        algo.status = "FINISHED"
        algo.update_time = now
        return [self.algo_event(algo, now)]

    # -- events ------------------------------------------------------------------------------

    def order_event(
        self, order: FuturesOrder, execution: str, now: int, trade: FuturesTrade | None = None
    ) -> Event:
        spec = self.spec(order.symbol)
        open_notional = spec.notional(order.remaining, order.price) if order.is_open else ZERO
        payload = {
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.time_in_force,
            "q": spec.fmt_qty(order.quantity),
            "p": spec.fmt_price(order.price) if order.price else "0",
            "ap": spec.fmt_price(order.avg_price) if order.executed_qty else "0",
            "sp": spec.fmt_price(order.stop_price) if order.stop_price else "0",
            "x": execution,
            "X": order.status,
            "i": order.order_id,
            "l": spec.fmt_qty(trade.qty) if trade else "0",
            "z": spec.fmt_qty(order.executed_qty),
            "L": spec.fmt_price(trade.price) if trade else "0",
            "N": spec.margin_asset,
            "n": fmt8(trade.commission) if trade else "0",
            "T": now,
            "t": trade.trade_id if trade else 0,
            "b": fmt8(open_notional) if order.side == "BUY" else "0",
            "a": fmt8(open_notional) if order.side == "SELL" else "0",
            "m": trade.maker if trade else False,
            "R": order.reduce_only,
            "wt": order.working_type,
            "ot": order.orig_type,
            "ps": order.position_side,
            "cp": order.close_position,
            "AP": "0",
            "cr": "0",
            "pP": order.price_protect,
            "si": 0,
            "ss": 0,
            "rp": fmt8(trade.realized_pnl) if trade else "0",
            "V": order.stp_mode,
            "pm": order.price_match,
            "gtd": order.good_till_date,
            "er": "0",
        }
        if spec.inverse:
            payload["ma"] = spec.margin_asset
        return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": payload}

    def trade_lite_event(self, order: FuturesOrder, trade: FuturesTrade, now: int) -> Event:
        spec = self.spec(order.symbol)
        return {
            "e": "TRADE_LITE",
            "E": now,
            "T": now,
            "s": order.symbol,
            "q": spec.fmt_qty(order.quantity),
            "p": spec.fmt_price(order.price) if order.price else "0",
            "m": trade.maker,
            "c": order.client_order_id,
            "S": order.side,
            "L": spec.fmt_price(trade.price),
            "l": spec.fmt_qty(trade.qty),
            "t": trade.trade_id,
            "i": order.order_id,
        }

    def account_event(
        self,
        reason: str,
        assets: list[str],
        positions: list[Position],
        now: int,
        mark: PriceFn | None = None,
    ) -> Event:
        balances = []
        for asset in assets:
            wallet = self.balances.get(asset, ZERO)
            balances.append(
                {
                    "a": asset,
                    "wb": fmt8(wallet),
                    "cw": fmt8(wallet - self.isolated_total(asset)),
                    "bc": "0",
                }
            )
        rows = []
        for position in positions:
            spec = self.spec(position.symbol)
            up = self.unrealized(position, mark) if mark else ZERO
            rows.append(
                {
                    "s": position.symbol,
                    "pa": spec.fmt_qty(position.amount),
                    "ep": fmt(position.entry_price, 8),
                    "bep": fmt(position.break_even_price, 8),
                    "cr": fmt8(position.accumulated_realized),
                    "up": fmt8(up),
                    "mt": "isolated" if self.isolated(position.symbol) else "cross",
                    "iw": fmt8(position.isolated_wallet),
                    "ps": position.side,
                }
            )
        return {
            "e": "ACCOUNT_UPDATE",
            "E": now,
            "T": now,
            "a": {"m": reason, "B": balances, "P": rows},
        }

    def algo_event(self, algo: AlgoOrder, now: int) -> Event:
        spec = self.spec(algo.symbol)
        actual = self.orders.get(algo.actual_order_id) if algo.actual_order_id else None
        return {
            "e": "ALGO_UPDATE",
            "E": now,
            "T": now,
            "o": {
                "caid": algo.client_algo_id,
                "aid": algo.algo_id,
                "at": "CONDITIONAL",
                "o": algo.order_type,
                "s": algo.symbol,
                "S": algo.side,
                "ps": algo.position_side,
                "f": algo.time_in_force,
                "q": spec.fmt_qty(algo.quantity),
                "X": algo.status,
                "ai": str(algo.actual_order_id) if algo.actual_order_id else "",
                "ap": spec.fmt_price(actual.avg_price) if actual and actual.executed_qty else "0",
                "aq": spec.fmt_qty(actual.executed_qty) if actual else "0",
                "act": actual.type if actual else "0",
                "tp": spec.fmt_price(algo.trigger_price) if algo.trigger_price else "0",
                "p": spec.fmt_price(algo.price) if algo.price else "0",
                "V": algo.stp_mode,
                "wt": algo.working_type,
                "pm": algo.price_match,
                "cp": algo.close_position,
                "pP": algo.price_protect,
                "R": algo.reduce_only,
                "tt": algo.trigger_time,
                "gtd": algo.good_till_date,
                "rm": algo.fail_reason,
            },
        }
