"""Spot REST routes: /api/v3/... and /sapi/v1/account/apiRestrictions."""

from __future__ import annotations

import re
from decimal import Decimal

from aiohttp import web

from .errors import (
    CLIENT_ID_RANGE,
    MSG_CANCEL_RESTRICTED,
    MSG_EITHER,
    MSG_ILLEGAL_CHARS,
    MSG_INVALID_INTERVAL,
    MSG_INVALID_SIDE,
    MSG_INVALID_TIF,
    MSG_INVALID_TYPE,
    MSG_MORE_THAN_24H,
    MSG_NO_SUCH_ORDER,
    MSG_PARAM_NOT_REQUIRED,
    MSG_PRECISION,
    MSG_TOO_GREAT,
    MSG_UNKNOWN_ORDER,
    MSG_UNSUPPORTED_COMBO,
    ApiError,
    mandatory,
)
from .prices import SymbolSpec
from .rest import ApiRequest, RawJson, RestApi
from .spot_engine import FINAL, STOP_TYPES, SpotEngine, SpotOrder
from .state import SandboxState
from .util import ZERO, decimals_of, dumpb, dumps, fmt8, new_client_order_id

CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")
ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
    "LIMIT_MAKER",
)
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT")
INTERVALS_MS = {
    "1s": 1000,
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
    "1M": 0,
}
ORDER_PARAMS = (
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
)


def _f(x: Decimal) -> str:
    return fmt8(x)


def rate_limits_info(state: SandboxState) -> list[dict]:
    lim = state.config.limits["spot"]
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": lim.get("request_weight_1m", 6000),
        },
        {
            "rateLimitType": "ORDERS",
            "interval": "SECOND",
            "intervalNum": 10,
            "limit": lim.get("orders_10s", 100),
        },
        {
            "rateLimitType": "ORDERS",
            "interval": "DAY",
            "intervalNum": 1,
            "limit": lim.get("orders_1d", 200000),
        },
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
    ]


def symbol_info(spec: SymbolSpec) -> dict:
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "opoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": _f(spec.tick_size),
                "maxPrice": _f(Decimal(1_000_000)),
                "tickSize": _f(spec.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": _f(spec.min_qty),
                "maxQty": _f(spec.max_qty),
                "stepSize": _f(spec.step_size),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 100},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": _f(ZERO),
                "maxQty": _f(spec.market_max_qty),
                "stepSize": _f(ZERO),
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": _f(spec.min_notional),
                "applyMinToMarket": True,
                "maxNotional": _f(spec.max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            {"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": 10},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN", "TRD_GRP_004", "TRD_GRP_005", "TRD_GRP_006"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": [
            "EXPIRE_TAKER",
            "EXPIRE_MAKER",
            "EXPIRE_BOTH",
            "DECREMENT",
        ],
    }


def _check_client_id(name: str, value: str) -> None:
    if not CLIENT_ID_RE.match(value):
        raise ApiError(-1100, MSG_ILLEGAL_CHARS.format(name=name, range=CLIENT_ID_RANGE))


def _precision(req: ApiRequest, name: str) -> Decimal | None:
    value = req.decimal(name)
    if value is not None and decimals_of(value) > 8:
        raise ApiError(-1111, MSG_PRECISION.format(name=name))
    return value


def _parse_symbols(raw: str, known) -> list[str]:
    try:
        from .util import loads

        syms = loads(raw)
    except ValueError:
        raise ApiError(
            -1100,
            MSG_ILLEGAL_CHARS.format(
                name="symbols", range='^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
            ),
        ) from None
    if not isinstance(syms, list):
        raise mandatory("symbols")
    for s in syms:
        if s not in known:
            raise ApiError(-1121, "Invalid symbol.")
    return syms


