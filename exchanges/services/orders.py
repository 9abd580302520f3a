"""Orders: place exactly once, check, cancel, reconcile, apply exchange events, kill switch.

An order's life (ARCHITECTURE.md): validate (shape, kill switch, futures flag, symbol filters,
balance) -> commit Order(status=PENDING, client_order_id) -> send once with that id -> a known
answer updates the row; an unknown one (timeout, 5xx, -1006, -1007) marks it UNKNOWN and
`exchanges.tasks.order_reconcile` queries the order by its client order id until the outcome is
known. Nothing is ever resent.

Every state change of a row goes through `_apply_state`, under a row lock, idempotently, and
publishes `order.update` / `fill` events after commit. The user-data stream process calls
`order_apply_execution_report`, `order_apply_futures_update` and `order_apply_algo_update`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db import connection as connection_db
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from exchanges import events
from exchanges.binance import BinanceClient, BinanceError, ErrorCategory, new_client_order_id
from exchanges.binance.ids import is_valid_client_order_id
from exchanges.binance.models import FuturesAlgoOrder, FuturesOrder, SymbolInfo
from exchanges.binance.models import Order as SpotOrder
from exchanges.clients import connection_client
from exchanges.models import (
    ALGO_ORDER_TYPES,
    FINAL_ORDER_STATUSES,
    OPEN_ORDER_STATUSES,
    UNRESOLVED_ORDER_STATUSES,
    ExchangeConnection,
    Fill,
    Order,
    OrderMarket,
    OrderStatus,
)
from exchanges.services.filters import FilterProblem, Sellable, check_order, plain, sellable_amount
from exchanges.services.futures import connection_require_futures
from klineo.exceptions import ApplicationError

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
SPOT_TYPES = frozenset(
    {"MARKET", "LIMIT", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
     "TAKE_PROFIT_LIMIT"}
)  # fmt: skip
USDM_TYPES = frozenset({"MARKET", "LIMIT", *ALGO_ORDER_TYPES} - {"TRAILING_STOP_MARKET"})
NEEDS_PRICE = frozenset(
    {"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "STOP", "TAKE_PROFIT"}
)
NEEDS_STOP = frozenset(
    {"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "STOP",
     "STOP_MARKET", "TAKE_PROFIT_MARKET"}
)  # fmt: skip
NEEDS_TIF = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "STOP", "TAKE_PROFIT"})
TIME_IN_FORCE = {"spot": ("GTC", "IOC", "FOK"), "usdm": ("GTC", "IOC", "FOK", "GTX")}
MAX_AMOUNT = Decimal("1e18")

_STATUS_RANK = {
    OrderStatus.PENDING: 0,
    OrderStatus.UNKNOWN: 1,
    OrderStatus.NEW: 2,
    OrderStatus.PARTIALLY_FILLED: 3,
    OrderStatus.FILLED: 4,
    OrderStatus.CANCELED: 4,
    OrderStatus.REJECTED: 4,
    OrderStatus.EXPIRED: 4,
}
# Binance status words -> ours (spot, futures, and algo orders).
_STATUS_MAP = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.NEW,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "PENDING_NEW": OrderStatus.NEW,
    # Algo (conditional) orders: working until FINISHED (the triggered order was placed).
    "TRIGGERING": OrderStatus.NEW,
    "TRIGGERED": OrderStatus.NEW,
    "FINISHED": OrderStatus.FILLED,
}
NOT_FOUND_REASON = "never reached the exchange"


# ---------------------------------------------------------------------------------------------
# Small helpers


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dec(value: Any, name: str, fields: dict[str, list[str]]) -> Decimal | None:
    """Parse an optional positive decimal amount; records a field error instead of raising."""
    if value is None or value == "":
        return None
    if isinstance(value, float | bool):
        fields[name] = ['Send amounts as decimal strings, e.g. "0.001".']
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        fields[name] = ['Enter a number, e.g. "0.001".']
        return None
    if not number.is_finite() or number <= 0:
        fields[name] = ["Must be a positive number."]
        return None
    if number >= MAX_AMOUNT or number.as_tuple().exponent < -18:  # type: ignore[operator]
        fields[name] = ["Too many digits."]
        return None
    return number


def _fail(fields: dict[str, list[str]]) -> ApplicationError:
    name, messages = next(iter(fields.items()))
    return ApplicationError(f"{name}: {messages[0]}", code="invalid", fields=fields)


def _order_event(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "connection": order.connection_id,
        "market": order.market,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "status": order.status,
        "client_order_id": order.client_order_id,
        "price": plain(order.price) if order.price is not None else None,
        "quantity": plain(order.quantity) if order.quantity is not None else None,
        "executed_quantity": plain(order.executed_quantity),
        "cumulative_quote": plain(order.cumulative_quote),
        "average_price": plain(order.average_price) if order.average_price is not None else None,
        "reject_reason": order.reject_reason,
        "version": order.version,
    }


def _publish(*, user_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Push an event after commit; a failing push (Redis down) never breaks the order flow."""
    events.publish(user_id=user_id, event_type=event_type, data=data, robust=True)


def _from_ms(ms: int | None) -> datetime:
    if not ms:
        return timezone.now()
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# Short-lived process caches for values a pre-check may use slightly stale.
_ttl_cache: dict[tuple, tuple[float, Any]] = {}


def _cached(key: tuple, ttl: float, fetch):
    hit = _ttl_cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    value = fetch()
    _ttl_cache[key] = (now, value)
    return value


def _forget(key: tuple) -> None:
    _ttl_cache.pop(key, None)


def symbol_info(client: BinanceClient, market: str, symbol: str) -> SymbolInfo:
    """The symbol's exchangeInfo (cached by the client for its TTL); ApplicationError if unknown."""
    api = client.spot if market == OrderMarket.SPOT else client.usdm
    try:
        info = api.exchange_info().symbols.get(symbol)
    except BinanceError as exc:
        raise _binance_error(exc) from None
    if info is None:
        raise ApplicationError(
            f"{symbol} is not a {'spot' if market == 'spot' else 'USD-M futures'} symbol here.",
            code="invalid",
            fields={"symbol": [f"Unknown symbol {symbol}."]},
        )
    return info


def reference_price(client: BinanceClient, market: str, symbol: str) -> Decimal | None:
    """Spot: the average price the filters use; futures: the mark price. Cached 10 s."""

    def fetch() -> Decimal | None:
        if market == OrderMarket.SPOT:
            data = client.request("spot", "GET", "/api/v3/avgPrice", {"symbol": symbol}, weight=2)
            return Decimal(str(data["price"]))
        data = client.request("usdm", "GET", "/fapi/v1/premiumIndex", {"symbol": symbol}, weight=1)
        return Decimal(str(data["markPrice"]))

    try:
        return _cached(("ref", client.urls.name, client.spot.base_url, market, symbol), 10, fetch)
    except (BinanceError, KeyError, InvalidOperation):
        return None


def _binance_error(exc: BinanceError, *, order: Order | None = None) -> ApplicationError:
    """A BinanceError as the app's one error type, with Binance's own words attached."""
    message = exc.user_message
    if exc.binance_message and exc.category in (
        ErrorCategory.FILTER_FAILURE,
        ErrorCategory.INVALID_PARAMETER,
        ErrorCategory.INSUFFICIENT_BALANCE,
        ErrorCategory.INVALID_SYMBOL,
        ErrorCategory.AUTH_PERMISSION,
        ErrorCategory.OTHER,
    ):
        message = f"{message} Binance said: {exc.binance_message}"
    if exc.code == -4061:
        message = (
            "The position side does not match the account's position mode: send position_side "
            "LONG or SHORT in hedge mode, and none in one-way mode."
        )
    extra: dict[str, Any] = {"binance_code": exc.code}
    if order is not None:
        extra["order"] = {"id": order.pk, "client_order_id": order.client_order_id}
    status = 429 if exc.category in (ErrorCategory.RATE_LIMITED, ErrorCategory.IP_BANNED) else 400
    if exc.category in (ErrorCategory.EXCHANGE_UNAVAILABLE, ErrorCategory.NETWORK):
        status = 503
    return ApplicationError(message, code=exc.category.value, extra=extra, status_code=status)


