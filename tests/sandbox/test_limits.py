"""REQUEST_WEIGHT, order counts, 429 -> 418 escalation; runtime limits and reset."""

from __future__ import annotations

import time


def test_weight_headers_follow_endpoint_weights(sandbox_clean):
    sandbox_clean.reset()  # fresh counters for this IP
    r = sandbox_clean.get("/api/v3/ping")
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    r = sandbox_clean.get("/api/v3/exchangeInfo")
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "21"
    r = sandbox_clean.get("/api/v3/depth", symbol="BTCUSDT", limit=1000)
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "71"
    r = sandbox_clean.get("/api/v3/ticker/24hr")
    assert r.headers["X-MBX-USED-WEIGHT-1M"] == "151"


def test_successful_orders_cost_no_weight(sandbox_clean, keys):
    sandbox_clean.reset()
    r = sandbox_clean.signed(
        "POST", "/api/v3/order", keys, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
    )
    assert r.status_code == 200 and r.headers["X-MBX-USED-WEIGHT-1M"] == "0"
    r = sandbox_clean.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.0000001",
    )
    assert r.status_code == 400 and r.headers["X-MBX-USED-WEIGHT-1M"] == "1"


def test_429_then_418_ban_then_reset(sandbox_clean):
    sandbox_clean.reset()
    sandbox_clean.configure(
        limits={"spot": {"request_weight_1m": 30}}, ban_after_429s=2, ban_seconds=30
    )
    assert sandbox_clean.get("/api/v3/exchangeInfo").status_code == 200
    r = sandbox_clean.get("/api/v3/exchangeInfo")
    assert r.status_code == 429
    assert r.json() == {
        "code": -1003,
        "msg": "Too much request weight used; current limit is 30 "
        "request weight per 1 MINUTE. Please use WebSocket Streams for live "
        "updates to avoid polling the API.",
    }
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # Cheap requests still fit.
    assert sandbox_clean.get("/api/v3/ping").status_code == 200
    assert sandbox_clean.get("/api/v3/exchangeInfo").status_code == 429
    r = sandbox_clean.get("/api/v3/exchangeInfo")  # third strike: banned
    assert r.status_code == 418
    body = r.json()
    assert body["code"] == -1003 and body["msg"].startswith(
        "Way too much request weight used; IP banned until "
    )
    until = int(body["msg"].split("until ")[1].split(".")[0])
    assert until > time.time() * 1000 + 20_000
    assert 25 <= int(r.headers["Retry-After"]) <= 30
    assert sandbox_clean.get("/api/v3/ping").status_code == 418
    sandbox_clean.reset()
    assert sandbox_clean.get("/api/v3/ping").status_code == 200
    info = sandbox_clean.get("/api/v3/exchangeInfo").json()
    assert info["rateLimits"][0]["limit"] == 6000


def test_runtime_limits_show_in_exchange_info(sandbox_clean):
    sandbox_clean.configure(limits={"spot": {"request_weight_1m": 1234, "orders_10s": 7}})
    limits = sandbox_clean.get("/api/v3/exchangeInfo").json()["rateLimits"]
    assert limits[0]["limit"] == 1234 and limits[1]["limit"] == 7


def test_order_count_limit(sandbox_clean, keys):
    sandbox_clean.configure(limits={"spot": {"orders_10s": 3}})
    if time.time() % 10 > 5:  # keep the four orders inside one 10 s window, even when slow
        time.sleep(10 - time.time() % 10 + 0.05)
    for i in range(3):
        r = sandbox_clean.signed(
            "POST",
            "/api/v3/order",
            keys,
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.0001",
        )
        assert r.status_code == 200, r.text
        assert r.headers["X-MBX-ORDER-COUNT-10S"] == str(i + 1)
    r = sandbox_clean.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.0001",
    )
    assert (r.status_code, r.json()) == (
        429,
        {"code": -1015, "msg": "Too many new orders; current limit is 3 orders per 10 SECOND."},
    )
    assert r.headers["X-MBX-ORDER-COUNT-10S"] == "3"
    usage = sandbox_clean.signed("GET", "/api/v3/rateLimit/order", keys).json()
    assert usage[0] == {
        "rateLimitType": "ORDERS",
        "interval": "SECOND",
        "intervalNum": 10,
        "limit": 3,
        "count": 3,
    }
    # Counted per account: another account is unaffected.
    other = sandbox_clean.create_keys()
    r = sandbox_clean.signed(
        "POST",
        "/api/v3/order",
        other,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.0001",
    )
    assert r.status_code == 200
