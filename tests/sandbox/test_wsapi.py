"""The spot WebSocket API: user-data subscriptions for every key type, sessions, keep-alive."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import websockets

from exchanges.sandbox.signing import generate_key_pair

from .conftest import collect, now_ms, recv_json, ws_sign


async def call(ws, req_id, method, params=None):
    msg = {"id": req_id, "method": method}
    if params is not None:
        msg["params"] = params
    await ws.send(json.dumps(msg))
    while True:
        reply = await recv_json(ws)
        if reply.get("id") == req_id:
            return reply


def done(events):
    kinds = [e.get("event", {}).get("e") for e in events]
    reports = [e["event"] for e in events if e.get("event", {}).get("e") == "executionReport"]
    return "outboundAccountPosition" in kinds and any(r["X"] == "FILLED" for r in reports)


@pytest.mark.parametrize("key_type", ["HMAC", "ED25519", "RSA"])
async def test_subscribe_signature_delivers_order_events(sandbox, key_type):
    if key_type == "HMAC":
        keys = sandbox.create_keys()
    else:
        private, public = generate_key_pair(key_type)
        keys = {**sandbox.create_keys(key_type=key_type, public_key=public), "privateKey": private}
    async with websockets.connect(sandbox.ws_url + "/ws-api/v3") as ws:
        params = ws_sign(keys, {"apiKey": keys["apiKey"], "timestamp": now_ms()})
        reply = await call(ws, "sub-1", "userDataStream.subscribe.signature", params)
        assert reply["status"] == 200 and reply["result"] == {"subscriptionId": 0}
        assert reply["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        r = sandbox.signed(
            "POST",
            "/api/v3/order",
            keys,
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.05",
            newClientOrderId="ws-" + key_type,
        )
        assert r.status_code == 200, r.text
        events = await collect(ws, done)
    assert all(e["subscriptionId"] == 0 for e in events)
    reports = [e["event"] for e in events if e["event"]["e"] == "executionReport"]
    assert reports[0]["x"] == "NEW" and reports[0]["c"] == "ws-" + key_type
    trades = [r for r in reports if r["x"] == "TRADE"]
    assert len(trades) == len(r.json()["fills"])
    assert trades[-1]["X"] == "FILLED" and trades[-1]["z"] == "0.05000000"
    assert trades[0]["N"] == "BTC" and trades[0]["m"] is False
    position = next(e["event"] for e in events if e["event"]["e"] == "outboundAccountPosition")
    assert {b["a"] for b in position["B"]} == {"BTC", "USDT"}


async def test_signature_errors_on_ws_api(sandbox, keys):
    async with websockets.connect(sandbox.ws_url + "/ws-api/v3") as ws:
        params = ws_sign(keys, {"apiKey": keys["apiKey"], "timestamp": now_ms()})
        params["signature"] = "0" * 64
        reply = await call(ws, 1, "userDataStream.subscribe.signature", params)
        assert reply["status"] == 400
        assert reply["error"] == {"code": -1022, "msg": "Signature for this request is not valid."}
        old = ws_sign(keys, {"apiKey": keys["apiKey"], "timestamp": now_ms() - 60_000})
        reply = await call(ws, 2, "userDataStream.subscribe.signature", old)
        assert reply["error"]["code"] == -1021
        reply = await call(
            ws,
            3,
            "userDataStream.subscribe.signature",
            ws_sign(keys, {"apiKey": "B" * 64, "timestamp": now_ms()}),
        )
        assert reply["status"] == 401 and reply["error"]["code"] == -2015
        # The removed listenKey methods.
        reply = await call(ws, 4, "userDataStream.start", {"apiKey": keys["apiKey"]})
        assert reply["status"] == 400 and reply["error"]["code"] == -1020


async def test_session_logon_ed25519_only(sandbox, keys):
    private, public = generate_key_pair("ED25519")
    ed = {**sandbox.create_keys(key_type="ED25519", public_key=public), "privateKey": private}
    async with websockets.connect(sandbox.ws_url + "/ws-api/v3") as ws:
        assert (await call(ws, 1, "ping", {}))["result"] == {}
        assert "serverTime" in (await call(ws, 2, "time"))["result"]
        status = await call(ws, 3, "session.status")
        assert status["result"]["apiKey"] is None
        reply = await call(
            ws, 4, "session.logon", ws_sign(keys, {"apiKey": keys["apiKey"], "timestamp": now_ms()})
        )
        assert reply["status"] == 400 and reply["error"]["code"] == -4056
        reply = await call(ws, 5, "userDataStream.subscribe")
        assert reply["status"] == 401
        reply = await call(
            ws, 6, "session.logon", ws_sign(ed, {"apiKey": ed["apiKey"], "timestamp": now_ms()})
        )
        assert reply["status"] == 200 and reply["result"]["apiKey"] == ed["apiKey"]
        assert reply["result"]["userDataStream"] is False
        sub = await call(ws, 7, "userDataStream.subscribe")
        assert sub["result"] == {"subscriptionId": 0}
        again = await call(ws, 8, "userDataStream.subscribe")
        assert again["error"] == {
            "code": -2035,
            "msg": "User Data Stream subscription already active.",
        }
        # A signature subscription for another account on the same connection.
        other = await call(
            ws,
            9,
            "userDataStream.subscribe.signature",
            ws_sign(keys, {"apiKey": keys["apiKey"], "timestamp": now_ms()}),
        )
        assert other["result"] == {"subscriptionId": 1}
        listed = await call(ws, 10, "session.subscriptions")
        assert listed["result"] == [{"subscriptionId": 0}, {"subscriptionId": 1}]
        assert (await call(ws, 11, "session.status"))["result"]["userDataStream"] is True
        # Logout ends only the logon subscription, with eventStreamTerminated.
        await ws.send(json.dumps({"id": 12, "method": "session.logout"}))
        got = await collect(ws, lambda m: any(x.get("id") == 12 for x in m))
        assert {
            "subscriptionId": 0,
            "event": {"e": "eventStreamTerminated", "E": got[0]["event"]["E"]},
        } == got[0]
        listed = await call(ws, 13, "session.subscriptions")
        assert listed["result"] == [{"subscriptionId": 1}]
        # Unsubscribe without id closes the rest.
        await ws.send(json.dumps({"id": 14, "method": "userDataStream.unsubscribe"}))
        got = await collect(ws, lambda m: any(x.get("id") == 14 for x in m))
        assert got[0]["subscriptionId"] == 1 and got[0]["event"]["e"] == "eventStreamTerminated"
        reply = await call(ws, 15, "userDataStream.unsubscribe", {"subscriptionId": 1})
        assert reply["error"]["code"] == -2036


async def test_balance_update_and_list_status_events(sandbox, keys):
    async with websockets.connect(sandbox.ws_url + "/ws-api/v3") as ws:
        await call(
            ws,
            1,
            "userDataStream.subscribe.signature",
            ws_sign(keys, {"apiKey": keys["apiKey"], "timestamp": now_ms()}),
        )
        sandbox.update_keys(keys["apiKey"], balances={"USDT": "12000"})
        events = await collect(ws, lambda m: len(m) >= 2)
        assert events[0]["event"]["e"] == "balanceUpdate"
        assert events[0]["event"]["a"] == "USDT" and events[0]["event"]["d"] == "2000.00000000"
        price = sandbox.get("/api/v3/ticker/price", symbol="BNBUSDT").json()["price"]
        p = float(price)
        r = sandbox.signed(
            "POST",
            "/api/v3/orderList/oco",
            keys,
            symbol="BNBUSDT",
            side="SELL",
            quantity="1",
            aboveType="LIMIT_MAKER",
            abovePrice=f"{p * 1.2:.2f}",
            belowType="STOP_LOSS",
            belowStopPrice=f"{p * 0.8:.2f}",
        )
        assert r.status_code == 200, r.text
        events = await collect(ws, lambda m: any(e["event"]["e"] == "listStatus" for e in m))
        status = next(e["event"] for e in events if e["event"]["e"] == "listStatus")
        assert status["c"] == "OCO" and status["l"] == "EXEC_STARTED" and len(status["O"]) == 2


async def test_revoked_key_terminates_subscription(sandbox):
    keys = sandbox.create_keys()
    async with websockets.connect(sandbox.ws_url + "/ws-api/v3") as ws:
        await call(
            ws,
            1,
            "userDataStream.subscribe.signature",
            ws_sign(keys, {"apiKey": keys["apiKey"], "timestamp": now_ms()}),
        )
        sandbox.revoke_keys(keys["apiKey"])
        event = await recv_json(ws)
        assert event["event"]["e"] == "eventStreamTerminated"


async def test_server_drops_connections_that_do_not_pong(sandbox_clean):
    sandbox_clean.configure(ws_ping_interval=0.2, ws_pong_timeout=0.4)
    async with aiohttp.ClientSession() as session:
        # autoping=False: the client never answers the server's pings.
        async with session.ws_connect(
            sandbox_clean.ws_url + "/ws-api/v3", autoping=False
        ) as silent:
            kinds = []
            async for msg in silent:
                kinds.append(msg.type)
                if len(kinds) > 20:
                    break
            assert aiohttp.WSMsgType.PING in kinds
            assert silent.closed
        # A well-behaved client (websockets answers pings) stays connected.
        async with websockets.connect(sandbox_clean.ws_url + "/ws-api/v3") as ws:
            await asyncio.sleep(1.0)
            assert (await call(ws, 1, "ping", {}))["status"] == 200


async def test_ws_drop_fault(sandbox_clean, keys):
    async with websockets.connect(sandbox_clean.ws_url + "/ws-api/v3") as ws:
        assert (await call(ws, 1, "ping", {}))["status"] == 200
        sandbox_clean.fault("/ws-api/v3", "ws-drop")
        with pytest.raises(websockets.ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), 5)
    # The fault was used up on the open connection; a reconnect works.
    async with websockets.connect(sandbox_clean.ws_url + "/ws-api/v3") as ws:
        assert (await call(ws, 1, "ping", {}))["status"] == 200
    # With no open connection, the next one is dropped right after the handshake.
    sandbox_clean.fault("/ws-api/v3", "ws-drop")
    async with websockets.connect(sandbox_clean.ws_url + "/ws-api/v3") as ws:
        with pytest.raises(websockets.ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), 5)


async def test_ws_silent_fault(sandbox_clean, keys):
    sandbox_clean.fault("/ws-api/v3", "ws-silent")
    async with websockets.connect(sandbox_clean.ws_url + "/ws-api/v3") as ws:
        await ws.send(json.dumps({"id": 1, "method": "ping"}))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 1.0)
        # Still answers pings: the connection looks alive.
        pong = await ws.ping()
        await asyncio.wait_for(pong, 2)