# ---------------------------------------------------------------------------------------------
# Input


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated order, ready for the pre-checks and the exchange."""

    market: str
    symbol: str
    side: str
    type: str
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = ""
    reduce_only: bool = False
    position_side: str = ""


def order_request_build(
    *,
    market: str,
    symbol: Any,
    side: Any,
    order_type: Any,
    quantity: Any = None,
    quote_quantity: Any = None,
    price: Any = None,
    stop_price: Any = None,
    time_in_force: Any = None,
    reduce_only: Any = False,
    position_side: Any = None,
) -> OrderRequest:
    """Validate the shape of an order (types, required fields per order type) or raise
    ApplicationError(code="invalid") naming every bad field."""
    fields: dict[str, list[str]] = {}
    symbol = str(symbol or "").strip().upper()
    if not symbol or not (symbol.isascii() and symbol.isalnum()) or len(symbol) > 20:
        fields["symbol"] = ["Enter a symbol such as BTCUSDT."]
    side = str(side or "").strip().upper()
    if side not in ("BUY", "SELL"):
        fields["side"] = ["Must be BUY or SELL."]
    order_type = str(order_type or "").strip().upper()
    allowed = SPOT_TYPES if market == OrderMarket.SPOT else USDM_TYPES
    if order_type not in allowed:
        fields["type"] = [f"Must be one of {', '.join(sorted(allowed))}."]
    qty = _dec(quantity, "quantity", fields)
    quote_qty = _dec(quote_quantity, "quote_quantity", fields)
    px = _dec(price, "price", fields)
    stop = _dec(stop_price, "stop_price", fields)
    tif = str(time_in_force or "").strip().upper()
    if not isinstance(reduce_only, bool):
        fields["reduce_only"] = ["Must be true or false."]
        reduce_only = False
    pos_side = str(position_side or "").strip().upper()
    if fields:
        raise _fail(fields)

    if order_type == "MARKET":
        if market == OrderMarket.SPOT and (qty is None) == (quote_qty is None):
            fields["quantity"] = ["Give either quantity (base) or quote_quantity, not both."]
        elif market == OrderMarket.USDM and qty is None:
            fields["quantity"] = ["Required."]
    else:
        if qty is None:
            fields["quantity"] = ["Required."]
        if quote_qty is not None:
            fields["quote_quantity"] = ["Only market orders can be sized by quote amount."]
    if market == OrderMarket.USDM and quote_qty is not None:
        fields["quote_quantity"] = ["Futures orders are sized by quantity."]
    if order_type in NEEDS_PRICE and px is None:
        fields["price"] = ["Required for this order type."]
    if order_type not in NEEDS_PRICE and px is not None:
        fields["price"] = ["Not used by this order type; leave it empty."]
    if order_type in NEEDS_STOP and stop is None:
        fields["stop_price"] = ["Required for this order type."]
    if order_type not in NEEDS_STOP and stop is not None:
        fields["stop_price"] = ["Not used by this order type; leave it empty."]
    if order_type in NEEDS_TIF:
        tif = tif or "GTC"
        if tif not in TIME_IN_FORCE[market]:
            fields["time_in_force"] = [f"Must be one of {', '.join(TIME_IN_FORCE[market])}."]
    elif tif and not (order_type == "LIMIT_MAKER" and tif == "GTC"):
        fields["time_in_force"] = ["Not used by this order type; leave it empty."]
    else:
        tif = ""
    if market == OrderMarket.SPOT:
        if reduce_only:
            fields["reduce_only"] = ["Only for futures orders."]
        if pos_side:
            fields["position_side"] = ["Only for futures orders."]
    elif pos_side and pos_side not in ("BOTH", "LONG", "SHORT"):
        fields["position_side"] = ["Must be LONG or SHORT (hedge mode) or BOTH."]
    if pos_side in ("LONG", "SHORT") and reduce_only:
        fields["reduce_only"] = ["Not allowed in hedge mode: the position side decides."]
    if fields:
        raise _fail(fields)
    return OrderRequest(
        market=market,
        symbol=symbol,
        side=side,
        type=order_type,
        quantity=qty,
        quote_quantity=quote_qty,
        price=px,
        stop_price=stop,
        time_in_force=tif,
        reduce_only=reduce_only,
        position_side="" if pos_side == "BOTH" else pos_side,
    )


def _kill_switch_error() -> ApplicationError:
    return ApplicationError(
        "Your kill switch is on: new orders are refused. Turn it off to trade again.",
        code="kill_switch",
        status_code=409,
    )


def _require_may_trade(*, user: User, connection: ExchangeConnection, market: str) -> None:
    if User.objects.filter(pk=user.pk, kill_switch_enabled=True).exists():
        raise _kill_switch_error()
    if market == OrderMarket.USDM:
        connection_require_futures(connection)


@dataclass(frozen=True, slots=True)
class _Gate:
    kill_switch: bool
    open_orders: int | None
    existing_id: int | None


def _place_gate(
    *, user: User, connection: ExchangeConnection, req: OrderRequest, cid: str | None, count: bool
) -> _Gate:
    """What order_place must know before anything else, in ONE query: the kill switch, read from
    the database and not from a possibly older `user` object; the order holding this idempotency
    key, if any; and the connection's open orders on the symbol (MAX_NUM_ORDERS) when the
    pre-check runs.

    Plain SQL on purpose: this is on every order's critical path, and building the same query
    with the ORM (a count and an exists) costs ~1 ms of Python per order against ~0.2 ms here
    (measured in-process). tests/orders/test_performance.py covers its answers.
    """
    order_table = connection_db.ops.quote_name(Order._meta.db_table)
    user_table = connection_db.ops.quote_name(User._meta.db_table)
    open_count = (
        f"(SELECT COUNT(*) FROM {order_table} o WHERE o.connection_id = %s AND o.market = %s"
        " AND o.symbol = %s AND o.status = ANY(%s))"
        if count
        else "NULL"
    )
    sql = (
        f"SELECT u.kill_switch_enabled, {open_count},"
        f" (SELECT o.id FROM {order_table} o WHERE o.client_order_id = %s)"
        f" FROM {user_table} u WHERE u.id = %s"
    )
    params: list[Any] = (
        [connection.pk, req.market, req.symbol, [str(s) for s in OPEN_ORDER_STATUSES]]
        if count
        else []
    )
    params += [cid, user.pk]
    with connection_db.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:  # no such user (deleted meanwhile): the insert will fail on its own
        return _Gate(kill_switch=False, open_orders=None, existing_id=None)
    return _Gate(kill_switch=bool(row[0]), open_orders=row[1], existing_id=row[2])


def _require_confirmation(*, connection: ExchangeConnection, confirm: bool) -> None:
    if connection.is_mainnet and confirm is not True:
        raise ApplicationError(
            "This connection trades real money on Binance mainnet: confirm the order "
            "(send confirm=true).",
            code="confirmation_required",
            fields={"confirm": ["Confirm this mainnet order."]},
        )


# ---------------------------------------------------------------------------------------------
# Pre-checks: filters and balance


@dataclass
class PrecheckResult:
    info: SymbolInfo
    reference_price: Decimal | None
    problems: list[FilterProblem] = field(default_factory=list)


# How long an account snapshot may answer the balance pre-check. GET /api/v3/account weighs 20
# (USD-M /fapi/v3/account 5) of the server's 6000 per minute, shared by all users: refreshed every
# few seconds for each active trader it would use up the weight the orders need (50 users at a
# 5 s TTL spend 12000 a minute). A longer-lived snapshot is safe because (1) the orders placed
# from it are subtracted (`spent`), so it never covers more than it showed; (2) a shortfall is
# always confirmed with a fresh snapshot before refusing; (3) the exchange checks the balance
# anyway: an order that passes on a stale snapshot is at worst REJECTED with Binance's reason.
BALANCE_SNAPSHOT_SECONDS = 30.0


@dataclass
class _AccountSnapshot:
    taken_at: float
    amounts: dict[str, Decimal]  # asset -> free (spot) or available margin (futures)
    spent: dict[str, Decimal] = field(default_factory=dict)  # by orders placed since


_snapshots: dict[tuple, _AccountSnapshot] = {}
_snapshots_lock = threading.Lock()


def _balance_covers(
    key: tuple, fetch, asset: str, need: Decimal, *, reserve: bool
) -> tuple[bool, Decimal]:
    """Does the account cover `need` of `asset`? (covered, amount shown). A recent snapshot
    answers first, less what was reserved from it; a shortfall is confirmed with a fresh one.
    `reserve`: the order is being placed, so subtract `need` from the snapshot."""
    now = time.monotonic()
    with _snapshots_lock:
        snapshot = _snapshots.get(key)
        if snapshot is not None and now - snapshot.taken_at < BALANCE_SNAPSHOT_SECONDS:
            left = snapshot.amounts.get(asset, ZERO) - snapshot.spent.get(asset, ZERO)
            if left >= need:
                if reserve:
                    snapshot.spent[asset] = snapshot.spent.get(asset, ZERO) + need
                return True, left
    snapshot = _AccountSnapshot(taken_at=now, amounts=fetch())
    amount = snapshot.amounts.get(asset, ZERO)
    covered = amount >= need
    if covered and reserve:
        snapshot.spent[asset] = need
    with _snapshots_lock:
        if len(_snapshots) >= 4096:  # connections that stopped trading (or changed keys)
            for old_key in [k for k, v in _snapshots.items() if now - v.taken_at >= 60]:
                del _snapshots[old_key]
        _snapshots[key] = snapshot
    return covered, amount


def _spot_amounts(client: BinanceClient) -> dict[str, Decimal]:
    account = client.spot.account(omit_zero_balances=True)
    return {b.asset: b.free for b in account.balances}


def _futures_amounts(client: BinanceClient) -> dict[str, Decimal]:
    account = client.usdm.account()
    return {"": account.available_balance if account.available_balance is not None else ZERO}


def _balance_problem(
    client: BinanceClient,
    connection: ExchangeConnection,
    req: OrderRequest,
    info: SymbolInfo,
    ref: Decimal | None,
    reserve: bool = False,
) -> FilterProblem | None:
    """The order needs more than the free balance (spot) or the available margin (futures)?

    A recent account snapshot (BALANCE_SNAPSHOT_SECONDS, less the orders placed from it) is used
    first; a shortfall is confirmed with a fresh one before refusing, so a recent deposit or fill
    never blocks an order.
    """
    if req.market == OrderMarket.SPOT:
        if req.side == "BUY":
            asset = info.quote_asset
            px = req.price if req.type != "MARKET" else ref
            if req.type in ("STOP_LOSS", "TAKE_PROFIT"):
                px = req.stop_price
            if req.quote_quantity is not None:
                need = req.quote_quantity
            elif req.quantity is not None and px is not None:
                need = req.quantity * px
            else:
                return None
        else:
            asset = info.base_asset
            need = req.quantity if req.quantity is not None else None
            if need is None:  # a quote-sized market sell: quote / price in base
                if not ref:
                    return None
                need = req.quote_quantity / ref  # type: ignore[operator]
        covered, free = _balance_covers(
            ("spot-account", connection.pk, connection.updated_at),
            lambda: _spot_amounts(client),
            asset,
            need,
            reserve=reserve,
        )
        if covered:
            return None
        return FilterProblem(
            "quantity" if req.quote_quantity is None else "quote_quantity",
            "BALANCE",
            f"This order needs about {plain(need.normalize())} {asset} but only "
            f"{plain(free)} {asset} is free.",
        )
    if req.reduce_only or (
        req.position_side
        and (
            (req.position_side == "LONG" and req.side == "SELL")
            or (req.position_side == "SHORT" and req.side == "BUY")
        )
    ):
        return None  # closing a position frees margin
    px = req.price or req.stop_price or ref
    if px is None or req.quantity is None:
        return None
    leverage = _cached(("leverage", connection.pk, req.symbol), 30, lambda: None) or 1
    need = req.quantity * px / Decimal(leverage)
    covered, available = _balance_covers(
        ("usdm-account", connection.pk, connection.updated_at),
        lambda: _futures_amounts(client),
        "",
        need,
        reserve=reserve,
    )
    if covered:
        return None
    return FilterProblem(
        "quantity",
        "BALANCE",
        f"This order needs about {plain(need.quantize(Decimal('0.01')))} "
        f"{info.quote_asset} of margin at {leverage}x but only {plain(available)} is available.",
    )


def order_precheck(
    *,
    client: BinanceClient,
    connection: ExchangeConnection,
    req: OrderRequest,
    check_balance: bool = True,
    open_orders: int | None = None,
    reserve: bool = False,
) -> PrecheckResult:
    """Run every local check (symbol filters, open-order count, balance) and return problems.

    `open_orders`: the connection's open orders on the symbol, when the caller read it already.
    `reserve`: the order will be placed if this passes (its amount is taken off the cached
    balance, see BALANCE_SNAPSHOT_SECONDS)."""
    info = symbol_info(client, req.market, req.symbol)
    ref = reference_price(client, req.market, req.symbol)
    if open_orders is None:
        open_orders = _open_orders_query(connection=connection, req=req).count()
    problems = check_order(
        info,
        market=req.market,
        side=req.side,
        order_type=req.type,
        quantity=req.quantity,
        quote_quantity=req.quote_quantity,
        price=req.price,
        stop_price=req.stop_price,
        reference_price=ref,
        open_orders=open_orders,
        reduce_only=req.reduce_only,
    )
    if req.market == OrderMarket.USDM and not problems:
        hedge = futures_hedge_mode(connection=connection)
        if hedge and req.position_side not in ("LONG", "SHORT"):
            problems.append(
                FilterProblem(
                    "position_side",
                    "POSITION_MODE",
                    "This account is in hedge mode: choose position_side LONG or SHORT.",
                )
            )
        elif not hedge and req.position_side in ("LONG", "SHORT"):
            problems.append(
                FilterProblem(
                    "position_side",
                    "POSITION_MODE",
                    "This account is in one-way mode: leave position_side empty.",
                )
            )
    if not problems and check_balance and settings.ORDERS_BALANCE_PRECHECK:
        try:
            problem = _balance_problem(client, connection, req, info, ref, reserve)
        except BinanceError as exc:
            if not (reserve and exc.category is ErrorCategory.RATE_LIMITED):
                raise _binance_error(exc) from None
            # The weight budget cannot afford the account snapshot (weight 20) right now. The
            # order (weight 1) may still fit, the exchange checks the balance itself, and if
            # the budget is spent or paused the order is refused by it just the same.
            logger.info("order pre-check without balance for connection %s: %s", connection.pk, exc)
            problem = None
        if problem is not None:
            problems.append(problem)
    return PrecheckResult(info, ref, problems)


def _open_orders_query(*, connection: ExchangeConnection, req: OrderRequest):
    return Order.objects.filter(
        connection=connection,
        market=req.market,
        symbol=req.symbol,
        status__in=OPEN_ORDER_STATUSES,
    )


def _raise_problems(problems: list[FilterProblem]) -> None:
    fields: dict[str, list[str]] = {}
    for problem in problems:
        fields.setdefault(problem.field, []).append(problem.message)
    code = "insufficient_balance" if problems[0].filter_type == "BALANCE" else "filter_failure"
    raise ApplicationError(
        problems[0].message,
        code=code,
        fields=fields,
        extra={"problems": [p.as_dict() for p in problems]},
    )


# ---------------------------------------------------------------------------------------------
# Placing


@dataclass(frozen=True, slots=True)
class PlaceResult:
    order: Order
    created: bool


def _existing_for(*, user: User, client_order_id: str) -> Order | None:
    existing = Order.objects.filter(client_order_id=client_order_id).first()
    if existing is None:
        return None
    if existing.owner_id != user.pk:
        raise ApplicationError(
            "This client_order_id is already in use; choose another one.",
            code="duplicate_client_order_id",
            fields={"client_order_id": ["Already in use."]},
            status_code=409,
        )
    return existing


def _validate_client_order_id(value: Any, market: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not is_valid_client_order_id(value):
        raise ApplicationError(
            "client_order_id must be 1-36 characters of letters, digits, '-' or '_'.",
            code="invalid",
            fields={"client_order_id": ["1-36 characters of letters, digits, '-' or '_'."]},
        )
    return value


def order_place(
    *,
    user: User,
    connection: ExchangeConnection,
    market: str,
    symbol: Any,
    side: Any,
    order_type: Any,
    quantity: Any = None,
    quote_quantity: Any = None,
    price: Any = None,
    stop_price: Any = None,
    time_in_force: Any = None,
    reduce_only: Any = False,
    position_side: Any = None,
    client_order_id: Any = None,
    confirm: bool = False,
    precheck: bool = True,
    request=None,
) -> PlaceResult:
    """Place one order, exactly once.

    `client_order_id` is the caller's idempotency key: when an order with it exists already, that
    order is returned (`created=False`) and nothing is sent. Raises ApplicationError for bad input
    (code "invalid"), a failed pre-check ("filter_failure", "insufficient_balance"), the kill
    switch ("kill_switch"), futures off ("futures_not_enabled"), a missing mainnet confirmation
    ("confirmation_required") and a definite exchange rejection (the row stays, REJECTED).
    An unknown outcome is not an error: the order comes back UNKNOWN and is being checked.
    `precheck=False` skips the local filter and balance checks (the exchange still checks).
    """
    cid = _validate_client_order_id(client_order_id, market)
    req = order_request_build(
        market=market,
        symbol=symbol,
        side=side,
        order_type=order_type,
        quantity=quantity,
        quote_quantity=quote_quantity,
        price=price,
        stop_price=stop_price,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
        position_side=position_side,
    )
    gate = _place_gate(user=user, connection=connection, req=req, cid=cid, count=precheck)
    if gate.existing_id is not None:
        existing = _existing_for(user=user, client_order_id=cid)  # type: ignore[arg-type]
        if existing is not None:
            return PlaceResult(existing, False)
    if gate.kill_switch:
        raise _kill_switch_error()
    if market == OrderMarket.USDM:
        connection_require_futures(connection)
    _require_confirmation(connection=connection, confirm=confirm)
    client = connection_client(connection)
    if precheck:
        result = order_precheck(
            client=client,
            connection=connection,
            req=req,
            open_orders=gate.open_orders,
            reserve=True,
        )
        if result.problems:
            _raise_problems(result.problems)
    return _create_and_submit(
        user=user, connection=connection, client=client, req=req, cid=cid, request=request
    )


def _create_and_submit(
    *,
    user: User,
    connection: ExchangeConnection,
    client: BinanceClient,
    req: OrderRequest,
    cid: str | None,
    request=None,
    list_client_order_id: str = "",
) -> PlaceResult:
    order = _create_pending(
        user=user,
        connection=connection,
        req=req,
        cid=cid,
        request=request,
        list_client_order_id=list_client_order_id,
    )
    if isinstance(order, PlaceResult):
        return order
    order = _submit(client=client, order=order) or Order.objects.get(pk=order.pk)
    if order.status in OPEN_ORDER_STATUSES and _kill_switch_on(user):
        # The kill switch was turned on while this order was in flight: take it back out.
        try:
            order_cancel(user=user, order=order, request=request, reason="kill switch")
        except ApplicationError:
            logger.warning("could not cancel order %s placed during kill switch", order.pk)
        order.refresh_from_db()
    if order.status == OrderStatus.REJECTED:
        raise ApplicationError(
            f"The exchange rejected the order: {order.reject_reason}",
            code=order.reject_code or "order_rejected",
            extra={"order": {"id": order.pk, "client_order_id": order.client_order_id}},
        )
    return PlaceResult(order, True)


def _kill_switch_on(user: User) -> bool:
    return User.objects.filter(pk=user.pk, kill_switch_enabled=True).exists()


def _resolve_deadline() -> datetime:
    seconds = settings.BINANCE_RECV_WINDOW / 1000 + settings.ORDER_NOT_FOUND_MARGIN_SECONDS
    return timezone.now() + timedelta(seconds=seconds)


def _create_pending(
    *,
    user: User,
    connection: ExchangeConnection,
    req: OrderRequest,
    cid: str | None,
    request,
    list_client_order_id: str = "",
) -> Order | PlaceResult:
    """Commit the PENDING row (and its audit entry) before anything is sent."""
    try:
        with transaction.atomic():
            order = Order.objects.create(
                owner=user,
                connection=connection,
                market=req.market,
                symbol=req.symbol,
                side=req.side,
                type=req.type,
                time_in_force=req.time_in_force,
                quantity=req.quantity,
                quote_quantity=req.quote_quantity,
                price=req.price,
                stop_price=req.stop_price,
                reduce_only=req.reduce_only,
                position_side=req.position_side,
                client_order_id=cid or new_client_order_id(),
                list_client_order_id=list_client_order_id,
                status=OrderStatus.PENDING,
                submitted_at=timezone.now(),
                resolve_not_before=_resolve_deadline(),
            )
            audit_record(
                user=user,
                action="order.place",
                request=request,
                order_id=order.pk,
                connection_id=connection.pk,
                client_order_id=order.client_order_id,
                market=req.market,
                symbol=req.symbol,
                side=req.side,
                type=req.type,
                quantity=plain(req.quantity) if req.quantity is not None else None,
                quote_quantity=plain(req.quote_quantity) if req.quote_quantity else None,
                price=plain(req.price) if req.price is not None else None,
                mainnet=connection.is_mainnet,
            )
    except IntegrityError:
        # Two requests with the same idempotency key raced: the first one's row wins.
        if cid is None:
            raise
        existing = _existing_for(user=user, client_order_id=cid)
        if existing is None:
            raise
        return PlaceResult(existing, False)
    return order


def _submit(*, client: BinanceClient, order: Order) -> Order | None:
    """Send a committed PENDING order once and record what is known about the outcome."""
    try:
        if order.market == OrderMarket.SPOT:
            placed: Any = client.spot.place_order(
                order.symbol,
                order.side,
                order.type,
                quantity=order.quantity,
                quote_order_qty=order.quote_quantity,
                price=order.price,
                time_in_force=order.time_in_force or None,
                stop_price=order.stop_price,
                new_order_resp_type="FULL",
                client_order_id=order.client_order_id,
            )
        else:
            placed = client.usdm.place_order(
                order.symbol,
                order.side,
                order.type,
                quantity=order.quantity,
                price=order.price,
                time_in_force=order.time_in_force or None,
                position_side=order.position_side or None,
                reduce_only=True if order.reduce_only else None,
                stop_price=order.stop_price,
                new_order_resp_type=None if order.is_algo else "RESULT",
                client_order_id=order.client_order_id,
            )
    except BinanceError as exc:
        _record_send_failure(order=order, exc=exc)
        return None
    return _apply_placed(order=order, placed=placed)


def _record_send_failure(*, order: Order, exc: BinanceError) -> None:
    if not exc.outcome_known:
        logger.warning(
            "order %s (%s): outcome unknown (%s); reconciling",
            order.pk,
            order.client_order_id,
            exc.category.value,
        )
        _mark_unknown(order_id=order.pk, reason=exc.binance_message or exc.category.value)
        return
    if exc.code == -4061:
        _forget(("position-mode", order.connection_id))
    if exc.is_duplicate_order:
        # The id is on the exchange already: that order is ours (ids are generated here or
        # owned by this user). Find out what it is instead of calling it rejected.
        _mark_unknown(order_id=order.pk, reason="duplicate client order id")
        return
    reason = exc.binance_message or exc.user_message
    if exc.category in (ErrorCategory.NETWORK, ErrorCategory.RATE_LIMITED, ErrorCategory.IP_BANNED):
        reason = f"{NOT_FOUND_REASON} ({exc.user_message})"
    _apply_state(
        order_id=order.pk,
        status=OrderStatus.REJECTED,
        reason=reason,
        reject_code=exc.category.value,
    )


def _mark_unknown(*, order_id: int, reason: str) -> None:
    from exchanges.tasks import order_reconcile

    with transaction.atomic():
        updated = Order.objects.filter(pk=order_id, status__in=UNRESOLVED_ORDER_STATUSES).update(
            status=OrderStatus.UNKNOWN,
            reject_reason="",
            exchange_status=reason[:30],
            resolve_not_before=_resolve_deadline(),
            updated_at=timezone.now(),
            version=F("version") + 1,
        )
        if updated:
            order = Order.objects.get(pk=order_id)
            _publish(user_id=order.owner_id, event_type="order.update", data=_order_event(order))
            transaction.on_commit(
                lambda: order_reconcile.apply_async(
                    (order_id,), countdown=settings.ORDER_RECONCILE_FIRST_DELAY
                )
            )


# ---------------------------------------------------------------------------------------------
# Applying exchange state to a row (one place, idempotent)


@dataclass(frozen=True, slots=True)
class FillData:
    trade_id: int
    price: Decimal
    quantity: Decimal
    commission: Decimal = ZERO
    commission_asset: str = ""
    is_maker: bool | None = None
    time_ms: int | None = None


def _apply_state(
    *,
    order_id: int,
    status: str | None = None,
    executed_quantity: Decimal | None = None,
    cumulative_quote: Decimal | None = None,
    average_price: Decimal | None = None,
    exchange_order_id: int | None = None,
    algo_id: int | None = None,
    order_list_id: int | None = None,
    exchange_status: str | None = None,
    update_ms: int | None = None,
    fills: Iterable[FillData] = (),
    reason: str | None = None,
    reject_code: str | None = None,
    checked: bool = False,
    current: Order | None = None,
) -> Order | None:
    """Move an order forward with what the exchange says, never backwards.

    A status only replaces one of lower or equal rank (PENDING < UNKNOWN < NEW <
    PARTIALLY_FILLED < final), executed quantity never shrinks, and a fill is recorded once per
    trade id, so replays, late events and racing queries are harmless. The one exception: an
    order concluded REJECTED as never having reached the exchange is corrected if the exchange
    reports it after all.

    `current`: the row as this process last wrote it (the PENDING row just committed before
    sending). The change is then written with one UPDATE guarded by the row's version instead
    of locking and re-reading it first: every change that matters (status, quantities, fills)
    bumps the version under the row lock, so an unchanged version means the row, and its fills
    (none), are exactly as written. If another writer got there first (the user-data stream), the
    guard matches nothing and the usual lock-and-read path runs.
    """
    fills = [f for f in fills if f.trade_id is not None and f.trade_id >= 0]
    change = {
        "status": status,
        "executed_quantity": executed_quantity,
        "cumulative_quote": cumulative_quote,
        "average_price": average_price,
        "exchange_order_id": exchange_order_id,
        "algo_id": algo_id,
        "order_list_id": order_list_id,
        "exchange_status": exchange_status,
        "update_ms": update_ms,
        "reason": reason,
        "reject_code": reject_code,
        "checked": checked,
    }
    with transaction.atomic():
        if current is not None:
            applied = _apply_unchanged_since(current, fills, change)
            if applied is not None:
                return applied
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            return None
        known = _known_trade_ids(order, fills)
        changed, new_fills = _merge(order, fills, known, **change)
        if changed:
            order.save(update_fields=[*changed, "updated_at"])
        _write_fills_and_publish(order, changed, new_fills)
    return order


def _apply_unchanged_since(
    current: Order, fills: list[FillData], change: dict[str, Any]
) -> Order | None:
    """The fast path of `_apply_state` (inside its transaction); None: take the locked path."""
    order = copy.copy(current)
    seen_version = order.version
    changed, new_fills = _merge(order, fills, set(), **change)
    if "version" not in changed:
        return None  # nothing visible changes: let the locked path read the row as it is
    order.updated_at = timezone.now()
    values = {name: getattr(order, name) for name in (*changed, "updated_at")}
    updated = Order.objects.filter(pk=order.pk, version=seen_version).update(**values)
    if not updated:
        return None
    # The UPDATE holds the row lock until commit, so no other writer can add these fills now.
    _write_fills_and_publish(order, changed, new_fills)
    return order


def _merge(
    order: Order,
    fills: list[FillData],
    known: set[int],
    *,
    status: str | None,
    executed_quantity: Decimal | None,
    cumulative_quote: Decimal | None,
    average_price: Decimal | None,
    exchange_order_id: int | None,
    algo_id: int | None,
    order_list_id: int | None,
    exchange_status: str | None,
    update_ms: int | None,
    reason: str | None,
    reject_code: str | None,
    checked: bool,
) -> tuple[set[str], list[Fill]]:
    """Apply the exchange's view to `order` in memory; the changed fields and the new fills."""
    changed: set[str] = set()
    new_status = OrderStatus(status) if status else None
    if new_status is not None and new_status != order.status:
        old_rank = _STATUS_RANK[OrderStatus(order.status)]
        corrected = (
            order.status == OrderStatus.REJECTED
            and order.reject_code == "not_found"
            and new_status != OrderStatus.REJECTED
        )
        if corrected or (
            _STATUS_RANK[new_status] >= old_rank and order.status not in FINAL_ORDER_STATUSES
        ):
            order.status = new_status
            changed.add("status")
            if corrected:
                order.reject_reason = ""
                order.reject_code = ""
                changed |= {"reject_reason", "reject_code"}
    if executed_quantity is not None and executed_quantity > order.executed_quantity:
        order.executed_quantity = executed_quantity
        changed.add("executed_quantity")
        if cumulative_quote is not None:
            order.cumulative_quote = cumulative_quote
            changed.add("cumulative_quote")
        if average_price is None and cumulative_quote and executed_quantity:
            average_price = cumulative_quote / executed_quantity
        if average_price is not None and average_price > 0:
            order.average_price = average_price.quantize(Decimal("1e-18")).normalize()
            changed.add("average_price")
        if (
            order.status == OrderStatus.NEW
            and order.quantity
            and executed_quantity < order.quantity
        ):
            order.status = OrderStatus.PARTIALLY_FILLED
            changed.add("status")
    elif (
        cumulative_quote is not None
        and executed_quantity is not None
        and executed_quantity == order.executed_quantity
        and cumulative_quote > order.cumulative_quote
    ):
        order.cumulative_quote = cumulative_quote
        changed.add("cumulative_quote")
    for name, value in (
        ("exchange_order_id", exchange_order_id),
        ("algo_id", algo_id),
        ("order_list_id", order_list_id),
    ):
        if value is not None and value >= 0 and getattr(order, name) != value:
            setattr(order, name, value)
            changed.add(name)
    if exchange_status and order.exchange_status != exchange_status[:30]:
        order.exchange_status = exchange_status[:30]
        changed.add("exchange_status")
    if reason is not None and order.status == OrderStatus.REJECTED and "status" in changed:
        order.reject_reason = reason
        order.reject_code = reject_code or ""
        changed |= {"reject_reason", "reject_code"}
    if (
        order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED)
        and reason
        and not order.reject_reason
    ):
        order.reject_reason = reason
        changed.add("reject_reason")
    if update_ms is not None and (order.exchange_updated_ms or 0) < update_ms:
        order.exchange_updated_ms = update_ms
        changed.add("exchange_updated_ms")
    if checked:
        order.last_checked_at = timezone.now()
        order.check_attempts += 1
        changed |= {"last_checked_at", "check_attempts"}
    new_fills = _new_fills(order, fills, known)
    visible = bool(changed - {"last_checked_at", "check_attempts", "exchange_updated_ms"})
    if visible or new_fills:
        order.version += 1
        changed.add("version")
    return changed, new_fills