def setup(app: web.Application, state: SandboxState) -> SpotEngine:
    engine = SpotEngine(state)
    state.engines["spot"] = engine
    state.register_persistence("spot", engine.dump, engine.load)
    api = RestApi(app, state, bucket="spot", recv_window_max=60000, micros=True)
    markets = state.prices.markets
    known = markets.keys()

    def _order_params(req: ApiRequest, test: bool = False) -> dict:
        symbol = req.symbol(known)
        side = req.enum("side", ("BUY", "SELL"), -1117, MSG_INVALID_SIDE, required=True)
        otype = req.enum("type", ORDER_TYPES, -1116, MSG_INVALID_TYPE, required=True)
        tif_raw = req.get("timeInForce")
        qty = _precision(req, "quantity")
        quote_qty = _precision(req, "quoteOrderQty")
        price = _precision(req, "price")
        stop = _precision(req, "stopPrice")
        iceberg = _precision(req, "icebergQty")
        if req.get("trailingDelta") is not None:
            raise ApiError(-2010, "Trailing stop orders are not supported for this symbol.")
        needs_tif = otype in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        tif = None
        if needs_tif:
            if tif_raw is None:
                raise mandatory("timeInForce")
            if tif_raw not in ("GTC", "IOC", "FOK"):
                raise ApiError(-1115, MSG_INVALID_TIF)
            tif = tif_raw
        elif tif_raw is not None:
            if otype == "LIMIT_MAKER" and tif_raw == "GTC":
                tif = None
            else:
                raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="timeInForce"))
        if otype == "MARKET":
            if qty is None and quote_qty is None:
                raise ApiError(-1102, MSG_EITHER.format(a="quantity", b="quoteOrderQty"))
            if qty is not None and quote_qty is not None:
                raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="quoteOrderQty"))
            if price is not None:
                raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="price"))
        else:
            if qty is None:
                raise mandatory("quantity")
            if quote_qty is not None:
                raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="quoteOrderQty"))
            if otype in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
                if price is None:
                    raise mandatory("price")
            elif price is not None:
                raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="price"))
        if otype in STOP_TYPES:
            if stop is None:
                raise mandatory("stopPrice")
        elif stop is not None:
            raise ApiError(-1106, MSG_PARAM_NOT_REQUIRED.format(name="stopPrice"))
        if iceberg is not None and (otype not in ("LIMIT", "LIMIT_MAKER") or iceberg >= qty):
            raise ApiError(
                -2010,
                MSG_UNSUPPORTED_COMBO if iceberg < (qty or ZERO) else "IcebergQty exceeds QTY.",
            )
        client_id = req.get("newClientOrderId")
        if client_id is not None:
            _check_client_id("newClientOrderId", client_id)
        else:
            client_id = new_client_order_id()
        default_resp = "FULL" if otype in ("MARKET", "LIMIT") else "ACK"
        resp_type = req.enum(
            "newOrderRespType",
            ("ACK", "RESULT", "FULL"),
            -1100,
            MSG_ILLEGAL_CHARS.format(name="newOrderRespType", range="^(ACK|RESULT|FULL)$"),
            default=default_resp,
        )
        stp = req.enum(
            "selfTradePreventionMode",
            STP_MODES,
            -1100,
            MSG_ILLEGAL_CHARS.format(
                name="selfTradePreventionMode",
                range="^(NONE|EXPIRE_TAKER|EXPIRE_MAKER|EXPIRE_BOTH|DECREMENT)$",
            ),
            default="EXPIRE_MAKER",
        )
        return dict(
            symbol=symbol,
            side=side,
            otype=otype,
            tif=tif,
            qty=qty,
            quote_qty=quote_qty,
            price=price,
            stop=stop,
            iceberg=iceberg,
            client_id=client_id,
            resp_type=resp_type,
            stp=stp,
        )

    def _order_response(order: SpotOrder, trades, resp_type: str, now: int) -> dict:
        if resp_type == "ACK":
            return {
                "symbol": order.symbol,
                "orderId": order.order_id,
                "orderListId": order.list_id,
                "clientOrderId": order.client_order_id,
                "transactTime": now,
            }
        out = order.result(now)
        if resp_type == "FULL":
            out["fills"] = [
                {
                    "price": fmt8(t.price),
                    "qty": fmt8(t.qty),
                    "commission": fmt8(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.id,
                }
                for t in trades
            ]
        return out

    def _charger(req: ApiRequest, n: int = 1):
        def charge() -> None:
            req.headers.update(state.limits.charge_order("spot", req.account.id, req.now_ms, n))

        return charge

    # ---- general ------------------------------------------------------------------------
    @api.route("GET", "/api/v3/ping", weight=1)
    async def ping(req: ApiRequest):
        return {}

    @api.route("GET", "/api/v3/time", weight=1)
    async def server_time(req: ApiRequest):
        return {"serverTime": req.now_ms}

    @api.route(
        "GET",
        "/api/v3/exchangeInfo",
        weight=20,
        params=("symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"),
    )
    async def exchange_info(req: ApiRequest):
        symbols = list(markets)
        if req.get("symbol"):
            symbols = [req.symbol(known)]
        elif req.get("symbols"):
            symbols = _parse_symbols(req.get("symbols"), known)
        status = req.get("symbolStatus")
        if status is not None and status not in ("TRADING", "HALT", "BREAK"):
            raise ApiError(
                -1100, MSG_ILLEGAL_CHARS.format(name="symbolStatus", range="^(TRADING|HALT|BREAK)$")
            )
        infos = [symbol_info(markets[s].spec) for s in symbols]
        if status is not None:
            infos = [i for i in infos if i["status"] == status]
        if not req.boolean("showPermissionSets", True):
            for i in infos:
                i["permissionSets"] = []
        return {
            "timezone": "UTC",
            "serverTime": req.now_ms,
            "rateLimits": rate_limits_info(state),
            "exchangeFilters": [],
            "symbols": infos,
        }

    # ---- market data --------------------------------------------------------------------
    def depth_weight(params: dict) -> int:
        try:
            limit = int(params.get("limit") or 100)
        except ValueError:
            limit = 100
        if limit <= 100:
            return 5
        if limit <= 500:
            return 25
        if limit <= 1000:
            return 50
        return 250

    @api.route("GET", "/api/v3/depth", weight=depth_weight, params=("symbol", "limit"))
    async def depth(req: ApiRequest):
        symbol = req.symbol(known)
        limit = req.integer("limit", 100)
        if limit < 1:
            raise ApiError(-1100, MSG_ILLEGAL_CHARS.format(name="limit", range="^[0-9]{1,20}$"))
        limit = min(limit, 5000)
        m = markets[symbol]
        return {
            "lastUpdateId": m.update_id,
            "bids": [[fmt8(p), fmt8(q)] for p, q in m.levels("bids", limit)],
            "asks": [[fmt8(p), fmt8(q)] for p, q in m.levels("asks", limit)],
        }

    def _public_trade(t) -> dict:
        return {
            "id": t.id,
            "price": fmt8(t.price),
            "qty": fmt8(t.qty),
            "quoteQty": fmt8(t.price * t.qty),
            "time": t.time,
            "isBuyerMaker": t.buyer_maker,
            "isBestMatch": True,
        }

    @api.route("GET", "/api/v3/trades", weight=25, params=("symbol", "limit"))
    async def trades(req: ApiRequest):
        symbol = req.symbol(known)
        limit = max(1, min(req.integer("limit", 500), 1000))
        rows = list(markets[symbol].trades)[-limit:]
        return [_public_trade(t) for t in rows]

    @api.route("GET", "/api/v3/historicalTrades", weight=25, params=("symbol", "limit", "fromId"))
    async def historical_trades(req: ApiRequest):
        symbol = req.symbol(known)
        limit = max(1, min(req.integer("limit", 500), 1000))
        from_id = req.integer("fromId")
        rows = list(markets[symbol].trades)
        if from_id is not None:
            rows = [t for t in rows if t.id >= from_id][:limit]
        else:
            rows = rows[-limit:]
        return [_public_trade(t) for t in rows]

    @api.route(
        "GET",
        "/api/v3/aggTrades",
        weight=4,
        params=("symbol", "fromId", "startTime", "endTime", "limit"),
    )
    async def agg_trades(req: ApiRequest):
        symbol = req.symbol(known)
        limit = max(1, min(req.integer("limit", 500), 1000))
        rows = list(markets[symbol].trades)
        from_id = req.integer("fromId")
        start, end = req.integer("startTime"), req.integer("endTime")
        if from_id is not None:
            rows = [t for t in rows if t.id >= from_id][:limit]
        elif start is not None or end is not None:
            rows = [
                t
                for t in rows
                if (start is None or t.time >= start) and (end is None or t.time <= end)
            ][:limit]
        else:
            rows = rows[-limit:]
        return [
            {
                "a": t.id,
                "p": fmt8(t.price),
                "q": fmt8(t.qty),
                "f": t.id,
                "l": t.id,
                "T": t.time,
                "m": t.buyer_maker,
                "M": True,
            }
            for t in rows
        ]

    def _klines(req: ApiRequest) -> list:
        symbol = req.symbol(known)
        interval = req.require("interval")
        if interval not in INTERVALS_MS:
            raise ApiError(-1120, MSG_INVALID_INTERVAL)
        limit = req.integer("limit", 500)
        if limit < 1 or limit > 1000:
            limit = max(1, min(limit, 1000))
        start, end = req.integer("startTime"), req.integer("endTime")
        if start is not None and start >= 10**14:
            start //= 1000
        if end is not None and end >= 10**14:
            end //= 1000
        return klines(markets[symbol], interval, limit, start, end, req.now_ms)

    @api.route(
        "GET",
        "/api/v3/klines",
        weight=2,
        params=("symbol", "interval", "startTime", "endTime", "limit", "timeZone"),
    )
    async def get_klines(req: ApiRequest):
        return _klines(req)

    @api.route(
        "GET",
        "/api/v3/uiKlines",
        weight=2,
        params=("symbol", "interval", "startTime", "endTime", "limit", "timeZone"),
    )
    async def get_ui_klines(req: ApiRequest):
        return _klines(req)

    @api.route("GET", "/api/v3/avgPrice", weight=2, params=("symbol",))
    async def avg_price(req: ApiRequest):
        symbol = req.symbol(known)
        return {
            "mins": 5,
            "price": fmt8(engine.avg_price(symbol, req.now_ms)),
            "closeTime": markets[symbol].trades[-1].time if markets[symbol].trades else req.now_ms,
        }

    def _multi(req: ApiRequest) -> tuple[list[str], bool]:
        if req.get("symbol") and req.get("symbols"):
            raise ApiError(-1101, "Too many parameters; expected 'symbol' and received 'symbols'.")
        if req.get("symbol"):
            return [req.symbol(known)], True
        if req.get("symbols"):
            return _parse_symbols(req.get("symbols"), known), False
        return list(markets), False

    def ticker_weight(single: int, many: int):
        def weight(params: dict) -> int:
            return single if params.get("symbol") else many

        return weight

    @api.route(
        "GET",
        "/api/v3/ticker/price",
        weight=ticker_weight(2, 4),
        params=("symbol", "symbols", "symbolStatus"),
    )
    async def ticker_price(req: ApiRequest):
        syms, single = _multi(req)
        rows = [{"symbol": s, "price": fmt8(markets[s].last_price)} for s in syms]
        return rows[0] if single else rows

    @api.route(
        "GET",
        "/api/v3/ticker/bookTicker",
        weight=ticker_weight(2, 4),
        params=("symbol", "symbols", "symbolStatus"),
    )
    async def book_ticker(req: ApiRequest):
        syms, single = _multi(req)
        rows = [book_ticker_row(markets[s]) for s in syms]
        return rows[0] if single else rows

    def ticker24_weight(params: dict) -> int:
        if params.get("symbol"):
            return 2
        if params.get("symbols"):
            n = params["symbols"].count(",") + 1
            return 2 if n <= 20 else 40 if n <= 100 else 80
        return 80

    @api.route(
        "GET",
        "/api/v3/ticker/24hr",
        weight=ticker24_weight,
        params=("symbol", "symbols", "type", "symbolStatus"),
    )
    async def ticker_24hr(req: ApiRequest):
        syms, single = _multi(req)
        mini = req.get("type") == "MINI"
        rows = [ticker_24h(markets[s], req.now_ms, mini) for s in syms]
        return rows[0] if single else rows

    # ---- account ------------------------------------------------------------------------
    # account id -> (everything the answer depends on, the encoded answer). Balances are
    # [free, locked] lists changed in place, so the key holds copies of the values.
    account_cache: dict[str, tuple[tuple, RawJson]] = {}

    @api.route(
        "GET",
        "/api/v3/account",
        security="SIGNED",
        weight=20,
        permission="reading",
        params=("omitZeroBalances",),
    )
    async def account(req: ApiRequest):
        acct = req.account
        omit = req.boolean("omitZeroBalances", False)
        maker, taker = engine.rates()
        key = (
            omit,
            acct.update_time,
            acct.can_trade,
            acct.uid,
            maker,
            taker,
            tuple([(a, b[0], b[1]) for a, b in acct.balances.items()]),
        )
        cached = account_cache.get(acct.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        body = RawJson(dumpb(_account_body(acct, omit, maker, taker)))
        account_cache[acct.id] = (key, body)
        return body

    def _account_body(acct, omit: bool, maker: Decimal, taker: Decimal) -> dict:
        rows = acct.balance_rows()
        if omit:
            rows = [r for r in rows if r["free"] != "0.00000000" or r["locked"] != "0.00000000"]
        return {
            "makerCommission": int(maker * 10000),
            "takerCommission": int(taker * 10000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": fmt8(maker),
                "taker": fmt8(taker),
                "buyer": fmt8(ZERO),
                "seller": fmt8(ZERO),
            },
            "canTrade": acct.can_trade,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": acct.update_time,
            "accountType": "SPOT",
            "balances": rows,
            "permissions": ["SPOT", "TRD_GRP_004"],
            "uid": acct.uid,
        }

    @api.route(
        "GET",
        "/api/v3/account/commission",
        security="SIGNED",
        weight=20,
        permission="reading",
        params=("symbol",),
    )
    async def account_commission(req: ApiRequest):
        symbol = req.symbol(known)
        return {"symbol": symbol, **commission_rates(engine)}

    @api.route(
        "GET",
        "/api/v3/rateLimit/order",
        security="SIGNED",
        weight=40,
        permission="reading",
        params=(),
    )
    async def rate_limit_order(req: ApiRequest):
        return state.limits.order_count_values("spot", req.account.id, req.now_ms)

    @api.route(
        "GET",
        "/sapi/v1/account/apiRestrictions",
        security="SIGNED",
        weight=1,
        permission=None,
        params=(),
    )
    async def api_restrictions(req: ApiRequest):
        key = req.key
        perms = key.permissions
        return {
            "ipRestrict": bool(perms.get("ip_restricted")),
            "createTime": key.created_ms,
            "enableReading": bool(perms.get("reading")),
            "enableWithdrawals": bool(perms.get("withdrawals")),
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": bool(perms.get("futures")),
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
            "enableSpotAndMarginTrading": bool(perms.get("spot")),
            "enablePortfolioMarginTrading": False,
            "tradingAuthorityExpirationTime": key.created_ms + 90 * 86_400_000,
        }

    # ---- orders -------------------------------------------------------------------------
    @api.route(
        "POST",
        "/api/v3/order",
        security="SIGNED",
        weight=1,
        permission="spot",
        params=ORDER_PARAMS,
        zero_weight_on_success=True,
    )
    async def new_order(req: ApiRequest):
        p = _order_params(req)
        acct = req.account
        order, trades = engine.new_order(
            acct,
            req.key.api_key,
            p["symbol"],
            p["side"],
            p["otype"],
            p["tif"],
            p["qty"],
            p["quote_qty"],
            p["price"],
            p["stop"],
            p["iceberg"],
            p["client_id"],
            p["stp"],
            req.now_ms,
            charge_orders=_charger(req),
        )
        return _order_response(order, trades, p["resp_type"], req.now_ms)

    def test_weight(params: dict) -> int:
        return 20 if (params.get("computeCommissionRates") or "").lower() == "true" else 1

    @api.route(
        "POST",
        "/api/v3/order/test",
        security="SIGNED",
        weight=test_weight,
        permission="spot",
        params=(*ORDER_PARAMS, "computeCommissionRates"),
    )
    async def test_order(req: ApiRequest):
        p = _order_params(req, test=True)
        spec = markets[p["symbol"]].spec
        engine.check_filters(
            spec,
            p["side"],
            p["otype"],
            p["price"],
            p["qty"],
            p["quote_qty"],
            p["stop"],
            req.now_ms,
            None,
        )
        if req.boolean("computeCommissionRates", False):
            return commission_rates(engine)
        return {}

    def _find_order(req: ApiRequest, symbol: str, unknown_code: int, unknown_msg: str):
        order_id = req.integer("orderId")
        orig = req.get("origClientOrderId")
        if order_id is None and orig is None:
            raise ApiError(-1102, MSG_EITHER.format(a="orderId", b="origClientOrderId"))
        acct_id = req.account.id
        if order_id is not None:
            order = engine.orders.get(order_id)
            if order is None or order.account_id != acct_id or order.symbol != symbol:
                raise ApiError(unknown_code, unknown_msg)
            if orig is not None and order.client_order_id != orig:
                raise ApiError(unknown_code, unknown_msg)
            return order
        candidates = [
            o
            for o in engine.by_account.get(acct_id, ())
            if o.client_order_id == orig and o.symbol == symbol
        ]
        if not candidates:
            raise ApiError(unknown_code, unknown_msg)
        live = [o for o in candidates if o.status not in FINAL]
        return (live or candidates)[-1]

    @api.route(
        "GET",
        "/api/v3/order",
        security="SIGNED",
        weight=4,
        permission="reading",
        params=("symbol", "orderId", "origClientOrderId"),
    )
    async def query_order(req: ApiRequest):
        symbol = req.symbol(known)
        return _find_order(req, symbol, -2013, MSG_NO_SUCH_ORDER).query()

    @api.route(
        "DELETE",
        "/api/v3/order",
        security="SIGNED",
        weight=1,
        permission="spot",
        params=("symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"),
        zero_weight_on_success=True,
    )
    async def cancel_order(req: ApiRequest):
        symbol = req.symbol(known)
        order = _find_order(req, symbol, -2011, MSG_UNKNOWN_ORDER)
        restriction = req.enum(
            "cancelRestrictions",
            ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"),
            -1145,
            "Invalid cancelRestrictions",
        )
        if order.status in FINAL:
            raise ApiError(-2011, MSG_UNKNOWN_ORDER)
        if (restriction == "ONLY_NEW" and order.status != "NEW") or (
            restriction == "ONLY_PARTIALLY_FILLED" and order.status != "PARTIALLY_FILLED"
        ):
            raise ApiError(-2011, MSG_CANCEL_RESTRICTED)
        new_id = req.get("newClientOrderId") or new_client_order_id()
        _check_client_id("newClientOrderId", new_id)
        engine.cancel(order, req.account, new_id, req.now_ms)
        out = order.cancel_view(req.now_ms)
        return out

    @api.route(
        "GET",
        "/api/v3/openOrders",
        security="SIGNED",
        weight=lambda p: 6 if p.get("symbol") else 80,
        permission="reading",
        params=("symbol",),
    )
    async def open_orders(req: ApiRequest):
        symbol = req.symbol(known, required=False)
        acct_id = req.account.id
        syms = [symbol] if symbol else list(engine.open)
        rows = [o.query() for s in syms for o in engine.open[s].values() if o.account_id == acct_id]
        rows.sort(key=lambda r: r["orderId"])
        return rows

    @api.route(
        "DELETE",
        "/api/v3/openOrders",
        security="SIGNED",
        weight=1,
        permission="spot",
        params=("symbol",),
        zero_weight_on_success=True,
    )
    async def cancel_open_orders(req: ApiRequest):
        symbol = req.symbol(known)
        acct = req.account
        mine = [o for o in list(engine.open[symbol].values()) if o.account_id == acct.id]
        if not mine:
            raise ApiError(-2011, MSG_UNKNOWN_ORDER)
        out = []
        seen_lists = set()
        for order in sorted(mine, key=lambda o: o.order_id):
            if order.status in FINAL:
                continue
            if order.list_id != -1:
                if order.list_id in seen_lists:
                    continue
                seen_lists.add(order.list_id)
                olist = engine.lists[order.list_id]
                engine.cancel(order, acct, new_client_order_id(), req.now_ms)
                view = olist.view(req.now_ms)
                view["orderReports"] = [o.cancel_view(req.now_ms) for o in olist.orders]
                out.append(view)
            else:
                engine.cancel(order, acct, new_client_order_id(), req.now_ms)
                out.append(order.cancel_view(req.now_ms))
        return out

    def _window(req: ApiRequest):
        start, end = req.integer("startTime"), req.integer("endTime")
        if start is not None and start >= 10**14:
            start //= 1000
        if end is not None and end >= 10**14:
            end //= 1000
        if start is not None and end is not None and end - start > 86_400_000:
            raise ApiError(-1127, MSG_MORE_THAN_24H)
        limit = req.integer("limit", 500)
        if limit > 1000:
            raise ApiError(-1102, MSG_TOO_GREAT.format(name="limit", max=1000))
        return start, end, max(limit, 1)

    @api.route(
        "GET",
        "/api/v3/allOrders",
        security="SIGNED",
        weight=20,
        permission="reading",
        params=("symbol", "orderId", "startTime", "endTime", "limit"),
    )
    async def all_orders(req: ApiRequest):
        symbol = req.symbol(known)
        start, end, limit = _window(req)
        from_id = req.integer("orderId")
        rows = [o for o in engine.by_account.get(req.account.id, ()) if o.symbol == symbol]
        if from_id is not None:
            rows = [o for o in rows if o.order_id >= from_id][:limit]
        else:
            rows = [
                o
                for o in rows
                if (start is None or o.time >= start) and (end is None or o.time <= end)
            ]
            rows = rows[:limit] if start is not None else rows[-limit:]
        return [o.query() for o in rows]

    @api.route(
        "GET",
        "/api/v3/myTrades",
        security="SIGNED",
        weight=lambda p: 5 if p.get("orderId") else 20,
        permission="reading",
        params=("symbol", "orderId", "startTime", "endTime", "fromId", "limit"),
    )
    async def my_trades(req: ApiRequest):
        symbol = req.symbol(known)
        start, end, limit = _window(req)
        order_id = req.integer("orderId")
        from_id = req.integer("fromId")
        rows = [t for t in engine.trades.get(req.account.id, ()) if t.symbol == symbol]
        if order_id is not None:
            rows = [t for t in rows if t.order_id == order_id]
        if from_id is not None:
            rows = [t for t in rows if t.id >= from_id][:limit]
        else:
            rows = [
                t
                for t in rows
                if (start is None or t.time >= start) and (end is None or t.time <= end)
            ]
            rows = rows[:limit] if start is not None else rows[-limit:]
        return [t.to_api() for t in rows]

    # ---- order lists --------------------------------------------------------------------
    oco_leg_params = (
        "Type",
        "ClientOrderId",
        "IcebergQty",
        "Price",
        "StopPrice",
        "TrailingDelta",
        "TimeInForce",
        "StrategyId",
        "StrategyType",
        "PegPriceType",
        "PegOffsetType",
        "PegOffsetValue",
    )
    oco_params = (
        "symbol",
        "listClientOrderId",
        "side",
        "quantity",
        "newOrderRespType",
        "selfTradePreventionMode",
        *(f"above{p}" for p in oco_leg_params),
        *(f"below{p}" for p in oco_leg_params),
    )

    @api.route(
        "POST",
        "/api/v3/orderList/oco",
        security="SIGNED",
        weight=1,
        permission="spot",
        params=oco_params,
        zero_weight_on_success=True,
    )
    async def new_oco(req: ApiRequest):
        symbol = req.symbol(known)
        side = req.enum("side", ("BUY", "SELL"), -1117, MSG_INVALID_SIDE, required=True)
        qty = _precision(req, "quantity")
        if qty is None:
            raise mandatory("quantity")
        legs = []
        allowed = {
            "SELL": {
                "above": ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
                "below": ("STOP_LOSS", "STOP_LOSS_LIMIT"),
            },
            "BUY": {
                "above": ("STOP_LOSS", "STOP_LOSS_LIMIT"),
                "below": ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"),
            },
        }[side]
        for role in ("above", "below"):
            ltype = req.require(f"{role}Type")
            if ltype not in allowed[role]:
                raise ApiError(-1116, MSG_INVALID_TYPE)
            price = _precision(req, f"{role}Price")
            stop = _precision(req, f"{role}StopPrice")
            tif = req.get(f"{role}TimeInForce")
            if ltype in ("LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and price is None:
                raise mandatory(f"{role}Price")
            if ltype in STOP_TYPES and stop is None:
                raise mandatory(f"{role}StopPrice")
            if ltype.endswith("_LIMIT"):
                if tif is None:
                    raise mandatory(f"{role}TimeInForce")
                if tif not in ("GTC", "IOC", "FOK"):
                    raise ApiError(-1115, MSG_INVALID_TIF)
            else:
                tif = None
            cid = req.get(f"{role}ClientOrderId")
            if cid is not None:
                _check_client_id(f"{role}ClientOrderId", cid)
            legs.append(
                {
                    "role": role,
                    "type": ltype,
                    "price": price,
                    "stop": stop,
                    "tif": tif,
                    "client_id": cid or new_client_order_id(),
                }
            )
        list_cid = req.get("listClientOrderId") or new_client_order_id()
        _check_client_id("listClientOrderId", list_cid)
        resp_type = req.get("newOrderRespType", "FULL")
        stp = req.get("selfTradePreventionMode", "EXPIRE_MAKER")
        olist = engine.new_oco(
            req.account,
            req.key.api_key,
            symbol,
            side,
            qty,
            legs,
            list_cid,
            stp,
            req.now_ms,
            charge_orders=_charger(req, 2),
        )
        out = olist.view(req.now_ms)
        if resp_type == "ACK":
            out["orderReports"] = []
        else:
            out["orderReports"] = [o.result(req.now_ms) for o in olist.orders]
        return out

    def _find_list(req: ApiRequest, code: int, msg: str):
        list_id = req.integer("orderListId")
        cid = req.get("listClientOrderId") or req.get("origClientOrderId")
        if list_id is None and cid is None:
            raise ApiError(-1102, MSG_EITHER.format(a="orderListId", b="listClientOrderId"))
        for olist in reversed(list(engine.lists.values())):
            if olist.account_id != req.account.id:
                continue
            if (list_id is not None and olist.list_id == list_id) or (
                list_id is None and olist.list_client_order_id == cid
            ):
                return olist
        raise ApiError(code, msg)

    @api.route(
        "GET",
        "/api/v3/orderList",
        security="SIGNED",
        weight=4,
        permission="reading",
        params=("orderListId", "origClientOrderId", "listClientOrderId"),
    )
    async def query_list(req: ApiRequest):
        return _find_list(req, -2013, MSG_NO_SUCH_ORDER).view(req.now_ms)

    @api.route(
        "DELETE",
        "/api/v3/orderList",
        security="SIGNED",
        weight=1,
        permission="spot",
        params=("symbol", "orderListId", "listClientOrderId", "newClientOrderId"),
        zero_weight_on_success=True,
    )
    async def cancel_list(req: ApiRequest):
        req.symbol(known)
        olist = _find_list(req, -2011, MSG_UNKNOWN_ORDER)
        live = [o for o in olist.orders if o.status not in FINAL]
        if not live:
            raise ApiError(-2011, MSG_UNKNOWN_ORDER)
        engine.cancel(
            live[0], req.account, req.get("newClientOrderId") or new_client_order_id(), req.now_ms
        )
        out = olist.view(req.now_ms)
        out["orderReports"] = [o.cancel_view(req.now_ms) for o in olist.orders]
        return out

    @api.route(
        "GET", "/api/v3/openOrderList", security="SIGNED", weight=6, permission="reading", params=()
    )
    async def open_lists(req: ApiRequest):
        return [
            ol.view(req.now_ms)
            for ol in engine.lists.values()
            if ol.account_id == req.account.id and ol.status_type != "ALL_DONE"
        ]

    # Removed in 2026: answer like any unknown path (404), see README.
    async def removed(request: web.Request):
        return web.Response(status=404, text="")

    for path in ("/api/v3/userDataStream", "/api/v1/userDataStream"):
        for method in ("GET", "POST", "PUT", "DELETE"):
            app.router.add_route(method, path, removed)
    return engine


def commission_rates(engine: SpotEngine) -> dict:
    maker, taker = engine.rates()
    z = fmt8(ZERO)
    return {
        "standardCommissionForOrder": {"maker": fmt8(maker), "taker": fmt8(taker)},
        "specialCommissionForOrder": {"maker": z, "taker": z},
        "taxCommissionForOrder": {"maker": z, "taker": z},
        "discount": {
            "enabledForAccount": True,
            "enabledForSymbol": True,
            "discountAsset": "BNB",
            "discount": "0.25000000",
        },
    }


def book_ticker_row(m) -> dict:
    ((bp, bq),) = m.levels("bids", 1)
    ((ap, aq),) = m.levels("asks", 1)
    return {
        "symbol": m.symbol,
        "bidPrice": fmt8(bp),
        "bidQty": fmt8(bq),
        "askPrice": fmt8(ap),
        "askQty": fmt8(aq),
    }


def kline_open(t_ms: int, interval: str) -> int:
    span = INTERVALS_MS[interval]
    if span:
        return t_ms - t_ms % span
    import datetime as dt

    d = dt.datetime.fromtimestamp(t_ms / 1000, dt.UTC)
    return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC).timestamp() * 1000)


def kline_close(open_ms: int, interval: str) -> int:
    span = INTERVALS_MS[interval]
    if span:
        return open_ms + span - 1
    import datetime as dt

    d = dt.datetime.fromtimestamp(open_ms / 1000, dt.UTC)
    nxt = dt.datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=dt.UTC)
    return int(nxt.timestamp() * 1000) - 1


