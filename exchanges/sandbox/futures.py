"""USD-M futures of the sandbox: /fapi REST, listenKeys, and (via futures_streams) /fstream.

The domain logic (positions, margin, PnL, matching, algo orders) lives in futures_engine.py;
this module parses Binance's parameters, applies the symbol filters with Binance's futures
error codes, renders Binance's response shapes and publishes user-data events. COIN-M (coinm.py)
reuses the ``Venue`` and the handlers here with its inverse contracts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from .errors import MSG_ILLEGAL_CHARS, MSG_PARAM_NOT_REQUIRED, ApiError
from .faults import Fault
from .futures_engine import (
    ALGO_TYPES,
    CLIENT_ORDER_ID_PATTERN,
    CLIENT_ORDER_ID_RE,
    MAKER_RATE,
    MSG_ALGO_SWITCH,
    TAKER_RATE,
    USDM_CONTRACTS,
    ZERO,
    AlgoOrder,
    AlgoRequest,
    ContractSpec,
    FuturesAccount,
    FuturesError,
    FuturesOrder,
    Ids,
    OrderRequest,
    decimals,
    fmt,
    fmt8,
)
from .rest import ApiRequest, Endpoint, json_response
from .state import SandboxState

log = logging.getLogger("sandbox.futures")

VENUE_KEY = "futures_venues"

# Futures answers for injected 5xx faults (reference §8, "503 semantics").
MSG_FUTURES_UNKNOWN = "Unknown error, please check your request or try again later."
MSG_FUTURES_UNAVAILABLE = "Service Unavailable."
MSG_LISTEN_KEY_MISSING = (
    "This listenKey does not exist. Please use POST {prefix}/v1/listenKey to recreate listenKey"
)
FUNDING_RATE = Decimal("0.00010000")
FUNDING_INTERVAL_MS = 8 * 3600 * 1000


# ---------------------------------------------------------------------------------------------
# Listen keys


class ListenKey:
    __slots__ = ("account_id", "expired", "expires_ms", "key")

    def __init__(self, key: str, account_id: str, expires_ms: int) -> None:
        self.key = key
        self.account_id = account_id
        self.expires_ms = expires_ms
        self.expired = False


class ListenKeys:
    """One active listenKey per account and market, valid `listen_key_ttl` seconds."""

    def __init__(
        self, state: SandboxState, on_expire: Callable[[ListenKey], None], prefix: str
    ) -> None:
        self.state = state
        self.missing = MSG_LISTEN_KEY_MISSING.format(prefix=prefix)
        self.by_key: dict[str, ListenKey] = {}
        self.by_account: dict[str, ListenKey] = {}
        self.on_expire = on_expire

    def ttl_ms(self) -> int:
        return int(self.state.config.listen_key_ttl * 1000)

    def active(self, key: str | None) -> ListenKey | None:
        lk = self.by_key.get(key) if key else None
        if lk is None or lk.expired:
            return None
        return lk

    def create(self, account_id: str, now: int) -> ListenKey:
        current = self.by_account.get(account_id)
        if current is not None and not current.expired:
            current.expires_ms = now + self.ttl_ms()
            return current
        lk = ListenKey(secrets.token_hex(32), account_id, now + self.ttl_ms())
        self.by_key[lk.key] = lk
        self.by_account[account_id] = lk
        return lk

    def keepalive(self, account_id: str, key: str | None, now: int) -> ListenKey:
        lk = self.by_account.get(account_id)
        if lk is None or lk.expired or (key and key != lk.key):
            raise ApiError(-1125, self.missing)
        lk.expires_ms = now + self.ttl_ms()
        return lk

    def close(self, account_id: str, key: str | None) -> None:
        lk = self.by_account.get(account_id)
        if lk is None or (key and key != lk.key):
            raise ApiError(-1125, self.missing)
        self._expire(lk, notify=False)

    def expire_due(self, now: int) -> None:
        for lk in list(self.by_account.values()):
            if not lk.expired and now >= lk.expires_ms:
                self._expire(lk, notify=True)

    def _expire(self, lk: ListenKey, notify: bool) -> None:
        lk.expired = True
        if self.by_account.get(lk.account_id) is lk:
            del self.by_account[lk.account_id]
        if notify:
            self.on_expire(lk)


# ---------------------------------------------------------------------------------------------
# Venue: one futures market (USD-M or COIN-M) of the sandbox


class Venue:
    """Accounts, ids, listen keys and price hooks of one futures market."""

    def __init__(
        self,
        state: SandboxState,
        *,
        market: str,
        contracts: dict[str, ContractSpec],
        bucket: str,
        prefix: str,
        ids: Ids,
    ) -> None:
        self.state = state
        self.market = market  # "usdm" or "coinm": event-bus channel and registry market name
        self.contracts = contracts
        self.bucket = bucket
        self.prefix = prefix  # "/fapi" or "/dapi"
        self.ids = ids
        self.accounts: dict[str, FuturesAccount] = {}
        self.listen_keys = ListenKeys(state, self._listen_key_expired, prefix)
        # listenKey -> callbacks of the stream connections bound to it
        self.key_listeners: dict[str, set[Callable[[dict], None]]] = {}
        self.by_source: dict[str, list[str]] = {}
        # Market-stream payloads every connection would build alike (futures_streams).
        self.stream_cache: dict[str, tuple] = {}
        # (symbol, limit) -> (underlying's update id, (bids, asks)) of book().
        self.book_cache: dict[tuple[str, int], tuple[int, tuple[list, list]]] = {}
        for spec in contracts.values():
            self.by_source.setdefault(spec.price_source, []).append(spec.symbol)
        state.prices.add_listener(self._on_price)

    @property
    def inverse(self) -> bool:
        return self.market == "coinm"

    def spec(self, symbol: str) -> ContractSpec:
        spec = self.contracts.get(symbol)
        if spec is None:
            raise ApiError(-1121, "Invalid symbol.")
        return spec

    def mark(self, symbol: str) -> Decimal:
        spec = self.contracts[symbol]
        return self.state.prices.mid(spec.price_source)

    def account(self, req: ApiRequest) -> FuturesAccount:
        return self.account_by_id(req.account.id)

    def account_by_id(self, account_id: str) -> FuturesAccount:
        fa = self.accounts.get(account_id)
        if fa is None:
            acct = self.state.keys.accounts[account_id]
            balances = acct.coinm_balances if self.inverse else acct.futures_balances
            fa = FuturesAccount(
                account_id=account_id,
                contracts=self.contracts,
                ids=self.ids,
                balances=balances,
                market="cm" if self.inverse else "um",
                update_time=acct.update_time,
            )
            self.accounts[account_id] = fa
        return fa

    def on_balances_patched(self, acct, data: dict) -> None:
        """Control-API balance change: tell the user stream like a deposit would."""
        changed = data.get("coinm_balances" if self.inverse else "futures_balances") or {}
        if not changed:
            return
        fa = self.account_by_id(acct.id)
        now = self.state.now_ms()
        fa.update_time = now
        event = fa.account_event("DEPOSIT", [a.upper() for a in changed], [], now)
        self.publish(acct.id, [event])

    # -- persistence ---------------------------------------------------------------------

    def dump(self) -> dict:
        return {account_id: fa.dump() for account_id, fa in self.accounts.items()}

    def load(self, data: dict) -> None:
        top = [0, 0, 0]
        for account_id, saved in data.items():
            if account_id not in self.state.keys.accounts:
                continue
            fa = self.account_by_id(account_id)
            fa.load(saved)
            for order in fa.orders.values():
                top[0] = max(top[0], order.order_id)
            for trade in fa.trades:
                top[1] = max(top[1], trade.trade_id)
            for algo in fa.algos.values():
                top[2] = max(top[2], algo.algo_id)
            # The registry is not saved by the core: list the saved submissions again.
            for order in fa.orders.values():
                if order.algo_id is None:
                    self.state.orders.add(order.client_order_id, self.market, order)
            for algo in fa.algos.values():
                self.state.orders.add(algo.client_algo_id, self.market, algo)
        self.ids.skip_past(*top)

    # -- events --------------------------------------------------------------------------

    def publish(self, account_id: str, events: list[dict]) -> None:
        for event in events:
            self.state.bus.publish((self.market, account_id), event)

    def _listen_key_expired(self, lk: ListenKey) -> None:
        now = self.state.now_ms()
        event = {"e": "listenKeyExpired", "E": now, "listenKey": lk.key}
        for callback in list(self.key_listeners.get(lk.key, ())):
            callback(event)

    def _on_price(self, source: str, _reason: str) -> None:
        symbols = self.by_source.get(source)
        if not symbols:
            return
        now = self.state.now_ms()
        for fa in list(self.accounts.values()):
            for symbol in symbols:
                if not fa.open_orders(symbol) and not fa.open_algos(symbol):
                    continue
                try:
                    events = fa.on_price(symbol, self.mark, now)
                except Exception:  # a bug here must not stop the price engine
                    log.exception("futures matching failed for %s", symbol)
                    continue
                self.publish(fa.account_id, events)

    async def housekeeping(self) -> None:
        while True:
            try:
                self.listen_keys.expire_due(self.state.now_ms())
            except Exception:
                log.exception("listenKey expiry failed")
            await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Route registration: the core's Endpoint with futures answers for 5xx faults


class FuturesEndpoint(Endpoint):
    async def _fault_response(self, fault: Fault, executed: web.StreamResponse | None = None):
        if not fault.kind.startswith("5xx"):
            return await super()._fault_response(fault, executed)
        # A 5xx after execution has an unknown outcome; one before execution is a definite
        # failure. Binance futures tells them apart by the message (reference §8).
        if executed is not None:
            body = {"code": -1000, "msg": MSG_FUTURES_UNKNOWN}
        else:
            body = {"code": -1001, "msg": MSG_FUTURES_UNAVAILABLE}
        if fault.code is not None:
            body["code"] = fault.code
        if fault.msg is not None:
            body["msg"] = fault.msg
        headers = {}
        if executed is not None:
            for name in ("X-MBX-USED-WEIGHT", "X-MBX-USED-WEIGHT-1M"):
                if name in executed.headers:
                    headers[name] = executed.headers[name]
        return json_response(body, headers, fault.status or 503)


class FuturesApi:
    def __init__(self, app: web.Application, venue: Venue) -> None:
        self.app = app
        self.venue = venue

    def route(
        self,
        method: str,
        path: str,
        handler: Callable,
        *,
        security: str = "NONE",
        weight: Any = 1,
        zero_weight_on_success: bool = False,
    ) -> None:
        venue = self.venue

        async def call(req: ApiRequest):
            return await handler(venue, req)

        endpoint = FuturesEndpoint(
            venue.state,
            call,
            security=security,
            weight=weight,
            permission="futures" if security != "NONE" else None,
            params=None,
            bucket=venue.bucket,
            recv_window_max=None,
            micros=False,
            zero_weight_on_success=zero_weight_on_success,
        )
        self.app.router.add_route(method, path, endpoint)


# ---------------------------------------------------------------------------------------------
# Parameter parsing with futures error codes


def p_symbol(venue: Venue, req: ApiRequest, required: bool = True) -> str | None:
    raw = req.require("symbol") if required else req.get("symbol")
    if raw is None:
        return None
    venue.spec(raw)
    return raw


def p_decimal(req: ApiRequest, name: str, required: bool = False) -> Decimal | None:
    return req.decimal(name, required=required)


def p_bool(req: ApiRequest, name: str) -> bool:
    raw = req.get(name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return raw.lower() == "true"


def p_enum(req: ApiRequest, name: str, allowed, default: str | None = None) -> str | None:
    raw = req.get(name)
    if raw is None:
        return default
    if raw not in allowed:
        raise ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return raw


def p_client_id(req: ApiRequest, name: str) -> str:
    raw = req.get(name)
    if raw is None:
        return ""
    if not CLIENT_ORDER_ID_RE.match(raw):
        raise ApiError(-1100, MSG_ILLEGAL_CHARS.format(name=name, range=CLIENT_ORDER_ID_PATTERN))
    return raw


def check_quantity(spec: ContractSpec, qty: Decimal, market: bool) -> None:
    if decimals(qty) > spec.quantity_precision:
        raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
    if qty <= 0:
        raise ApiError(-4003, "Quantity less than or equal to zero.")
    if qty < spec.min_qty:
        raise ApiError(-4004, "Quantity less than min quantity.")
    if qty > (spec.market_max_qty if market else spec.max_qty):
        raise ApiError(-4005, "Quantity greater than max quantity.")
    if (qty - spec.min_qty) % spec.step_size != 0:
        raise ApiError(-4023, "Quantity not increased by step size.")


def check_price(spec: ContractSpec, price: Decimal, name: str = "price") -> None:
    if decimals(price) > spec.price_precision:
        raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
    if price <= 0:
        raise ApiError(-4001, "Price less than 0.")
    if price < spec.min_price:
        raise ApiError(-4013, "Price less than min price.")
    if price > spec.max_price:
        raise ApiError(-4002, "Price greater than max price.")
    if (price - spec.min_price) % spec.tick_size != 0:
        raise ApiError(-4014, "Price not increased by tick size.")


def check_percent_price(spec: ContractSpec, price: Decimal, mark: Decimal) -> None:
    high = mark * spec.multiplier_up
    low = mark * spec.multiplier_down
    if price > high:
        raise ApiError(-4016, f"Limit price can't be higher than {spec.fmt_price(high)}.")
    if price < low:
        raise ApiError(-4024, f"Limit price can't be lower than {spec.fmt_price(low)}.")


def parse_order(venue: Venue, req: ApiRequest, fa: FuturesAccount) -> OrderRequest:
    """Parameters of POST /fapi/v1/order (and /order/test) in Binance's checking order."""
    symbol = p_symbol(venue, req)
    assert symbol is not None
    spec = venue.spec(symbol)
    side = req.require("side")
    if side not in ("BUY", "SELL"):
        raise ApiError(-1117, "Invalid side.")
    order_type = req.require("type")
    if order_type in ALGO_TYPES:
        raise ApiError(-4120, MSG_ALGO_SWITCH)
    if order_type not in ("LIMIT", "MARKET"):
        raise ApiError(-1116, "Invalid orderType.")
    position_side = req.get("positionSide", "BOTH")
    if position_side not in ("BOTH", "LONG", "SHORT"):
        raise ApiError(-4061, "Order's position side does not match user's setting.")
    client_id = p_client_id(req, "newClientOrderId")
    p_enum(req, "newOrderRespType", ("ACK", "RESULT"))
    if req.get("closePosition") is not None:
        raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="closePosition"))
    quantity = p_decimal(req, "quantity", required=True)
    assert quantity is not None
    reduce_only_sent = req.get("reduceOnly") is not None
    reduce_only = p_bool(req, "reduceOnly")
    stp = p_enum(
        req,
        "selfTradePreventionMode",
        ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"),
        "EXPIRE_MAKER",
    )
    price_match = p_enum(
        req,
        "priceMatch",
        ("NONE", "OPPONENT", "OPPONENT_5", "OPPONENT_10", "OPPONENT_20", "QUEUE", "QUEUE_5"),
        "NONE",
    )
    mark = venue.mark(symbol)
    price = ZERO
    tif = "GTC"
    gtd = 0
    if order_type == "LIMIT":
        tif_raw = req.require("timeInForce")
        if tif_raw not in ("GTC", "IOC", "FOK", "GTX", "GTD"):
            raise ApiError(-1115, "Invalid timeInForce.")
        tif = tif_raw
        if price_match != "NONE":
            if req.get("price") is not None:
                raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="price"))
            price = spec.round_price(mark)
        else:
            raw_price = p_decimal(req, "price", required=True)
            assert raw_price is not None
            price = raw_price
        if tif == "GTD":
            gtd = req.integer("goodTillDate", required=True) or 0
            if gtd <= req.now_ms + 600_000:
                raise ApiError(-4129, "Good till date must be greater than 600 seconds from now.")
    else:
        if req.get("price") is not None:
            raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="price"))
        if price_match != "NONE":
            raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="priceMatch"))
    check_quantity(spec, quantity, market=order_type == "MARKET")
    if order_type == "LIMIT":
        check_price(spec, price)
        check_percent_price(spec, price, mark)
    if len(fa.open_orders(symbol)) + len(fa.open_algos(symbol)) >= spec.max_num_orders:
        raise ApiError(-2025, "Reach max open order limit.")
    return OrderRequest(
        symbol=symbol,
        side=side,
        type=order_type,
        quantity=quantity,
        price=price,
        position_side=position_side,
        time_in_force=tif,
        reduce_only=reduce_only,
        reduce_only_sent=reduce_only_sent,
        client_order_id=client_id,
        price_match=price_match or "NONE",
        stp_mode=stp or "EXPIRE_MAKER",
        good_till_date=gtd,
    )


