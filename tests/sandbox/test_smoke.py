def test_ping_and_signed_order(sandbox):
    assert sandbox.get("/api/v3/ping").json() == {}
    keys = sandbox.create_keys()
    r = sandbox.signed("GET", "/api/v3/account", keys)
    assert r.status_code == 200, r.text
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        body=True,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.1",
    )
    assert r.status_code == 200, r.text