def klines(m, interval: str, limit: int, start: int | None, end: int | None, now: int) -> list:
    opens = []
    if start is not None:
        t = kline_open(start, interval)
        if t < start:
            t = kline_close(t, interval) + 1
        stop = min(end if end is not None else now, now)
        while t <= stop and len(opens) < limit:
            opens.append(t)
            t = kline_close(t, interval) + 1
    else:
        t = kline_open(min(end if end is not None else now, now), interval)
        while len(opens) < limit:
            opens.append(t)
            t = kline_open(t - 1, interval)
        opens.reverse()
    rows = []
    for o in opens:
        r = m.kline(o, kline_close(o, interval))
        rows.append(
            [
                r[0],
                fmt8(r[1]),
                fmt8(r[2]),
                fmt8(r[3]),
                fmt8(r[4]),
                fmt8(r[5]),
                r[6],
                fmt8(r[7]),
                r[8],
                fmt8(r[9]),
                fmt8(r[10]),
                "0",
            ]
        )
    return rows


def ticker_24h(m, now: int, mini: bool = False) -> dict:
    open_ms = now - 86_400_000
    r = m.kline(open_ms, now)
    o, h, lo, c, v, q, n = r[1], r[2], r[3], m.last_price, r[5], r[7], r[8]
    h = max(h, c)
    lo = min(lo, c)
    first_id = m.trades[0].id if m.trades else -1
    last_id = m.trades[-1].id if m.trades else -1
    if mini:
        return {
            "symbol": m.symbol,
            "openPrice": fmt8(o),
            "highPrice": fmt8(h),
            "lowPrice": fmt8(lo),
            "lastPrice": fmt8(c),
            "volume": fmt8(v),
            "quoteVolume": fmt8(q),
            "openTime": open_ms,
            "closeTime": now,
            "firstId": first_id,
            "lastId": last_id,
            "count": n,
        }
    ((bp, bq),) = m.levels("bids", 1)
    ((ap, aq),) = m.levels("asks", 1)
    change = c - o
    pct = (change / o * 100).quantize(Decimal("0.001")) if o else ZERO
    wavg = q / v if v else c
    last_qty = m.trades[-1].qty if m.trades else ZERO
    return {
        "symbol": m.symbol,
        "priceChange": fmt8(change),
        "priceChangePercent": f"{pct:f}",
        "weightedAvgPrice": fmt8(wavg),
        "prevClosePrice": fmt8(o),
        "lastPrice": fmt8(c),
        "lastQty": fmt8(last_qty),
        "bidPrice": fmt8(bp),
        "bidQty": fmt8(bq),
        "askPrice": fmt8(ap),
        "askQty": fmt8(aq),
        "openPrice": fmt8(o),
        "highPrice": fmt8(h),
        "lowPrice": fmt8(lo),
        "volume": fmt8(v),
        "quoteVolume": fmt8(q),
        "openTime": open_ms,
        "closeTime": now,
        "firstId": first_id,
        "lastId": last_id,
        "count": n,
    }


__all__ = ["book_ticker_row", "dumps", "klines", "setup", "ticker_24h"]
