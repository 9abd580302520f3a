"""Injected faults on REST paths: what the client sees and whether the order exists."""

from __future__ import annotations

import time
import uuid

import pytest
import requests


def place(sandbox, keys, cid, timeout=10):
    from urllib.parse import quote, urlencode

    from tests.fixtures.sandbox import sign_payload

    params = urlencode(
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.001",
            "newClientOrderId": cid,
            "timestamp": int(time.time() * 1000),
        }
    )
    sig = quote(sign_payload(keys, params), safe="")
    return requests.post(
        f"{sandbox.url}/api/v3/order",
        data=f"{params}&signature={sig}",
        headers={"X-MBX-APIKEY": keys["apiKey"]},
        timeout=timeout,
    )


def cid() -> str:
    return "f-" + uuid.uuid4().hex[:20]


@pytest.mark.parametrize(
    ("kind", "extra", "status", "code", "executed"),
    [
        ("5xx-before", {}, 503, -1000, False),
        ("5xx-after-execute", {}, 503, -1000, True),
        ("5xx-before", {"status": 502}, 502, -1000, False),
        ("-1006", {}, 500, -1006, True),
        ("-1006", {"execute": False}, 500, -1006, False),
        ("-1007", {}, 408, -1007, True),
        ("timeout-before", {"hold": 0.2}, 408, -1007, False),
        ("timeout-after-execute", {"hold": 0.2}, 408, -1007, True),
        ("429", {"retry_after": 7}, 429, -1003, False),
        ("418", {}, 418, -1003, False),
    ],
)
def test_http_fault_kinds(sandbox_clean, keys, kind, extra, status, code, executed):
    sandbox_clean.fault("/api/v3/order", kind, **extra)
    client_id = cid()
    r = place(sandbox_clean, keys, client_id)
    assert r.status_code == status
    assert r.json()["code"] == code
    if code == -1006:
        assert r.json()["msg"] == (
            "An unexpected response was received from the message bus. Execution status unknown."
        )
    if code == -1007:
        assert r.json()["msg"] == (
            "Timeout waiting for response from backend server. Send "
            "status unknown; execution status unknown."
        )
    if kind == "429":
        assert r.headers["Retry-After"] == "7"
    if kind == "418":
        assert "IP banned until" in r.json()["msg"] and "Retry-After" in r.headers
    assert len(sandbox_clean.orders(client_id)) == (1 if executed else 0)
    # The fault is used up: the next request is normal.
    r = place(sandbox_clean, keys, cid())
    assert r.status_code == 200, r.text


def test_timeout_holds_longer_than_the_client_waits(sandbox_clean, keys):
    sandbox_clean.fault("/api/v3/order", "timeout-after-execute", hold=3)
    client_id = cid()
    with pytest.raises(requests.Timeout):
        place(sandbox_clean, keys, client_id, timeout=0.5)
    # Exactly one order exists: the client can reconcile by origClientOrderId.
    assert [o["status"] for o in sandbox_clean.orders(client_id)] == ["FILLED"]
    q = sandbox_clean.signed(
        "GET", "/api/v3/order", keys, symbol="BTCUSDT", origClientOrderId=client_id
    )
    assert q.json()["status"] == "FILLED"


def test_default_hold_is_30_seconds(sandbox_clean):
    fault = sandbox_clean.fault("/api/v3/ping", "timeout-before")
    assert fault["hold"] is None
    assert sandbox_clean.get("/sandbox/v1/config").json()["fault_hold_seconds"] == 30.0
    sandbox_clean.clear_faults()
    assert sandbox_clean.get("/api/v3/ping").status_code == 200


def test_count_method_and_clear(sandbox_clean, keys):
    sandbox_clean.fault("/api/v3/account", "5xx-before", count=2, method="GET")
    assert sandbox_clean.signed("GET", "/api/v3/account", keys).status_code == 503
    assert sandbox_clean.signed("GET", "/api/v3/account", keys).status_code == 503
    assert sandbox_clean.signed("GET", "/api/v3/account", keys).status_code == 200
    sandbox_clean.fault("/api/v3/account", "5xx-before", count=5, method="POST")
    assert sandbox_clean.signed("GET", "/api/v3/account", keys).status_code == 200
    sandbox_clean.fault("/api/v3/account", "5xx-before", count=5)
    sandbox_clean.clear_faults()
    assert sandbox_clean.signed("GET", "/api/v3/account", keys).status_code == 200
    assert sandbox_clean.get("/sandbox/v1/faults").json() == []


def test_bad_fault_kind_rejected(sandbox):
    r = requests.post(
        f"{sandbox.url}/sandbox/v1/faults",
        json={"path": "/api/v3/order", "kind": "explode"},
        timeout=5,
    )
    assert r.status_code == 400
