"""COIN-M futures of the sandbox: /dapi REST and the /dstream user-data stream."""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.sandbox.test_futures import fails, frozen, listen_key, ok, read_until, user_stream

D = Decimal
EIGHT = D("0.00000001")
__all__ = ["frozen"]  # the fixture, re-used from the USD-M tests


def coin_balance(sandbox, keys, asset: str) -> Decimal:
    rows = ok(sandbox, "GET", "/dapi/v1/balance", keys)
    return D(next(r for r in rows if r["asset"] == asset)["balance"])


def coin_position(sandbox, keys, symbol: str) -> dict:
    rows = ok(sandbox, "GET", "/dapi/v1/positionRisk", keys)
    return next(r for r in rows if r["symbol"] == symbol)


def test_coinm_public_endpoints(sandbox):
    assert sandbox.get("/dapi/v1/ping").json() == {}
    assert "serverTime" in sandbox.get("/dapi/v1/time").json()
    info = sandbox.get("/dapi/v1/exchangeInfo").json()
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {"BTCUSD_PERP", "ETHUSD_PERP"}
    btc = symbols["BTCUSD_PERP"]
    assert btc["contractSize"] == 100 and symbols["ETHUSD_PERP"]["contractSize"] == 10
    assert btc["marginAsset"] == "BTC" and btc["quantityPrecision"] == 0
    assert btc["contractStatus"] == "TRADING" and btc["pair"] == "BTCUSD"
    lot = next(f for f in btc["filters"] if f["filterType"] == "LOT_SIZE")
    assert lot["stepSize"] == "1" and lot["minQty"] == "1"
    limits = {(r["rateLimitType"], r["interval"]): r["limit"] for r in info["rateLimits"]}
    assert limits == {("REQUEST_WEIGHT", "MINUTE"): 6000, ("ORDERS", "MINUTE"): 6000}
    depth = sandbox.get("/dapi/v1/depth", symbol="BTCUSD_PERP", limit=5).json()
    assert len(depth["bids"]) == 5 and depth["pair"] == "BTCUSD"
    price = sandbox.get("/dapi/v1/ticker/price", symbol="ETHUSD_PERP").json()
    assert price[0]["symbol"] == "ETHUSD_PERP" and price[0]["ps"] == "ETHUSD"
    premium = sandbox.get("/dapi/v1/premiumIndex", symbol="BTCUSD_PERP").json()
    assert premium[0]["pair"] == "BTCUSD"


