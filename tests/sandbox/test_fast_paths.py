"""The performance shortcuts behave exactly like the straightforward code they replace:
query parsing, shared websocket frames and the slow-client queue, cached /api/v3/account
answers, and order-book walks that skip the levels already taken this tick."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchanges.sandbox.config import SandboxConfig
from exchanges.sandbox.errors import ApiError
from exchanges.sandbox.prices import PriceEngine
from exchanges.sandbox.rest import _parse
from exchanges.sandbox.ws import HIGH_WATER, WsConnection, text_frame

from .conftest import balances


# ---- query parsing ----------------------------------------------------------------------
def reference_parse(raw: str, into: dict, overwrite: bool) -> None:
    """The original implementation (parse_qsl for every string)."""
    seen = set()
    for k, v in parse_qsl(raw, keep_blank_values=True):
        if k in seen:
            raise ApiError(-1101, "dup")
        seen.add(k)
        if overwrite or k not in into:
            into[k] = v


def outcome(fn, raw: str, into: dict, overwrite: bool):
    into = dict(into)
    try:
        fn(raw, into, overwrite)
    except ApiError as err:
        return ("error", err.code)
    return ("ok", into)


@given(
    raw=st.text(alphabet="ab=&%2B+x ", max_size=24),
    into=st.dictionaries(st.sampled_from(["a", "b", "ab"]), st.sampled_from(["1", ""])),
    overwrite=st.booleans(),
)
def test_parse_matches_parse_qsl(raw, into, overwrite):
    assert outcome(_parse, raw, into, overwrite) == outcome(reference_parse, raw, into, overwrite)


@pytest.mark.parametrize(
    "raw",
    [
        "symbol=BTCUSDT&side=BUY&timestamp=1&signature=ab",
        "a=1&&b=",
        "a&b=2",
        "=x",
        "a=1&a=2",
        "a=%20b&c=d+e",
        "price=1%2E5",
    ],
)
def test_parse_examples(raw):
    for overwrite in (True, False):
        for into in ({}, {"a": "q"}):
            assert outcome(_parse, raw, into, overwrite) == outcome(
                reference_parse, raw, into, overwrite
            )


# ---- websocket frames -------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frame_header(size):
    payload = b"x" * size
    frame = text_frame(payload)
    assert frame[0] == 0x81  # FIN + text, no RSV bits (no compression)
    if size < 126:
        assert frame[1] == size and frame[2:] == payload
    elif size < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size
        assert frame[4:] == payload
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size
        assert frame[10:] == payload
    assert text_frame(payload.decode()) == frame


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.buffered = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing


def make_connection(transport: FakeTransport) -> WsConnection:
    state = SimpleNamespace(config=SandboxConfig(), now_ms=lambda: 0)
    conn = WsConnection(SimpleNamespace(path="/ws/x", transport=transport), state)
    conn._transport = transport  # what run() sets once the handshake is done
    return conn


async def test_slow_client_queues_in_order_then_writes_directly():
    transport = FakeTransport()
    conn = make_connection(transport)
    writer = asyncio.create_task(conn._writer())
    try:
        conn.send_text("1")
        assert transport.written == [text_frame("1")]  # direct write, nothing awaited
        transport.buffered = HIGH_WATER + 1  # the client stopped reading
        conn.send_text("2")
        conn.send_frame(text_frame("3"))
        await asyncio.sleep(0.02)
        assert transport.written == [text_frame("1")]
        transport.buffered = 0  # drained: the queue goes first, in order
        conn.send_text("4")
        await asyncio.sleep(0.05)
        assert transport.written == [text_frame(x) for x in "1234"]
        assert conn._backlog == 0
        conn.send_text("5")
        assert transport.written[-1] == text_frame("5")
    finally:
        writer.cancel()


async def test_nothing_is_written_before_the_handshake_or_after_close():
    transport = FakeTransport()
    conn = make_connection(transport)
    conn._transport = None  # handshake not answered yet
    conn.send_text("early")
    assert transport.written == []
    conn._transport = transport
    writer = asyncio.create_task(conn._writer())
    await asyncio.sleep(0.02)
    assert transport.written == [text_frame("early")]
    conn.closed = True
    conn.send_text("late")
    assert transport.written == [text_frame("early")]
    writer.cancel()


# ---- account cache ----------------------------------------------------------------------
def test_account_answer_follows_every_balance_change(sandbox):
    keys = sandbox.create_keys(balances={"USDT": "1000", "BTC": "0"})
    assert balances(sandbox, keys)["USDT"] == ("1000.00000000", "0.00000000")
    sandbox.update_keys(keys["apiKey"], balances={"USDT": "2000"})
    assert balances(sandbox, keys)["USDT"] == ("2000.00000000", "0.00000000")
    omit = sandbox.signed("GET", "/api/v3/account", keys, omitZeroBalances="true").json()
    assert [b["asset"] for b in omit["balances"]] == ["USDT"]
    r = sandbox.signed(
        "POST",
        "/api/v3/order",
        keys,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price="30000",
    )
    assert r.status_code == 200, r.text
    free, locked = balances(sandbox, keys)["USDT"]
    assert (free, locked) == ("1970.00000000", "30.00000000")
    sandbox.update_keys(keys["apiKey"], can_trade=False)
    assert sandbox.signed("GET", "/api/v3/account", keys).json()["canTrade"] is False
    full = sandbox.signed("GET", "/api/v3/account", keys).json()
    assert [b["asset"] for b in full["balances"]] == ["BTC", "USDT"]


# ---- order book walks -------------------------------------------------------------------
@pytest.mark.parametrize("side", ["asks", "bids"])
def test_level_walk_after_taking_liquidity_matches_a_fresh_walk(side):
    rng = random.Random(7)
    market = PriceEngine(seed=3).markets["BTCUSDT"]
    for _round in range(200):
        # Take a random amount from the best levels outwards, as taker orders do.
        want = Decimal(rng.randint(1, 400)) / 10000
        for price, avail in market.iter_levels(side):
            take = min(avail, want)
            market.consume(side, price, take)
            want -= take
            if want <= 0:
                break
        walked = market.levels(side, 8)
        hint = dict(market._first_level)
        market._first_level.clear()
        assert market.levels(side, 8) == walked
        market._first_level.update(hint)
        if _round % 50 == 49:
            market.step(rng, walk=True)  # a tick gives the liquidity back
            assert market._first_level == {}


# ---- futures market streams -------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "shared"),
    [
        ("btcusdt@bookTicker", True),
        ("btcusdt@markPrice", True),
        ("btcusdt@markPrice@1s", True),
        ("btcusdt@kline_1m", True),
        ("btcusdt@miniTicker", True),
        ("btcusdt@ticker", True),
        ("!markPrice@arr@1s", True),
        ("!miniTicker@arr", True),
        ("!ticker@arr", True),
        # per-connection update ids, diffs or trade cursors: built per connection
        ("btcusdt@depth5", False),
        ("btcusdt@depth@100ms", False),
        ("btcusdt@aggTrade", False),
        ("!bookTicker", False),
    ],
)
def test_futures_streams_shared_between_connections(name, shared):
    from exchanges.sandbox.futures_streams import shareable

    assert shareable(name) is shared


def test_futures_book_cache_follows_the_underlying(sandbox_clean):
    def depth():
        r = sandbox_clean.get("/fapi/v1/depth", symbol="BTCUSDT", limit=5)
        assert r.status_code == 200, r.text
        return r.json()

    sandbox_clean.set_price("BTCUSDT", "64000")
    first = depth()
    again = depth()
    if again["lastUpdateId"] == first["lastUpdateId"]:  # no market tick in between
        assert again["bids"] == first["bids"] and again["asks"] == first["asks"]
    assert abs(float(first["bids"][0][0]) - 64000) < 100
    sandbox_clean.set_price("BTCUSDT", "66000")
    moved = depth()
    assert moved["lastUpdateId"] > first["lastUpdateId"]
    assert abs(float(moved["bids"][0][0]) - 66000) < 100
    # Spot liquidity taken from the underlying shows up in the futures book at once.
    keys = sandbox_clean.create_keys(balances={"USDT": "1000000"})
    r = sandbox_clean.signed(
        "POST", "/api/v3/order", keys, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.2"
    )
    assert r.status_code == 200, r.text
    assert depth()["asks"] != moved["asks"]
