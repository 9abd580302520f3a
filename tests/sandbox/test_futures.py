"""USD-M futures of the sandbox over real sockets: /fapi REST, listenKeys, /fstream.

Helpers here (signed calls, websocket readers) are shared by the other futures test modules.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

D = Decimal

ALGO_SWITCH_MSG = (
    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
)
LISTEN_KEY_MISSING = (
    "This listenKey does not exist. Please use POST /fapi/v1/listenKey to recreate listenKey"
)
ALL_EVENTS = "ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/ALGO_UPDATE/TRADE_LITE/ACCOUNT_CONFIG_UPDATE"
ORDER_UPDATE_FIELDS = {
    "s", "c", "S", "o", "f", "q", "p", "ap", "sp", "x", "X", "i", "l", "z", "L", "N", "n", "T",
    "t", "b", "a", "m", "R", "wt", "ot", "ps", "cp", "AP", "cr", "pP", "si", "ss", "rp", "V",
    "pm", "gtd", "er",
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# helpers


def ok(sandbox, method: str, path: str, keys: dict, **params):
    r = sandbox.signed(method, path, keys, **params)
    assert r.status_code == 200, r.text
    return r.json()


def fails(sandbox, method: str, path: str, keys: dict, code: int, **params) -> str:
    r = sandbox.signed(method, path, keys, **params)
    body = r.json()
    assert r.status_code == 400 and body["code"] == code, (r.status_code, body)
    return body["msg"]


def user_stream(sandbox, method: str, keys: dict, prefix: str = "/fapi", **params):
    return requests.request(
        method,
        f"{sandbox.url}{prefix}/v1/listenKey",
        params=params,
        headers={"X-MBX-APIKEY": keys["apiKey"]},
        timeout=10,
    )


def listen_key(sandbox, keys: dict, prefix: str = "/fapi") -> str:
    r = user_stream(sandbox, "POST", keys, prefix)
    assert r.status_code == 200, r.text
    return r.json()["listenKey"]


def read_until(ws, predicate, timeout: float = 3.0) -> list[dict]:
    """Messages up to and including the first one matching `predicate`."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching message within {timeout}s; got {seen}")
        msg = json.loads(ws.recv(timeout=left))
        seen.append(msg)
        if predicate(msg):
            return seen


def silent_for(ws, seconds: float) -> bool:
    try:
        msg = ws.recv(timeout=seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"expected silence, got {msg}")


def market(sandbox, keys, symbol: str, side: str, qty: str, **extra) -> dict:
    return ok(
        sandbox,
        "POST",
        "/fapi/v1/order",
        keys,
        symbol=symbol,
        side=side,
        type="MARKET",
        quantity=qty,
        newOrderRespType="RESULT",
        **extra,
    )


def position(sandbox, keys, symbol: str, side: str = "BOTH") -> dict | None:
    rows = ok(sandbox, "GET", "/fapi/v3/positionRisk", keys, symbol=symbol)
    for row in rows:
        if row["positionSide"] == side:
            return row
    return None


def usdt(sandbox, keys) -> Decimal:
    rows = ok(sandbox, "GET", "/fapi/v3/balance", keys)
    return D(next(r for r in rows if r["asset"] == "USDT")["balance"])


@pytest.fixture
def frozen(sandbox_clean):
    """Prices that only move when a test moves them."""
    sandbox_clean.configure(walk=False)
    sandbox_clean.set_price("BTCUSDT", "65000")
    sandbox_clean.set_price("ETHUSDT", "3200")
    yield sandbox_clean
    # Leave the shared session sandbox at its start prices for the tests that follow.
    sandbox_clean.set_price("BTCUSDT", "65000")
    sandbox_clean.set_price("ETHUSDT", "3200")


# ---------------------------------------------------------------------------------------------
# market data


def test_public_rest_endpoints(sandbox):
    assert sandbox.get("/fapi/v1/ping").json() == {}
    server_time = sandbox.get("/fapi/v1/time").json()["serverTime"]
    assert abs(server_time - time.time() * 1000) < 5000

    info = sandbox.get("/fapi/v1/exchangeInfo").json()
    assert info["rateLimits"] == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ]
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {"BTCUSDT", "ETHUSDT"}
    btc = {f["filterType"]: f for f in symbols["BTCUSDT"]["filters"]}
    assert set(btc) == {
        "PRICE_FILTER",
        "LOT_SIZE",
        "MARKET_LOT_SIZE",
        "MAX_NUM_ORDERS",
        "MIN_NOTIONAL",
        "PERCENT_PRICE",
    }
    assert btc["MIN_NOTIONAL"]["notional"] == "100"
    assert btc["LOT_SIZE"]["stepSize"] == "0.001"
    assert btc["PRICE_FILTER"]["tickSize"] == "0.10"
    eth = {f["filterType"]: f for f in symbols["ETHUSDT"]["filters"]}
    assert eth["MIN_NOTIONAL"]["notional"] == "5"
    assert symbols["BTCUSDT"]["contractType"] == "PERPETUAL"

    depth = sandbox.get("/fapi/v1/depth", symbol="BTCUSDT", limit=5).json()
    assert len(depth["bids"]) == 5 and len(depth["asks"]) == 5
    assert D(depth["bids"][0][0]) < D(depth["asks"][0][0])

    klines = sandbox.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1m", limit=3).json()
    assert len(klines) == 3 and len(klines[0]) == 12
    assert klines[1][0] - klines[0][0] == 60_000

    v1 = sandbox.get("/fapi/v1/ticker/price", symbol="ETHUSDT").json()
    v2 = sandbox.get("/fapi/v2/ticker/price", symbol="ETHUSDT").json()
    assert set(v1) == set(v2) == {"symbol", "price", "time"}
    assert len(sandbox.get("/fapi/v2/ticker/price").json()) == 2

    ticker = sandbox.get("/fapi/v1/ticker/24hr", symbol="BTCUSDT").json()
    assert {"lastPrice", "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume"} <= set(
        ticker
    )
    premium = sandbox.get("/fapi/v1/premiumIndex", symbol="BTCUSDT").json()
    assert premium["lastFundingRate"] == "0.00010000"
    assert premium["nextFundingTime"] % (8 * 3600 * 1000) == 0
    assert D(premium["markPrice"]) > 0
    book = sandbox.get("/fapi/v1/ticker/bookTicker", symbol="BTCUSDT").json()
    assert D(book["bidPrice"]) < D(book["askPrice"])

    assert sandbox.get("/fapi/v1/depth", symbol="NOPE").json()["code"] == -1121