def _write_fills_and_publish(order: Order, changed: set[str], new_fills: list[Fill]) -> None:
    if new_fills:
        Fill.objects.bulk_create(new_fills, ignore_conflicts=True)
    if "version" in changed:
        _publish(user_id=order.owner_id, event_type="order.update", data=_order_event(order))
    for item in new_fills:
        _publish(
            user_id=order.owner_id,
            event_type="fill",
            data={
                "order": order.pk,
                "connection": order.connection_id,
                "symbol": order.symbol,
                "side": order.side,
                "trade_id": item.trade_id,
                "price": plain(item.price),
                "quantity": plain(item.quantity),
                "commission": plain(item.commission),
                "commission_asset": item.commission_asset,
            },
        )


def _known_trade_ids(order: Order, fills: list[FillData]) -> set[int]:
    if not fills:
        return set()
    return set(
        Fill.objects.filter(order=order, trade_id__in=[f.trade_id for f in fills]).values_list(
            "trade_id", flat=True
        )
    )


def _new_fills(order: Order, fills: list[FillData], known: set[int]) -> list[Fill]:
    rows = []
    known = set(known)
    for item in fills:
        if item.trade_id in known:
            continue
        known.add(item.trade_id)
        rows.append(
            Fill(
                order=order,
                trade_id=item.trade_id,
                price=item.price,
                quantity=item.quantity,
                commission=item.commission,
                commission_asset=item.commission_asset,
                is_maker=item.is_maker,
                executed_at=_from_ms(item.time_ms),
            )
        )
    return rows