def test_coinm_order_round_trip_with_pnl_in_coin(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    account = ok(sandbox, "GET", "/dapi/v1/account", keys)
    wallets = {a["asset"]: D(a["walletBalance"]) for a in account["assets"]}
    assert wallets == {"BTC": 1, "ETH": 10}
    assert account["canTrade"] is True

    lev = ok(sandbox, "POST", "/dapi/v1/leverage", keys, symbol="BTCUSD_PERP", leverage=10)
    assert lev["leverage"] == 10 and "maxQty" in lev
    fails(sandbox, "POST", "/dapi/v1/leverage", keys, -4028, symbol="BTCUSD_PERP", leverage=200)
    fails(sandbox, "POST", "/dapi/v1/marginType", keys, -4046, symbol="BTCUSD_PERP",
          marginType="CROSSED")  # fmt: skip
    fails(sandbox, "POST", "/dapi/v1/order", keys, -1111, symbol="BTCUSD_PERP", side="BUY",
          type="MARKET", quantity="1.5")  # fmt: skip

    lk = listen_key(sandbox, keys, "/dapi")
    assert user_stream(sandbox, "PUT", keys, "/dapi").json() == {"listenKey": lk}
    with connect(f"{sandbox.ws_url}/dstream/ws/{lk}") as ws:
        opened = ok(sandbox, "POST", "/dapi/v1/order", keys, symbol="BTCUSD_PERP", side="BUY",
                    type="MARKET", quantity="10", newOrderRespType="RESULT",
                    newClientOrderId="cm-open")  # fmt: skip
        assert opened["status"] == "FILLED" and opened["executedQty"] == "10"
        assert opened["pair"] == "BTCUSD" and "cumBase" in opened
        fill = read_until(ws, lambda m: m["e"] == "ORDER_TRADE_UPDATE" and m["o"]["x"] == "TRADE")
        assert fill[-1]["o"]["N"] == "BTC" and fill[-1]["o"]["c"] == "cm-open"

        pos = coin_position(sandbox, keys, "BTCUSD_PERP")
        assert pos["positionAmt"] == "10" and D(pos["entryPrice"]) == 65000

        sandbox.set_price("BTCUSDT", "70000")
        # 10 contracts * 100 USD * (1/65000 - 1/70000) BTC
        expected_pnl = (D(1000) * (1 / D(65000) - 1 / D(70000))).quantize(EIGHT, ROUND_DOWN)
        pos = coin_position(sandbox, keys, "BTCUSD_PERP")
        assert D(pos["unRealizedProfit"]) == expected_pnl
        closed = ok(sandbox, "POST", "/dapi/v1/order", keys, symbol="BTCUSD_PERP", side="SELL",
                    type="MARKET", quantity="10", reduceOnly="true",
                    newOrderRespType="RESULT")  # fmt: skip
        assert closed["status"] == "FILLED"
        update = read_until(
            ws, lambda m: m["e"] == "ACCOUNT_UPDATE" and m["a"]["P"][0]["pa"] == "0"
        )
        assert update[-1]["a"]["B"][0]["a"] == "BTC"

    fees = [
        (D(1000) / D(65000) * D("0.0005")).quantize(EIGHT, ROUND_HALF_UP),
        (D(1000) / D(70000) * D("0.0005")).quantize(EIGHT, ROUND_HALF_UP),
    ]
    assert coin_balance(sandbox, keys, "BTC") == 1 + expected_pnl - sum(fees)
    assert coin_balance(sandbox, keys, "ETH") == 10
    assert coin_position(sandbox, keys, "BTCUSD_PERP")["positionAmt"] == "0"
    trades = ok(sandbox, "GET", "/dapi/v1/userTrades", keys, symbol="BTCUSD_PERP")
    assert D(trades[-1]["realizedPnl"]) == expected_pnl
    assert sandbox.orders("cm-open")[0]["market"] == "coinm"


def test_coinm_resting_order_and_cancel(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    placed = ok(sandbox, "POST", "/dapi/v1/order", keys, symbol="ETHUSD_PERP", side="SELL",
                type="LIMIT", timeInForce="GTC", quantity="5", price="3300.00")  # fmt: skip
    assert placed["status"] == "NEW"
    assert [o["orderId"] for o in ok(sandbox, "GET", "/dapi/v1/openOrders", keys)] == [
        placed["orderId"]
    ]
    got = ok(sandbox, "GET", "/dapi/v1/order", keys, symbol="ETHUSD_PERP",
             orderId=placed["orderId"])  # fmt: skip
    assert got["origQty"] == "5" and got["price"] == "3300.00"
    gone = ok(sandbox, "DELETE", "/dapi/v1/order", keys, symbol="ETHUSD_PERP",
              orderId=placed["orderId"])  # fmt: skip
    assert gone["status"] == "CANCELED"
    assert ok(sandbox, "GET", "/dapi/v1/openOrders", keys, symbol="ETHUSD_PERP") == []
    # ISOLATED margin in the coin: 5 contracts * 10 USD / 3200 / 20x
    ok(sandbox, "POST", "/dapi/v1/marginType", keys, symbol="ETHUSD_PERP", marginType="ISOLATED")
    ok(sandbox, "POST", "/dapi/v1/order", keys, symbol="ETHUSD_PERP", side="BUY", type="MARKET",
       quantity="5")  # fmt: skip
    pos = coin_position(sandbox, keys, "ETHUSD_PERP")
    assert pos["marginType"] == "isolated"
    assert D(pos["isolatedWallet"]) == D(50) / D(3200) / 20


def test_dstream_market_streams(sandbox):
    with connect(f"{sandbox.ws_url}/dstream/stream?streams=btcusd_perp@markPrice@1s") as ws:
        event = json.loads(ws.recv(timeout=3))
        assert event["stream"] == "btcusd_perp@markPrice@1s"
        assert event["data"]["s"] == "BTCUSD_PERP" and event["data"]["ps"] == "BTCUSD"
    with connect(f"{sandbox.ws_url}/dstream/ws/{'0' * 64}") as ws, pytest.raises(ConnectionClosed):
        ws.recv(timeout=2)  # not an active COIN-M listenKey