# ---------------------------------------------------------------------------------------------
# account endpoints


def test_account_balance_and_position_endpoints(sandbox):
    keys = sandbox.create_keys()
    v2 = ok(sandbox, "GET", "/fapi/v2/account", keys)
    for name in ("canTrade", "canDeposit", "canWithdraw", "feeTier", "multiAssetsMargin"):
        assert name in v2
    assert v2["canTrade"] is True and v2["canWithdraw"] is False
    assert v2["totalWalletBalance"] == "10000.00000000"
    v3 = ok(sandbox, "GET", "/fapi/v3/account", keys)
    assert "canTrade" not in v3 and "feeTier" not in v3
    assert v3["positions"] == []
    assert [a["asset"] for a in v3["assets"]] == ["USDT"]

    for version in ("v2", "v3"):
        rows = ok(sandbox, "GET", f"/fapi/{version}/balance", keys)
        assert rows[0]["asset"] == "USDT" and rows[0]["balance"] == "10000.00000000"
        assert ok(sandbox, "GET", f"/fapi/{version}/positionRisk", keys) == []
    assert sandbox.signed("GET", "/fapi/v1/balance", keys).status_code == 404
    assert sandbox.signed("GET", "/fapi/v1/positionRisk", keys).status_code == 404

    no_futures = sandbox.create_keys(permissions={"futures": False})
    r = sandbox.signed("GET", "/fapi/v2/account", no_futures)
    assert r.status_code == 401 and r.json()["code"] == -2015


def test_leverage_margin_type_and_brackets(sandbox):
    keys = sandbox.create_keys()
    assert fails(sandbox, "POST", "/fapi/v1/leverage", keys, -4028, symbol="BTCUSDT", leverage=0)
    msg = fails(sandbox, "POST", "/fapi/v1/leverage", keys, -4028, symbol="BTCUSDT", leverage=126)
    assert msg == "Leverage 126 is not valid"
    body = ok(sandbox, "POST", "/fapi/v1/leverage", keys, symbol="BTCUSDT", leverage=125)
    assert body == {"leverage": 125, "maxNotionalValue": "50000", "symbol": "BTCUSDT"}
    body = ok(sandbox, "POST", "/fapi/v1/leverage", keys, symbol="BTCUSDT", leverage=10)
    assert body["leverage"] == 10

    msg = fails(
        sandbox, "POST", "/fapi/v1/marginType", keys, -4046, symbol="BTCUSDT", marginType="CROSSED"
    )
    assert msg == "No need to change margin type."
    body = ok(sandbox, "POST", "/fapi/v1/marginType", keys, symbol="BTCUSDT", marginType="ISOLATED")
    assert body == {"code": 200, "msg": "success"}
    fails(
        sandbox, "POST", "/fapi/v1/marginType", keys, -4046, symbol="BTCUSDT", marginType="ISOLATED"
    )

    brackets = ok(sandbox, "GET", "/fapi/v1/leverageBracket", keys, symbol="BTCUSDT")
    assert brackets["symbol"] == "BTCUSDT"
    first = brackets["brackets"][0]
    assert first["initialLeverage"] == 125 and first["notionalFloor"] == 0
    assert isinstance(first["maintMarginRatio"], float)
    assert len(ok(sandbox, "GET", "/fapi/v1/leverageBracket", keys)) == 2


# ---------------------------------------------------------------------------------------------
# trading