def _apply_placed(*, order: Order, placed: Any) -> Order | None:
    # `order` is the PENDING row exactly as committed before sending (see _apply_state).
    if isinstance(placed, SpotOrder):
        return _apply_spot_order(order_id=order.pk, data=placed, current=order)
    if isinstance(placed, FuturesAlgoOrder):
        return _apply_algo_order(order_id=order.pk, data=placed, current=order)
    return _apply_futures_order(order_id=order.pk, data=placed, current=order)


def _apply_spot_order(
    *, order_id: int, data: SpotOrder, checked: bool = False, current: Order | None = None
) -> Order | None:
    status = data.status or "NEW"  # an ACK answer has no status: the order was accepted
    fills = [
        FillData(
            trade_id=f.trade_id,
            price=f.price,
            quantity=f.qty,
            commission=f.commission,
            commission_asset=f.commission_asset,
            is_maker=False,
            time_ms=data.transact_time,
        )
        for f in data.fills
        if f.trade_id is not None
    ]
    return _apply_state(
        order_id=order_id,
        status=_STATUS_MAP.get(status, OrderStatus.NEW),
        executed_quantity=data.executed_qty if data.status else None,
        cumulative_quote=data.cummulative_quote_qty if data.status else None,
        exchange_order_id=data.order_id or None,
        order_list_id=data.order_list_id if data.order_list_id >= 0 else None,
        exchange_status=status,
        update_ms=data.update_time or data.transact_time,
        fills=fills,
        checked=checked,
        current=current,
    )