def parse_algo(venue: Venue, req: ApiRequest) -> AlgoRequest:
    """Parameters of POST /fapi/v1/algoOrder (algoType=CONDITIONAL)."""
    algo_type = req.require("algoType")
    if algo_type != "CONDITIONAL":
        raise ApiError(-1130, "Data sent for parameter 'algoType' is not valid.")
    symbol = p_symbol(venue, req)
    assert symbol is not None
    spec = venue.spec(symbol)
    side = req.require("side")
    if side not in ("BUY", "SELL"):
        raise ApiError(-1117, "Invalid side.")
    order_type = req.require("type")
    if order_type not in ALGO_TYPES:
        raise ApiError(-1116, "Invalid orderType.")
    position_side = req.get("positionSide", "BOTH")
    if position_side not in ("BOTH", "LONG", "SHORT"):
        raise ApiError(-4061, "Order's position side does not match user's setting.")
    client_id = p_client_id(req, "clientAlgoId")
    close_position = p_bool(req, "closePosition")
    reduce_only_sent = req.get("reduceOnly") is not None
    reduce_only = p_bool(req, "reduceOnly")
    working_type = p_enum(req, "workingType", ("MARK_PRICE", "CONTRACT_PRICE"), "CONTRACT_PRICE")
    price_protect = p_bool(req, "priceProtect")
    stp = p_enum(
        req,
        "selfTradePreventionMode",
        ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"),
        "EXPIRE_MAKER",
    )
    quantity = ZERO
    if close_position:
        if req.get("quantity") is not None:
            raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="quantity"))
        if reduce_only_sent and reduce_only:
            raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="reduceOnly"))
        if order_type not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            raise ApiError(-4136, "Target strategy invalid for orderType " + order_type)
    else:
        q = p_decimal(req, "quantity", required=True)
        assert q is not None
        quantity = q
        check_quantity(spec, quantity, market=order_type.endswith("MARKET"))
    price = ZERO
    tif = "GTC"
    if order_type in ("STOP", "TAKE_PROFIT"):
        p = p_decimal(req, "price", required=True)
        assert p is not None
        price = p
        check_price(spec, price)
        tif = req.get("timeInForce", "GTC") or "GTC"
        if tif not in ("GTC", "IOC", "FOK", "GTX", "GTD"):
            raise ApiError(-1115, "Invalid timeInForce.")
    elif req.get("price") is not None:
        raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="price"))
    trigger = ZERO
    activate = None
    callback = None
    if order_type == "TRAILING_STOP_MARKET":
        callback = p_decimal(req, "callbackRate", required=True)
        assert callback is not None
        if not Decimal("0.1") <= callback <= Decimal("10"):
            raise ApiError(-2007, "Invalid callBack rate.")
        activate = p_decimal(req, "activatePrice")
        if activate is not None:
            check_price(spec, activate, "activatePrice")
    else:
        t = p_decimal(req, "triggerPrice", required=True)
        assert t is not None
        trigger = t
        check_price(spec, trigger, "triggerPrice")
    return AlgoRequest(
        symbol=symbol,
        side=side,
        type=order_type,
        quantity=quantity,
        trigger_price=trigger,
        price=price,
        position_side=position_side,
        time_in_force=tif,
        reduce_only=reduce_only,
        reduce_only_sent=reduce_only_sent,
        close_position=close_position,
        working_type=working_type or "CONTRACT_PRICE",
        price_protect=price_protect,
        client_algo_id=client_id,
        activate_price=activate,
        callback_rate=callback,
        stp_mode=stp or "EXPIRE_MAKER",
    )