def test_open_increase_reduce_close_with_pnl(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    first = market(sandbox, keys, "BTCUSDT", "BUY", "0.010")
    assert first["status"] == "FILLED" and first["avgPrice"] == "65000.00"
    assert first["executedQty"] == "0.010" and first["cumQuote"] == "650.00000"
    pos = position(sandbox, keys, "BTCUSDT")
    assert D(pos["positionAmt"]) == D("0.01") and D(pos["entryPrice"]) == 65000

    sandbox.set_price("BTCUSDT", "66000")
    market(sandbox, keys, "BTCUSDT", "BUY", "0.010")
    pos = position(sandbox, keys, "BTCUSDT")
    assert D(pos["positionAmt"]) == D("0.02") and D(pos["entryPrice"]) == 65500
    assert D(pos["unRealizedProfit"]) == 10  # 0.02 * (66000 - 65500)

    sandbox.set_price("BTCUSDT", "67000")
    pos = position(sandbox, keys, "BTCUSDT")
    assert D(pos["unRealizedProfit"]) == 30 and D(pos["markPrice"]) == 67000
    reduce = market(sandbox, keys, "BTCUSDT", "SELL", "0.010", reduceOnly="true")
    assert reduce["reduceOnly"] is True and reduce["status"] == "FILLED"
    pos = position(sandbox, keys, "BTCUSDT")
    assert D(pos["positionAmt"]) == D("0.01") and D(pos["entryPrice"]) == 65500

    sandbox.set_price("BTCUSDT", "64000")
    market(sandbox, keys, "BTCUSDT", "SELL", "0.010", reduceOnly="true")
    assert position(sandbox, keys, "BTCUSDT") is None  # flat and no open orders

    trades = ok(sandbox, "GET", "/fapi/v1/userTrades", keys, symbol="BTCUSDT")
    assert [D(t["realizedPnl"]) for t in trades] == [0, 0, 15, -15]
    assert all(t["maker"] is False for t in trades)
    fees = [D(t["commission"]) for t in trades]
    assert fees == [D("0.325"), D("0.33"), D("0.335"), D("0.32")]  # taker 0.05 %
    assert usdt(sandbox, keys) == D(10000) + 15 - 15 - sum(fees)
    assert ok(sandbox, "GET", "/fapi/v3/account", keys)["positions"] == []


def test_one_way_flip_and_short_pnl(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    market(sandbox, keys, "ETHUSDT", "BUY", "1.000")
    market(sandbox, keys, "ETHUSDT", "SELL", "3.000")  # closes 1, opens a 2 ETH short
    pos = position(sandbox, keys, "ETHUSDT")
    assert D(pos["positionAmt"]) == -2 and D(pos["entryPrice"]) == 3200
    sandbox.set_price("ETHUSDT", "3100")
    assert D(position(sandbox, keys, "ETHUSDT")["unRealizedProfit"]) == 200
    closed = market(sandbox, keys, "ETHUSDT", "BUY", "2.000", reduceOnly="true")
    assert closed["status"] == "FILLED"
    trades = ok(sandbox, "GET", "/fapi/v1/userTrades", keys, symbol="ETHUSDT")
    assert D(trades[-1]["realizedPnl"]) == 200


def test_limit_order_rests_and_fills_as_maker(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    placed = ok(
        sandbox,
        "POST",
        "/fapi/v1/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price="64000.10",
        newClientOrderId="lim.1:a/b",
    )
    assert placed["status"] == "NEW" and placed["price"] == "64000.10"
    assert placed["clientOrderId"] == "lim.1:a/b"
    opened = ok(sandbox, "GET", "/fapi/v1/openOrders", keys, symbol="BTCUSDT")
    assert [o["orderId"] for o in opened] == [placed["orderId"]]
    pos = position(sandbox, keys, "BTCUSDT")  # listed: the symbol has an open order
    assert pos is not None and D(pos["positionAmt"]) == 0

    sandbox.set_price("BTCUSDT", "63990")
    got = ok(sandbox, "GET", "/fapi/v1/order", keys, symbol="BTCUSDT", orderId=placed["orderId"])
    assert got["status"] == "FILLED" and got["avgPrice"] == "64000.10"
    trade = ok(sandbox, "GET", "/fapi/v1/userTrades", keys, symbol="BTCUSDT")[0]
    assert trade["maker"] is True and D(trade["commission"]) == D("0.02560004")  # 0.02 %
    assert ok(sandbox, "GET", "/fapi/v1/openOrders", keys) == []
    every = ok(sandbox, "GET", "/fapi/v1/allOrders", keys, symbol="BTCUSDT")
    assert [o["status"] for o in every] == ["FILLED"]
    by_client = ok(
        sandbox, "GET", "/fapi/v1/order", keys, symbol="BTCUSDT", origClientOrderId="lim.1:a/b"
    )
    assert by_client["orderId"] == placed["orderId"]


def test_cancel_and_cancel_all(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    ids = []
    for price in ("3100.00", "3110.00", "3120.00"):
        body = ok(
            sandbox,
            "POST",
            "/fapi/v1/order",
            keys,
            symbol="ETHUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.010",
            price=price,
        )
        ids.append(body["orderId"])
    cancelled = ok(sandbox, "DELETE", "/fapi/v1/order", keys, symbol="ETHUSDT", orderId=ids[0])
    assert cancelled["status"] == "CANCELED"
    fails(sandbox, "DELETE", "/fapi/v1/order", keys, -2011, symbol="ETHUSDT", orderId=ids[0])
    fails(sandbox, "GET", "/fapi/v1/order", keys, -2013, symbol="ETHUSDT", orderId=1)
    done = ok(sandbox, "DELETE", "/fapi/v1/allOpenOrders", keys, symbol="ETHUSDT")
    assert done["code"] == 200
    assert ok(sandbox, "GET", "/fapi/v1/openOrders", keys, symbol="ETHUSDT") == []
    statuses = [
        o["status"] for o in ok(sandbox, "GET", "/fapi/v1/allOrders", keys, symbol="ETHUSDT")
    ]
    assert statuses == ["CANCELED"] * 3


def test_order_validation_errors(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    base = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.002"}
    for order_type in ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"):  # fmt: skip
        msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -4120, type=order_type, **base,
                    stopPrice="70000", price="70000", callbackRate="1")  # fmt: skip
        assert msg == ALGO_SWITCH_MSG
    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -4164, type="MARKET", **{**base,
                "quantity": "0.001"})  # fmt: skip
    assert msg == "Order's notional must be no smaller than 100 (unless you choose reduce only)."
    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -4164, symbol="ETHUSDT", side="BUY",
                type="MARKET", quantity="0.001")  # fmt: skip
    assert msg == "Order's notional must be no smaller than 5 (unless you choose reduce only)."

    ok(sandbox, "POST", "/fapi/v1/order", keys, type="MARKET", newClientOrderId="dup-1", **base)
    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -4116, type="MARKET",
                newClientOrderId="dup-1", **base)  # fmt: skip
    assert msg == "clientOrderId is duplicated"
    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -1100, type="MARKET",
                newClientOrderId="bad id!", **base)  # fmt: skip
    assert "newClientOrderId" in msg and r"^[\.A-Z\:/a-z0-9_-]{1,36}$" in msg
    fails(sandbox, "POST", "/fapi/v1/order", keys, -1100, type="MARKET",
          newClientOrderId="x" * 37, **base)  # fmt: skip
    fails(sandbox, "POST", "/fapi/v1/order", keys, -1130, type="MARKET",
          newOrderRespType="FULL", **base)  # fmt: skip

    limit = {**base, "type": "LIMIT", "price": "65500.00"}
    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -5022, timeInForce="GTX", **limit)
    assert msg.startswith("Due to the order could not be executed as maker")
    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -5021, timeInForce="FOK",
                **{**limit, "price": "64500.00"})  # fmt: skip
    assert msg.startswith("Due to the order could not be filled immediately")
    ioc = ok(sandbox, "POST", "/fapi/v1/order", keys, timeInForce="IOC", newOrderRespType="RESULT",
             **{**limit, "price": "64500.00"})  # fmt: skip
    assert ioc["status"] == "EXPIRED"
    fails(sandbox, "POST", "/fapi/v1/order", keys, -1115, timeInForce="DAY", **limit)
    fails(sandbox, "POST", "/fapi/v1/order", keys, -1102, **limit)  # no timeInForce
    fails(sandbox, "POST", "/fapi/v1/order", keys, -4014, timeInForce="GTC",
          **{**limit, "price": "65000.05"})  # fmt: skip
    fails(sandbox, "POST", "/fapi/v1/order", keys, -1111, type="MARKET",
          **{**base, "quantity": "0.0025"})  # fmt: skip
    fails(sandbox, "POST", "/fapi/v1/order", keys, -4016, timeInForce="GTC",
          **{**limit, "price": "70000.00"})  # fmt: skip
    fails(sandbox, "POST", "/fapi/v1/order", keys, -1117, type="MARKET", **{**base, "side": "X"})
    fails(sandbox, "POST", "/fapi/v1/order", keys, -1121, type="MARKET",
          **{**base, "symbol": "XRPUSDT"})  # fmt: skip
    # reduceOnly that would increase (or open) a position
    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -2022, type="MARKET", reduceOnly="true",
                **base)  # fmt: skip
    assert msg == "ReduceOnly Order is rejected."
    # a reduce-only order is exempt from MIN_NOTIONAL
    small = market(sandbox, keys, "BTCUSDT", "SELL", "0.001", reduceOnly="true")
    assert small["status"] == "FILLED"
    assert ok(sandbox, "POST", "/fapi/v1/order/test", keys, type="MARKET", **base) == {}
    fails(sandbox, "POST", "/fapi/v1/order/test", keys, -4120, type="STOP_MARKET",
          stopPrice="70000", **base)  # fmt: skip


