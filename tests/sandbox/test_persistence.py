"""--state FILE: keys, balances and orders survive a restart."""

from __future__ import annotations

import json

from tests.fixtures.sandbox import start_sandbox, stop_sandbox


def test_state_survives_restart(tmp_path):
    state = tmp_path / "sandbox-state.json"
    box = start_sandbox(extra_args=["--state", str(state)])
    try:
        keys = box.create_keys(balances={"USDT": "5000"})
        ed = box.create_keys(key_type="ED25519")
        r = box.signed(
            "POST",
            "/api/v3/order",
            keys,
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.01",
            price="40000",
            newClientOrderId="keep",
        )
        assert r.status_code == 200, r.text
        filled = box.signed(
            "POST",
            "/api/v3/order",
            keys,
            symbol="ETHUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.1",
        ).json()
        before = box.signed("GET", "/api/v3/account", keys, omitZeroBalances="true").json()
    finally:
        assert stop_sandbox(box) == 0
    saved = json.loads(state.read_text())
    assert saved["keys"]["keys"] and saved["spot"]["orders"]
    box = start_sandbox(extra_args=["--state", str(state)])
    try:
        after = box.signed("GET", "/api/v3/account", keys, omitZeroBalances="true").json()
        assert after["balances"] == before["balances"]
        assert box.signed("GET", "/api/v3/account", ed).status_code == 200
        opened = box.signed("GET", "/api/v3/openOrders", keys, symbol="BTCUSDT").json()
        assert [o["clientOrderId"] for o in opened] == ["keep"]
        trades = box.signed("GET", "/api/v3/myTrades", keys, symbol="ETHUSDT").json()
        assert [t["orderId"] for t in trades] == [filled["orderId"]] * len(trades)
        assert [o["status"] for o in box.orders("keep")] == ["NEW"]
        # New orders get fresh ids and the restored order can still be cancelled.
        r = box.signed("DELETE", "/api/v3/order", keys, symbol="BTCUSDT", origClientOrderId="keep")
        assert r.status_code == 200 and r.json()["orderId"] == opened[0]["orderId"]
        new = box.signed(
            "POST",
            "/api/v3/order",
            keys,
            symbol="ETHUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.1",
        ).json()
        assert new["orderId"] > filled["orderId"]
        assert box.signed("GET", "/api/v3/account", keys).json()["balances"]
    finally:
        stop_sandbox(box)