def _apply_futures_order(
    *, order_id: int, data: FuturesOrder, checked: bool = False, current: Order | None = None
) -> Order | None:
    status = data.status or "NEW"
    return _apply_state(
        order_id=order_id,
        status=_STATUS_MAP.get(status, OrderStatus.NEW),
        executed_quantity=data.executed_qty,
        cumulative_quote=data.cum_quote,
        average_price=data.avg_price or None,
        exchange_order_id=data.order_id or None,
        exchange_status=status,
        update_ms=data.update_time,
        checked=checked,
        current=current,
    )


def _apply_algo_order(
    *, order_id: int, data: FuturesAlgoOrder, checked: bool = False, current: Order | None = None
) -> Order | None:
    status = data.status or "NEW"
    executed = _dec_or_none(data.raw.get("executedQty") or data.raw.get("aq"))
    return _apply_state(
        order_id=order_id,
        status=_STATUS_MAP.get(status, OrderStatus.NEW),
        executed_quantity=executed,
        algo_id=data.algo_id or None,
        exchange_order_id=_int_or_none(data.raw.get("actualOrderId")),
        exchange_status=status,
        update_ms=data.update_time,
        reason=str(data.raw.get("failReason") or "") or None,
        reject_code="rejected",
        checked=checked,
        current=current,
    )


def _dec_or_none(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "", "0") else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Events from the user-data streams (called by the streams process)


def _order_for_event(connection: ExchangeConnection | None, client_order_id: str) -> Order | None:
    if not client_order_id:
        return None
    orders = Order.objects.filter(client_order_id=client_order_id)
    if connection is not None:
        orders = orders.filter(connection=connection)
    return orders.only("pk").first()


def order_apply_execution_report(
    *, connection: ExchangeConnection | None, event: Mapping[str, Any]
) -> Order | None:
    """Apply a spot `executionReport` (user-data stream) to the matching order, idempotently.

    Matched by client order id (`C`, the original id, on cancels; else `c`). Records the trade
    (`t`, `l`, `L`, `n`, `N`, `m`) once, moves the status forward, publishes `order.update` and
    `fill` after commit. Returns the order, or None for an order KLINEO did not place.
    """
    original = str(event.get("C") or "")
    order = _order_for_event(connection, original) if original else None
    if order is None:
        order = _order_for_event(connection, str(event.get("c") or ""))
    if order is None:
        return None
    fills: list[FillData] = []
    trade_id = _int_or_none(event.get("t"))
    if event.get("x") == "TRADE" and trade_id is not None and trade_id >= 0:
        fills.append(
            FillData(
                trade_id=trade_id,
                price=Decimal(str(event.get("L") or "0")),
                quantity=Decimal(str(event.get("l") or "0")),
                commission=Decimal(str(event.get("n") or "0")),
                commission_asset=str(event.get("N") or ""),
                is_maker=bool(event.get("m")),
                time_ms=_int_or_none(event.get("T")),
            )
        )
    status = str(event.get("X") or "")
    return _apply_state(
        order_id=order.pk,
        status=_STATUS_MAP.get(status),
        executed_quantity=_dec_or_none(event.get("z")),
        cumulative_quote=_dec_or_none(event.get("Z")),
        exchange_order_id=_int_or_none(event.get("i")),
        order_list_id=_int_or_none(event.get("g")),
        exchange_status=status,
        update_ms=_int_or_none(event.get("E")),
        fills=fills,
        reason=str(event.get("r") or "") if event.get("r") not in (None, "NONE") else None,
        reject_code="rejected",
    )


def order_apply_futures_update(
    *, connection: ExchangeConnection | None, event: Mapping[str, Any]
) -> Order | None:
    """Apply a USD-M `ORDER_TRADE_UPDATE` (its `o` object) to the matching order, idempotently."""
    data = event.get("o") or {}
    order = _order_for_event(connection, str(data.get("c") or ""))
    if order is None:
        return None
    fills: list[FillData] = []
    trade_id = _int_or_none(data.get("t"))
    if data.get("x") == "TRADE" and trade_id:
        fills.append(
            FillData(
                trade_id=trade_id,
                price=Decimal(str(data.get("L") or "0")),
                quantity=Decimal(str(data.get("l") or "0")),
                commission=Decimal(str(data.get("n") or "0")),
                commission_asset=str(data.get("N") or ""),
                is_maker=bool(data.get("m")),
                time_ms=_int_or_none(data.get("T")),
            )
        )
    status = str(data.get("X") or "")
    executed = _dec_or_none(data.get("z"))
    avg = _dec_or_none(data.get("ap"))
    return _apply_state(
        order_id=order.pk,
        status=_STATUS_MAP.get(status),
        executed_quantity=executed,
        cumulative_quote=executed * avg if executed is not None and avg else None,
        average_price=avg or None,
        exchange_order_id=_int_or_none(data.get("i")),
        exchange_status=status,
        update_ms=_int_or_none(event.get("E")),
        fills=fills,
    )


