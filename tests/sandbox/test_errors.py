"""Every error path with Binance's code and exact message."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

import requests


def err(r):
    return r.status_code, r.json()


def raw_signed(sandbox, keys, method, path, query: str, sig: str | None = None, headers=None):
    if sig is None:
        sig = hmac.new(keys["secretKey"].encode(), query.encode(), hashlib.sha256).hexdigest()
    h = {"X-MBX-APIKEY": keys["apiKey"]} if headers is None else headers
    return requests.request(
        method, f"{sandbox.url}{path}?{query}&signature={sig}", headers=h, timeout=5
    )


def test_timestamp_errors(sandbox, keys):
    now = int(time.time() * 1000)
    r = sandbox.signed("GET", "/api/v3/account", keys, timestamp=now - 10_000)
    assert err(r) == (
        400,
        {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
    )
    r = sandbox.signed("GET", "/api/v3/account", keys, timestamp=now + 1500)
    assert err(r) == (
        400,
        {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."},
    )
    # A larger recvWindow accepts the old timestamp; fractional recvWindow is allowed.
    r = sandbox.signed(
        "GET", "/api/v3/account", keys, timestamp=now - 10_000, recvWindow="15000.125"
    )
    assert r.status_code == 200, r.text
    r = sandbox.signed("GET", "/api/v3/account", keys, recvWindow="60001")
    assert err(r) == (
        400,
        {
            "code": -1102,
            "msg": "'recvWindow' contains unexpected value. Cannot be greater than 60000.",
        },
    )
    r = sandbox.signed("GET", "/api/v3/account", keys, recvWindow="5000.1234")
    assert err(r)[1]["code"] == -1102
    # Microsecond timestamps.
    r = sandbox.signed("GET", "/api/v3/account", keys, timestamp=int(time.time() * 1_000_000))
    assert r.status_code == 200, r.text


def test_clock_skew_via_control_api(sandbox_clean, keys):
    sandbox_clean.set_clock_skew(-20_000)
    r = sandbox_clean.signed("GET", "/api/v3/account", keys)
    assert err(r)[1]["code"] == -1021 and "ahead" in err(r)[1]["msg"]
    server = sandbox_clean.get("/api/v3/time").json()["serverTime"]
    assert server < time.time() * 1000 - 15_000


def test_mandatory_and_signature_errors(sandbox, keys):
    ts = int(time.time() * 1000)
    r = requests.get(
        f"{sandbox.url}/api/v3/account?timestamp={ts}",
        headers={"X-MBX-APIKEY": keys["apiKey"]},
        timeout=5,
    )
    assert err(r) == (
        400,
        {
            "code": -1102,
            "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        },
    )
    r = raw_signed(sandbox, keys, "GET", "/api/v3/account", "recvWindow=5000")
    assert err(r) == (
        400,
        {
            "code": -1102,
            "msg": "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        },
    )
    r = raw_signed(sandbox, keys, "GET", "/api/v3/account", f"timestamp={ts}", sig="00" * 32)
    assert err(r) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
    # The signature covers the bytes as sent: re-ordering parameters breaks it.
    q = f"symbol=BTCUSDT&timestamp={ts}"
    good = hmac.new(keys["secretKey"].encode(), q.encode(), hashlib.sha256).hexdigest()
    r = raw_signed(
        sandbox, keys, "GET", "/api/v3/openOrders", f"timestamp={ts}&symbol=BTCUSDT", sig=good
    )
    assert err(r)[1]["code"] == -1022


def test_api_key_errors(sandbox, keys):
    ts = int(time.time() * 1000)
    r = raw_signed(sandbox, keys, "GET", "/api/v3/account", f"timestamp={ts}", headers={})
    assert err(r) == (401, {"code": -2014, "msg": "API-key format invalid."})
    r = raw_signed(
        sandbox,
        keys,
        "GET",
        "/api/v3/account",
        f"timestamp={ts}",
        headers={"X-MBX-APIKEY": "short"},
    )
    assert err(r) == (401, {"code": -2014, "msg": "API-key format invalid."})
    r = raw_signed(
        sandbox,
        keys,
        "GET",
        "/api/v3/account",
        f"timestamp={ts}",
        headers={"X-MBX-APIKEY": "A" * 64},
    )
    assert err(r) == (
        401,
        {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    )
    other = sandbox.create_keys()
    sandbox.revoke_keys(other["apiKey"])
    r = sandbox.signed("GET", "/api/v3/account", other)
    assert err(r)[1]["code"] == -2015


def test_permissions(sandbox):
    no_trade = sandbox.create_keys(permissions={"spot": False})
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        no_trade,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.001",
    )
    assert err(r) == (
        401,
        {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    )
    r = sandbox.signed(
        "POST",
        "/api/v3/order/test",
        no_trade,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.001",
    )
    assert err(r)[1]["code"] == -2015
    assert sandbox.signed("GET", "/api/v3/account", no_trade).status_code == 200
    no_read = sandbox.create_keys(permissions={"reading": False})
    assert err(sandbox.signed("GET", "/api/v3/account", no_read))[1]["code"] == -2015
    # Restricting a key's IPs to another address locks it out (PATCH at runtime).
    sandbox.update_keys(
        no_trade["apiKey"], permissions={"ip_restricted": True, "allowed_ips": ["10.1.2.3"]}
    )
    assert err(sandbox.signed("GET", "/api/v3/account", no_trade))[1]["code"] == -2015


def test_parameter_errors(sandbox, keys):
    r = sandbox.get("/api/v3/depth", symbol="DOGEUSDT")
    assert err(r) == (400, {"code": -1121, "msg": "Invalid symbol."})
    r = requests.get(f"{sandbox.url}/api/v3/depth?symbol=BTCUSDT&symbol=ETHUSDT", timeout=5)
    assert err(r) == (400, {"code": -1101, "msg": "Duplicate values for a parameter detected."})
    r = sandbox.get("/api/v3/depth", symbol="BTCUSDT", foo="1")
    assert err(r) == (
        400,
        {
            "code": -1104,
            "msg": "Not all sent parameters were read; read '1' parameter(s) but was sent '2'.",
        },
    )
    r = sandbox.get("/api/v3/depth")
    assert err(r) == (
        400,
        {
            "code": -1102,
            "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        },
    )
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price="60000",
        newClientOrderId="bad.id",
    )
    assert err(r) == (
        400,
        {
            "code": -1100,
            "msg": "Illegal characters found in parameter "
            "'newClientOrderId'; legal range is "
            "'^[a-zA-Z0-9-_]{1,36}$'.",
        },
    )
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="0.001",
        price="60000",
    )
    assert err(r)[1] == {
        "code": -1102,
        "msg": "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    }
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="HOLD",
        type="MARKET",
        quantity="0.001",
    )
    assert err(r)[1] == {"code": -1117, "msg": "Invalid side."}
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="ICEBERG",
        quantity="0.001",
    )
    assert err(r)[1] == {"code": -1116, "msg": "Invalid orderType."}
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTD",
        quantity="0.001",
        price="60000",
    )
    assert err(r)[1] == {"code": -1115, "msg": "Invalid timeInForce."}
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.000000001",
    )
    assert err(r)[1] == {"code": -1111, "msg": "Parameter 'quantity' has too much precision."}


def test_order_lookup_errors(sandbox, keys):
    r = sandbox.signed("GET", "/api/v3/order", keys, symbol="BTCUSDT", orderId=999999999)
    assert err(r) == (400, {"code": -2013, "msg": "Order does not exist."})
    r = sandbox.signed("GET", "/api/v3/order", keys, symbol="BTCUSDT", origClientOrderId="nope")
    assert err(r) == (400, {"code": -2013, "msg": "Order does not exist."})
    r = sandbox.signed("DELETE", "/api/v3/order", keys, symbol="BTCUSDT", orderId=999999999)
    assert err(r) == (400, {"code": -2011, "msg": "Unknown order sent."})
    filled = sandbox.signed(
        "POST", "/api/v3/order", keys, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
    ).json()
    r = sandbox.signed("DELETE", "/api/v3/order", keys, symbol="BTCUSDT", orderId=filled["orderId"])
    assert err(r) == (400, {"code": -2011, "msg": "Unknown order sent."})
    # Another account's order id is not visible.
    other = sandbox.create_keys()
    r = sandbox.signed("GET", "/api/v3/order", other, symbol="BTCUSDT", orderId=filled["orderId"])
    assert err(r)[1]["code"] == -2013


def test_new_order_rejections(sandbox, keys):
    params = dict(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price="40000.00",
        newClientOrderId="dup-1",
    )
    assert sandbox.signed("POST", "/api/v3/order", keys, **params).status_code == 200
    r = sandbox.signed("POST", "/api/v3/order", keys, **params)
    assert err(r) == (400, {"code": -2010, "msg": "Duplicate order sent."})
    r = sandbox.signed(
        "POST", "/api/v3/order", keys, **{**params, "newClientOrderId": "big", "quantity": "1"}
    )
    assert err(r) == (
        400,
        {"code": -2010, "msg": "Account has insufficient balance for requested action."},
    )
    r = sandbox.signed(
        "POST", "/api/v3/order", keys, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="2"
    )
    assert err(r)[1]["msg"] == "Account has insufficient balance for requested action."
    # Rejected orders are not registered; the accepted one is, exactly once.
    assert [o["status"] for o in sandbox.orders("dup-1") if o["apiKey"] == keys["apiKey"]] == [
        "NEW"
    ]


def _order(sandbox, keys, **kw):
    base = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC")
    return sandbox.signed("POST", "/api/v3/order", keys, **{**base, **kw})


def test_filter_failures(sandbox, keys):
    def failure(r):
        assert r.status_code == 400, r.text
        return r.json()["msg"]

    bid = sandbox.get("/api/v3/ticker/bookTicker", symbol="BTCUSDT").json()["bidPrice"]
    price = bid.split(".")[0]
    assert failure(_order(sandbox, keys, quantity="0.001", price=price + ".001")) == (
        "Filter failure: PRICE_FILTER"
    )
    assert failure(_order(sandbox, keys, quantity="0.001", price="2000000")) == (
        "Filter failure: PRICE_FILTER"
    )
    assert failure(_order(sandbox, keys, quantity="0.001", price="100")) == (
        "Filter failure: PERCENT_PRICE_BY_SIDE"
    )
    assert failure(_order(sandbox, keys, quantity="0.000015", price=price)) == (
        "Filter failure: LOT_SIZE"
    )
    assert failure(_order(sandbox, keys, quantity="9001", price=price)) == (
        "Filter failure: LOT_SIZE"
    )
    assert failure(
        sandbox.signed(
            "POST",
            "/api/v3/order",
            keys,
            symbol="BTCUSDT",
            side="SELL",
            type="MARKET",
            quantity="100",
        )
    ) == ("Filter failure: MARKET_LOT_SIZE")
    assert failure(_order(sandbox, keys, quantity="0.00001", price=price)) == (
        "Filter failure: NOTIONAL"
    )
    assert (
        failure(
            sandbox.signed(
                "POST",
                "/api/v3/order",
                keys,
                symbol="BTCUSDT",
                side="BUY",
                type="MARKET",
                quoteOrderQty="1",
            )
        )
        == "Filter failure: NOTIONAL"
    )
    # MAX_NUM_ORDERS: 200 open orders per symbol and account.
    rich = sandbox.create_keys(balances={"USDT": "10000000"})
    sandbox.configure(limits={"spot": {"orders_10s": 0}})
    try:
        low = int(float(price) * 0.5)
        for i in range(200):
            r = _order(sandbox, rich, quantity="0.001", price=str(low + i))
            assert r.status_code == 200, r.text
        assert failure(_order(sandbox, rich, quantity="0.001", price=str(low + 500))) == (
            "Filter failure: MAX_NUM_ORDERS"
        )
    finally:
        sandbox.reset()
    sandbox.signed("DELETE", "/api/v3/openOrders", rich, symbol="BTCUSDT")


def test_urlencoded_body_and_query_mix(sandbox, keys):
    """Parameters split between query string and body; the payload is query + body."""
    ts = int(time.time() * 1000)
    query = urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"})
    body = urlencode({"quantity": "0.001", "timestamp": ts})
    sig = hmac.new(keys["secretKey"].encode(), (query + body).encode(), hashlib.sha256).hexdigest()
    r = requests.post(
        f"{sandbox.url}/api/v3/order?{query}",
        data=f"{body}&signature={sig}",
        headers={
            "X-MBX-APIKEY": keys["apiKey"],
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=5,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "FILLED"