def test_margin_is_insufficient(frozen):
    sandbox = frozen
    keys = sandbox.create_keys(futures_balances={"USDT": "50"})
    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -2019, symbol="BTCUSDT", side="BUY",
                type="MARKET", quantity="0.020")  # fmt: skip  # 1300 USDT / 20x = 65 USDT
    assert msg == "Margin is insufficient."
    ok(sandbox, "POST", "/fapi/v1/leverage", keys, symbol="BTCUSDT", leverage=50)
    market(sandbox, keys, "BTCUSDT", "BUY", "0.020")  # 26 USDT of margin at 50x


def test_isolated_margin_position(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    ok(sandbox, "POST", "/fapi/v1/marginType", keys, symbol="ETHUSDT", marginType="ISOLATED")
    ok(sandbox, "POST", "/fapi/v1/leverage", keys, symbol="ETHUSDT", leverage=10)
    market(sandbox, keys, "ETHUSDT", "SELL", "1.000")
    pos = ok(sandbox, "GET", "/fapi/v2/positionRisk", keys, symbol="ETHUSDT")[0]
    assert pos["marginType"] == "isolated" and pos["leverage"] == "10"
    assert D(pos["isolatedWallet"]) == 320 and D(pos["positionAmt"]) == -1
    assert D(pos["liquidationPrice"]) > 3200
    sandbox.set_price("ETHUSDT", "3250")
    pos = ok(sandbox, "GET", "/fapi/v2/positionRisk", keys, symbol="ETHUSDT")[0]
    assert D(pos["unRealizedProfit"]) == -50 and D(pos["isolatedMargin"]) == 270
    balance = ok(sandbox, "GET", "/fapi/v3/balance", keys)[0]
    assert D(balance["crossWalletBalance"]) == D(balance["balance"]) - 320
    msg = fails(sandbox, "POST", "/fapi/v1/marginType", keys, -4048, symbol="ETHUSDT",
                marginType="CROSSED")  # fmt: skip
    assert msg == "Margin type cannot be changed if there exists position."


def test_hedge_mode(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    assert ok(sandbox, "GET", "/fapi/v1/positionSide/dual", keys) == {"dualSidePosition": False}
    msg = fails(sandbox, "POST", "/fapi/v1/positionSide/dual", keys, -4059,
                dualSidePosition="false")  # fmt: skip
    assert msg == "No need to change position side."
    ok(sandbox, "POST", "/fapi/v1/positionSide/dual", keys, dualSidePosition="true")
    assert ok(sandbox, "GET", "/fapi/v1/positionSide/dual", keys) == {"dualSidePosition": True}

    msg = fails(sandbox, "POST", "/fapi/v1/order", keys, -4061, symbol="ETHUSDT", side="BUY",
                type="MARKET", quantity="0.100")  # fmt: skip
    assert msg == "Order's position side does not match user's setting."
    fails(sandbox, "POST", "/fapi/v1/order", keys, -1106, symbol="ETHUSDT", side="SELL",
          type="MARKET", quantity="0.100", positionSide="LONG", reduceOnly="true")  # fmt: skip
    market(sandbox, keys, "ETHUSDT", "BUY", "0.500", positionSide="LONG")
    market(sandbox, keys, "ETHUSDT", "SELL", "0.300", positionSide="SHORT")
    long = position(sandbox, keys, "ETHUSDT", "LONG")
    short = position(sandbox, keys, "ETHUSDT", "SHORT")
    assert D(long["positionAmt"]) == D("0.5") and D(short["positionAmt"]) == D("-0.3")
    # closing more than the LONG holds is refused like a reduce-only order
    fails(sandbox, "POST", "/fapi/v1/order", keys, -2022, symbol="ETHUSDT", side="SELL",
          type="MARKET", quantity="0.600", positionSide="LONG")  # fmt: skip
    sandbox.set_price("ETHUSDT", "3300")
    closed = market(sandbox, keys, "ETHUSDT", "SELL", "0.500", positionSide="LONG")
    assert closed["positionSide"] == "LONG"
    trades = ok(sandbox, "GET", "/fapi/v1/userTrades", keys, symbol="ETHUSDT")
    assert D(trades[-1]["realizedPnl"]) == 50
    assert D(position(sandbox, keys, "ETHUSDT", "SHORT")["unRealizedProfit"]) == -30
    msg = fails(sandbox, "POST", "/fapi/v1/positionSide/dual", keys, -4068,
                dualSidePosition="false")  # fmt: skip
    assert msg == "Position side cannot be changed if there exists position."
    market(sandbox, keys, "ETHUSDT", "BUY", "0.300", positionSide="SHORT")
    ok(sandbox, "POST", "/fapi/v1/order", keys, symbol="ETHUSDT", side="BUY", type="LIMIT",
       timeInForce="GTC", quantity="0.010", price="3200.00", positionSide="LONG")  # fmt: skip
    fails(sandbox, "POST", "/fapi/v1/positionSide/dual", keys, -4067, dualSidePosition="false")
    ok(sandbox, "DELETE", "/fapi/v1/allOpenOrders", keys, symbol="ETHUSDT")
    ok(sandbox, "POST", "/fapi/v1/positionSide/dual", keys, dualSidePosition="false")


# ---------------------------------------------------------------------------------------------
# algo orders


def test_algo_order_triggered_by_mark_price(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    market(sandbox, keys, "BTCUSDT", "BUY", "0.010")
    lk = listen_key(sandbox, keys)
    with connect(f"{sandbox.ws_url}/fstream/private/ws?listenKey={lk}&events={ALL_EVENTS}") as ws:
        msg = fails(sandbox, "POST", "/fapi/v1/algoOrder", keys, -2021, algoType="CONDITIONAL",
                    symbol="BTCUSDT", side="SELL", type="STOP_MARKET", quantity="0.010",
                    triggerPrice="66000")  # fmt: skip
        assert msg == "Order would immediately trigger."
        algo = ok(sandbox, "POST", "/fapi/v1/algoOrder", keys, algoType="CONDITIONAL",
                  symbol="BTCUSDT", side="SELL", type="STOP_MARKET", quantity="0.010",
                  triggerPrice="64000", reduceOnly="true", workingType="MARK_PRICE",
                  clientAlgoId="stop-1")  # fmt: skip
        assert algo["algoStatus"] == "NEW" and algo["clientAlgoId"] == "stop-1"
        assert algo["orderType"] == "STOP_MARKET" and algo["triggerPrice"] == "64000.00"
        new_event = read_until(ws, lambda m: m["e"] == "ALGO_UPDATE")[-1]
        assert new_event["o"]["X"] == "NEW" and new_event["o"]["caid"] == "stop-1"
        listed = ok(sandbox, "GET", "/fapi/v1/openAlgoOrders", keys, symbol="BTCUSDT")
        assert [a["algoId"] for a in listed] == [algo["algoId"]]
        take = ok(sandbox, "POST", "/fapi/v1/algoOrder", keys, algoType="CONDITIONAL",
                  symbol="BTCUSDT", side="SELL", type="TAKE_PROFIT", quantity="0.010",
                  price="70000.00", triggerPrice="70000", reduceOnly="true")  # fmt: skip
        gone = ok(sandbox, "DELETE", "/fapi/v1/algoOrder", keys, algoId=take["algoId"])
        assert gone["algoId"] == take["algoId"]
        fails(sandbox, "DELETE", "/fapi/v1/algoOrder", keys, -2011, algoId=take["algoId"])
        assert ok(sandbox, "GET", "/fapi/v1/algoOrder", keys,
                  algoId=take["algoId"])["algoStatus"] == "CANCELED"  # fmt: skip

        sandbox.set_price("BTCUSDT", "63900")
        events = read_until(
            ws, lambda m: m["e"] == "ALGO_UPDATE" and m["o"]["X"] == "FINISHED", timeout=5
        )
        statuses = [m["o"]["X"] for m in events if m["e"] == "ALGO_UPDATE"]
        assert statuses[-3:] == ["TRIGGERING", "TRIGGERED", "FINISHED"]
        fill = next(m for m in events if m["e"] == "ORDER_TRADE_UPDATE" and m["o"]["x"] == "TRADE")
        assert fill["o"]["ot"] == "STOP_MARKET" and fill["o"]["o"] == "MARKET"
        assert fill["o"]["X"] == "FILLED" and fill["o"]["L"] == "63900.00"
        assert D(fill["o"]["rp"]) == D("-11")  # 0.01 * (63900 - 65000)
    done = ok(sandbox, "GET", "/fapi/v1/algoOrder", keys, clientAlgoId="stop-1")
    assert done["algoStatus"] == "FINISHED" and done["actualOrderId"]
    assert position(sandbox, keys, "BTCUSDT") is None
    registry = sandbox.orders("stop-1")
    assert len(registry) == 1 and registry[0]["market"] == "usdm"
    assert registry[0]["algoStatus"] == "FINISHED"


def test_algo_take_profit_market_close_position(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    market(sandbox, keys, "ETHUSDT", "SELL", "0.500")
    algo = ok(sandbox, "POST", "/fapi/v1/algoOrder", keys, algoType="CONDITIONAL",
              symbol="ETHUSDT", side="BUY", type="TAKE_PROFIT_MARKET", triggerPrice="3000",
              closePosition="true")  # fmt: skip
    sandbox.set_price("ETHUSDT", "3100")
    assert ok(sandbox, "GET", "/fapi/v1/algoOrder", keys,
              algoId=algo["algoId"])["algoStatus"] == "NEW"  # fmt: skip
    sandbox.set_price("ETHUSDT", "2990")
    assert ok(sandbox, "GET", "/fapi/v1/algoOrder", keys,
              algoId=algo["algoId"])["algoStatus"] == "FINISHED"  # fmt: skip
    assert position(sandbox, keys, "ETHUSDT") is None
    trades = ok(sandbox, "GET", "/fapi/v1/userTrades", keys, symbol="ETHUSDT")
    assert D(trades[-1]["realizedPnl"]) == 105  # 0.5 * (3200 - 2990)


# ---------------------------------------------------------------------------------------------
# listenKeys and the user-data stream


def test_listen_key_lifecycle_and_expiry(sandbox_clean):
    sandbox = sandbox_clean
    sandbox.configure(listen_key_ttl=1.0)
    keys = sandbox.create_keys()
    assert user_stream(sandbox, "PUT", keys).json()["code"] == -1125
    lk = listen_key(sandbox, keys)
    assert listen_key(sandbox, keys) == lk  # same active key, extended
    assert user_stream(sandbox, "PUT", keys).json() == {"listenKey": lk}
    unsigned = requests.post(f"{sandbox.url}/fapi/v1/listenKey", timeout=5)
    assert unsigned.json()["code"] == -2014

    url = f"{sandbox.ws_url}/fstream/private/ws?listenKey={lk}&events={ALL_EVENTS}/listenKeyExpired"
    with connect(url) as ws:
        expired = read_until(ws, lambda m: m["e"] == "listenKeyExpired", timeout=4)[-1]
        assert expired["listenKey"] == lk
        r = user_stream(sandbox, "PUT", keys)
        assert r.status_code == 400 and r.json() == {"code": -1125, "msg": LISTEN_KEY_MISSING}
        market(sandbox, keys, "ETHUSDT", "BUY", "0.010")
        assert silent_for(ws, 0.6)
    fresh = listen_key(sandbox, keys)
    assert fresh != lk
    assert user_stream(sandbox, "DELETE", keys).json() == {}
    assert user_stream(sandbox, "PUT", keys).json()["code"] == -1125


def test_user_stream_events_after_fill(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    lk = listen_key(sandbox, keys)
    path_form = connect(f"{sandbox.ws_url}/fstream/private/ws/{lk}")
    filtered = connect(
        f"{sandbox.ws_url}/fstream/private/stream?listenKey={lk}&events=ACCOUNT_UPDATE"
    )
    with path_form, filtered:
        time.sleep(0.1)
        ok(sandbox, "POST", "/fapi/v1/leverage", keys, symbol="BTCUSDT", leverage=7)
        market(sandbox, keys, "BTCUSDT", "BUY", "0.003", newClientOrderId="fill-1")
        events = read_until(
            path_form, lambda m: m["e"] == "ORDER_TRADE_UPDATE" and m["o"]["x"] == "TRADE"
        )
        kinds = [m["e"] for m in events]
        assert kinds[0] == "ACCOUNT_CONFIG_UPDATE" and events[0]["ac"] == {"s": "BTCUSDT", "l": 7}
        assert {"ORDER_TRADE_UPDATE", "TRADE_LITE", "ACCOUNT_UPDATE"} <= set(kinds)
        new, fill = (m["o"] for m in events if m["e"] == "ORDER_TRADE_UPDATE")
        assert set(fill) == ORDER_UPDATE_FIELDS
        assert (new["x"], new["X"], new["c"]) == ("NEW", "NEW", "fill-1")
        assert (fill["x"], fill["X"], fill["l"], fill["z"]) == ("TRADE", "FILLED", "0.003", "0.003")
        assert fill["L"] == "65000.00" and fill["N"] == "USDT" and D(fill["n"]) == D("0.0975")
        assert fill["m"] is False and fill["ps"] == "BOTH"
        account = next(m for m in events if m["e"] == "ACCOUNT_UPDATE")["a"]
        assert account["m"] == "ORDER"
        assert account["B"][0]["a"] == "USDT" and D(account["B"][0]["wb"]) == D("9999.9025")
        assert account["P"][0]["s"] == "BTCUSDT" and D(account["P"][0]["pa"]) == D("0.003")
        assert D(account["P"][0]["ep"]) == 65000 and account["P"][0]["mt"] == "cross"

        only = json.loads(filtered.recv(timeout=2))
        assert only["stream"] == lk and only["data"]["e"] == "ACCOUNT_UPDATE"
        assert silent_for(filtered, 0.3)

        sandbox.update_keys(keys["apiKey"], futures_balances={"USDT": "20000"})
        deposit = json.loads(filtered.recv(timeout=2))["data"]["a"]
        assert deposit["m"] == "DEPOSIT" and deposit["B"][0]["wb"] == "20000.00000000"


def test_user_stream_faults(sandbox_clean):
    sandbox = sandbox_clean
    keys = sandbox.create_keys()
    lk = listen_key(sandbox, keys)
    url = f"{sandbox.ws_url}/fstream/private/ws?listenKey={lk}&events=ORDER_TRADE_UPDATE"
    with connect(url) as ws:
        sandbox.fault("/fstream/private", "ws-silent", hold=1.0)
        market(sandbox, keys, "ETHUSDT", "BUY", "0.010")
        assert silent_for(ws, 0.5)
        time.sleep(0.6)
        market(sandbox, keys, "ETHUSDT", "BUY", "0.010")
        assert read_until(ws, lambda m: m["e"] == "ORDER_TRADE_UPDATE")
    with connect(url) as ws:
        time.sleep(0.1)
        sandbox.fault("/fstream/private", "ws-drop")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=2)
    bad_key = f"{sandbox.ws_url}/fstream/private/ws?listenKey=nope"
    with connect(bad_key) as bad, pytest.raises(ConnectionClosed):
        bad.recv(timeout=2)


# ---------------------------------------------------------------------------------------------
# market streams


def test_routed_market_streams_and_silent_legacy_path(sandbox):
    base = sandbox.ws_url + "/fstream"
    with connect(f"{base}/market/ws/btcusdt@markPrice@1s") as ws:
        event = json.loads(ws.recv(timeout=3))
        assert event["e"] == "markPriceUpdate" and event["s"] == "BTCUSDT"
        assert {"p", "i", "P", "r", "T"} <= set(event)
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@kline_1m"], "id": 7}))
        read_until(ws, lambda m: m.get("id") == 7)
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
        listed = read_until(ws, lambda m: m.get("id") == 8)[-1]
        assert listed["result"] == ["btcusdt@markPrice@1s", "ethusdt@kline_1m"]
        kline = read_until(ws, lambda m: m.get("e") == "kline", timeout=4)[-1]
        assert kline["s"] == "ETHUSDT" and kline["k"]["i"] == "1m"
        ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 9}))
        read_until(ws, lambda m: m.get("id") == 9)
    streams = "btcusdt@aggTrade/ethusdt@miniTicker/btcusdt@ticker"
    with connect(f"{base}/market/stream?streams={streams}") as ws:
        got = read_until(ws, lambda m: m["stream"] == "btcusdt@ticker", timeout=4)
        assert all(set(m) == {"stream", "data"} for m in got)
        assert got[-1]["data"]["e"] == "24hrTicker"
    with connect(f"{base}/public/ws/btcusdt@bookTicker/ethusdt@depth5@100ms") as ws:
        got = read_until(ws, lambda m: m.get("e") == "depthUpdate")
        assert len(got[-1]["b"]) == 5 and got[-1]["s"] == "ETHUSDT"
        ticker = read_until(ws, lambda m: m.get("e") == "bookTicker")[-1]
        assert D(ticker["b"]) < D(ticker["a"])
    with connect(f"{base}/public/ws/btcusdt@markPrice@1s") as ws:
        assert silent_for(ws, 1.3)  # a market stream on the /public route
    with connect(f"{base}/ws/btcusdt@markPrice@1s") as ws:
        assert silent_for(ws, 1.3)  # legacy unrouted path: /market data never arrives
    with connect(f"{base}/ws/btcusdt@depth@100ms") as ws:
        event = json.loads(ws.recv(timeout=2))  # /public data still flows there
        assert event["e"] == "depthUpdate" and event["u"] >= event["U"]


def test_server_pings_and_drops_silent_clients(sandbox_clean):
    import asyncio

    import aiohttp

    sandbox = sandbox_clean
    sandbox.configure(fstream_ping_interval=0.2, fstream_pong_timeout=0.4)

    async def run() -> tuple[bool, bool]:
        async with aiohttp.ClientSession() as session:
            url = f"{sandbox.url}/fstream/public/ws/btcusdt@bookTicker"
            mute = await session.ws_connect(url, autoping=False)
            polite = await session.ws_connect(url)  # answers pings
            pinged = False
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                msg = await mute.receive(timeout=3)
                if msg.type == aiohttp.WSMsgType.PING:
                    pinged = True
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):  # fmt: skip
                    break
            await asyncio.sleep(0.5)
            alive = not polite.closed
            await polite.close()
            await mute.close()
            return pinged and mute.closed, alive

    dropped, alive = asyncio.run(run())
    assert dropped and alive


