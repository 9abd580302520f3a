"""Every spot REST endpoint over a real socket."""

from __future__ import annotations

from decimal import Decimal

import requests

from .conftest import balances, best_prices


def test_ping_time_and_weight_headers(sandbox):
    r = sandbox.get("/api/v3/ping")
    assert r.status_code == 200 and r.json() == {}
    assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    server = sandbox.get("/api/v3/time").json()["serverTime"]
    import time

    assert abs(server - time.time() * 1000) < 2000


def test_exchange_info(sandbox):
    info = sandbox.get("/api/v3/exchangeInfo").json()
    assert info["timezone"] == "UTC"
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT", "BNBUSDT", "ETHBTC"}
    assert {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    } in info["rateLimits"]
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc["permissions"] == [] and btc["permissionSets"][0][0] == "SPOT"
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"] == {
        "filterType": "LOT_SIZE",
        "minQty": "0.00001000",
        "maxQty": "9000.00000000",
        "stepSize": "0.00001000",
    }
    assert {"MARKET_LOT_SIZE", "NOTIONAL", "PERCENT_PRICE_BY_SIDE", "MAX_NUM_ORDERS"} <= set(
        filters
    )
    one = sandbox.get("/api/v3/exchangeInfo", symbol="ETHBTC").json()
    assert [s["symbol"] for s in one["symbols"]] == ["ETHBTC"]
    two = sandbox.get("/api/v3/exchangeInfo", symbols='["ETHBTC","BNBUSDT"]').json()
    assert [s["symbol"] for s in two["symbols"]] == ["ETHBTC", "BNBUSDT"]


