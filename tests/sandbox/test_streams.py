"""Spot market streams: raw and combined URLs, the JSON control protocol, payloads."""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal

import pytest
import websockets

from .conftest import collect, recv_json


async def test_raw_stream_trade_and_book_ticker(sandbox):
    async with websockets.connect(sandbox.ws_url + "/ws/btcusdt@trade/btcusdt@bookTicker") as ws:
        msgs = await collect(ws, lambda m: any("e" in x for x in m) and any("u" in x for x in m))
    trade = next(m for m in msgs if m.get("e") == "trade")
    assert set(trade) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"} and trade["s"] == "BTCUSDT"
    book = next(m for m in msgs if "u" in m)
    assert set(book) == {"u", "s", "b", "B", "a", "A"}
    assert Decimal(book["b"]) < Decimal(book["a"])


async def test_combined_stream_wraps_payloads(sandbox):
    url = sandbox.ws_url + "/stream?streams=ethusdt@aggTrade/ethusdt@depth5"
    async with websockets.connect(url) as ws:
        msgs = await collect(
            ws,
            lambda m: {x["stream"] for x in m} >= {"ethusdt@aggTrade", "ethusdt@depth5"},
            timeout=6,
        )
    agg = next(m["data"] for m in msgs if m["stream"] == "ethusdt@aggTrade")
    assert agg["e"] == "aggTrade" and set(agg) == {
        "e",
        "E",
        "s",
        "a",
        "p",
        "q",
        "f",
        "l",
        "T",
        "m",
        "M",
    }
    depth = next(m["data"] for m in msgs if m["stream"] == "ethusdt@depth5")
    assert set(depth) == {"lastUpdateId", "bids", "asks"} and len(depth["bids"]) == 5


async def test_subscribe_unsubscribe_list(sandbox):
    async with websockets.connect(sandbox.ws_url + "/ws") as ws:
        await ws.send(
            json.dumps(
                {"method": "SUBSCRIBE", "params": ["bnbusdt@miniTicker", "bnbusdt@ticker"], "id": 1}
            )
        )
        assert await recv_json(ws) == {"result": None, "id": 1}
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        reply = await collect(ws, lambda m: any(x.get("id") == 2 for x in m))
        assert reply[-1]["result"] == ["bnbusdt@miniTicker", "bnbusdt@ticker"]
        msgs = await collect(
            ws, lambda m: {x.get("e") for x in m} >= {"24hrMiniTicker", "24hrTicker"}
        )
        ticker = next(m for m in msgs if m.get("e") == "24hrTicker")
        assert {
            "p",
            "P",
            "w",
            "c",
            "b",
            "a",
            "o",
            "h",
            "l",
            "v",
            "q",
            "O",
            "C",
            "F",
            "L",
            "n",
        } <= set(ticker)
        await ws.send(
            json.dumps({"method": "UNSUBSCRIBE", "params": ["bnbusdt@ticker"], "id": "abc"})
        )
        await collect(ws, lambda m: any(x.get("id") == "abc" for x in m))
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        reply = await collect(ws, lambda m: any(x.get("id") == 3 for x in m))
        assert reply[-1]["result"] == ["bnbusdt@miniTicker"]
        await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 4}))
        await collect(ws, lambda m: any(x.get("id") == 4 for x in m))
        msgs = await collect(ws, lambda m: any("stream" in x for x in m))
        assert msgs[-1]["stream"] == "bnbusdt@miniTicker"
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["nope@trade"], "id": 5}))
        reply = await collect(ws, lambda m: any(x.get("id") == 5 for x in m))
        assert reply[-1]["error"]["code"] == 2
        await ws.send("not json")
        reply = await collect(ws, lambda m: any("error" in x for x in m))
        assert reply[-1]["error"]["code"] == 3


async def test_kline_updates_without_trades_between(sandbox):
    async with websockets.connect(sandbox.ws_url + "/ws/ethbtc@kline_1m") as ws:
        first = await recv_json(ws, 4)
        second = await recv_json(ws, 4)
    for k in (first, second):
        assert k["e"] == "kline" and k["s"] == "ETHBTC"
        assert set(k["k"]) == {
            "t",
            "T",
            "s",
            "i",
            "f",
            "L",
            "o",
            "c",
            "h",
            "l",
            "v",
            "n",
            "x",
            "q",
            "V",
            "Q",
            "B",
        }
        assert k["k"]["i"] == "1m" and k["k"]["T"] == k["k"]["t"] + 59_999
    assert 1000 <= second["E"] - first["E"] <= 3500


async def test_depth_diff_stream_continuity(sandbox):
    async with websockets.connect(sandbox.ws_url + "/ws/btcusdt@depth@100ms") as ws:
        snapshot = sandbox.get("/api/v3/depth", symbol="BTCUSDT", limit=1000).json()
        updates = await collect(ws, lambda m: len(m) >= 3, timeout=6)
    assert all(u["e"] == "depthUpdate" and u["s"] == "BTCUSDT" for u in updates)
    for prev, cur in itertools.pairwise(updates):
        assert cur["U"] == prev["u"] + 1
    relevant = [u for u in updates if u["u"] > snapshot["lastUpdateId"]]
    assert relevant and relevant[0]["U"] <= snapshot["lastUpdateId"] + 1


async def test_control_price_move_emits_trade_immediately(sandbox):
    async with websockets.connect(sandbox.ws_url + "/ws/bnbusdt@trade") as ws:
        price = Decimal(sandbox.get("/api/v3/ticker/price", symbol="BNBUSDT").json()["price"])
        target = (price + 1).quantize(Decimal("0.01"))
        sandbox.set_price("BNBUSDT", target)
        msgs = await collect(ws, lambda m: any(Decimal(x["p"]) == target for x in m), timeout=3)
    assert msgs


async def test_stream_faults(sandbox_clean):
    async with websockets.connect(sandbox_clean.ws_url + "/ws/btcusdt@bookTicker") as ws:
        await recv_json(ws, 3)
        sandbox_clean.fault("/ws/", "ws-silent")
        await asyncio.sleep(0.1)
        with pytest.raises(TimeoutError):
            while True:
                await asyncio.wait_for(ws.recv(), 2.5)
        await asyncio.wait_for(await ws.ping(), 2)
    async with websockets.connect(sandbox_clean.ws_url + "/stream?streams=btcusdt@trade") as ws:
        sandbox_clean.fault("/stream", "ws-drop")
        with pytest.raises(websockets.ConnectionClosedError):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