def order_apply_algo_update(
    *, connection: ExchangeConnection | None, event: Mapping[str, Any]
) -> Order | None:
    """Apply a USD-M `ALGO_UPDATE` (conditional order, matched by `caid`) idempotently."""
    data = event.get("o") or {}
    order = _order_for_event(connection, str(data.get("caid") or ""))
    if order is None:
        return None
    status = str(data.get("X") or "")
    return _apply_state(
        order_id=order.pk,
        status=_STATUS_MAP.get(status),
        executed_quantity=_dec_or_none(data.get("aq")),
        average_price=_dec_or_none(data.get("ap")) or None,
        algo_id=_int_or_none(data.get("aid")),
        exchange_order_id=_int_or_none(data.get("ai")),
        exchange_status=status,
        update_ms=_int_or_none(event.get("E")),
        reason=str(data.get("rm") or "") or None,
        reject_code="rejected",
    )


# ---------------------------------------------------------------------------------------------
# Querying and reconciling


@dataclass(frozen=True, slots=True)
class ReconcileOutcome:
    """`done`: the order's outcome is known (or the order is gone); else try again later."""

    done: bool
    status: str = ""
    detail: str = ""


def _query(client: BinanceClient, order: Order) -> Any:
    if order.market == OrderMarket.SPOT:
        return client.spot.get_order(order.symbol, client_order_id=order.client_order_id)
    if order.is_algo:
        return client.usdm.get_algo_order(client_algo_id=order.client_order_id)
    return client.usdm.get_order(order.symbol, client_order_id=order.client_order_id)


def order_refresh(*, order: Order) -> Order:
    """Ask the exchange for the order's current state and apply it (open or unresolved orders
    only; final ones never change). Exchange errors leave the row as it was."""
    if order.is_final:
        return order
    if order.is_unresolved:
        order_reconcile(order_id=order.pk)
        order.refresh_from_db()
        return order
    client = connection_client(order.connection)
    try:
        data = _query(client, order)
    except BinanceError as exc:
        logger.info("refresh of order %s failed: %s", order.pk, exc)
        return order
    _apply_queried(order, data)
    order.refresh_from_db()
    return order


def _apply_queried(order: Order, data: Any) -> None:
    if isinstance(data, SpotOrder):
        _apply_spot_order(order_id=order.pk, data=data, checked=True)
        if data.executed_qty > order.executed_quantity:
            _backfill_spot_fills(order)
    elif isinstance(data, FuturesAlgoOrder):
        _apply_algo_order(order_id=order.pk, data=data, checked=True)
    else:
        _apply_futures_order(order_id=order.pk, data=data, checked=True)


def _backfill_spot_fills(order: Order) -> None:
    """Fills seen only through a query (the stream missed them): read them from myTrades."""
    client = connection_client(order.connection)
    order.refresh_from_db(fields=["exchange_order_id"])
    if not order.exchange_order_id:
        return
    try:
        trades = client.spot.my_trades(order.symbol, order_id=order.exchange_order_id)
    except BinanceError:
        return
    _apply_state(
        order_id=order.pk,
        fills=[
            FillData(
                trade_id=t.id,
                price=t.price,
                quantity=t.qty,
                commission=t.commission,
                commission_asset=t.commission_asset,
                is_maker=t.is_maker,
                time_ms=t.time,
            )
            for t in trades
            if t.order_id == order.exchange_order_id
        ],
    )


def order_reconcile(*, order_id: int) -> ReconcileOutcome:
    """Resolve a PENDING / UNKNOWN order by querying it by client order id (never resending).

    Found -> its real status. "Does not exist" -> REJECTED ("never reached the exchange"), but
    only once the signed request's recvWindow has surely expired (`resolve_not_before`), since a
    request delayed in transit could still execute until then. Holds a per-order Redis lock so
    two workers never query the same order at once. Safe to call any number of times.
    """
    lock = events.redis_client().lock(
        f"klineo:order-reconcile:{order_id}",
        timeout=settings.ORDER_RECONCILE_LOCK_SECONDS,
        blocking_timeout=0,
    )
    if not lock.acquire(blocking=False):
        return ReconcileOutcome(False, detail="locked by another worker")
    try:
        order = Order.objects.select_related("connection").filter(pk=order_id).first()
        if order is None:
            return ReconcileOutcome(True, detail="no such order")
        if not order.is_unresolved:
            return ReconcileOutcome(True, order.status)
        try:
            client = connection_client(order.connection)
            data = _query(client, order)
        except BinanceError as exc:
            Order.objects.filter(pk=order.pk).update(
                last_checked_at=timezone.now(), check_attempts=order.check_attempts + 1
            )
            if exc.category is ErrorCategory.ORDER_NOT_FOUND or (
                order.is_algo and exc.code in (-2013, -2011)
            ):
                deadline = order.resolve_not_before or (
                    order.created_at + timedelta(seconds=settings.ORDER_SWEEP_AGE_SECONDS)
                )
                if timezone.now() < deadline:
                    return ReconcileOutcome(False, detail="not found yet; waiting out recvWindow")
                _apply_state(
                    order_id=order.pk,
                    status=OrderStatus.REJECTED,
                    reason=NOT_FOUND_REASON,
                    reject_code="not_found",
                )
                return ReconcileOutcome(True, OrderStatus.REJECTED, NOT_FOUND_REASON)
            return ReconcileOutcome(False, detail=str(exc))
        _apply_queried(order, data)
        order.refresh_from_db(fields=["status"])
        return ReconcileOutcome(True, order.status)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - an expired lock is fine to lose
            logger.debug("reconcile lock of order %s had expired", order_id)