# ---------------------------------------------------------------------------------------------
# Response shapes


def order_json(venue: Venue, order: FuturesOrder, *, ack: bool = False, post: bool = False):
    spec = venue.spec(order.symbol)
    executed = ZERO if ack else order.executed_qty
    cum = ZERO if ack else order.cum_quote
    avg = ZERO if ack else order.avg_price
    body: dict[str, Any] = {
        "orderId": order.order_id,
        "symbol": order.symbol,
    }
    if venue.inverse:
        body["pair"] = spec.pair
    body.update(
        {
            "status": "NEW" if ack else order.status,
            "clientOrderId": order.client_order_id,
            "price": spec.fmt_price(order.price) if order.price else "0",
            "avgPrice": spec.fmt_price(avg) if avg else fmt(ZERO, spec.price_precision),
            "origQty": spec.fmt_qty(order.quantity),
            "executedQty": spec.fmt_qty(executed) if executed else "0",
        }
    )
    if post:
        body["cumQty"] = spec.fmt_qty(executed) if executed else "0"
    if venue.inverse:
        body["cumBase"] = fmt8(cum) if cum else "0"
    else:
        body["cumQuote"] = fmt(cum, 5) if cum else "0"
    body.update(
        {
            "timeInForce": order.time_in_force,
            "type": order.type,
            "reduceOnly": order.reduce_only,
            "closePosition": order.close_position,
            "side": order.side,
            "positionSide": order.position_side,
            "stopPrice": spec.fmt_price(order.stop_price) if order.stop_price else "0",
            "workingType": order.working_type,
            "priceProtect": order.price_protect,
            "origType": order.orig_type,
            "priceMatch": order.price_match,
            "selfTradePreventionMode": order.stp_mode,
            "goodTillDate": order.good_till_date,
        }
    )
    if not post:
        body["time"] = order.time
    body["updateTime"] = order.time if ack else order.update_time
    return body


def algo_json(venue: Venue, fa: FuturesAccount, algo: AlgoOrder) -> dict:
    spec = venue.spec(algo.symbol)
    actual = fa.orders.get(algo.actual_order_id) if algo.actual_order_id else None
    return {
        "algoId": algo.algo_id,
        "clientAlgoId": algo.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": algo.order_type,
        "symbol": algo.symbol,
        "side": algo.side,
        "positionSide": algo.position_side,
        "timeInForce": algo.time_in_force,
        "quantity": spec.fmt_qty(algo.quantity),
        "algoStatus": algo.status,
        "actualOrderId": str(algo.actual_order_id) if algo.actual_order_id else "",
        "actualPrice": spec.fmt_price(actual.avg_price) if actual and actual.executed_qty else "0",
        "triggerPrice": spec.fmt_price(algo.trigger_price) if algo.trigger_price else "0",
        "price": spec.fmt_price(algo.price) if algo.price else "0",
        "icebergQuantity": None,
        "tpTriggerPrice": "0",
        "tpPrice": "0",
        "slTriggerPrice": "0",
        "slPrice": "0",
        "tpOrderType": "",
        "selfTradePreventionMode": algo.stp_mode,
        "workingType": algo.working_type,
        "priceMatch": algo.price_match,
        "closePosition": algo.close_position,
        "priceProtect": algo.price_protect,
        "reduceOnly": algo.reduce_only,
        "activatePrice": spec.fmt_price(algo.activate_price) if algo.activate_price else "",
        "callbackRate": str(algo.callback_rate) if algo.callback_rate is not None else "",
        "createTime": algo.create_time,
        "updateTime": algo.update_time,
        "triggerTime": algo.trigger_time,
        "goodTillDate": algo.good_till_date,
    }


