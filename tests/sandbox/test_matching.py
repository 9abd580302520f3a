"""The matching engine: fills across levels, time in force, makers, stops, balances."""

from __future__ import annotations

from decimal import Decimal

import pytest

from .conftest import balances, best_prices

D = Decimal


@pytest.fixture
def frozen(sandbox_clean):
    """Prices stop walking for the test (the book still refills every second)."""
    sandbox_clean.configure(walk=False)
    return sandbox_clean


def order(sandbox, keys, **kw):
    r = sandbox.signed("POST", "/api/v3/order", keys, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def test_market_buy_walks_the_book_and_settles_balances(sandbox, keys):
    depth = sandbox.get("/api/v3/depth", symbol="BTCUSDT", limit=20).json()
    res = order(sandbox, keys, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
    fills = res["fills"]
    assert res["status"] == "FILLED" and res["executedQty"] == "0.10000000"
    assert len(fills) >= 2, "0.1 BTC should take several synthetic levels"
    prices = [D(f["price"]) for f in fills]
    assert prices == sorted(prices) and prices[-1] > prices[0]
    assert sum(D(f["qty"]) for f in fills) == D("0.1")
    assert prices[0] >= D(depth["asks"][0][0]) - 50  # near the touch (the walk may have moved)
    cost = sum(D(f["price"]) * D(f["qty"]) for f in fills)
    assert D(res["cummulativeQuoteQty"]) == cost
    commission = sum(D(f["commission"]) for f in fills)
    assert commission == D("0.0001") and {f["commissionAsset"] for f in fills} == {"BTC"}
    bal = balances(sandbox, keys)
    assert D(bal["USDT"][0]) == D(10000) - cost
    assert D(bal["BTC"][0]) == D(1) + D("0.1") - commission
    # Selling pays the commission in the quote asset.
    sell = order(sandbox, keys, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.05")
    assert {f["commissionAsset"] for f in sell["fills"]} == {"USDT"}
    proceeds = sum(D(f["price"]) * D(f["qty"]) for f in sell["fills"])
    fee = sum(D(f["commission"]) for f in sell["fills"])
    assert fee == (proceeds * D("0.001")).quantize(D("0.00000001"), rounding="ROUND_DOWN")
    bal2 = balances(sandbox, keys)
    assert D(bal2["USDT"][0]) == D(bal["USDT"][0]) + proceeds - fee


def test_quote_order_qty_market(sandbox, keys):
    res = order(sandbox, keys, symbol="ETHUSDT", side="BUY", type="MARKET", quoteOrderQty="1000")
    assert res["status"] == "FILLED" and res["origQuoteOrderQty"] == "1000.00000000"
    spent = D(res["cummulativeQuoteQty"])
    assert D(990) < spent <= D(1000)
    assert res["origQty"] == res["executedQty"]
    sell = order(sandbox, keys, symbol="ETHUSDT", side="SELL", type="MARKET", quoteOrderQty="500")
    assert D(490) < D(sell["cummulativeQuoteQty"]) <= D(500)


def test_ioc_partial_then_expired(frozen, keys):
    depth = frozen.get("/api/v3/depth", symbol="BTCUSDT", limit=5).json()
    best_ask, first_qty = D(depth["asks"][0][0]), D(depth["asks"][0][1])
    res = order(
        frozen,
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="IOC",
        quantity=str(first_qty + D("0.01")),
        price=str(best_ask),
    )
    assert res["status"] == "EXPIRED"
    assert D(res["executedQty"]) == first_qty and len(res["fills"]) == 1
    assert balances(frozen, keys)["USDT"][1] == "0.00000000"  # nothing left locked


def test_fok_all_or_nothing(frozen, keys):
    depth = frozen.get("/api/v3/depth", symbol="ETHUSDT", limit=3).json()
    best_ask, first_qty = D(depth["asks"][0][0]), D(depth["asks"][0][1])
    res = order(
        frozen,
        keys,
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="FOK",
        quantity=str(first_qty + 1),
        price=str(best_ask),
    )
    assert res["status"] == "EXPIRED" and res["executedQty"] == "0.00000000" and not res["fills"]
    res = order(
        frozen,
        keys,
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="FOK",
        quantity="0.01",
        price=str(best_ask + 5),
    )
    assert res["status"] == "FILLED"
    assert balances(frozen, keys)["USDT"][1] == "0.00000000"


def test_aggressive_gtc_limit_fills_then_rests(frozen, keys):
    depth = frozen.get("/api/v3/depth", symbol="BNBUSDT", limit=3).json()
    best_ask, first_qty = D(depth["asks"][0][0]), D(depth["asks"][0][1])
    qty = first_qty + 1
    res = order(
        frozen,
        keys,
        symbol="BNBUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity=str(qty),
        price=str(best_ask),
    )
    assert res["status"] == "PARTIALLY_FILLED" and D(res["executedQty"]) == first_qty
    assert D(balances(frozen, keys)["USDT"][1]) == best_ask * 1  # the rest stays locked


def test_limit_maker(frozen, keys):
    bid, ask = best_prices(frozen, "BTCUSDT")
    r = frozen.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT_MAKER",
        quantity="0.001",
        price=str(ask),
    )
    assert (r.status_code, r.json()) == (
        400,
        {"code": -2010, "msg": "Order would immediately match and take."},
    )
    res = order(
        frozen,
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT_MAKER",
        quantity="0.001",
        price=str(bid - 10),
        newOrderRespType="RESULT",
    )
    assert res["status"] == "NEW" and res["timeInForce"] == "GTC"


def test_resting_limit_fills_after_price_move(sandbox, keys):
    bid, _ask = best_prices(sandbox, "ETHUSDT")
    price = (bid * D("0.95")).quantize(D("0.01"))
    res = order(
        sandbox,
        keys,
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="1",
        price=str(price),
        newClientOrderId="rest-fill",
    )
    assert res["status"] == "NEW"
    sandbox.set_price("ETHUSDT", price)
    q = sandbox.signed(
        "GET", "/api/v3/order", keys, symbol="ETHUSDT", origClientOrderId="rest-fill"
    ).json()
    assert q["status"] == "FILLED" and q["executedQty"] == "1.00000000"
    assert D(q["cummulativeQuoteQty"]) == price
    trade = sandbox.signed("GET", "/api/v3/myTrades", keys, symbol="ETHUSDT").json()[-1]
    assert trade["isMaker"] is True and trade["price"] == f"{price:.8f}"
    bal = balances(sandbox, keys)
    assert D(bal["USDT"][0]) == D(10000) - price and bal["USDT"][1] == "0.00000000"
    assert D(bal["ETH"][0]) == D(11) - D("0.001")
    sandbox.set_price("ETHUSDT", bid)


def test_stop_loss_limit_triggers_on_price(sandbox, keys):
    bid, _ask = best_prices(sandbox, "BNBUSDT")
    stop = (bid * D("0.95")).quantize(D("0.01"))
    limit = (stop * D("0.99")).quantize(D("0.01"))
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BNBUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="2",
        stopPrice=str(bid + 5),
        price=str(bid),
    )
    assert r.json() == {"code": -2010, "msg": "Order would trigger immediately."}
    res = order(
        sandbox,
        keys,
        symbol="BNBUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="2",
        stopPrice=str(stop),
        price=str(limit),
        newOrderRespType="RESULT",
    )
    assert res["status"] == "NEW" and res["stopPrice"] == f"{stop:.8f}"
    q = sandbox.signed("GET", "/api/v3/order", keys, symbol="BNBUSDT", orderId=res["orderId"])
    assert q.json()["isWorking"] is False
    assert balances(sandbox, keys)["BNB"] == ("98.00000000", "2.00000000")
    sandbox.set_price("BNBUSDT", stop - D("0.5"))
    q = sandbox.signed(
        "GET", "/api/v3/order", keys, symbol="BNBUSDT", orderId=res["orderId"]
    ).json()
    assert q["isWorking"] is True and q["status"] == "FILLED"
    assert all(
        D(t["price"]) >= limit
        for t in sandbox.signed("GET", "/api/v3/myTrades", keys, symbol="BNBUSDT").json()
    )
    assert balances(sandbox, keys)["BNB"] == ("98.00000000", "0.00000000")
    sandbox.set_price("BNBUSDT", bid)


def test_take_profit_limit_triggers(sandbox, keys):
    _bid, ask = best_prices(sandbox, "ETHBTC")
    stop = (ask * D("1.05")).quantize(D("0.00001"))
    res = order(
        sandbox,
        keys,
        symbol="ETHBTC",
        side="SELL",
        type="TAKE_PROFIT_LIMIT",
        timeInForce="GTC",
        quantity="1",
        stopPrice=str(stop),
        price=str(stop),
    )
    sandbox.set_price("ETHBTC", stop + D("0.0001"))
    q = sandbox.signed("GET", "/api/v3/order", keys, symbol="ETHBTC", orderId=res["orderId"]).json()
    assert q["status"] == "FILLED"
    sandbox.set_price("ETHBTC", ask)


def test_consumed_liquidity_worsens_the_next_fill(frozen, keys):
    # A book tick between the order and the second look refills the level; that is rare (one
    # tick a second, a few ms between the calls), so three tries must see the consumed level.
    for _attempt in range(3):
        depth = frozen.get("/api/v3/depth", symbol="BTCUSDT", limit=1).json()
        first = order(
            frozen, keys, symbol="BTCUSDT", side="BUY", type="MARKET", quantity=depth["asks"][0][1]
        )
        assert len(first["fills"]) == 1
        after = frozen.get("/api/v3/depth", symbol="BTCUSDT", limit=1).json()
        if D(after["asks"][0][0]) > D(depth["asks"][0][0]):
            break
    else:
        raise AssertionError("the best ask never moved after its whole level was bought")