def orders_needing_reconcile(*, older_than_seconds: float, limit: int = 200) -> list[int]:
    """Ids of PENDING / UNKNOWN orders untouched for `older_than_seconds` (for the sweep)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Order.objects.filter(status__in=UNRESOLVED_ORDER_STATUSES, updated_at__lt=cutoff)
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )


# ---------------------------------------------------------------------------------------------
# Cancelling


def order_cancel(*, user: User, order: Order, request=None, reason: str = "") -> Order:
    """Cancel one open order on the exchange and record the answer.

    Raises ApplicationError "not_open" (409) if the order is already final, or if the exchange
    says it is no longer open (the row is refreshed first, so a fill is not lost).
    """
    if order.is_final:
        raise ApplicationError(
            f"This order is already {order.get_status_display().lower()}.",
            code="not_open",
            status_code=409,
        )
    client = connection_client(order.connection)
    audit_record(
        user=user,
        action="order.cancel",
        request=request,
        order_id=order.pk,
        connection_id=order.connection_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        reason=reason,
    )
    try:
        if order.market == OrderMarket.SPOT:
            data: Any = client.spot.cancel_order(
                order.symbol, client_order_id=order.client_order_id
            )
        elif order.is_algo:
            client.usdm.cancel_algo_order(client_algo_id=order.client_order_id)
            data = client.usdm.get_algo_order(client_algo_id=order.client_order_id)
        else:
            data = client.usdm.cancel_order(order.symbol, client_order_id=order.client_order_id)
    except BinanceError as exc:
        order = order_refresh(order=order)
        gone = exc.category is ErrorCategory.ORDER_NOT_FOUND or exc.code == -2011
        if gone and order.is_final:
            raise ApplicationError(
                f"This order is no longer open: it is {order.get_status_display().lower()}.",
                code="not_open",
                status_code=409,
                extra={"status": order.status},
            ) from None
        raise _binance_error(exc, order=order) from None
    _apply_queried(order, data)
    order.refresh_from_db()
    return order


@dataclass
class CancelReport:
    canceled: list[Order] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def orders_cancel_symbol(
    *,
    user: User,
    connection: ExchangeConnection,
    market: str,
    symbol: str,
    request=None,
    reason: str = "",
) -> CancelReport:
    """Cancel every open order of `symbol` on the exchange (including ones KLINEO did not place
    and, on futures, conditional algo orders) and bring the matching rows up to date."""
    symbol = str(symbol or "").strip().upper()
    if not symbol or not (symbol.isascii() and symbol.isalnum()):
        raise ApplicationError(
            "Give the symbol whose orders to cancel.",
            code="invalid",
            fields={"symbol": ["Required."]},
        )
    client = connection_client(connection)
    report = CancelReport()
    local_ids = list(
        Order.objects.filter(
            connection=connection,
            market=market,
            symbol=symbol,
            status__in=[*OPEN_ORDER_STATUSES, *UNRESOLVED_ORDER_STATUSES],
        ).values_list("pk", flat=True)
    )
    audit_record(
        user=user,
        action="order.cancel_all",
        request=request,
        connection_id=connection.pk,
        market=market,
        symbol=symbol,
        reason=reason,
    )
    try:
        if market == OrderMarket.SPOT:
            try:
                answers = client.spot.cancel_all_orders(symbol)
            except BinanceError as exc:
                if exc.code != -2011:  # "Unknown order sent.": nothing was open
                    raise
                answers = []
            for answer in answers:
                if isinstance(answer, SpotOrder):
                    row = _order_for_event(connection, answer.orig_client_order_id or "")
                    if row is None:
                        row = _order_for_event(connection, answer.client_order_id)
                    if row is not None:
                        _apply_spot_order(order_id=row.pk, data=answer)
        else:
            client.usdm.cancel_all_orders(symbol)
            client.request(
                "usdm", "DELETE", "/fapi/v1/algoOpenOrders", {"symbol": symbol}, signed=True
            )
    except BinanceError as exc:
        report.failed.append(
            {"connection": connection.pk, "market": market, "symbol": symbol,
             "message": exc.user_message, "binance_code": exc.code}
        )  # fmt: skip
    for row in Order.objects.filter(pk__in=local_ids).order_by("pk"):
        if not row.is_final:
            row = order_refresh(order=row)
        if row.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            report.canceled.append(row)
        elif row.is_open:
            report.failed.append(
                {"connection": connection.pk, "market": market, "symbol": symbol,
                 "order": row.pk, "message": "still open after cancelling"}
            )  # fmt: skip
    return report


# ---------------------------------------------------------------------------------------------
# Kill switch


@dataclass
class KillSwitchResult:
    enabled: bool
    canceled: int = 0
    symbols: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)


def kill_switch_set(*, user: User, enabled: bool, request=None) -> KillSwitchResult:
    """Turn the user's kill switch on or off. On: new orders are refused from this moment, and
    every open order on every connection (spot, and futures where enabled) is cancelled; what
    could not be cancelled is reported. Off: trading is allowed again."""
    if not isinstance(enabled, bool):
        raise ApplicationError(
            "enabled must be true or false.", code="invalid", fields={"enabled": ["Required."]}
        )
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(kill_switch_enabled=enabled)
        audit_record(user=user, action="killswitch.change", request=request, enabled=enabled)
    user.kill_switch_enabled = enabled
    result = KillSwitchResult(enabled=enabled)
    if not enabled:
        return result
    from exchanges.order_selectors import order_connections_of, order_open_symbols

    for connection in order_connections_of(user=user):
        markets = [OrderMarket.SPOT]
        if connection.futures_enabled:
            markets.append(OrderMarket.USDM)
        for market in markets:
            try:
                symbols = set(order_open_symbols(connection=connection, market=market))
                symbols |= _exchange_open_symbols(connection, market)
            except BinanceError as exc:
                result.failed.append(
                    {"connection": connection.pk, "market": market, "symbol": None,
                     "message": exc.user_message}
                )  # fmt: skip
                symbols = set(order_open_symbols(connection=connection, market=market))
            for symbol in sorted(symbols):
                report = orders_cancel_symbol(
                    user=user,
                    connection=connection,
                    market=market,
                    symbol=symbol,
                    request=request,
                    reason="kill switch",
                )
                result.canceled += len(report.canceled)
                result.symbols.append(
                    {"connection": connection.pk, "market": market, "symbol": symbol,
                     "canceled": len(report.canceled)}
                )  # fmt: skip
                result.failed.extend(report.failed)
    return result


def _exchange_open_symbols(connection: ExchangeConnection, market: str) -> set[str]:
    client = connection_client(connection)
    if market == OrderMarket.SPOT:
        return {o.symbol for o in client.spot.open_orders()}
    symbols = {o.symbol for o in client.usdm.open_orders()}
    symbols |= {o.symbol for o in client.usdm.open_algo_orders()}
    return symbols


# ---------------------------------------------------------------------------------------------
# Check ("test") orders


def order_check(
    *,
    user: User,
    connection: ExchangeConnection,
    market: str,
    symbol: Any,
    side: Any,
    order_type: Any,
    quantity: Any = None,
    quote_quantity: Any = None,
    price: Any = None,
    stop_price: Any = None,
    time_in_force: Any = None,
    reduce_only: Any = False,
    position_side: Any = None,
    precheck: bool = True,
) -> dict[str, Any]:
    """Validate an order locally and with the exchange's order/test, without placing it.

    Spot asks for the commission rates and returns an estimate of the fee. Raises the same
    ApplicationErrors as `order_place` for what would be refused.
    """
    req = order_request_build(
        market=market,
        symbol=symbol,
        side=side,
        order_type=order_type,
        quantity=quantity,
        quote_quantity=quote_quantity,
        price=price,
        stop_price=stop_price,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
        position_side=position_side,
    )
    _require_may_trade(user=user, connection=connection, market=market)
    client = connection_client(connection)
    ref = None
    info = None
    if precheck:
        result = order_precheck(client=client, connection=connection, req=req)
        if result.problems:
            _raise_problems(result.problems)
        ref, info = result.reference_price, result.info
    answer: dict[str, Any] = {"ok": True, "exchange_checked": True, "commission": None}
    try:
        if market == OrderMarket.SPOT:
            tested = client.spot.test_order(
                req.symbol,
                req.side,
                req.type,
                quantity=req.quantity,
                quote_order_qty=req.quote_quantity,
                price=req.price,
                time_in_force=req.time_in_force or None,
                stop_price=req.stop_price,
                compute_commission_rates=True,
            )
            rates = tested.standard_commission
            if rates is not None:
                notional = req.quote_quantity or (
                    req.quantity * (req.price or ref)
                    if req.quantity and (req.price or ref)
                    else None
                )
                is_maker = req.type in ("LIMIT_MAKER",)
                rate = rates.maker if is_maker else rates.taker
                answer["commission"] = {
                    "maker_rate": plain(rates.maker),
                    "taker_rate": plain(rates.taker),
                    "estimate": plain((notional * rate).normalize()) if notional else None,
                    "asset": info.quote_asset if info else "",
                    "note": "Estimate at the taker rate; a resting order pays the maker rate.",
                }
        elif req.type in ALGO_ORDER_TYPES:
            # /fapi/v1/order/test does not take conditional types; the local checks passed.
            answer["exchange_checked"] = False
        else:
            client.usdm.test_order(
                req.symbol,
                req.side,
                req.type,
                quantity=req.quantity,
                price=req.price,
                time_in_force=req.time_in_force or None,
                position_side=req.position_side or None,
                reduce_only=True if req.reduce_only else None,
            )
    except BinanceError as exc:
        raise _binance_error(exc) from None
    return answer


# ---------------------------------------------------------------------------------------------
# OCO (spot)


def order_place_oco(
    *,
    user: User,
    connection: ExchangeConnection,
    symbol: Any,
    side: Any,
    quantity: Any,
    price: Any,
    stop_price: Any,
    stop_limit_price: Any = None,
    list_client_order_id: Any = None,
    confirm: bool = False,
    precheck: bool = True,
    request=None,
) -> list[Order]:
    """Place a spot OCO (orderList/oco): a LIMIT_MAKER leg at `price` and a STOP_LOSS(_LIMIT)
    leg at `stop_price` (`stop_limit_price` makes it a stop-limit). Both legs are stored as
    orders sharing the list id, committed PENDING before sending, like single orders."""
    fields: dict[str, list[str]] = {}
    side = str(side or "").strip().upper()
    if side not in ("BUY", "SELL"):
        fields["side"] = ["Must be BUY or SELL."]
    symbol = str(symbol or "").strip().upper()
    if not (symbol.isascii() and symbol.isalnum()) or len(symbol) > 20:
        fields["symbol"] = ["Enter a symbol such as BTCUSDT."]
    qty = _dec(quantity, "quantity", fields)
    px = _dec(price, "price", fields)
    stop = _dec(stop_price, "stop_price", fields)
    stop_limit = _dec(stop_limit_price, "stop_limit_price", fields)
    for name, value in (("quantity", qty), ("price", px), ("stop_price", stop)):
        if value is None and name not in fields:
            fields[name] = ["Required."]
    if fields:
        raise _fail(fields)
    assert qty is not None and px is not None and stop is not None
    if side == "SELL" and not stop < px:
        fields["stop_price"] = ["For a sell OCO the stop price must be below the limit price."]
    if side == "BUY" and not stop > px:
        fields["stop_price"] = ["For a buy OCO the stop price must be above the limit price."]
    if fields:
        raise _fail(fields)
    list_cid = _validate_client_order_id(list_client_order_id, "spot") or new_client_order_id()
    existing = list(Order.objects.filter(owner=user, list_client_order_id=list_cid))
    if existing:
        return existing
    _require_may_trade(user=user, connection=connection, market="spot")
    _require_confirmation(connection=connection, confirm=confirm)
    stop_type = "STOP_LOSS_LIMIT" if stop_limit is not None else "STOP_LOSS"
    limit_leg = OrderRequest("spot", symbol, side, "LIMIT_MAKER", qty, price=px)
    stop_leg = OrderRequest(
        "spot", symbol, side, stop_type, qty, price=stop_limit, stop_price=stop,
        time_in_force="GTC" if stop_limit is not None else "",
    )  # fmt: skip
    client = connection_client(connection)
    if precheck:
        problems: list[FilterProblem] = []
        for leg in (limit_leg, stop_leg):
            problems += order_precheck(
                client=client,
                connection=connection,
                req=leg,
                check_balance=leg is limit_leg,
                reserve=leg is limit_leg,
            ).problems
        if problems:
            _raise_problems(problems)
    legs: list[Order] = []
    with transaction.atomic():
        for leg in (limit_leg, stop_leg):
            created = _create_pending(
                user=user,
                connection=connection,
                req=leg,
                cid=None,
                request=request,
                list_client_order_id=list_cid,
            )
            assert isinstance(created, Order)
            legs.append(created)
    limit_row, stop_row = legs
    # SELL: the limit leg is above the market, the stop below; BUY the other way round.
    above, below = (limit_row, stop_row) if side == "SELL" else (stop_row, limit_row)

    def leg_params(row: Order) -> dict[str, Any]:
        return {
            "type": row.type,
            "price": row.price,
            "stop_price": row.stop_price,
            "time_in_force": row.time_in_force or None,
            "client_order_id": row.client_order_id,
        }

    a, b = leg_params(above), leg_params(below)
    try:
        placed = client.spot.place_oco(
            symbol, side, qty,
            above_type=a["type"], above_price=a["price"], above_stop_price=a["stop_price"],
            above_time_in_force=a["time_in_force"], above_client_order_id=a["client_order_id"],
            below_type=b["type"], below_price=b["price"], below_stop_price=b["stop_price"],
            below_time_in_force=b["time_in_force"], below_client_order_id=b["client_order_id"],
            list_client_order_id=list_cid, new_order_resp_type="FULL",
        )  # fmt: skip
    except BinanceError as exc:
        for row in legs:
            _record_send_failure(order=row, exc=exc)
        for row in legs:
            row.refresh_from_db()
        if legs[0].status == OrderStatus.REJECTED:
            raise _binance_error(exc, order=legs[0]) from None
        return legs
    by_cid = {row.client_order_id: row for row in legs}
    for report in placed.order_reports:
        row = by_cid.get(report.client_order_id)
        if row is not None:
            _apply_spot_order(order_id=row.pk, data=report)
    for entry in placed.orders:
        row = by_cid.get(entry.client_order_id)
        if row is not None:
            _apply_state(
                order_id=row.pk,
                status=OrderStatus.NEW,
                exchange_order_id=entry.order_id,
                order_list_id=placed.order_list_id,
            )
    for row in legs:
        row.refresh_from_db()
    return legs


# ---------------------------------------------------------------------------------------------
# Symbol rules, futures settings and positions


def symbol_rules(*, connection: ExchangeConnection, market: str, symbol: Any) -> dict[str, Any]:
    """The symbol's filters in plain terms, plus what can be traded right now: spot "sellable"
    (free base rounded down to the step, flagged dust) and the free quote balance."""
    symbol = str(symbol or "").strip().upper()
    if not (symbol.isascii() and symbol.isalnum()) or len(symbol) > 20:
        raise ApplicationError("Unknown symbol.", code="invalid", fields={"symbol": ["Invalid."]})
    if market == OrderMarket.USDM and not connection.futures_enabled:
        _require_may_trade_futures(connection)
    client = connection_client(connection)
    info = symbol_info(client, market, symbol)
    ref = reference_price(client, market, symbol)
    filters = [
        {k: (plain(v) if isinstance(v, Decimal) else v) for k, v in _filter_fields(f).items()}
        for f in info.filters
    ]
    out: dict[str, Any] = {
        "symbol": info.symbol,
        "market": market,
        "status": info.status,
        "base_asset": info.base_asset,
        "quote_asset": info.quote_asset,
        "order_types": list(info.order_types),
        "filters": filters,
        "reference_price": plain(ref) if ref is not None else None,
        "sellable": None,
        "available": None,
    }
    try:
        if market == OrderMarket.SPOT:
            account = client.spot.account(omit_zero_balances=True)
            free_base = account.balance(info.base_asset).free
            sellable: Sellable = sellable_amount(info, free=free_base, reference_price=ref)
            out["sellable"] = sellable.as_dict()
            out["available"] = {
                "asset": info.quote_asset,
                "free": plain(account.balance(info.quote_asset).free),
            }
        else:
            account = client.usdm.account()
            out["available"] = {
                "asset": info.quote_asset,
                "free": plain(account.available_balance or ZERO),
            }
    except BinanceError as exc:
        out["balance_error"] = exc.user_message
    try:
        book = (
            client.spot.book_ticker(symbol)
            if market == OrderMarket.SPOT
            else client.request("usdm", "GET", "/fapi/v1/ticker/bookTicker", {"symbol": symbol})
        )
        if isinstance(book, Mapping):
            out["bid"], out["ask"] = str(book.get("bidPrice")), str(book.get("askPrice"))
        else:
            out["bid"], out["ask"] = plain(book.bid_price), plain(book.ask_price)
    except BinanceError:
        out["bid"] = out["ask"] = None
    return out


def _filter_fields(item: Any) -> dict[str, Any]:
    if hasattr(item, "__dataclass_fields__"):
        values = {name: getattr(item, name) for name in item.__dataclass_fields__ if name != "raw"}
        if "raw" in item.__dataclass_fields__:
            values.update(item.raw)
        return values
    return {"filter_type": str(item)}


def _require_may_trade_futures(connection: ExchangeConnection) -> None:
    connection_require_futures(connection)


def futures_hedge_mode(*, connection: ExchangeConnection) -> bool:
    client = connection_client(connection)
    try:
        return bool(_cached(("position-mode", connection.pk), 30, client.usdm.position_mode))
    except BinanceError as exc:
        raise _binance_error(exc) from None


def futures_set_leverage(
    *, user: User, connection: ExchangeConnection, symbol: Any, leverage: Any, request=None
) -> dict[str, Any]:
    """Set the symbol's leverage (1-125) on the exchange."""
    _require_may_trade_futures(connection)
    symbol = str(symbol or "").strip().upper()
    fields: dict[str, list[str]] = {}
    if not (symbol.isascii() and symbol.isalnum()) or len(symbol) > 20:
        fields["symbol"] = ["Enter a symbol such as BTCUSDT."]
    if isinstance(leverage, bool) or not isinstance(leverage, int | str):
        fields["leverage"] = ["Must be a whole number from 1 to 125."]
    else:
        try:
            leverage = int(leverage)
        except ValueError:
            leverage = 0
        if not 1 <= leverage <= 125:
            fields["leverage"] = ["Must be a whole number from 1 to 125."]
    if fields:
        raise _fail(fields)
    client = connection_client(connection)
    try:
        result = client.usdm.set_leverage(symbol, leverage)
    except BinanceError as exc:
        raise _binance_error(exc) from None
    _ttl_cache[("leverage", connection.pk, symbol)] = (time.monotonic(), result.leverage)
    audit_record(
        user=user,
        action="futures.leverage",
        request=request,
        connection_id=connection.pk,
        symbol=symbol,
        leverage=result.leverage,
    )
    return {
        "symbol": result.symbol or symbol,
        "leverage": result.leverage,
        "max_notional": plain(result.max_notional_value)
        if result.max_notional_value is not None
        else None,
    }