# ---------------------------------------------------------------------------------------------
# limits, faults, registry


def test_weights_order_counts_and_registry(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    before = sandbox.signed("GET", "/fapi/v1/openOrders", keys, symbol="BTCUSDT")
    used = int(before.headers["X-MBX-USED-WEIGHT-1M"])
    r = sandbox.signed("POST", "/fapi/v1/order", keys, symbol="BTCUSDT", side="BUY",
                       type="MARKET", quantity="0.002", newClientOrderId="count-1")  # fmt: skip
    assert r.status_code == 200
    assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) == used  # order POST: 0 IP weight
    assert int(r.headers["X-MBX-ORDER-COUNT-10S"]) >= 1
    assert int(r.headers["X-MBX-ORDER-COUNT-1M"]) >= 1
    after = sandbox.signed("GET", "/fapi/v1/openOrders", keys)
    assert int(after.headers["X-MBX-USED-WEIGHT-1M"]) == used + 40  # no symbol: 40
    registry = sandbox.orders("count-1")
    assert len(registry) == 1
    assert registry[0]["market"] == "usdm" and registry[0]["status"] == "FILLED"

    sandbox.configure(limits={"fapi": {"orders_10s": 1}})
    r = sandbox.signed("POST", "/fapi/v1/order", keys, symbol="BTCUSDT", side="BUY",
                       type="MARKET", quantity="0.002")  # fmt: skip
    assert r.status_code == 429 and r.json()["code"] == -1015