def asset_json(venue: Venue, fa: FuturesAccount, asset: str, now: int) -> dict:
    s = fa.asset_summary(asset, venue.mark)
    return {
        "asset": asset,
        "walletBalance": fmt8(s["walletBalance"]),
        "unrealizedProfit": fmt8(s["unrealizedProfit"]),
        "marginBalance": fmt8(s["marginBalance"]),
        "maintMargin": fmt8(s["maintMargin"]),
        "initialMargin": fmt8(s["initialMargin"]),
        "positionInitialMargin": fmt8(s["positionInitialMargin"]),
        "openOrderInitialMargin": fmt8(s["openOrderInitialMargin"]),
        "crossWalletBalance": fmt8(s["crossWalletBalance"]),
        "crossUnPnl": fmt8(s["crossUnPnl"]),
        "availableBalance": fmt8(s["availableBalance"]),
        "maxWithdrawAmount": fmt8(s["maxWithdrawAmount"]),
        "marginAvailable": True,
        "updateTime": fa.update_time,
    }


def wallet_assets(venue: Venue, fa: FuturesAccount) -> list[str]:
    assets = set(fa.balances)
    assets.update(spec.margin_asset for spec in venue.contracts.values())
    return sorted(assets)


def totals(venue: Venue, fa: FuturesAccount) -> dict:
    """The total* fields of the account endpoints, for the USD-M margin asset USDT."""
    s = fa.asset_summary("USDT", venue.mark)
    return {
        "totalInitialMargin": fmt8(s["initialMargin"]),
        "totalMaintMargin": fmt8(s["maintMargin"]),
        "totalWalletBalance": fmt8(s["walletBalance"]),
        "totalUnrealizedProfit": fmt8(s["unrealizedProfit"]),
        "totalMarginBalance": fmt8(s["marginBalance"]),
        "totalPositionInitialMargin": fmt8(s["positionInitialMargin"]),
        "totalOpenOrderInitialMargin": fmt8(s["openOrderInitialMargin"]),
        "totalCrossWalletBalance": fmt8(s["crossWalletBalance"]),
        "totalCrossUnPnl": fmt8(s["crossUnPnl"]),
        "availableBalance": fmt8(s["availableBalance"]),
        "maxWithdrawAmount": fmt8(s["maxWithdrawAmount"]),
    }


def order_notional(fa: FuturesAccount, spec: ContractSpec, side: str) -> Decimal:
    return sum(
        (
            spec.notional(o.remaining, o.price)
            for o in fa.open_orders(spec.symbol)
            if o.side == side and o.price
        ),
        ZERO,
    )


def position_rows_for(venue: Venue, fa: FuturesAccount, only_active: bool, symbol: str | None):
    """(spec, position) pairs; with only_active, symbols with a position or open orders."""
    rows = []
    for spec in venue.contracts.values():
        if symbol and spec.symbol != symbol:
            continue
        active = bool(fa.active_positions(spec.symbol) or fa.open_orders(spec.symbol))
        if only_active and not active:
            continue
        for side in fa.position_sides():
            rows.append((spec, fa.position(spec.symbol, side)))
    return rows


def position_risk_json(venue: Venue, fa: FuturesAccount, spec, position, version: int) -> dict:
    mark = venue.mark(spec.symbol)
    amount = position.amount
    notional = spec.notional(amount, mark) if not spec.inverse else ZERO
    up = fa.unrealized(position, venue.mark)
    isolated = fa.isolated(spec.symbol)
    iso_margin = position.isolated_wallet + up if isolated and amount else ZERO
    leverage = fa.leverage_of(spec.symbol)
    max_notional = spec.bracket_for_leverage(leverage).notional_cap
    if version == 2:
        return {
            "entryPrice": fmt8(position.entry_price),
            "breakEvenPrice": fmt8(position.break_even_price),
            "marginType": "isolated" if isolated else "cross",
            "isAutoAddMargin": "false",
            "isolatedMargin": fmt8(iso_margin),
            "leverage": str(leverage),
            "liquidationPrice": fmt8(fa.liquidation_price(position)),
            "markPrice": fmt8(mark),
            "maxNotionalValue": str(max_notional),
            "positionAmt": spec.fmt_qty(amount),
            "notional": fmt8(notional),
            "isolatedWallet": fmt8(position.isolated_wallet),
            "symbol": spec.symbol,
            "unRealizedProfit": fmt8(up),
            "positionSide": position.side,
            "updateTime": position.update_time,
        }
    im = fa.position_initial_margin(position, venue.mark)
    order_im = sum(
        (fa.order_initial_margin(o, venue.mark) for o in fa.open_orders(spec.symbol)), ZERO
    )
    return {
        "symbol": spec.symbol,
        "positionSide": position.side,
        "positionAmt": spec.fmt_qty(amount),
        "entryPrice": fmt8(position.entry_price),
        "breakEvenPrice": fmt8(position.break_even_price),
        "markPrice": fmt8(mark),
        "unRealizedProfit": fmt8(up),
        "liquidationPrice": fmt8(fa.liquidation_price(position)),
        "isolatedMargin": fmt8(iso_margin),
        "notional": fmt8(notional),
        "marginAsset": spec.margin_asset,
        "isolatedWallet": fmt8(position.isolated_wallet),
        "initialMargin": fmt8(im + order_im),
        "maintMargin": fmt8(fa.maint_margin(position, venue.mark)),
        "positionInitialMargin": fmt8(im),
        "openOrderInitialMargin": fmt8(order_im),
        "adl": 0,
        "bidNotional": fmt8(order_notional(fa, spec, "BUY")),
        "askNotional": fmt8(order_notional(fa, spec, "SELL")),
        "updateTime": position.update_time,
    }


def kline_row(spec: ContractSpec, row: list) -> list:
    """A kline of the underlying on the contract's tick grid (volume in contracts for COIN-M)."""
    o, h, low, c = (spec.fmt_price(spec.round_price(x)) for x in row[1:5])
    volume, quote, taker, taker_quote = row[5], row[7], row[9], row[10]
    if spec.inverse:
        assert spec.contract_size is not None
        volume, quote = (quote / spec.contract_size).to_integral_value(), volume
        taker, taker_quote = (taker_quote / spec.contract_size).to_integral_value(), taker
    return [
        row[0],
        o,
        h,
        low,
        c,
        fmt(volume, spec.quantity_precision),
        row[6],
        fmt8(quote),
        row[8],
        fmt(taker, spec.quantity_precision),
        fmt8(taker_quote),
        "0",
    ]


INTERVAL_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


def kline_open(open_ms: int, interval: str) -> int:
    span = INTERVAL_MS[interval]
    if interval == "1w":  # Binance weeks start on Monday; epoch day 0 was a Thursday
        offset = 4 * 86_400_000
        return (open_ms - offset) // span * span + offset
    return open_ms // span * span