def test_market_data(sandbox):
    depth = sandbox.get("/api/v3/depth", symbol="BTCUSDT", limit=10)
    assert depth.status_code == 200
    d = depth.json()
    assert len(d["bids"]) == 10 and len(d["asks"]) == 10 and d["lastUpdateId"] > 0
    bids = [Decimal(p) for p, _q in d["bids"]]
    asks = [Decimal(p) for p, _q in d["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert Decimal("50000") < bids[0] < Decimal("80000")
    big = sandbox.get("/api/v3/depth", symbol="BTCUSDT", limit=500)
    assert len(big.json()["bids"]) == 500
    trades = sandbox.get("/api/v3/trades", symbol="ETHUSDT", limit=5).json()
    assert len(trades) == 5 and set(trades[0]) == {
        "id",
        "price",
        "qty",
        "quoteQty",
        "time",
        "isBuyerMaker",
        "isBestMatch",
    }
    klines = sandbox.get("/api/v3/klines", symbol="BNBUSDT", interval="1m", limit=30).json()
    assert len(klines) == 30 and all(len(k) == 12 for k in klines)
    assert klines[1][0] - klines[0][0] == 60_000 and klines[0][6] == klines[0][0] + 59_999
    for k in klines:
        assert Decimal(k[3]) <= min(Decimal(k[1]), Decimal(k[4])) <= Decimal(k[2])
    hourly = sandbox.get("/api/v3/klines", symbol="ETHBTC", interval="1h").json()
    assert len(hourly) == 500
    assert sandbox.get("/api/v3/klines", symbol="ETHBTC", interval="7m").json() == {
        "code": -1120,
        "msg": "Invalid interval.",
    }
    avg = sandbox.get("/api/v3/avgPrice", symbol="BTCUSDT").json()
    assert avg["mins"] == 5 and Decimal(avg["price"]) > 0
    price = sandbox.get("/api/v3/ticker/price", symbol="BTCUSDT").json()
    assert price["symbol"] == "BTCUSDT" and Decimal(price["price"]) > 0
    assert len(sandbox.get("/api/v3/ticker/price").json()) == 4
    t24 = sandbox.get("/api/v3/ticker/24hr", symbol="ETHUSDT").json()
    assert t24["symbol"] == "ETHUSDT" and int(t24["count"]) > 0
    assert Decimal(t24["lowPrice"]) <= Decimal(t24["lastPrice"]) <= Decimal(t24["highPrice"])
    r = sandbox.get("/api/v3/ticker/24hr", symbols='["ETHUSDT","BTCUSDT"]')
    assert r.headers["X-MBX-USED-WEIGHT-1M"] and len(r.json()) == 2
    book = sandbox.get("/api/v3/ticker/bookTicker", symbol="ETHBTC").json()
    assert Decimal(book["bidPrice"]) < Decimal(book["askPrice"])
    assert len(sandbox.get("/api/v3/ticker/bookTicker").json()) == 4


def test_account_and_omit_zero_balances(sandbox):
    keys = sandbox.create_keys(balances={"USDT": "500", "BTC": "0"})
    acct = sandbox.signed("GET", "/api/v3/account", keys).json()
    assert acct["accountType"] == "SPOT" and acct["canTrade"] is True
    assert acct["commissionRates"]["taker"] == "0.00100000" and acct["takerCommission"] == 10
    assert {"asset": "USDT", "free": "500.00000000", "locked": "0.00000000"} in acct["balances"]
    assert any(b["asset"] == "BTC" for b in acct["balances"])
    omitted = sandbox.signed("GET", "/api/v3/account", keys, omitZeroBalances="true").json()
    assert [b["asset"] for b in omitted["balances"]] == ["USDT"]
    assert "uid" in acct and acct["permissions"][0] == "SPOT"


def test_default_funding(sandbox, keys):
    bal = balances(sandbox, keys)
    assert bal["USDT"][0] == "10000.00000000" and bal["BTC"][0] == "1.00000000"
    assert bal["ETH"][0] == "10.00000000" and bal["BNB"][0] == "100.00000000"


def test_api_restrictions(sandbox):
    keys = sandbox.create_keys(permissions={"futures": False, "ip_restricted": True})
    r = sandbox.signed("GET", "/sapi/v1/account/apiRestrictions", keys).json()
    assert r["ipRestrict"] is True and r["enableFutures"] is False
    assert r["enableReading"] is True and r["enableSpotAndMarginTrading"] is True
    assert r["enableWithdrawals"] is False
    assert {"tradingAuthorityExpirationTime", "createTime"} <= set(r)


def test_order_lifecycle(sandbox, keys):
    bid, _ask = best_prices(sandbox)
    price = (bid * Decimal("0.9")).quantize(Decimal("0.01"))
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        body=True,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price=str(price),
        newClientOrderId="life-1",
    )
    assert r.status_code == 200, r.text
    placed = r.json()
    assert (
        placed["status"] == "NEW" and placed["fills"] == [] and placed["clientOrderId"] == "life-1"
    )
    assert r.headers["X-MBX-ORDER-COUNT-10S"] == "1" and r.headers["X-MBX-ORDER-COUNT-1D"] == "1"
    locked = (price * Decimal("0.01")).quantize(Decimal("0.00000001"))
    assert balances(sandbox, keys)["USDT"] == (f"{Decimal(10000) - locked:.8f}", f"{locked:.8f}")
    q = sandbox.signed(
        "GET", "/api/v3/order", keys, symbol="BTCUSDT", origClientOrderId="life-1"
    ).json()
    assert q["orderId"] == placed["orderId"] and q["isWorking"] is True
    assert q["price"] == f"{price:.8f}" and q["origQty"] == "0.01000000"
    by_id = sandbox.signed(
        "GET", "/api/v3/order", keys, symbol="BTCUSDT", orderId=placed["orderId"]
    ).json()
    assert by_id == q
    opened = sandbox.signed("GET", "/api/v3/openOrders", keys, symbol="BTCUSDT").json()
    assert [o["orderId"] for o in opened] == [placed["orderId"]]
    assert len(sandbox.signed("GET", "/api/v3/openOrders", keys).json()) == 1
    c = sandbox.signed(
        "DELETE",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        orderId=placed["orderId"],
        newClientOrderId="cancel-1",
    )
    assert c.status_code == 200, c.text
    assert c.json()["status"] == "CANCELED" and c.json()["origClientOrderId"] == "life-1"
    assert c.json()["clientOrderId"] == "cancel-1"
    assert balances(sandbox, keys)["USDT"] == ("10000.00000000", "0.00000000")
    every = sandbox.signed("GET", "/api/v3/allOrders", keys, symbol="BTCUSDT").json()
    assert [o["status"] for o in every] == ["CANCELED"]
    # The same client id may be reused once the first order is no longer open.
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price=str(price),
        newClientOrderId="life-1",
    )
    assert r.status_code == 200
    assert [o["status"] for o in sandbox.orders("life-1") if o["apiKey"] == keys["apiKey"]] == [
        "CANCELED",
        "NEW",
    ]


def test_response_types(sandbox, keys):
    ack = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="ETHUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.01",
        newOrderRespType="ACK",
    ).json()
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="ETHUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.01",
        newOrderRespType="RESULT",
    ).json()
    assert result["status"] == "FILLED" and "fills" not in result
    full = sandbox.signed(
        "POST", "/api/v3/order", keys, symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.01"
    ).json()
    assert full["fills"] and full["fills"][0]["commissionAsset"] == "USDT"
    stop = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="ETHUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="1000",
        stopPrice="1001",
    ).json()
    assert set(stop) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}


