"""Typed results of the Binance client. Every amount and price is a Decimal, never a float.

Each model has ``from_json(data)`` and keeps Binance's original mapping in ``raw`` (excluded
from ``repr`` and equality) for fields the model does not name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

Json = Mapping[str, Any]
_ZERO = Decimal(0)


def _dec(data: Json, key: str, default: Decimal = _ZERO) -> Decimal:
    value = data.get(key)
    if value is None or value == "":
        return default
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _opt_dec(data: Json, key: str) -> Decimal | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _int(data: Json, key: str, default: int = 0) -> int:
    value = data.get(key)
    return default if value is None else int(value)


def _opt_int(data: Json, key: str) -> int | None:
    value = data.get(key)
    return None if value is None else int(value)


def _str(data: Json, key: str, default: str = "") -> str:
    value = data.get(key)
    return default if value is None else str(value)


def _bool(data: Json, key: str, default: bool = False) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _raw() -> Any:
    return field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Exchange info and filters


@dataclass(frozen=True, slots=True)
class PriceFilter:
    """PRICE_FILTER: each rule is disabled when its value is 0."""

    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal
    filter_type: str = "PRICE_FILTER"


@dataclass(frozen=True, slots=True)
class LotSizeFilter:
    """LOT_SIZE (or MARKET_LOT_SIZE, see ``filter_type``)."""

    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal
    filter_type: str = "LOT_SIZE"


@dataclass(frozen=True, slots=True)
class MinNotionalFilter:
    """MIN_NOTIONAL (legacy spot; on futures the value comes from ``notional``)."""

    min_notional: Decimal
    apply_to_market: bool
    avg_price_mins: int
    filter_type: str = "MIN_NOTIONAL"


@dataclass(frozen=True, slots=True)
class NotionalFilter:
    min_notional: Decimal
    apply_min_to_market: bool
    max_notional: Decimal
    apply_max_to_market: bool
    avg_price_mins: int
    filter_type: str = "NOTIONAL"


@dataclass(frozen=True, slots=True)
class PercentPriceFilter:
    multiplier_up: Decimal
    multiplier_down: Decimal
    avg_price_mins: int
    filter_type: str = "PERCENT_PRICE"


@dataclass(frozen=True, slots=True)
class PercentPriceBySideFilter:
    bid_multiplier_up: Decimal
    bid_multiplier_down: Decimal
    ask_multiplier_up: Decimal
    ask_multiplier_down: Decimal
    avg_price_mins: int
    filter_type: str = "PERCENT_PRICE_BY_SIDE"


@dataclass(frozen=True, slots=True)
class IcebergPartsFilter:
    limit: int
    filter_type: str = "ICEBERG_PARTS"


@dataclass(frozen=True, slots=True)
class MaxNumOrdersFilter:
    """MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS, MAX_NUM_ICEBERG_ORDERS, MAX_NUM_ORDER_LISTS, ... and
    their EXCHANGE_* variants: one limit, named by ``filter_type``."""

    limit: int
    filter_type: str


@dataclass(frozen=True, slots=True)
class MaxPositionFilter:
    max_position: Decimal
    filter_type: str = "MAX_POSITION"


@dataclass(frozen=True, slots=True)
class TrailingDeltaFilter:
    min_trailing_above_delta: int
    max_trailing_above_delta: int
    min_trailing_below_delta: int
    max_trailing_below_delta: int
    filter_type: str = "TRAILING_DELTA"


@dataclass(frozen=True, slots=True)
class UnknownFilter:
    """A filter type this client does not model; its fields stay in ``raw``."""

    filter_type: str
    raw: Mapping[str, Any] = _raw()


SymbolFilter = (
    PriceFilter
    | LotSizeFilter
    | MinNotionalFilter
    | NotionalFilter
    | PercentPriceFilter
    | PercentPriceBySideFilter
    | IcebergPartsFilter
    | MaxNumOrdersFilter
    | MaxPositionFilter
    | TrailingDeltaFilter
    | UnknownFilter
)


def parse_filter(data: Json) -> SymbolFilter:
    """One exchangeInfo filter, typed by its ``filterType``."""
    kind = _str(data, "filterType")
    if kind == "PRICE_FILTER":
        return PriceFilter(_dec(data, "minPrice"), _dec(data, "maxPrice"), _dec(data, "tickSize"))
    if kind in ("LOT_SIZE", "MARKET_LOT_SIZE"):
        return LotSizeFilter(
            _dec(data, "minQty"), _dec(data, "maxQty"), _dec(data, "stepSize"), filter_type=kind
        )
    if kind == "MIN_NOTIONAL":
        minimum = _opt_dec(data, "minNotional")
        return MinNotionalFilter(
            minimum if minimum is not None else _dec(data, "notional"),
            _bool(data, "applyToMarket", True),
            _int(data, "avgPriceMins"),
        )
    if kind == "NOTIONAL":
        return NotionalFilter(
            _dec(data, "minNotional"),
            _bool(data, "applyMinToMarket"),
            _dec(data, "maxNotional"),
            _bool(data, "applyMaxToMarket"),
            _int(data, "avgPriceMins"),
        )
    if kind == "PERCENT_PRICE":
        return PercentPriceFilter(
            _dec(data, "multiplierUp"), _dec(data, "multiplierDown"), _int(data, "avgPriceMins")
        )
    if kind == "PERCENT_PRICE_BY_SIDE":
        return PercentPriceBySideFilter(
            _dec(data, "bidMultiplierUp"),
            _dec(data, "bidMultiplierDown"),
            _dec(data, "askMultiplierUp"),
            _dec(data, "askMultiplierDown"),
            _int(data, "avgPriceMins"),
        )
    if kind == "ICEBERG_PARTS":
        return IcebergPartsFilter(_int(data, "limit"))
    if kind.startswith(("MAX_NUM_", "EXCHANGE_MAX_NUM_")):
        limit_key = next((k for k in data if k.startswith(("maxNum", "limit"))), None)
        return MaxNumOrdersFilter(_int(data, limit_key) if limit_key else 0, filter_type=kind)
    if kind == "MAX_POSITION":
        return MaxPositionFilter(_dec(data, "maxPosition"))
    if kind == "TRAILING_DELTA":
        return TrailingDeltaFilter(
            _int(data, "minTrailingAboveDelta"),
            _int(data, "maxTrailingAboveDelta"),
            _int(data, "minTrailingBelowDelta"),
            _int(data, "maxTrailingBelowDelta"),
        )
    return UnknownFilter(kind, raw=data)


F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate_limit_type: str
    interval: str
    interval_num: int
    limit: int

    @classmethod
    def from_json(cls, data: Json) -> RateLimit:
        return cls(
            _str(data, "rateLimitType"),
            _str(data, "interval"),
            _int(data, "intervalNum", 1),
            _int(data, "limit"),
        )


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    base_asset_precision: int
    quote_asset_precision: int
    order_types: tuple[str, ...]
    #: Spot only: OR within a set, AND across sets (compare with ``Account.permissions``).
    permission_sets: tuple[tuple[str, ...], ...]
    filters: tuple[SymbolFilter, ...]
    #: Futures only (``PERPETUAL``, ``CURRENT_QUARTER``, ...), else "".
    contract_type: str = ""
    #: COIN-M only: contract size in USD.
    contract_size: int | None = None
    raw: Mapping[str, Any] = _raw()

    def get_filter(self, kind: type[F]) -> F | None:
        """The first filter of a class, e.g. ``info.get_filter(PriceFilter)``."""
        for item in self.filters:
            if isinstance(item, kind):
                return item
        return None

    def filter_by_type(self, filter_type: str) -> SymbolFilter | None:
        """The filter with this Binance ``filterType`` (e.g. ``"MARKET_LOT_SIZE"``)."""
        return next((f for f in self.filters if f.filter_type == filter_type), None)

    @classmethod
    def from_json(cls, data: Json) -> SymbolInfo:
        return cls(
            symbol=_str(data, "symbol"),
            status=_str(data, "status") or _str(data, "contractStatus"),
            base_asset=_str(data, "baseAsset"),
            quote_asset=_str(data, "quoteAsset"),
            base_asset_precision=_int(data, "baseAssetPrecision"),
            quote_asset_precision=_int(data, "quoteAssetPrecision", _int(data, "quotePrecision")),
            order_types=tuple(data.get("orderTypes") or ()),
            permission_sets=tuple(tuple(s) for s in data.get("permissionSets") or ()),
            filters=tuple(parse_filter(f) for f in data.get("filters") or ()),
            contract_type=_str(data, "contractType"),
            contract_size=_opt_int(data, "contractSize"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    timezone: str
    server_time: int
    rate_limits: tuple[RateLimit, ...]
    exchange_filters: tuple[SymbolFilter, ...]
    symbols: Mapping[str, SymbolInfo]
    raw: Mapping[str, Any] = _raw()

    def weight_limit_per_minute(self) -> int | None:
        """REQUEST_WEIGHT per minute from ``rateLimits`` (None if not listed)."""
        for limit in self.rate_limits:
            if limit.rate_limit_type == "REQUEST_WEIGHT" and limit.interval == "MINUTE":
                return limit.limit // max(limit.interval_num, 1)
        return None

    @classmethod
    def from_json(cls, data: Json) -> ExchangeInfo:
        symbols = [SymbolInfo.from_json(s) for s in data.get("symbols") or ()]
        return cls(
            timezone=_str(data, "timezone", "UTC"),
            server_time=_int(data, "serverTime"),
            rate_limits=tuple(RateLimit.from_json(r) for r in data.get("rateLimits") or ()),
            exchange_filters=tuple(parse_filter(f) for f in data.get("exchangeFilters") or ()),
            symbols={s.symbol: s for s in symbols},
            raw=data,
        )


# ---------------------------------------------------------------------------------------------
# Spot account and orders


@dataclass(frozen=True, slots=True)
class CommissionRates:
    maker: Decimal
    taker: Decimal
    buyer: Decimal = _ZERO
    seller: Decimal = _ZERO

    @classmethod
    def from_json(cls, data: Json) -> CommissionRates:
        return cls(
            _dec(data, "maker"), _dec(data, "taker"), _dec(data, "buyer"), _dec(data, "seller")
        )


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked

    @classmethod
    def from_json(cls, data: Json) -> Balance:
        return cls(_str(data, "asset"), _dec(data, "free"), _dec(data, "locked"))


@dataclass(frozen=True, slots=True)
class Account:
    """Spot account. ``can_trade`` etc. are account flags, not the API key's permissions."""

    can_trade: bool
    can_withdraw: bool
    can_deposit: bool
    account_type: str
    permissions: tuple[str, ...]
    commission_rates: CommissionRates
    balances: tuple[Balance, ...]
    update_time: int
    uid: int | None
    raw: Mapping[str, Any] = _raw()

    def balance(self, asset: str) -> Balance:
        """The balance of ``asset`` (zero if the account holds none)."""
        for item in self.balances:
            if item.asset == asset:
                return item
        return Balance(asset, _ZERO, _ZERO)

    @classmethod
    def from_json(cls, data: Json) -> Account:
        return cls(
            can_trade=_bool(data, "canTrade"),
            can_withdraw=_bool(data, "canWithdraw"),
            can_deposit=_bool(data, "canDeposit"),
            account_type=_str(data, "accountType"),
            permissions=tuple(data.get("permissions") or ()),
            commission_rates=CommissionRates.from_json(data.get("commissionRates") or {}),
            balances=tuple(Balance.from_json(b) for b in data.get("balances") or ()),
            update_time=_int(data, "updateTime"),
            uid=_opt_int(data, "uid"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Fill:
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int | None

    @classmethod
    def from_json(cls, data: Json) -> Fill:
        return cls(
            _dec(data, "price"),
            _dec(data, "qty"),
            _dec(data, "commission"),
            _str(data, "commissionAsset"),
            _opt_int(data, "tradeId"),
        )


@dataclass(frozen=True, slots=True)
class Order:
    """A spot order as returned by place (ACK/RESULT/FULL), query, cancel and list calls.

    With an ACK answer only the ids and ``transact_time`` are filled; amounts are then zero and
    ``status`` is "".
    """

    symbol: str
    order_id: int
    client_order_id: str
    order_list_id: int
    side: str
    type: str
    status: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cummulative_quote_qty: Decimal
    stop_price: Decimal | None
    #: Original client order id of the order a cancel refers to (cancel answers only).
    orig_client_order_id: str | None
    time: int | None
    update_time: int | None
    transact_time: int | None
    fills: tuple[Fill, ...]
    raw: Mapping[str, Any] = _raw()

    @property
    def average_price(self) -> Decimal | None:
        if not self.executed_qty:
            return None
        return self.cummulative_quote_qty / self.executed_qty

    @classmethod
    def from_json(cls, data: Json) -> Order:
        return cls(
            symbol=_str(data, "symbol"),
            order_id=_int(data, "orderId"),
            client_order_id=_str(data, "clientOrderId"),
            order_list_id=_int(data, "orderListId", -1),
            side=_str(data, "side"),
            type=_str(data, "type"),
            status=_str(data, "status"),
            time_in_force=_str(data, "timeInForce"),
            price=_dec(data, "price"),
            orig_qty=_dec(data, "origQty"),
            executed_qty=_dec(data, "executedQty"),
            cummulative_quote_qty=_dec(data, "cummulativeQuoteQty"),
            stop_price=_opt_dec(data, "stopPrice"),
            orig_client_order_id=data.get("origClientOrderId"),
            time=_opt_int(data, "time"),
            update_time=_opt_int(data, "updateTime"),
            transact_time=_opt_int(data, "transactTime"),
            fills=tuple(Fill.from_json(f) for f in data.get("fills") or ()),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class TestOrderResult:
    """Answer of ``order/test``; the commission fields are set with ``compute_commission``."""

    __test__ = False  # not a pytest test class

    standard_commission: CommissionRates | None
    special_commission: CommissionRates | None
    tax_commission: CommissionRates | None
    discount_enabled_for_account: bool
    discount_enabled_for_symbol: bool
    discount_asset: str | None
    discount: Decimal | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> TestOrderResult:
        def rates(key: str) -> CommissionRates | None:
            value = data.get(key)
            return CommissionRates.from_json(value) if value else None

        discount = data.get("discount") or {}
        return cls(
            standard_commission=rates("standardCommissionForOrder"),
            special_commission=rates("specialCommissionForOrder"),
            tax_commission=rates("taxCommissionForOrder"),
            discount_enabled_for_account=_bool(discount, "enabledForAccount"),
            discount_enabled_for_symbol=_bool(discount, "enabledForSymbol"),
            discount_asset=discount.get("discountAsset"),
            discount=_opt_dec(discount, "discount"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Trade:
    """One of the account's trades (``myTrades`` / ``userTrades``)."""

    symbol: str
    id: int
    order_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> Trade:
        return cls(
            symbol=_str(data, "symbol"),
            id=_int(data, "id"),
            order_id=_int(data, "orderId"),
            price=_dec(data, "price"),
            qty=_dec(data, "qty"),
            quote_qty=_dec(data, "quoteQty"),
            commission=_dec(data, "commission"),
            commission_asset=_str(data, "commissionAsset"),
            time=_int(data, "time"),
            is_buyer=_bool(data, "isBuyer", _str(data, "side") == "BUY"),
            is_maker=_bool(data, "isMaker", _bool(data, "maker")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class OrderListEntry:
    symbol: str
    order_id: int
    client_order_id: str


@dataclass(frozen=True, slots=True)
class OrderList:
    """An OCO (or other order list)."""

    order_list_id: int
    contingency_type: str
    list_status_type: str
    list_order_status: str
    list_client_order_id: str
    transaction_time: int
    symbol: str
    orders: tuple[OrderListEntry, ...]
    order_reports: tuple[Order, ...]
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> OrderList:
        return cls(
            order_list_id=_int(data, "orderListId"),
            contingency_type=_str(data, "contingencyType"),
            list_status_type=_str(data, "listStatusType"),
            list_order_status=_str(data, "listOrderStatus"),
            list_client_order_id=_str(data, "listClientOrderId"),
            transaction_time=_int(data, "transactionTime"),
            symbol=_str(data, "symbol"),
            orders=tuple(
                OrderListEntry(_str(o, "symbol"), _int(o, "orderId"), _str(o, "clientOrderId"))
                for o in data.get("orders") or ()
            ),
            order_reports=tuple(Order.from_json(o) for o in data.get("orderReports") or ()),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class ApiRestrictions:
    """``/sapi/v1/account/apiRestrictions``: what the API key itself may do."""

    ip_restrict: bool
    create_time: int | None
    enable_reading: bool
    enable_spot_and_margin_trading: bool
    enable_withdrawals: bool
    enable_internal_transfer: bool
    enable_margin: bool
    enable_futures: bool
    permits_universal_transfer: bool
    enable_vanilla_options: bool
    enable_fix_api_trade: bool
    enable_fix_read_only: bool
    enable_portfolio_margin_trading: bool
    #: When trading permission of an unrestricted key expires (epoch ms), if given.
    trading_authority_expiration_time: int | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> ApiRestrictions:
        return cls(
            ip_restrict=_bool(data, "ipRestrict"),
            create_time=_opt_int(data, "createTime"),
            enable_reading=_bool(data, "enableReading"),
            enable_spot_and_margin_trading=_bool(data, "enableSpotAndMarginTrading"),
            enable_withdrawals=_bool(data, "enableWithdrawals"),
            enable_internal_transfer=_bool(data, "enableInternalTransfer"),
            enable_margin=_bool(data, "enableMargin"),
            enable_futures=_bool(data, "enableFutures"),
            permits_universal_transfer=_bool(data, "permitsUniversalTransfer"),
            enable_vanilla_options=_bool(data, "enableVanillaOptions"),
            enable_fix_api_trade=_bool(data, "enableFixApiTrade"),
            enable_fix_read_only=_bool(data, "enableFixReadOnly"),
            enable_portfolio_margin_trading=_bool(data, "enablePortfolioMarginTrading"),
            trading_authority_expiration_time=_opt_int(data, "tradingAuthorityExpirationTime"),
            raw=data,
        )


# ---------------------------------------------------------------------------------------------
# Market data


@dataclass(frozen=True, slots=True)
class PriceTicker:
    symbol: str
    price: Decimal

    @classmethod
    def from_json(cls, data: Json) -> PriceTicker:
        return cls(_str(data, "symbol"), _dec(data, "price"))


@dataclass(frozen=True, slots=True)
class BookTicker:
    symbol: str
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal

    @classmethod
    def from_json(cls, data: Json) -> BookTicker:
        return cls(
            _str(data, "symbol"),
            _dec(data, "bidPrice"),
            _dec(data, "bidQty"),
            _dec(data, "askPrice"),
            _dec(data, "askQty"),
        )


@dataclass(frozen=True, slots=True)
class Ticker24h:
    symbol: str
    price_change: Decimal
    price_change_percent: Decimal
    weighted_avg_price: Decimal
    last_price: Decimal
    open_price: Decimal
    high_price: Decimal
    low_price: Decimal
    volume: Decimal
    quote_volume: Decimal
    open_time: int
    close_time: int
    count: int
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> Ticker24h:
        return cls(
            symbol=_str(data, "symbol"),
            price_change=_dec(data, "priceChange"),
            price_change_percent=_dec(data, "priceChangePercent"),
            weighted_avg_price=_dec(data, "weightedAvgPrice"),
            last_price=_dec(data, "lastPrice"),
            open_price=_dec(data, "openPrice"),
            high_price=_dec(data, "highPrice"),
            low_price=_dec(data, "lowPrice"),
            volume=_dec(data, "volume"),
            quote_volume=_dec(data, "quoteVolume"),
            open_time=_int(data, "openTime"),
            close_time=_int(data, "closeTime"),
            count=_int(data, "count"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Kline:
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: int
    quote_volume: Decimal
    trades: int
    taker_buy_base_volume: Decimal
    taker_buy_quote_volume: Decimal

    @classmethod
    def from_json(cls, row: Sequence[Any]) -> Kline:
        def d(i: int) -> Decimal:
            return Decimal(str(row[i]))

        return cls(
            int(row[0]), d(1), d(2), d(3), d(4), d(5), int(row[6]), d(7), int(row[8]), d(9), d(10)
        )


@dataclass(frozen=True, slots=True)
class OrderBook:
    last_update_id: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]

    @classmethod
    def from_json(cls, data: Json) -> OrderBook:
        def side(rows: Sequence[Sequence[Any]]) -> tuple[tuple[Decimal, Decimal], ...]:
            return tuple((Decimal(str(p)), Decimal(str(q))) for p, q, *_ in rows)

        return cls(
            _int(data, "lastUpdateId"), side(data.get("bids") or ()), side(data.get("asks") or ())
        )


@dataclass(frozen=True, slots=True)
class ListenKey:
    listen_key: str

    def __repr__(self) -> str:  # a listenKey reads the account's private stream
        return f"ListenKey(…{self.listen_key[-4:]})"

    @classmethod
    def from_json(cls, data: Json) -> ListenKey:
        return cls(_str(data, "listenKey"))


# ---------------------------------------------------------------------------------------------
# Futures (USD-M and COIN-M)


@dataclass(frozen=True, slots=True)
class FuturesAccountPermissions:
    """USD-M ``/fapi/v2/account`` flags (v3 has none) — for the connection test."""

    can_trade: bool
    can_deposit: bool
    can_withdraw: bool
    fee_tier: int
    multi_assets_margin: bool
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> FuturesAccountPermissions:
        return cls(
            can_trade=_bool(data, "canTrade"),
            can_deposit=_bool(data, "canDeposit"),
            can_withdraw=_bool(data, "canWithdraw"),
            fee_tier=_int(data, "feeTier"),
            multi_assets_margin=_bool(data, "multiAssetsMargin"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class FuturesAsset:
    asset: str
    wallet_balance: Decimal
    unrealized_profit: Decimal
    margin_balance: Decimal
    available_balance: Decimal
    max_withdraw_amount: Decimal
    cross_wallet_balance: Decimal
    initial_margin: Decimal
    maint_margin: Decimal
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> FuturesAsset:
        return cls(
            asset=_str(data, "asset"),
            wallet_balance=_dec(data, "walletBalance"),
            unrealized_profit=_dec(data, "unrealizedProfit"),
            margin_balance=_dec(data, "marginBalance"),
            available_balance=_dec(data, "availableBalance"),
            max_withdraw_amount=_dec(data, "maxWithdrawAmount"),
            cross_wallet_balance=_dec(data, "crossWalletBalance"),
            initial_margin=_dec(data, "initialMargin"),
            maint_margin=_dec(data, "maintMargin"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class FuturesPosition:
    """A position from ``account`` or ``positionRisk`` (fields absent in one are zero/None)."""

    symbol: str
    position_side: str
    position_amt: Decimal
    entry_price: Decimal
    break_even_price: Decimal
    mark_price: Decimal
    unrealized_profit: Decimal
    liquidation_price: Decimal
    notional: Decimal
    leverage: int | None
    margin_type: str
    isolated_margin: Decimal
    update_time: int
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> FuturesPosition:
        margin_type = _str(data, "marginType")
        if not margin_type and "isolated" in data:
            margin_type = "isolated" if _bool(data, "isolated") else "cross"
        return cls(
            symbol=_str(data, "symbol"),
            position_side=_str(data, "positionSide", "BOTH"),
            position_amt=_dec(data, "positionAmt"),
            entry_price=_dec(data, "entryPrice"),
            break_even_price=_dec(data, "breakEvenPrice"),
            mark_price=_dec(data, "markPrice"),
            unrealized_profit=_dec(data, "unRealizedProfit", _dec(data, "unrealizedProfit")),
            liquidation_price=_dec(data, "liquidationPrice"),
            notional=_dec(data, "notional", _dec(data, "notionalValue")),
            leverage=_opt_int(data, "leverage"),
            margin_type=margin_type.lower(),
            isolated_margin=_dec(data, "isolatedMargin", _dec(data, "isolatedWallet")),
            update_time=_int(data, "updateTime"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class FuturesAccount:
    """USD-M ``/fapi/v3/account`` or COIN-M ``/dapi/v1/account``.

    ``can_trade``/``can_deposit``/``can_withdraw`` are ``None`` on USD-M v3 (use
    ``UsdmApi.account_permissions()``); COIN-M reports them.
    """

    assets: tuple[FuturesAsset, ...]
    positions: tuple[FuturesPosition, ...]
    total_wallet_balance: Decimal | None
    total_unrealized_profit: Decimal | None
    total_margin_balance: Decimal | None
    available_balance: Decimal | None
    max_withdraw_amount: Decimal | None
    can_trade: bool | None
    can_deposit: bool | None
    can_withdraw: bool | None
    update_time: int
    raw: Mapping[str, Any] = _raw()

    def asset(self, name: str) -> FuturesAsset | None:
        return next((a for a in self.assets if a.asset == name), None)

    @classmethod
    def from_json(cls, data: Json) -> FuturesAccount:
        def flag(key: str) -> bool | None:
            return _bool(data, key) if key in data else None

        return cls(
            assets=tuple(FuturesAsset.from_json(a) for a in data.get("assets") or ()),
            positions=tuple(FuturesPosition.from_json(p) for p in data.get("positions") or ()),
            total_wallet_balance=_opt_dec(data, "totalWalletBalance"),
            total_unrealized_profit=_opt_dec(data, "totalUnrealizedProfit"),
            total_margin_balance=_opt_dec(data, "totalMarginBalance"),
            available_balance=_opt_dec(data, "availableBalance"),
            max_withdraw_amount=_opt_dec(data, "maxWithdrawAmount"),
            can_trade=flag("canTrade"),
            can_deposit=flag("canDeposit"),
            can_withdraw=flag("canWithdraw"),
            update_time=_int(data, "updateTime"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class FuturesBalance:
    account_alias: str
    asset: str
    balance: Decimal
    cross_wallet_balance: Decimal
    cross_un_pnl: Decimal
    available_balance: Decimal
    max_withdraw_amount: Decimal
    update_time: int
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> FuturesBalance:
        return cls(
            account_alias=_str(data, "accountAlias"),
            asset=_str(data, "asset"),
            balance=_dec(data, "balance"),
            cross_wallet_balance=_dec(data, "crossWalletBalance"),
            cross_un_pnl=_dec(data, "crossUnPnl"),
            available_balance=_dec(data, "availableBalance"),
            max_withdraw_amount=_dec(data, "maxWithdrawAmount", _dec(data, "withdrawAvailable")),
            update_time=_int(data, "updateTime"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class FuturesOrder:
    """A USD-M or COIN-M order (``cum_quote`` is ``cumBase`` on COIN-M)."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str
    position_side: str
    type: str
    orig_type: str
    status: str
    time_in_force: str
    price: Decimal
    avg_price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cum_quote: Decimal
    stop_price: Decimal | None
    reduce_only: bool
    close_position: bool
    update_time: int | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> FuturesOrder:
        return cls(
            symbol=_str(data, "symbol"),
            order_id=_int(data, "orderId"),
            client_order_id=_str(data, "clientOrderId"),
            side=_str(data, "side"),
            position_side=_str(data, "positionSide", "BOTH"),
            type=_str(data, "type"),
            orig_type=_str(data, "origType", _str(data, "type")),
            status=_str(data, "status"),
            time_in_force=_str(data, "timeInForce"),
            price=_dec(data, "price"),
            avg_price=_dec(data, "avgPrice"),
            orig_qty=_dec(data, "origQty"),
            executed_qty=_dec(data, "executedQty"),
            cum_quote=_dec(data, "cumQuote", _dec(data, "cumBase")),
            stop_price=_opt_dec(data, "stopPrice"),
            reduce_only=_bool(data, "reduceOnly"),
            close_position=_bool(data, "closePosition"),
            update_time=_opt_int(data, "updateTime"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class FuturesAlgoOrder:
    """A USD-M conditional order (STOP, TAKE_PROFIT, STOP_MARKET, TAKE_PROFIT_MARKET, ...) placed
    through ``/fapi/v1/algoOrder``; ``client_algo_id`` is the client order id sent."""

    algo_id: int
    client_algo_id: str
    algo_type: str
    order_type: str
    symbol: str
    side: str
    position_side: str
    quantity: Decimal
    price: Decimal
    trigger_price: Decimal
    status: str
    reduce_only: bool
    close_position: bool
    create_time: int | None
    update_time: int | None
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_json(cls, data: Json) -> FuturesAlgoOrder:
        return cls(
            algo_id=_int(data, "algoId"),
            client_algo_id=_str(data, "clientAlgoId"),
            algo_type=_str(data, "algoType"),
            order_type=_str(data, "orderType", _str(data, "type")),
            symbol=_str(data, "symbol"),
            side=_str(data, "side"),
            position_side=_str(data, "positionSide", "BOTH"),
            quantity=_dec(data, "quantity"),
            price=_dec(data, "price"),
            trigger_price=_dec(data, "triggerPrice"),
            status=_str(data, "algoStatus", _str(data, "status")),
            reduce_only=_bool(data, "reduceOnly"),
            close_position=_bool(data, "closePosition"),
            create_time=_opt_int(data, "createTime"),
            update_time=_opt_int(data, "updateTime"),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class LeverageSetting:
    symbol: str
    leverage: int
    max_notional_value: Decimal | None

    @classmethod
    def from_json(cls, data: Json) -> LeverageSetting:
        return cls(
            _str(data, "symbol"),
            _int(data, "leverage"),
            _opt_dec(data, "maxNotionalValue") or _opt_dec(data, "maxQty"),
        )