def book(venue: Venue, symbol: str, limit: int) -> tuple[list, list]:
    """Synthetic depth around the mark: the spot underlying's levels on the contract's grid.

    Cached until the underlying's book changes (its update id moves on every tick, price move
    and taken level); callers must not modify the lists."""
    spec = venue.spec(symbol)
    market = venue.state.prices.market(spec.price_source)
    cached = venue.book_cache.get((symbol, limit))
    if cached is not None and cached[0] == market.update_id:
        return cached[1]
    result = _build_book(spec, market, limit)
    venue.book_cache[(symbol, limit)] = (market.update_id, result)
    return result


def _build_book(spec, market, limit: int) -> tuple[list, list]:
    sides = []
    for side in ("bids", "asks"):
        merged: dict[Decimal, Decimal] = {}
        for price, qty in market.iter_levels(side):
            tick = spec.tick_size
            rounding = "ROUND_FLOOR" if side == "bids" else "ROUND_CEILING"
            p = (price / tick).to_integral_value(rounding=rounding) * tick
            if spec.inverse:
                q = (qty * price / spec.contract_size).to_integral_value(rounding="ROUND_DOWN")
                q = max(q, Decimal(1))
            else:
                q = (qty / spec.step_size).to_integral_value(rounding="ROUND_DOWN") * spec.step_size
                q = max(q, spec.min_qty)
            merged[p] = merged.get(p, ZERO) + q
            if len(merged) >= limit:
                break
        rows = sorted(merged.items(), reverse=side == "bids")[:limit]
        sides.append([[spec.fmt_price(p), spec.fmt_qty(q)] for p, q in rows])
    return sides[0], sides[1]


def ticker_24hr(venue: Venue, symbol: str, now: int) -> dict:
    spec = venue.spec(symbol)
    market = venue.state.prices.market(spec.price_source)
    open_ms = now - 86_400_000
    row = market.kline(open_ms, now)
    last = venue.mark(symbol)
    open_price = row[1]
    change = last - open_price
    pct = (change / open_price * 100) if open_price else ZERO
    volume = row[5]
    quote = row[7]
    if spec.inverse:
        volume = (quote / spec.contract_size).to_integral_value()
        quote = row[5]
    return {
        "symbol": symbol,
        **({"pair": spec.pair} if spec.inverse else {}),
        "priceChange": spec.fmt_price(change),
        "priceChangePercent": fmt(pct, 3),
        "weightedAvgPrice": spec.fmt_price(row[7] / row[5] if row[5] else last),
        "lastPrice": spec.fmt_price(last),
        "lastQty": spec.fmt_qty(spec.min_qty),
        "openPrice": spec.fmt_price(open_price),
        "highPrice": spec.fmt_price(max(row[2], last)),
        "lowPrice": spec.fmt_price(min(row[3], last)),
        "volume": fmt(volume, spec.quantity_precision),
        ("baseVolume" if spec.inverse else "quoteVolume"): fmt(quote, 8),
        "openTime": open_ms,
        "closeTime": now,
        "firstId": 1,
        "lastId": max(1, row[8]),
        "count": max(1, row[8]),
    }


def next_funding(now: int) -> int:
    return (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def premium_index(venue: Venue, symbol: str, now: int) -> dict:
    spec = venue.spec(symbol)
    mark = venue.mark(symbol)
    body = {
        "symbol": symbol,
        **({"pair": spec.pair} if spec.inverse else {}),
        "markPrice": fmt8(mark),
        "indexPrice": fmt8(mark),
        "estimatedSettlePrice": fmt8(mark),
        "lastFundingRate": fmt8(FUNDING_RATE),
        "interestRate": fmt8(FUNDING_RATE),
        "nextFundingTime": next_funding(now),
        "time": now,
    }
    return body


# ---------------------------------------------------------------------------------------------
# Handlers shared by /fapi and /dapi (first argument: the venue)


async def h_ping(venue: Venue, req: ApiRequest):
    return {}


async def h_time(venue: Venue, req: ApiRequest):
    return {"serverTime": req.now_ms}


def rate_limits(venue: Venue) -> list[dict]:
    limits = venue.state.config.limits.get(venue.bucket, {})
    out = [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": limits.get("request_weight_1m", 2400),
        }
    ]
    if "orders_1m" in limits:
        out.append(
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": limits["orders_1m"],
            }
        )
    if "orders_10s" in limits:
        out.append(
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": limits["orders_10s"],
            }
        )
    return out


def symbol_info(venue: Venue, spec: ContractSpec) -> dict:
    filters: list[dict] = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": str(spec.min_price),
            "maxPrice": str(spec.max_price),
            "tickSize": str(spec.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": str(spec.min_qty),
            "maxQty": str(spec.max_qty),
            "stepSize": str(spec.step_size),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": str(spec.min_qty),
            "maxQty": str(spec.market_max_qty),
            "stepSize": str(spec.step_size),
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": spec.max_num_orders},
    ]
    if spec.min_notional is not None:
        filters.append({"filterType": "MIN_NOTIONAL", "notional": spec.min_notional_text})
    filters.append(
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": str(spec.multiplier_up),
            "multiplierDown": str(spec.multiplier_down),
            "multiplierDecimal": "4",
        }
    )
    info: dict[str, Any] = {
        "symbol": spec.symbol,
        "pair": spec.pair,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
    }
    if spec.inverse:
        info["contractStatus"] = "TRADING"
        info["contractSize"] = int(spec.contract_size or 0)
    else:
        info["status"] = "TRADING"
    info.update(
        {
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": spec.base_asset,
            "quoteAsset": spec.quote_asset,
            "marginAsset": spec.margin_asset,
            "pricePrecision": spec.price_precision,
            "quantityPrecision": spec.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": ["PoW"] if spec.base_asset == "BTC" else ["Layer-1"],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": filters,
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }
    )
    if spec.inverse:
        info["equalQtyPrecision"] = 4
    else:
        info["settlePlan"] = 0
        info["permissionSet"] = ["GRID", "COPY"]
    return info


