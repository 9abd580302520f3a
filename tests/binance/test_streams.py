"""Streams against the sandbox: subscribe, reconnect after ws-drop / ws-silent, gap closing."""

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from exchanges.binance import BinanceClient
from exchanges.binance.streams import (
    FuturesUserDataStream,
    MarketStream,
    ReconnectInfo,
    SpotUserDataStream,
    StatusChange,
    StreamOptions,
    StreamStatus,
)

FAST = StreamOptions(backoff_initial=0.05, backoff_max=0.2, silence_timeout=None)


async def next_event(stream: Any, wait: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(wait):
        event: dict[str, Any] = await stream.__anext__()
        return event


async def until(predicate: Any, wait: float = 8.0) -> None:
    async with asyncio.timeout(wait):
        while not predicate():
            await asyncio.sleep(0.02)


async def events_of(stream: Any, name: str, wait: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(wait):
        while True:
            event = await stream.__anext__()
            if event["stream"] == name:
                return event


async def test_market_stream_subscribe_unsubscribe_and_reconnect(sandbox, urls, control):
    statuses: list[StatusChange] = []
    reconnects: list[ReconnectInfo] = []
    stream = MarketStream.spot(
        urls, ["BTCUSDT@bookTicker"], options=FAST, on_status=statuses.append,
        on_reconnect=reconnects.append,
    )  # fmt: skip
    async with stream:
        async with asyncio.timeout(5):
            await stream.wait_up()
        await asyncio.to_thread(sandbox.set_price, "BTCUSDT", "50100")
        event = await events_of(stream, "btcusdt@bookTicker")
        assert event["data"]["s"] == "BTCUSDT"
        assert await stream.subscribe(["ethusdt@bookTicker"]) is True
        await asyncio.to_thread(sandbox.set_price, "ETHUSDT", "3000")
        assert (await events_of(stream, "ethusdt@bookTicker"))["data"]["s"] == "ETHUSDT"
        assert await stream.unsubscribe(["ethusdt@bookTicker"]) is True

        await asyncio.to_thread(control.fault, "/stream", "ws-drop")
        await until(lambda: stream.connections == 2 and stream.status is StreamStatus.UP)
        assert [r.initial for r in reconnects] == [True, False]
        assert StreamStatus.RECONNECTING in [s.status for s in statuses]
        await asyncio.to_thread(sandbox.set_price, "BTCUSDT", "50200")
        event = await events_of(stream, "btcusdt@bookTicker")  # resubscribed after reconnect
        assert stream.streams == ["btcusdt@bookTicker"]
    assert stream.status is StreamStatus.DOWN


async def test_market_stream_watchdog_reconnects_a_silent_connection(sandbox, urls, control):
    options = StreamOptions(backoff_initial=0.05, silence_timeout=1.0)
    stream = MarketStream.spot(urls, ["btcusdt@bookTicker"], options=options)
    async with stream:
        async with asyncio.timeout(5):
            await stream.wait_up()
        await asyncio.to_thread(control.fault, "/stream", "ws-silent")
        await until(lambda: stream.connections >= 2, wait=6)
        await asyncio.to_thread(sandbox.set_price, "BTCUSDT", "50300")
        event = await events_of(stream, "btcusdt@bookTicker")
        assert event["data"]["s"] == "BTCUSDT"


def _futures_stream(client: BinanceClient, urls: Any, seen: set[str], options: StreamOptions,
                    reconciled: list[ReconnectInfo]) -> FuturesUserDataStream:  # fmt: skip
    def on_event(event: dict[str, Any]) -> None:
        if event.get("e") == "ORDER_TRADE_UPDATE":
            seen.add(event["o"]["c"])

    async def reconcile(info: ReconnectInfo) -> None:
        # The gap is closed over REST before any event of the new connection is delivered.
        orders = await asyncio.to_thread(client.usdm.open_orders, "BTCUSDT")
        seen.update(o.client_order_id for o in orders)
        reconciled.append(info)

    async def listen_key() -> str:
        return (await asyncio.to_thread(client.usdm.create_listen_key)).listen_key

    return FuturesUserDataStream(
        urls, listen_key, options=options, on_event=on_event, on_reconnect=reconcile
    )


async def _place(client: BinanceClient, price: str) -> str:
    order = await asyncio.to_thread(
        client.usdm.place_order, "BTCUSDT", "BUY", "LIMIT", quantity=Decimal("0.01"),
        price=price, time_in_force="GTC",
    )  # fmt: skip
    return order.client_order_id


@pytest.mark.parametrize("kind", ["ws-drop", "ws-silent"])
async def test_futures_user_stream_loses_no_event(client, sandbox, urls, control, kind):
    await asyncio.to_thread(sandbox.set_price, "BTCUSDT", "50000")
    seen: set[str] = set()
    reconciled: list[ReconnectInfo] = []
    options = StreamOptions(
        backoff_initial=0.05, silence_timeout=1.5 if kind == "ws-silent" else None
    )
    stream = _futures_stream(client, urls, seen, options, reconciled)
    async with stream:
        async with asyncio.timeout(5):
            await stream.wait_up()
        first = await _place(client, "48000")
        await until(lambda: first in seen)
        await asyncio.to_thread(control.fault, "/fstream/private", kind)
        during_gap = await _place(client, "48100")  # placed while the stream is down/silent
        await until(lambda: stream.connections >= 2 and during_gap in seen, wait=10)
        after = await _place(client, "48200")
        await until(lambda: after in seen)
    assert [r.initial for r in reconciled][:2] == [True, False]
    await asyncio.to_thread(client.usdm.cancel_all_orders, "BTCUSDT")


async def test_futures_user_stream_reconnects_on_listen_key_expired(client, sandbox, urls):
    seen: set[str] = set()
    reconciled: list[ReconnectInfo] = []
    events: list[str] = []
    stream = _futures_stream(client, urls, seen, FAST, reconciled)
    inner = stream._on_event

    def record(event: dict[str, Any]) -> None:
        events.append(event.get("e", ""))
        assert inner is not None
        inner(event)

    stream._on_event = record
    await asyncio.to_thread(sandbox.configure, listen_key_ttl=1.0)
    try:
        async with stream:
            async with asyncio.timeout(5):
                await stream.wait_up()
            await until(lambda: "listenKeyExpired" in events and stream.connections >= 2)
    finally:
        await asyncio.to_thread(sandbox.configure, listen_key_ttl=3600.0)
    assert reconciled[1].reason == "listenKeyExpired"


@pytest.mark.parametrize("key_type", ["HMAC", "ED25519", "RSA"])
async def test_spot_user_stream_over_ws_api(sandbox, urls, budget, control, key_type):
    from .conftest import make_credentials

    creds = await asyncio.to_thread(make_credentials, sandbox, key_type)
    client = BinanceClient(urls, creds, budget=budget)
    seen: set[str] = set()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("e") == "executionReport":
            seen.add(event["c"])

    async def reconcile(info: ReconnectInfo) -> None:
        orders = await asyncio.to_thread(client.spot.open_orders, "BTCUSDT")
        seen.update(o.client_order_id for o in orders)

    stream = SpotUserDataStream(urls, creds, options=StreamOptions(backoff_initial=0.05,
                                silence_timeout=1.0, probe_timeout=1.0),
                                on_event=on_event, on_reconnect=reconcile)  # fmt: skip

    async def place(price: str) -> str:
        order = await asyncio.to_thread(
            client.spot.place_order, "BTCUSDT", "BUY", "LIMIT", quantity="0.01", price=price,
            time_in_force="GTC",
        )  # fmt: skip
        return order.client_order_id

    await asyncio.to_thread(sandbox.set_price, "BTCUSDT", "50000")
    async with stream:
        async with asyncio.timeout(5):
            await stream.wait_up()
        first = await place("40000")
        await until(lambda: first in seen)
        for kind in ("ws-drop", "ws-silent"):
            await asyncio.to_thread(control.fault, "/ws-api/v3", kind)
            gap = await place("40100")
            await until(lambda gap=gap: gap in seen, wait=10)
        assert stream.connections >= 3
    await asyncio.to_thread(client.spot.cancel_all_orders, "BTCUSDT")
    client.close()