def test_503_faults_have_futures_semantics(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"}
    sandbox.fault("/fapi/v1/order", "5xx-after-execute", method="POST")
    r = sandbox.signed("POST", "/fapi/v1/order", keys, newClientOrderId="unknown-1", **order)
    assert r.status_code == 503
    assert r.json()["msg"] == "Unknown error, please check your request or try again later."
    found = ok(sandbox, "GET", "/fapi/v1/order", keys, symbol="BTCUSDT",
               origClientOrderId="unknown-1")  # fmt: skip
    assert found["status"] == "FILLED"
    assert len(sandbox.orders("unknown-1")) == 1

    sandbox.fault("/fapi/v1/order", "5xx-before", method="POST")
    r = sandbox.signed("POST", "/fapi/v1/order", keys, newClientOrderId="failed-1", **order)
    assert r.status_code == 503 and r.json()["msg"] == "Service Unavailable."
    fails(sandbox, "GET", "/fapi/v1/order", keys, -2013, symbol="BTCUSDT",
          origClientOrderId="failed-1")  # fmt: skip
    assert sandbox.orders("failed-1") == []


def test_trailing_stop_algo_order(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    market(sandbox, keys, "ETHUSDT", "BUY", "0.100")
    algo = ok(sandbox, "POST", "/fapi/v1/algoOrder", keys, algoType="CONDITIONAL",
              symbol="ETHUSDT", side="SELL", type="TRAILING_STOP_MARKET", quantity="0.100",
              callbackRate="1", activatePrice="3300.00", reduceOnly="true")  # fmt: skip
    assert algo["callbackRate"] == "1" and algo["activatePrice"] == "3300.00"
    for price in ("3310", "3400", "3380"):  # activates at 3310, peaks at 3400, within 1 %
        sandbox.set_price("ETHUSDT", price)
    assert ok(sandbox, "GET", "/fapi/v1/algoOrder", keys,
              algoId=algo["algoId"])["algoStatus"] == "NEW"  # fmt: skip
    sandbox.set_price("ETHUSDT", "3365")  # 1.03 % below the peak
    done = ok(sandbox, "GET", "/fapi/v1/algoOrder", keys, algoId=algo["algoId"])
    assert done["algoStatus"] == "FINISHED" and done["actualPrice"] == "3365.00"
    assert position(sandbox, keys, "ETHUSDT") is None


def test_futures_state_survives_restart(tmp_path):
    from tests.fixtures.sandbox import start_sandbox, stop_sandbox

    state_file = str(tmp_path / "state.json")
    box = start_sandbox(extra_args=["--state", state_file, "--no-walk"])
    try:
        keys = box.create_keys()
        market(box, keys, "BTCUSDT", "BUY", "0.002", newClientOrderId="kept-1")
        ok(box, "POST", "/fapi/v1/leverage", keys, symbol="BTCUSDT", leverage=3)
        algo = ok(box, "POST", "/fapi/v1/algoOrder", keys, algoType="CONDITIONAL",
                  symbol="BTCUSDT", side="SELL", type="STOP_MARKET", quantity="0.002",
                  triggerPrice="50000", clientAlgoId="kept-2")  # fmt: skip
        ok(box, "POST", "/dapi/v1/order", keys, symbol="BTCUSD_PERP", side="SELL",
           type="MARKET", quantity="3")  # fmt: skip
        wallet = usdt(box, keys)
    finally:
        assert stop_sandbox(box) in (0, -15)
    box = start_sandbox(extra_args=["--state", state_file, "--no-walk"])
    try:
        pos = position(box, keys, "BTCUSDT")
        assert D(pos["positionAmt"]) == D("0.002") and usdt(box, keys) == wallet
        assert ok(box, "GET", "/fapi/v1/openAlgoOrders", keys)[0]["algoId"] == algo["algoId"]
        assert ok(box, "GET", "/fapi/v2/positionRisk", keys)[0]["leverage"] == "3"
        fails(box, "POST", "/fapi/v1/order", keys, -4116, symbol="BTCUSDT", side="BUY",
              type="MARKET", quantity="0.002", newClientOrderId="kept-1")  # fmt: skip
        again = market(box, keys, "BTCUSDT", "BUY", "0.002")
        assert again["orderId"] > ok(box, "GET", "/fapi/v1/order", keys, symbol="BTCUSDT",
                                     origClientOrderId="kept-1")["orderId"]  # fmt: skip
        coin = ok(box, "GET", "/dapi/v1/positionRisk", keys)
        assert next(r for r in coin if r["symbol"] == "BTCUSD_PERP")["positionAmt"] == "-3"
        assert len(box.orders("kept-2")) == 1
    finally:
        stop_sandbox(box)


@pytest.mark.parametrize(
    ("path", "event", "first_symbol"),
    [
        ("/fstream/market/ws/!markPrice@arr@1s", "markPriceUpdate", "BTCUSDT"),
        ("/fstream/market/ws/!miniTicker@arr", "24hrMiniTicker", "BTCUSDT"),
        ("/fstream/market/stream?streams=!ticker@arr", "24hrTicker", "BTCUSDT"),
        ("/dstream/ws/!markPrice@arr", "markPriceUpdate", "BTCUSD_PERP"),
    ],
)
def test_all_market_streams_deliver_arrays(sandbox, path, event, first_symbol):
    with connect(sandbox.ws_url + path, open_timeout=5) as ws:
        msg = json.loads(ws.recv(timeout=5))
    data = msg["data"] if "stream" in msg else msg
    assert isinstance(data, list) and data
    assert {row["e"] for row in data} == {event}
    assert data[0]["s"] == first_symbol