def futures_set_margin_type(
    *, user: User, connection: ExchangeConnection, symbol: Any, margin_type: Any, request=None
) -> dict[str, Any]:
    """ISOLATED or CROSSED for the symbol; "already so" (-4046) is not an error."""
    _require_may_trade_futures(connection)
    symbol = str(symbol or "").strip().upper()
    margin = str(margin_type or "").strip().upper()
    if margin == "CROSS":
        margin = "CROSSED"
    fields: dict[str, list[str]] = {}
    if not (symbol.isascii() and symbol.isalnum()) or len(symbol) > 20:
        fields["symbol"] = ["Enter a symbol such as BTCUSDT."]
    if margin not in ("ISOLATED", "CROSSED"):
        fields["margin_type"] = ["Must be ISOLATED or CROSSED."]
    if fields:
        raise _fail(fields)
    client = connection_client(connection)
    try:
        changed = client.usdm.set_margin_type(symbol, margin)
    except BinanceError as exc:
        raise _binance_error(exc) from None
    audit_record(
        user=user,
        action="futures.margin_type",
        request=request,
        connection_id=connection.pk,
        symbol=symbol,
        margin_type=margin,
        changed=changed,
    )
    return {"symbol": symbol, "margin_type": margin, "changed": changed}


def futures_positions(*, connection: ExchangeConnection) -> dict[str, Any]:
    """Open USD-M positions (non-zero) with entry, mark, unrealised PnL, and the position mode."""
    _require_may_trade_futures(connection)
    client = connection_client(connection)
    try:
        rows = client.usdm.position_risk()
        hedge = futures_hedge_mode(connection=connection)
    except BinanceError as exc:
        raise _binance_error(exc) from None
    positions = [
        {
            "symbol": p.symbol,
            "position_side": p.position_side,
            "amount": plain(p.position_amt),
            "side": "LONG" if p.position_amt > 0 else "SHORT",
            "entry_price": plain(p.entry_price),
            "mark_price": plain(p.mark_price),
            "unrealized_pnl": plain(p.unrealized_profit),
            "liquidation_price": plain(p.liquidation_price),
            "notional": plain(p.notional),
            "leverage": p.leverage,
            "margin_type": p.margin_type,
        }
        for p in rows
        if p.position_amt != 0
    ]
    return {"hedge_mode": hedge, "positions": positions}


def futures_position_close(
    *,
    user: User,
    connection: ExchangeConnection,
    symbol: Any,
    position_side: Any = None,
    confirm: bool = False,
    request=None,
) -> PlaceResult:
    """Close a position with a reduce-only MARKET order of its full size on the opposite side
    (in hedge mode: the position's side instead of reduce-only, as Binance requires)."""
    _require_may_trade_futures(connection)
    symbol = str(symbol or "").strip().upper()
    wanted = str(position_side or "").strip().upper()
    if not (symbol.isascii() and symbol.isalnum()) or len(symbol) > 20:
        raise _fail({"symbol": ["Enter a symbol such as BTCUSDT."]})
    if wanted not in ("", "BOTH", "LONG", "SHORT"):
        raise _fail({"position_side": ["Must be LONG or SHORT (hedge mode) or empty."]})
    client = connection_client(connection)
    try:
        rows = [p for p in client.usdm.position_risk(symbol) if p.position_amt != 0]
    except BinanceError as exc:
        raise _binance_error(exc) from None
    hedge = futures_hedge_mode(connection=connection)
    if hedge:
        if wanted not in ("LONG", "SHORT"):
            raise _fail({"position_side": ["Hedge mode: say which position, LONG or SHORT."]})
        rows = [p for p in rows if p.position_side == wanted]
    if not rows:
        raise ApplicationError(
            f"There is no open {symbol} position to close.", code="no_position", status_code=409
        )
    position = rows[0]
    side = "SELL" if position.position_amt > 0 else "BUY"
    return order_place(
        user=user,
        connection=connection,
        market=OrderMarket.USDM,
        symbol=symbol,
        side=side,
        order_type="MARKET",
        quantity=str(abs(position.position_amt)),
        reduce_only=not hedge,
        position_side=position.position_side if hedge else None,
        confirm=confirm,
        request=request,
    )
