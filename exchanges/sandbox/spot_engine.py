"""The spot matching engine: orders against the synthetic book, balances, fees, events.

Taker orders walk the synthetic book level by level (several fills, realistic slippage) and
consume its liquidity until the next price tick replenishes it. Resting orders are not shown
in the synthetic book; they fill completely at their limit price (as maker) once the market
trades through them: BUY when the best ask or the last price is at or below the limit, SELL
when the best bid or the last price is at or above it. Stop orders trigger on the last price.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from .errors import (
    MSG_BAD_OCO_PRICES,
    MSG_DUPLICATE_ORDER,
    MSG_INSUFFICIENT,
    MSG_LIQUIDITY,
    MSG_WOULD_TAKE,
    MSG_WOULD_TRIGGER,
    ApiError,
    filter_failure,
)
from .prices import Market, SymbolSpec
from .util import Q8, ZERO, fmt8

FINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})
STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
LIMIT_PRICED = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
MAX_NUM_ORDERS = 200
PERCENT_UP = Decimal(5)
PERCENT_DOWN = Decimal("0.2")


def d8(x: Decimal) -> Decimal:
    return x.quantize(Q8, rounding=ROUND_DOWN)


@dataclass(eq=False)
class SpotTrade:
    id: int
    symbol: str
    order_id: int
    list_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def to_api(self) -> dict:
        return {
            "symbol": self.symbol,
            "id": self.id,
            "orderId": self.order_id,
            "orderListId": self.list_id,
            "price": fmt8(self.price),
            "qty": fmt8(self.qty),
            "quoteQty": fmt8(self.quote_qty),
            "commission": fmt8(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.__dict__.items()}


@dataclass(eq=False)
class SpotOrder:
    order_id: int
    symbol: str
    account_id: str
    api_key: str
    client_order_id: str
    side: str
    type: str
    time_in_force: str | None
    price: Decimal
    orig_qty: Decimal
    stop_price: Decimal
    iceberg_qty: Decimal
    orig_quote_qty: Decimal
    time: int
    list_id: int = -1
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    working_time: int = -1
    is_working: bool = True
    stp: str = "EXPIRE_MAKER"
    lock_asset: str = ""
    locked: Decimal = ZERO
    orig_client_order_id: str = ""
    expiry_reason: str | None = None
    trades: list[int] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed

    @property
    def tif_out(self) -> str:
        return self.time_in_force or "GTC"

    def registry_view(self) -> dict:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "clientOrderId": self.client_order_id,
            "side": self.side,
            "type": self.type,
            "status": self.status,
            "price": fmt8(self.price),
            "origQty": fmt8(self.orig_qty),
            "executedQty": fmt8(self.executed),
            "time": self.time,
            "apiKey": self.api_key,
        }

    def result(self, transact_time: int) -> dict:
        out = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.list_id,
            "clientOrderId": self.client_order_id,
            "transactTime": transact_time,
            "price": fmt8(self.price),
            "origQty": fmt8(self.orig_qty),
            "executedQty": fmt8(self.executed),
            "origQuoteOrderQty": fmt8(self.orig_quote_qty),
            "cummulativeQuoteQty": fmt8(self.cum_quote),
            "status": self.status,
            "timeInForce": self.tif_out,
            "type": self.type,
            "side": self.side,
        }
        if self.type in STOP_TYPES:
            out["stopPrice"] = fmt8(self.stop_price)
        if self.iceberg_qty:
            out["icebergQty"] = fmt8(self.iceberg_qty)
        out["workingTime"] = self.working_time
        out["selfTradePreventionMode"] = self.stp
        return out

    def query(self) -> dict:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.list_id,
            "clientOrderId": self.client_order_id,
            "price": fmt8(self.price),
            "origQty": fmt8(self.orig_qty),
            "executedQty": fmt8(self.executed),
            "cummulativeQuoteQty": fmt8(self.cum_quote),
            "status": self.status,
            "timeInForce": self.tif_out,
            "type": self.type,
            "side": self.side,
            "stopPrice": fmt8(self.stop_price),
            "icebergQty": fmt8(self.iceberg_qty),
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": self.is_working,
            "workingTime": self.working_time,
            "origQuoteOrderQty": fmt8(self.orig_quote_qty),
            "selfTradePreventionMode": self.stp,
        }

    def cancel_view(self, transact_time: int) -> dict:
        return {
            "symbol": self.symbol,
            "origClientOrderId": self.client_order_id,
            "orderId": self.order_id,
            "orderListId": self.list_id,
            "clientOrderId": self.orig_client_order_id,
            "transactTime": transact_time,
            "price": fmt8(self.price),
            "origQty": fmt8(self.orig_qty),
            "executedQty": fmt8(self.executed),
            "origQuoteOrderQty": fmt8(self.orig_quote_qty),
            "cummulativeQuoteQty": fmt8(self.cum_quote),
            "status": self.status,
            "timeInForce": self.tif_out,
            "type": self.type,
            "side": self.side,
            "selfTradePreventionMode": self.stp,
        } | ({"stopPrice": fmt8(self.stop_price)} if self.type in STOP_TYPES else {})

    def to_json(self) -> dict:
        out = {}
        for k, v in self.__dict__.items():
            out[k] = str(v) if isinstance(v, Decimal) else v
        return out

    @classmethod
    def from_json(cls, d: dict) -> SpotOrder:
        decimals = {
            "price",
            "orig_qty",
            "stop_price",
            "iceberg_qty",
            "orig_quote_qty",
            "executed",
            "cum_quote",
            "locked",
        }
        return cls(**{k: (Decimal(v) if k in decimals else v) for k, v in d.items()})


@dataclass(eq=False)
class OrderList:
    list_id: int
    symbol: str
    account_id: str
    list_client_order_id: str
    contingency: str
    orders: list[SpotOrder]
    time: int
    status_type: str = "EXEC_STARTED"
    order_status: str = "EXECUTING"

    def view(self, transact_time: int) -> dict:
        return {
            "orderListId": self.list_id,
            "contingencyType": self.contingency,
            "listStatusType": self.status_type,
            "listOrderStatus": self.order_status,
            "listClientOrderId": self.list_client_order_id,
            "transactionTime": transact_time,
            "symbol": self.symbol,
            "orders": [
                {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
                for o in self.orders
            ],
        }


def check_price_filter(spec: SymbolSpec, price: Decimal) -> None:
    if price <= 0 or price > Decimal(1_000_000) or price % spec.tick_size != 0:
        raise filter_failure("PRICE_FILTER")


def check_lot(spec: SymbolSpec, qty: Decimal, market: bool) -> None:
    if qty < spec.min_qty or qty > spec.max_qty or (qty - spec.min_qty) % spec.step_size != 0:
        raise filter_failure("LOT_SIZE")
    if market and qty > spec.market_max_qty:
        raise filter_failure("MARKET_LOT_SIZE")


class SpotEngine:
    """All spot orders and trades. ``state.engines["spot"]``."""

    def __init__(self, state) -> None:
        self.state = state
        self.orders: dict[int, SpotOrder] = {}
        self.open: dict[str, dict[int, SpotOrder]] = {s: {} for s in state.prices.markets}
        self.by_account: dict[str, list[SpotOrder]] = {}
        self.trades: dict[str, list[SpotTrade]] = {}
        self.open_client_ids: dict[tuple[str, str], SpotOrder] = {}
        self.lists: dict[int, OrderList] = {}
        self._order_ids = itertools.count(1)
        self._list_ids = itertools.count(1)
        self._exec_ids = itertools.count(1)
        self._avg_cache: dict[str, tuple[int, Decimal]] = {}
        # (config strings, parsed Decimals) of the maker/taker commission.
        self._rates: tuple[tuple[str, str], tuple[Decimal, Decimal]] | None = None
        # Called with (symbol, trade) for every fill, so public streams show user trades.
        self.trade_listeners: list = []
        state.prices.add_listener(self.on_price)

    # ---- helpers ------------------------------------------------------------------------
    @property
    def specs(self) -> dict[str, SymbolSpec]:
        return {s: m.spec for s, m in self.state.prices.markets.items()}

    def market(self, symbol: str) -> Market:
        return self.state.prices.markets[symbol]

    def avg_price(self, symbol: str, now_ms: int) -> Decimal:
        """5-minute VWAP of the trades (the avgPrice endpoint and the PERCENT_PRICE filters)."""
        sec = now_ms // 1000
        cached = self._avg_cache.get(symbol)
        if cached and cached[0] == sec:
            return cached[1]
        m = self.market(symbol)
        v = q = ZERO
        for s in range(sec - 300, sec + 1):
            bar = m.bars.get(s)
            if bar is not None:
                v += bar.v
                q += bar.q
        price = m.last_price if v == 0 else d8(q / v)
        self._avg_cache[symbol] = (sec, price)
        return price

    def rates(self) -> tuple[Decimal, Decimal]:
        cfg = self.state.config
        key = (cfg.maker_commission, cfg.taker_commission)
        cached = self._rates
        if cached is None or cached[0] != key:
            cached = self._rates = (key, (Decimal(key[0]), Decimal(key[1])))
        return cached[1]

    def _publish_user(self, account_id: str, event: dict) -> None:
        self.state.bus.publish(("spot", account_id), event)

    def _report(
        self,
        order: SpotOrder,
        exec_type: str,
        now: int,
        trade: SpotTrade | None = None,
        reject: str = "NONE",
    ) -> None:
        if not self.state.bus.has_subscribers(("spot", order.account_id)):
            return
        event = {
            "e": "executionReport",
            "E": now,
            "s": order.symbol,
            "c": order.client_order_id if exec_type != "CANCELED" else order.orig_client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.tif_out,
            "q": fmt8(order.orig_qty),
            "p": fmt8(order.price),
            "P": fmt8(order.stop_price),
            "F": fmt8(order.iceberg_qty),
            "g": order.list_id,
            "C": order.client_order_id if exec_type == "CANCELED" else "",
            "x": exec_type,
            "X": order.status,
            "r": reject,
            "i": order.order_id,
            "l": fmt8(trade.qty if trade else ZERO),
            "z": fmt8(order.executed),
            "L": fmt8(trade.price if trade else ZERO),
            "n": fmt8(trade.commission) if trade else "0",
            "N": trade.commission_asset if trade else None,
            "T": trade.time if trade else now,
            "t": trade.id if trade else -1,
            "I": next(self._exec_ids),
            "w": order.is_working and order.status in ("NEW", "PARTIALLY_FILLED"),
            "m": trade.is_maker if trade else False,
            "M": trade is not None,
            "O": order.time,
            "Z": fmt8(order.cum_quote),
            "Y": fmt8(trade.quote_qty if trade else ZERO),
            "Q": fmt8(order.orig_quote_qty),
            "W": order.working_time,
            "V": order.stp,
        }
        if order.expiry_reason and exec_type == "EXPIRED":
            event["eR"] = order.expiry_reason
        self._publish_user(order.account_id, event)

    def _position(self, account, assets: set[str], now: int) -> None:
        account.update_time = now
        if not self.state.bus.has_subscribers(("spot", account.id)):
            return
        self._publish_user(
            account.id,
            {
                "e": "outboundAccountPosition",
                "E": now,
                "u": now,
                "B": [
                    {"a": a, "f": fmt8(account.free(a)), "l": fmt8(account._bal(a)[1])}
                    for a in sorted(assets)
                ],
            },
        )

    def _list_status(self, olist: OrderList, now: int) -> None:
        if not self.state.bus.has_subscribers(("spot", olist.account_id)):
            return
        self._publish_user(
            olist.account_id,
            {
                "e": "listStatus",
                "E": now,
                "s": olist.symbol,
                "g": olist.list_id,
                "c": olist.contingency,
                "l": olist.status_type,
                "L": olist.order_status,
                "r": "NONE",
                "C": olist.list_client_order_id,
                "T": now,
                "O": [
                    {"s": o.symbol, "i": o.order_id, "c": o.client_order_id} for o in olist.orders
                ],
            },
        )

    # ---- validation ---------------------------------------------------------------------
    def check_filters(
        self,
        spec: SymbolSpec,
        side: str,
        otype: str,
        price: Decimal | None,
        qty: Decimal | None,
        quote_qty: Decimal | None,
        stop: Decimal | None,
        now: int,
        account_id: str | None,
        extra_orders: int = 1,
    ) -> None:
        """The symbol's filters in exchangeInfo order; raises -1013 'Filter failure: X'."""
        for p in (price, stop):
            if p is not None:
                check_price_filter(spec, p)
        avg = self.avg_price(spec.symbol, now)
        if (
            price is not None
            and otype in LIMIT_PRICED
            and avg > 0
            and (price > avg * PERCENT_UP or price < avg * PERCENT_DOWN)
        ):
            raise filter_failure("PERCENT_PRICE_BY_SIDE")
        is_market = otype in ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
        if qty is not None:
            check_lot(spec, qty, is_market)
        if price is not None and qty is not None and otype in LIMIT_PRICED:
            notional = price * qty
        elif qty is not None:
            notional = (stop if stop is not None else avg) * qty
        else:
            notional = quote_qty or ZERO
        if notional < spec.min_notional or (otype in LIMIT_PRICED and notional > spec.max_notional):
            raise filter_failure("NOTIONAL")
        if account_id is not None:
            count = sum(1 for o in self.open[spec.symbol].values() if o.account_id == account_id)
            if count + extra_orders > MAX_NUM_ORDERS:
                raise filter_failure("MAX_NUM_ORDERS")

    # ---- placement ----------------------------------------------------------------------
    def new_order(
        self,
        account,
        api_key: str,
        symbol: str,
        side: str,
        otype: str,
        tif: str | None,
        qty: Decimal | None,
        quote_qty: Decimal | None,
        price: Decimal | None,
        stop: Decimal | None,
        iceberg: Decimal | None,
        client_order_id: str,
        stp: str,
        now: int,
        charge_orders=None,
    ) -> tuple[SpotOrder, list[SpotTrade]]:
        """Validate and place one order. ``charge_orders()`` counts it (may raise -1015)."""
        spec = self.market(symbol).spec
        self.check_filters(spec, side, otype, price, qty, quote_qty, stop, now, account.id)
        if (account.id, client_order_id) in self.open_client_ids:
            raise ApiError(-2010, MSG_DUPLICATE_ORDER)
        m = self.market(symbol)
        last = m.last_price
        if otype in STOP_TYPES and self._triggered(otype, side, stop, last):
            raise ApiError(-2010, MSG_WOULD_TRIGGER)
        if otype == "LIMIT_MAKER" and (
            (side == "BUY" and price >= m.ask_price) or (side == "SELL" and price <= m.bid_price)
        ):
            raise ApiError(-2010, MSG_WOULD_TAKE)
        base, quote = spec.base, spec.quote
        plan: list[tuple[Decimal, Decimal]] = []
        if otype == "MARKET":
            plan = self._plan(m, side, None, qty, quote_qty)
            if not plan:
                raise ApiError(-2010, MSG_LIQUIDITY)
            if side == "BUY":
                need_asset, need = quote, sum(p * q for p, q in plan)
            else:
                need_asset, need = base, sum(q for _p, q in plan)
        elif side == "BUY":
            ref = price if price is not None else stop
            need_asset, need = (
                quote,
                (ref * qty if otype not in ("STOP_LOSS", "TAKE_PROFIT") else ZERO),
            )
        else:
            need_asset, need = base, qty
        if need > account.free(need_asset):
            raise ApiError(-2010, MSG_INSUFFICIENT)
        if charge_orders is not None:
            charge_orders()
        order = SpotOrder(
            order_id=next(self._order_ids),
            symbol=symbol,
            account_id=account.id,
            api_key=api_key,
            client_order_id=client_order_id,
            side=side,
            type=otype,
            time_in_force=tif,
            price=price or ZERO,
            orig_qty=qty or ZERO,
            stop_price=stop or ZERO,
            iceberg_qty=iceberg or ZERO,
            orig_quote_qty=quote_qty or ZERO,
            time=now,
            update_time=now,
            stp=stp,
        )
        if otype in STOP_TYPES:
            order.is_working = False
        else:
            order.working_time = now
        self._register(order, account)
        trades: list[SpotTrade] = []
        if otype == "MARKET":
            if order.orig_qty == 0:
                order.orig_qty = sum(q for _p, q in plan)
            self._report(order, "NEW", now)
            trades = self._execute_plan(order, account, plan, now, locked=False)
            self._finish_taker(order, account, now)
        elif need_asset and need > 0:
            order.lock_asset = need_asset
            order.locked = need
            account.lock(need_asset, need)
            self._report(order, "NEW", now)
            if otype in ("LIMIT",):
                trades = self._take_limit(order, account, now)
        else:
            self._report(order, "NEW", now)
        self._position(account, {base, quote}, now)
        return order, trades

    def _register(self, order: SpotOrder, account) -> None:
        self.orders[order.order_id] = order
        self.by_account.setdefault(account.id, []).append(order)
        if order.status not in FINAL:
            self.open[order.symbol][order.order_id] = order
            self.open_client_ids[(account.id, order.client_order_id)] = order
        self.state.orders.add(order.client_order_id, "spot", order)

    @staticmethod
    def _triggered(otype: str, side: str, stop: Decimal, last: Decimal) -> bool:
        if otype.startswith("STOP_LOSS"):
            return last >= stop if side == "BUY" else last <= stop
        return last <= stop if side == "BUY" else last >= stop

    def _plan(
        self,
        m: Market,
        side: str,
        limit: Decimal | None,
        qty: Decimal | None,
        quote_qty: Decimal | None,
        max_levels: int = 20000,
    ) -> list[tuple[Decimal, Decimal]]:
        """Fills the book would give, without consuming anything."""
        step = m.spec.step_size
        plan = []
        remaining = qty
        remaining_quote = quote_qty
        levels = m.iter_levels("asks" if side == "BUY" else "bids")
        for _ in range(max_levels):
            price, avail = next(levels)
            if limit is not None and (
                (side == "BUY" and price > limit) or (side == "SELL" and price < limit)
            ):
                break
            if remaining is not None:
                take = min(avail, remaining)
            else:
                take = min(
                    avail,
                    (remaining_quote / price / step).to_integral_value(rounding=ROUND_DOWN) * step,
                )
            if take <= 0:
                break
            plan.append((price, take))
            if remaining is not None:
                remaining -= take
                if remaining <= 0:
                    break
            else:
                remaining_quote -= take * price
                if remaining_quote < price * step:
                    break
        return plan

    def _take_limit(self, order: SpotOrder, account, now: int) -> list[SpotTrade]:
        m = self.market(order.symbol)
        plan = self._plan(m, order.side, order.price, order.remaining, None)
        filled = sum((q for _p, q in plan), ZERO)
        tif = order.time_in_force
        if tif == "FOK" and filled < order.remaining:
            order.expiry_reason = "UNFILLED_FOK_ORDER_EXPIRED"
            self._close(order, account, "EXPIRED", now)
            return []
        trades = self._execute_plan(order, account, plan, now, locked=True)
        if order.remaining > 0 and tif == "IOC":
            order.expiry_reason = "UNFILLED_IOC_QUANTITY_EXPIRED"
            self._close(order, account, "EXPIRED", now)
        elif order.remaining == 0:
            self._close(order, account, "FILLED", now, report=False)
        return trades

    def _finish_taker(self, order: SpotOrder, account, now: int) -> None:
        if order.remaining > 0 and order.executed > 0 and order.orig_quote_qty == 0:
            order.expiry_reason = "INSUFFICIENT_LIQUIDITY"
            self._close(order, account, "EXPIRED", now)
        else:
            if order.orig_quote_qty:
                order.orig_qty = order.executed
            self._close(order, account, "FILLED", now, report=False)

    def _execute_plan(self, order: SpotOrder, account, plan, now: int, locked: bool):
        m = self.market(order.symbol)
        side_book = "asks" if order.side == "BUY" else "bids"
        trades = []
        for price, qty in plan:
            m.consume(side_book, price, qty)
            trades.append(self._fill(order, account, price, qty, now, maker=False, locked=locked))
        return trades

    def _fill(
        self,
        order: SpotOrder,
        account,
        price: Decimal,
        qty: Decimal,
        now: int,
        maker: bool,
        locked: bool,
    ) -> SpotTrade:
        m = self.market(order.symbol)
        spec = m.spec
        maker_rate, taker_rate = self.rates()
        rate = maker_rate if maker else taker_rate
        quote_qty = price * qty
        if order.side == "BUY":
            commission, commission_asset = d8(qty * rate), spec.base
            if locked:
                ref = order.price if order.price else price
                account.spend_locked(spec.quote, quote_qty)
                release = ref * qty - quote_qty
                if release:
                    account.unlock(spec.quote, release)
                order.locked -= ref * qty
            else:
                account.debit(spec.quote, quote_qty)
            account.credit(spec.base, qty - commission)
        else:
            commission, commission_asset = d8(quote_qty * rate), spec.quote
            if locked:
                account.spend_locked(spec.base, qty)
                order.locked -= qty
            else:
                account.debit(spec.base, qty)
            account.credit(spec.quote, quote_qty - commission)
        order.executed += qty
        order.cum_quote += quote_qty
        order.update_time = now
        order.status = "FILLED" if order.executed >= order.orig_qty else "PARTIALLY_FILLED"
        public = m.record_trade(price, qty, now, buyer_maker=(order.side == "SELL") != maker)
        trade = SpotTrade(
            public.id,
            order.symbol,
            order.order_id,
            order.list_id,
            price,
            qty,
            quote_qty,
            commission,
            commission_asset,
            now,
            order.side == "BUY",
            maker,
        )
        order.trades.append(trade.id)
        self.trades.setdefault(account.id, []).append(trade)
        self._report(order, "TRADE", now, trade)
        for fn in self.trade_listeners:
            fn(order.symbol, public)
        return trade

    def _close(
        self,
        order: SpotOrder,
        account,
        status: str,
        now: int,
        report: bool = True,
        exec_type: str | None = None,
    ) -> None:
        order.status = status
        order.update_time = now
        if order.locked > 0:
            account.unlock(order.lock_asset, order.locked)
            order.locked = ZERO
        self.open[order.symbol].pop(order.order_id, None)
        key = (account.id, order.client_order_id)
        if self.open_client_ids.get(key) is order:
            del self.open_client_ids[key]
        if report:
            self._report(order, exec_type or status, now)

    # ---- cancel -------------------------------------------------------------------------
    def cancel(self, order: SpotOrder, account, new_client_id: str, now: int) -> None:
        order.orig_client_order_id = new_client_id
        self._close(order, account, "CANCELED", now)
        if order.list_id != -1:
            olist = self.lists[order.list_id]
            for sibling in olist.orders:
                if sibling is not order and sibling.status not in FINAL:
                    sibling.orig_client_order_id = new_client_id
                    self._close(sibling, account, "CANCELED", now)
            olist.status_type, olist.order_status = "ALL_DONE", "ALL_DONE"
            self._list_status(olist, now)
        spec = self.market(order.symbol).spec
        self._position(account, {spec.base, spec.quote}, now)

    # ---- OCO ----------------------------------------------------------------------------
    def new_oco(
        self,
        account,
        api_key: str,
        symbol: str,
        side: str,
        qty: Decimal,
        legs: list[dict],
        list_client_id: str,
        stp: str,
        now: int,
        charge_orders=None,
    ) -> OrderList:
        """legs: [{"role": "above"/"below", "type", "price", "stop", "tif", "client_id"}]."""
        m = self.market(symbol)
        spec = m.spec
        last = m.last_price
        for leg in legs:
            self.check_filters(
                spec,
                side,
                leg["type"],
                leg["price"],
                qty,
                None,
                leg["stop"],
                now,
                account.id,
                extra_orders=2,
            )
        above = next(leg for leg in legs if leg["role"] == "above")
        below = next(leg for leg in legs if leg["role"] == "below")
        ref_above = above["stop"] if above["stop"] is not None else above["price"]
        ref_below = below["stop"] if below["stop"] is not None else below["price"]
        if not (ref_above > last > ref_below):
            raise ApiError(-2010, MSG_BAD_OCO_PRICES)
        for leg in legs:
            if (account.id, leg["client_id"]) in self.open_client_ids:
                raise ApiError(-2010, MSG_DUPLICATE_ORDER)
        if side == "SELL":
            lock_asset, lock = spec.base, qty
        else:
            lock_asset = spec.quote
            lock = max((leg["price"] or leg["stop"]) * qty for leg in legs)
        if lock > account.free(lock_asset):
            raise ApiError(-2010, MSG_INSUFFICIENT)
        if charge_orders is not None:
            charge_orders()
        list_id = next(self._list_ids)
        orders = []
        for leg in legs:
            order = SpotOrder(
                order_id=next(self._order_ids),
                symbol=symbol,
                account_id=account.id,
                api_key=api_key,
                client_order_id=leg["client_id"],
                side=side,
                type=leg["type"],
                time_in_force=leg["tif"],
                price=leg["price"] or ZERO,
                orig_qty=qty,
                stop_price=leg["stop"] or ZERO,
                iceberg_qty=ZERO,
                orig_quote_qty=ZERO,
                time=now,
                list_id=list_id,
                update_time=now,
                stp=stp,
            )
            order.lock_asset = lock_asset
            if order.type in STOP_TYPES:
                order.is_working = False
            else:
                order.working_time = now
            orders.append(order)
        # The whole list shares one lock; the first leg holds it, a triggered leg takes it.
        orders[0].locked = lock
        account.lock(lock_asset, lock)
        olist = OrderList(list_id, symbol, account.id, list_client_id, "OCO", orders, now)
        self.lists[list_id] = olist
        for order in orders:
            self._register(order, account)
        for order in orders:
            self._report(order, "NEW", now)
        self._list_status(olist, now)
        self._position(account, {spec.base, spec.quote}, now)
        return olist

    def _oco_take_lock(self, order: SpotOrder, account, now: int) -> None:
        """One leg executes: the siblings expire and hand over the shared lock."""
        olist = self.lists[order.list_id]
        for sibling in olist.orders:
            if sibling is not order and sibling.status not in FINAL:
                order.locked += sibling.locked
                sibling.locked = ZERO
                sibling.expiry_reason = "OCO_TRIGGER"
                self._close(sibling, account, "EXPIRED", now)
        olist.status_type, olist.order_status = "ALL_DONE", "ALL_DONE"

    # ---- price moves --------------------------------------------------------------------
    def on_price(self, symbol: str, reason: str) -> None:
        book = self.open.get(symbol)
        if not book:
            return
        m = self.market(symbol)
        now = self.state.now_ms()
        last, bid, ask = m.last_price, m.bid_price, m.ask_price
        touched: dict[str, object] = {}
        for order in list(book.values()):
            if order.status in FINAL:
                continue
            account = self.state.keys.accounts.get(order.account_id)
            if account is None:
                continue
            if not order.is_working:
                if self._triggered(order.type, order.side, order.stop_price, last):
                    self._trigger(order, account, now)
                    touched[account.id] = account
                continue
            if order.side == "BUY":
                crossed = ask <= order.price or last <= order.price
            else:
                crossed = bid >= order.price or last >= order.price
            if crossed:
                if order.list_id != -1:
                    self._oco_take_lock(order, account, now)
                self._fill(
                    order, account, order.price, order.remaining, now, maker=True, locked=True
                )
                self._close(order, account, "FILLED", now, report=False)
                if order.list_id != -1:
                    self._list_status(self.lists[order.list_id], now)
                touched[account.id] = account
        spec = m.spec
        for account in touched.values():
            self._position(account, {spec.base, spec.quote}, now)

    def _trigger(self, order: SpotOrder, account, now: int) -> None:
        if order.list_id != -1:
            self._oco_take_lock(order, account, now)
        order.is_working = True
        order.working_time = now
        order.update_time = now
        if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
            if order.locked > 0:
                account.unlock(order.lock_asset, order.locked)
                order.locked = ZERO
            m = self.market(order.symbol)
            plan = self._plan(m, order.side, None, order.remaining, None)
            need_asset = m.spec.quote if order.side == "BUY" else m.spec.base
            need = sum(p * q for p, q in plan) if order.side == "BUY" else sum(q for _p, q in plan)
            if need > account.free(need_asset) or not plan:
                order.expiry_reason = "INSUFFICIENT_LIQUIDITY"
                self._close(order, account, "EXPIRED", now)
            else:
                self._execute_plan(order, account, plan, now, locked=False)
                self._finish_taker(order, account, now)
        else:
            self._take_limit(order, account, now)
        if order.list_id != -1:
            self._list_status(self.lists[order.list_id], now)

    # ---- persistence --------------------------------------------------------------------
    def dump(self) -> dict:
        return {
            "orders": [o.to_json() for o in self.orders.values()],
            "trades": {a: [t.to_json() for t in ts] for a, ts in self.trades.items()},
            "lists": [
                {
                    "list_id": ol.list_id,
                    "symbol": ol.symbol,
                    "account_id": ol.account_id,
                    "list_client_order_id": ol.list_client_order_id,
                    "contingency": ol.contingency,
                    "orders": [o.order_id for o in ol.orders],
                    "time": ol.time,
                    "status_type": ol.status_type,
                    "order_status": ol.order_status,
                }
                for ol in self.lists.values()
            ],
        }

    def load(self, data: dict) -> None:
        for d in data.get("orders", []):
            order = SpotOrder.from_json(d)
            self.orders[order.order_id] = order
            self.by_account.setdefault(order.account_id, []).append(order)
            if order.status not in FINAL and order.symbol in self.open:
                self.open[order.symbol][order.order_id] = order
                self.open_client_ids[(order.account_id, order.client_order_id)] = order
            self.state.orders.add(order.client_order_id, "spot", order)
        decimals = {"price", "qty", "quote_qty", "commission"}
        for account_id, rows in data.get("trades", {}).items():
            self.trades[account_id] = [
                SpotTrade(**{k: (Decimal(v) if k in decimals else v) for k, v in r.items()})
                for r in rows
            ]
        for d in data.get("lists", []):
            d = dict(d)
            d["orders"] = [self.orders[i] for i in d["orders"]]
            self.lists[d["list_id"]] = OrderList(**d)
        top_order = max(self.orders, default=0)
        self._order_ids = itertools.count(top_order + 1)
        self._list_ids = itertools.count(max(self.lists, default=0) + 1)