def test_order_test_endpoint(sandbox, keys):
    r = sandbox.signed(
        "POST",
        "/api/v3/order/test",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.001",
    )
    assert (r.status_code, r.json()) == (200, {})
    r = sandbox.signed(
        "POST",
        "/api/v3/order/test",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.001",
        computeCommissionRates="true",
    )
    body = r.json()
    assert body["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
    assert set(body) == {
        "standardCommissionForOrder",
        "specialCommissionForOrder",
        "taxCommissionForOrder",
        "discount",
    }
    # Nothing was placed.
    assert sandbox.signed("GET", "/api/v3/allOrders", keys, symbol="BTCUSDT").json() == []
    r = sandbox.signed(
        "POST",
        "/api/v3/order/test",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.000001",
    )
    assert r.json() == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}


def test_cancel_all_open_orders_and_my_trades(sandbox, keys):
    _bid, ask = best_prices(sandbox, "ETHUSDT")
    for i in range(3):
        r = sandbox.signed(
            "POST",
            "/api/v3/order",
            keys,
            symbol="ETHUSDT",
            side="SELL",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.1",
            price=str((ask * Decimal("1.2")).quantize(Decimal("0.01")) + i),
        )
        assert r.status_code == 200, r.text
    r = sandbox.signed("DELETE", "/api/v3/openOrders", keys, symbol="ETHUSDT")
    assert r.status_code == 200 and [o["status"] for o in r.json()] == ["CANCELED"] * 3
    assert balances(sandbox, keys)["ETH"] == ("10.00000000", "0.00000000")
    r = sandbox.signed("DELETE", "/api/v3/openOrders", keys, symbol="ETHUSDT")
    assert r.json() == {"code": -2011, "msg": "Unknown order sent."}
    m = sandbox.signed(
        "POST", "/api/v3/order", keys, symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.5"
    ).json()
    trades = sandbox.signed("GET", "/api/v3/myTrades", keys, symbol="ETHUSDT").json()
    assert [t["id"] for t in trades] == [f["tradeId"] for f in m["fills"]]
    assert all(t["isBuyer"] and not t["isMaker"] and t["commissionAsset"] == "ETH" for t in trades)
    by_order = sandbox.signed(
        "GET", "/api/v3/myTrades", keys, symbol="ETHUSDT", orderId=m["orderId"]
    )
    assert by_order.json() == trades


def test_oco_sell(sandbox, keys):
    bid, ask = best_prices(sandbox, "BNBUSDT")
    above = (ask * Decimal("1.10")).quantize(Decimal("0.01"))
    below = (bid * Decimal("0.90")).quantize(Decimal("0.01"))
    r = sandbox.signed(
        "POST",
        "/api/v3/orderList/oco",
        keys,
        symbol="BNBUSDT",
        side="SELL",
        quantity="1",
        aboveType="LIMIT_MAKER",
        abovePrice=str(above),
        belowType="STOP_LOSS_LIMIT",
        belowStopPrice=str(below),
        belowPrice=str(below - 1),
        belowTimeInForce="GTC",
        listClientOrderId="oco-1",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["contingencyType"] == "OCO" and body["listStatusType"] == "EXEC_STARTED"
    assert [o["type"] for o in body["orderReports"]] == ["LIMIT_MAKER", "STOP_LOSS_LIMIT"]
    assert r.headers["X-MBX-ORDER-COUNT-10S"] == "2"
    assert balances(sandbox, keys)["BNB"] == ("99.00000000", "1.00000000")
    # Take profit fills: the stop leg expires and the lock is spent once.
    sandbox.set_price("BNBUSDT", above + 1)
    reports = sandbox.signed("GET", "/api/v3/allOrders", keys, symbol="BNBUSDT").json()
    assert [o["status"] for o in reports] == ["FILLED", "EXPIRED"]
    assert balances(sandbox, keys)["BNB"] == ("99.00000000", "0.00000000")
    olist = sandbox.signed("GET", "/api/v3/orderList", keys, orderListId=body["orderListId"])
    assert olist.json()["listOrderStatus"] == "ALL_DONE"


def test_removed_user_data_stream_endpoints(sandbox, keys):
    for method in ("POST", "PUT", "DELETE"):
        r = requests.request(
            method,
            f"{sandbox.url}/api/v3/userDataStream",
            headers={"X-MBX-APIKEY": keys["apiKey"]},
            timeout=5,
        )
        assert r.status_code == 404