async def h_exchange_info(venue: Venue, req: ApiRequest):
    assets = sorted({s.margin_asset for s in venue.contracts.values()})
    body: dict[str, Any] = {
        "timezone": "UTC",
        "serverTime": req.now_ms,
        "rateLimits": rate_limits(venue),
        "exchangeFilters": [],
        "symbols": [symbol_info(venue, spec) for spec in venue.contracts.values()],
    }
    if not venue.inverse:
        body["futuresType"] = "U_MARGINED"
        body["assets"] = [
            {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in assets
        ]
    return body


DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


def depth_weight(params: dict) -> int:
    limit = int(params.get("limit") or 500) if str(params.get("limit", "")).isdigit() else 500
    if limit <= 50:
        return 2
    if limit <= 100:
        return 5
    if limit <= 500:
        return 10
    return 20


async def h_depth(venue: Venue, req: ApiRequest):
    symbol = p_symbol(venue, req)
    assert symbol is not None
    limit = req.integer("limit", default=500) or 500
    if limit not in DEPTH_LIMITS:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    bids, asks = book(venue, symbol, limit)
    market = venue.state.prices.market(venue.spec(symbol).price_source)
    body: dict[str, Any] = {"lastUpdateId": market.update_id, "E": req.now_ms, "T": req.now_ms}
    if venue.inverse:
        body["symbol"] = symbol
        body["pair"] = venue.spec(symbol).pair
    body["bids"] = bids
    body["asks"] = asks
    return body


def klines_weight(params: dict) -> int:
    raw = str(params.get("limit", ""))
    limit = int(raw) if raw.isdigit() else 500
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


async def h_klines(venue: Venue, req: ApiRequest):
    symbol = p_symbol(venue, req)
    assert symbol is not None
    interval = req.require("interval")
    if interval not in INTERVAL_MS:
        raise ApiError(-1120, "Invalid interval.")
    limit = req.integer("limit", default=500) or 500
    if limit < 1 or limit > 1500:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    span = INTERVAL_MS[interval]
    start = req.integer("startTime")
    end = req.integer("endTime")
    now = req.now_ms
    if start is not None:
        first = kline_open(start, interval)
    else:
        last_open = kline_open(end if end is not None else now, interval)
        first = last_open - (limit - 1) * span
    stop = min(end if end is not None else now, now)
    spec = venue.spec(symbol)
    market = venue.state.prices.market(spec.price_source)
    rows = []
    open_ms = first
    while open_ms <= stop and len(rows) < limit:
        row = market.kline(open_ms, open_ms + span - 1)
        rows.append(kline_row(spec, row))
        open_ms += span
    return rows


def ticker_weight(params: dict) -> int:
    return 1 if params.get("symbol") else 2


async def h_ticker_price(venue: Venue, req: ApiRequest):
    symbol = p_symbol(venue, req, required=False)

    def one(sym: str) -> dict:
        spec = venue.spec(sym)
        body = {"symbol": sym}
        if venue.inverse:
            body["ps"] = spec.pair
        body["price"] = spec.fmt_price(venue.mark(sym))
        body["time"] = req.now_ms
        return body

    if symbol:
        return [one(symbol)] if venue.inverse else one(symbol)
    return [one(s) for s in venue.contracts]


async def h_book_ticker(venue: Venue, req: ApiRequest):
    symbol = p_symbol(venue, req, required=False)

    def one(sym: str) -> dict:
        bids, asks = book(venue, sym, 1)
        return {
            "symbol": sym,
            "bidPrice": bids[0][0],
            "bidQty": bids[0][1],
            "askPrice": asks[0][0],
            "askQty": asks[0][1],
            "time": req.now_ms,
        }

    if symbol:
        return [one(symbol)] if venue.inverse else one(symbol)
    return [one(s) for s in venue.contracts]


def ticker24_weight(params: dict) -> int:
    return 1 if params.get("symbol") else 40


async def h_ticker_24hr(venue: Venue, req: ApiRequest):
    symbol = p_symbol(venue, req, required=False)
    if symbol:
        body = ticker_24hr(venue, symbol, req.now_ms)
        return [body] if venue.inverse else body
    return [ticker_24hr(venue, s, req.now_ms) for s in venue.contracts]


async def h_premium_index(venue: Venue, req: ApiRequest):
    symbol = p_symbol(venue, req, required=False)
    if symbol:
        body = premium_index(venue, symbol, req.now_ms)
        return [body] if venue.inverse else body
    return [premium_index(venue, s, req.now_ms) for s in venue.contracts]


async def h_account(venue: Venue, req: ApiRequest, version: int):
    fa = venue.account(req)
    now = req.now_ms
    assets = [asset_json(venue, fa, a, now) for a in wallet_assets(venue, fa)]
    if version == 3:
        positions = []
        for spec, position in position_rows_for(venue, fa, True, None):
            up = fa.unrealized(position, venue.mark)
            im = fa.position_initial_margin(position, venue.mark)
            positions.append(
                {
                    "symbol": spec.symbol,
                    "positionSide": position.side,
                    "positionAmt": spec.fmt_qty(position.amount),
                    "unrealizedProfit": fmt8(up),
                    "isolatedMargin": fmt8(position.isolated_wallet + up)
                    if fa.isolated(spec.symbol) and position.amount
                    else fmt8(ZERO),
                    "notional": fmt8(spec.notional(position.amount, venue.mark(spec.symbol))),
                    "isolatedWallet": fmt8(position.isolated_wallet),
                    "initialMargin": fmt8(im),
                    "maintMargin": fmt8(fa.maint_margin(position, venue.mark)),
                    "updateTime": position.update_time,
                }
            )
        return {**totals(venue, fa), "assets": assets, "positions": positions}
    positions = []
    for spec, position in position_rows_for(venue, fa, False, None):
        up = fa.unrealized(position, venue.mark)
        im = fa.position_initial_margin(position, venue.mark)
        order_im = sum(
            (fa.order_initial_margin(o, venue.mark) for o in fa.open_orders(spec.symbol)), ZERO
        )
        leverage = fa.leverage_of(spec.symbol)
        positions.append(
            {
                "symbol": spec.symbol,
                "initialMargin": fmt8(im + order_im),
                "maintMargin": fmt8(fa.maint_margin(position, venue.mark)),
                "unrealizedProfit": fmt8(up),
                "positionInitialMargin": fmt8(im),
                "openOrderInitialMargin": fmt8(order_im),
                "leverage": str(leverage),
                "isolated": fa.isolated(spec.symbol),
                "entryPrice": fmt8(position.entry_price),
                "breakEvenPrice": fmt8(position.break_even_price),
                "maxNotional": str(spec.bracket_for_leverage(leverage).notional_cap),
                "bidNotional": fmt8(order_notional(fa, spec, "BUY")),
                "askNotional": fmt8(order_notional(fa, spec, "SELL")),
                "positionSide": position.side,
                "positionAmt": spec.fmt_qty(position.amount),
                "updateTime": position.update_time,
            }
        )
    can_trade = req.account.can_trade
    return {
        "feeTier": fa.fee_tier,
        "feeBurn": True,
        "canTrade": can_trade,
        "canDeposit": True,
        "canWithdraw": bool(req.key and req.key.permissions.get("withdrawals")),
        "updateTime": 0,
        "multiAssetsMargin": fa.multi_assets,
        "tradeGroupId": -1,
        **totals(venue, fa),
        "assets": assets,
        "positions": positions,
    }


async def h_account_v2(venue: Venue, req: ApiRequest):
    return await h_account(venue, req, 2)


async def h_account_v3(venue: Venue, req: ApiRequest):
    return await h_account(venue, req, 3)


def account_alias(account_id: str) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz"
    n = int(account_id) if account_id.isdigit() else abs(hash(account_id))
    out = ""
    for _ in range(8):
        out += letters[n % len(letters)]
        n //= len(letters)
    return out


async def h_balance(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    rows = []
    for asset in wallet_assets(venue, fa):
        s = fa.asset_summary(asset, venue.mark)
        row = {
            "accountAlias": account_alias(fa.account_id),
            "asset": asset,
            "balance": fmt8(s["walletBalance"]),
            "crossWalletBalance": fmt8(s["crossWalletBalance"]),
            "crossUnPnl": fmt8(s["crossUnPnl"]),
            "availableBalance": fmt8(s["availableBalance"]),
            "maxWithdrawAmount": fmt8(s["maxWithdrawAmount"]),
        }
        if venue.inverse:
            row["withdrawAvailable"] = row.pop("maxWithdrawAmount")
        else:
            row["marginAvailable"] = True
        row["updateTime"] = fa.update_time
        rows.append(row)
    return rows


async def h_position_risk(venue: Venue, req: ApiRequest, version: int):
    fa = venue.account(req)
    symbol = p_symbol(venue, req, required=False)
    return [
        position_risk_json(venue, fa, spec, position, version)
        for spec, position in position_rows_for(venue, fa, True, symbol)
    ]


async def h_position_risk_v2(venue: Venue, req: ApiRequest):
    return await h_position_risk(venue, req, 2)


async def h_position_risk_v3(venue: Venue, req: ApiRequest):
    return await h_position_risk(venue, req, 3)


async def h_leverage(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req)
    assert symbol is not None
    raw = req.require("leverage")
    if not raw.isdigit():
        raise ApiError(-4028, f"Leverage {raw} is not valid")
    leverage = int(raw)
    events = fa.set_leverage(symbol, leverage, venue.mark, req.now_ms)
    venue.publish(fa.account_id, events)
    spec = venue.spec(symbol)
    cap = spec.bracket_for_leverage(leverage).notional_cap
    if venue.inverse:
        return {"leverage": leverage, "maxQty": str(cap), "symbol": symbol}
    return {"leverage": leverage, "maxNotionalValue": str(cap), "symbol": symbol}


async def h_margin_type(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req)
    assert symbol is not None
    margin_type = req.require("marginType").upper()
    if margin_type == "CROSS":
        margin_type = "CROSSED"
    fa.set_margin_type(symbol, margin_type, req.now_ms)
    return {"code": 200, "msg": "success"}


async def h_dual_get(venue: Venue, req: ApiRequest):
    return {"dualSidePosition": venue.account(req).dual_side}


async def h_dual_post(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    raw = req.require("dualSidePosition").lower()
    if raw not in ("true", "false"):
        raise ApiError(-1130, "Data sent for parameter 'dualSidePosition' is not valid.")
    fa.set_dual_side(raw == "true", req.now_ms)
    return {"code": 200, "msg": "success"}


def bracket_json(spec: ContractSpec, inverse: bool) -> str:
    """leverageBracket rows as JSON text: Binance sends these numbers unquoted."""
    rows = []
    cap_name, floor_name = ("qtyCap", "qtyFloor") if inverse else ("notionalCap", "notionalFloor")
    for b in spec.brackets:
        rows.append(
            f'{{"bracket":{b.bracket},"initialLeverage":{b.initial_leverage},'
            f'"{cap_name}":{b.notional_cap:f},"{floor_name}":{b.notional_floor:f},'
            f'"maintMarginRatio":{b.maint_margin_ratio:f},"cum":{b.cum.normalize():f}}}'
        )
    name = "pair" if inverse else "symbol"
    key = spec.pair if inverse else spec.symbol
    return f'{{"{name}":"{key}","notionalCoef":1.0,"brackets":[{",".join(rows)}]}}'


async def h_leverage_bracket(venue: Venue, req: ApiRequest):
    symbol = req.get("symbol") or req.get("pair")
    if symbol and venue.inverse:
        matches = [s for s in venue.contracts.values() if symbol in (s.symbol, s.pair)]
        if not matches:
            raise ApiError(-1121, "Invalid symbol.")
        text = "[" + ",".join(bracket_json(s, True) for s in matches) + "]"
    elif symbol:
        text = bracket_json(venue.spec(symbol), False)
    else:
        text = "[" + ",".join(bracket_json(s, venue.inverse) for s in venue.contracts.values())
        text += "]"
    return web.Response(text=text, content_type="application/json")


def charge_order(venue: Venue, req: ApiRequest) -> None:
    """Count a new order on the account's ORDERS limits (X-MBX-ORDER-COUNT-* headers)."""
    headers = venue.state.limits.charge_order(venue.bucket, req.account.id, req.now_ms)
    req.headers.update(headers)


def require_trading(req: ApiRequest) -> None:
    if not req.account.can_trade:
        raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.")


async def h_order_post(venue: Venue, req: ApiRequest):
    require_trading(req)
    fa = venue.account(req)
    request = parse_order(venue, req, fa)
    resp_type = req.get("newOrderRespType", "ACK")
    charge_order(venue, req)
    fa.check_new_order(request, venue.mark)
    order, events = fa.place_order(request, venue.mark, req.now_ms)
    venue.state.orders.add(order.client_order_id, venue.market, order)
    venue.publish(fa.account_id, events)
    return order_json(venue, order, ack=resp_type != "RESULT", post=True)


async def h_order_test(venue: Venue, req: ApiRequest):
    require_trading(req)
    fa = venue.account(req)
    request = parse_order(venue, req, fa)
    fa.check_new_order(request, venue.mark)
    return {}


def find_order(venue: Venue, req: ApiRequest, fa: FuturesAccount) -> FuturesOrder:
    symbol = p_symbol(venue, req)
    assert symbol is not None
    order_id = req.integer("orderId")
    client_id = req.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise ApiError(
            -1102, "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!"
        )
    return fa.find_order(symbol, order_id, client_id)


async def h_order_get(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    return order_json(venue, find_order(venue, req, fa))


async def h_order_delete(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    try:
        order = find_order(venue, req, fa)
    except FuturesError as err:
        if err.code == -2013:
            raise ApiError(-2011, "Unknown order sent.") from err
        raise
    events = fa.cancel(order, req.now_ms)
    venue.publish(fa.account_id, events)
    return order_json(venue, order, post=True)


def open_orders_weight(params: dict) -> int:
    return 1 if params.get("symbol") else 40


async def h_open_orders(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req, required=False)
    return [order_json(venue, o) for o in sorted(fa.open_orders(symbol), key=lambda o: o.order_id)]


async def h_open_order(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    order = find_order(venue, req, fa)
    if not order.is_open:
        raise ApiError(-2013, "Order does not exist.")
    return order_json(venue, order)


async def h_cancel_all(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req)
    events: list[dict] = []
    for order in fa.open_orders(symbol):
        events += fa.cancel(order, req.now_ms)
    venue.publish(fa.account_id, events)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def time_filter(req: ApiRequest, items: list, time_of: Callable[[Any], int]) -> list:
    start = req.integer("startTime")
    end = req.integer("endTime")
    if start is not None:
        items = [i for i in items if time_of(i) >= start]
    if end is not None:
        items = [i for i in items if time_of(i) <= end]
    limit = req.integer("limit", default=500) or 500
    if limit < 1 or limit > 1000:
        raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
    return items[-limit:] if start is None else items[:limit]


async def h_all_orders(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req)
    order_id = req.integer("orderId")
    orders = sorted((o for o in fa.orders.values() if o.symbol == symbol), key=lambda o: o.order_id)
    if order_id is not None:
        orders = [o for o in orders if o.order_id >= order_id]
    return [order_json(venue, o) for o in time_filter(req, orders, lambda o: o.time)]


async def h_user_trades(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req)
    spec = venue.spec(symbol or "")
    trades = [t for t in fa.trades if t.symbol == symbol]
    order_id = req.integer("orderId")
    if order_id is not None:
        trades = [t for t in trades if t.order_id == order_id]
    from_id = req.integer("fromId")
    if from_id is not None:
        trades = [t for t in trades if t.trade_id >= from_id]
    rows = []
    for t in time_filter(req, trades, lambda t: t.time):
        row: dict[str, Any] = {
            "buyer": t.side == "BUY",
            "commission": fmt8(t.commission),
            "commissionAsset": t.commission_asset,
            "id": t.trade_id,
            "maker": t.maker,
            "orderId": t.order_id,
            "price": spec.fmt_price(t.price),
            "qty": spec.fmt_qty(t.qty),
        }
        if venue.inverse:
            row["baseQty"] = fmt8(t.quote_qty)
            row["pair"] = spec.pair
            row["marginAsset"] = spec.margin_asset
        else:
            row["quoteQty"] = fmt(t.quote_qty, 5)
        row.update(
            {
                "realizedPnl": fmt8(t.realized_pnl),
                "side": t.side,
                "positionSide": t.position_side,
                "symbol": t.symbol,
                "time": t.time,
            }
        )
        rows.append(row)
    return rows


async def h_algo_post(venue: Venue, req: ApiRequest):
    require_trading(req)
    fa = venue.account(req)
    request = parse_algo(venue, req)
    charge_order(venue, req)
    fa.check_new_algo(request, venue.mark)
    algo, events = fa.place_algo(request, req.now_ms)
    venue.state.orders.add(algo.client_algo_id, venue.market, algo)
    venue.publish(fa.account_id, events)
    return algo_json(venue, fa, algo)


def find_algo(req: ApiRequest, fa: FuturesAccount) -> AlgoOrder:
    algo_id = req.integer("algoId")
    client_id = req.get("clientAlgoId")
    if algo_id is None and client_id is None:
        raise ApiError(
            -1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!"
        )
    return fa.find_algo(algo_id, client_id)


async def h_algo_get(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    return algo_json(venue, fa, find_algo(req, fa))


async def h_algo_delete(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    try:
        algo = find_algo(req, fa)
    except FuturesError as err:
        raise ApiError(-2011, "Unknown order sent.") from err
    events = fa.cancel_algo(algo, req.now_ms)
    venue.publish(fa.account_id, events)
    return {
        "algoId": algo.algo_id,
        "clientAlgoId": algo.client_algo_id,
        "code": "200",
        "msg": "success",
    }


async def h_open_algos(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req, required=False)
    algos = sorted(fa.open_algos(symbol), key=lambda a: a.algo_id)
    return [algo_json(venue, fa, a) for a in algos]


async def h_all_algos(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req)
    algos = sorted((a for a in fa.algos.values() if a.symbol == symbol), key=lambda a: a.algo_id)
    return [algo_json(venue, fa, a) for a in time_filter(req, algos, lambda a: a.create_time)]


async def h_cancel_all_algos(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    symbol = p_symbol(venue, req)
    events: list[dict] = []
    for algo in fa.open_algos(symbol):
        events += fa.cancel_algo(algo, req.now_ms)
    venue.publish(fa.account_id, events)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


async def h_rate_limit_order(venue: Venue, req: ApiRequest):
    return venue.state.limits.order_count_values(venue.bucket, req.account.id, req.now_ms)


async def h_commission_rate(venue: Venue, req: ApiRequest):
    symbol = p_symbol(venue, req)
    return {
        "symbol": symbol,
        "makerCommissionRate": str(MAKER_RATE),
        "takerCommissionRate": str(TAKER_RATE),
    }


async def h_multi_assets(venue: Venue, req: ApiRequest):
    return {"multiAssetsMargin": venue.account(req).multi_assets}


async def h_listen_key_post(venue: Venue, req: ApiRequest):
    lk = venue.listen_keys.create(req.account.id, req.now_ms)
    return {"listenKey": lk.key}


async def h_listen_key_put(venue: Venue, req: ApiRequest):
    lk = venue.listen_keys.keepalive(req.account.id, req.get("listenKey"), req.now_ms)
    return {"listenKey": lk.key}


async def h_listen_key_delete(venue: Venue, req: ApiRequest):
    venue.listen_keys.close(req.account.id, req.get("listenKey"))
    return {}


# ---------------------------------------------------------------------------------------------
# Wiring


def register_common(api: FuturesApi, prefix: str) -> None:
    """Routes that /fapi and /dapi share (same paths under their prefix)."""
    r = api.route
    r("GET", f"{prefix}/v1/ping", h_ping)
    r("GET", f"{prefix}/v1/time", h_time)
    r("GET", f"{prefix}/v1/exchangeInfo", h_exchange_info)
    r("GET", f"{prefix}/v1/depth", h_depth, weight=depth_weight)
    r("GET", f"{prefix}/v1/klines", h_klines, weight=klines_weight)
    r("GET", f"{prefix}/v1/ticker/price", h_ticker_price, weight=ticker_weight)
    r("GET", f"{prefix}/v1/ticker/bookTicker", h_book_ticker, weight=ticker_weight)
    r("GET", f"{prefix}/v1/ticker/24hr", h_ticker_24hr, weight=ticker24_weight)
    r("GET", f"{prefix}/v1/premiumIndex", h_premium_index)
    signed = {"security": "SIGNED"}
    r("POST", f"{prefix}/v1/leverage", h_leverage, **signed)
    r("POST", f"{prefix}/v1/marginType", h_margin_type, **signed)
    r("GET", f"{prefix}/v1/positionSide/dual", h_dual_get, weight=30, **signed)
    r("POST", f"{prefix}/v1/positionSide/dual", h_dual_post, **signed)
    r("POST", f"{prefix}/v1/order", h_order_post, weight=0, **signed)
    r("GET", f"{prefix}/v1/order", h_order_get, **signed)
    r("DELETE", f"{prefix}/v1/order", h_order_delete, **signed)
    r("GET", f"{prefix}/v1/openOrders", h_open_orders, weight=open_orders_weight, **signed)
    r("GET", f"{prefix}/v1/openOrder", h_open_order, **signed)
    r("DELETE", f"{prefix}/v1/allOpenOrders", h_cancel_all, **signed)
    r("GET", f"{prefix}/v1/allOrders", h_all_orders, weight=5, **signed)
    r("GET", f"{prefix}/v1/userTrades", h_user_trades, weight=5, **signed)
    r("GET", f"{prefix}/v1/commissionRate", h_commission_rate, weight=20, **signed)
    stream = {"security": "USER_STREAM"}
    r("POST", f"{prefix}/v1/listenKey", h_listen_key_post, **stream)
    r("PUT", f"{prefix}/v1/listenKey", h_listen_key_put, **stream)
    r("DELETE", f"{prefix}/v1/listenKey", h_listen_key_delete, **stream)


def register_usdm(api: FuturesApi) -> None:
    register_common(api, "/fapi")
    r = api.route
    signed = {"security": "SIGNED"}
    r("GET", "/fapi/v2/ticker/price", h_ticker_price, weight=ticker_weight)
    r("GET", "/fapi/v2/account", h_account_v2, weight=5, **signed)
    r("GET", "/fapi/v3/account", h_account_v3, weight=5, **signed)
    r("GET", "/fapi/v2/balance", h_balance, weight=5, **signed)
    r("GET", "/fapi/v3/balance", h_balance, weight=5, **signed)
    r("GET", "/fapi/v2/positionRisk", h_position_risk_v2, weight=5, **signed)
    r("GET", "/fapi/v3/positionRisk", h_position_risk_v3, weight=5, **signed)
    r("GET", "/fapi/v1/leverageBracket", h_leverage_bracket, **signed)
    r("POST", "/fapi/v1/order/test", h_order_test, weight=0, **signed)
    r("POST", "/fapi/v1/algoOrder", h_algo_post, weight=0, **signed)
    r("GET", "/fapi/v1/algoOrder", h_algo_get, **signed)
    r("DELETE", "/fapi/v1/algoOrder", h_algo_delete, **signed)
    r("GET", "/fapi/v1/openAlgoOrders", h_open_algos, weight=open_orders_weight, **signed)
    r("GET", "/fapi/v1/allAlgoOrders", h_all_algos, weight=5, **signed)
    r("DELETE", "/fapi/v1/algoOpenOrders", h_cancel_all_algos, **signed)
    r("GET", "/fapi/v1/rateLimit/order", h_rate_limit_order, **signed)
    r("GET", "/fapi/v1/multiAssetsMargin", h_multi_assets, weight=30, **signed)


def start_background(app: web.Application, venue: Venue) -> None:
    async def start(_app: web.Application) -> None:
        task = asyncio.create_task(venue.housekeeping())
        _app.setdefault("futures_tasks", []).append(task)

    async def stop(_app: web.Application) -> None:
        for task in _app.get("futures_tasks", []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        _app["futures_tasks"] = []

    app.on_startup.append(start)
    if stop not in app.on_cleanup:
        app.on_cleanup.append(stop)


def setup(app: web.Application, state: SandboxState) -> Venue:
    """Mount /fapi and the /fstream websockets on the sandbox app."""
    from . import futures_streams

    venue = Venue(
        state,
        market="usdm",
        contracts=USDM_CONTRACTS,
        bucket="fapi",
        prefix="/fapi",
        ids=Ids(4_000_000_000, 600_000_000, 1_000_000),
    )
    state.engines["usdm"] = venue
    state.register_persistence("futures_usdm", venue.dump, venue.load)
    state.engines.setdefault("balance_listeners", []).append(venue.on_balances_patched)
    register_usdm(FuturesApi(app, venue))
    futures_streams.setup_fstream(app, venue)
    start_background(app, venue)
    return venue
