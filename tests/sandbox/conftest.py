"""Helpers shared by the sandbox tests (the `sandbox` fixture lives in tests/fixtures)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.fixtures.sandbox import sign_payload


def now_ms() -> int:
    return int(time.time() * 1000)


def ws_sign(keys: dict, params: dict) -> dict:
    """Add a WebSocket-API signature: sorted params incl. apiKey, raw values, no encoding."""
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    return {**params, "signature": sign_payload(keys, payload)}


async def recv_json(ws, timeout: float = 5.0):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def collect(ws, predicate, timeout: float = 5.0) -> list:
    """Receive messages until predicate(list_so_far) is true; return them all."""
    got = []
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate(got):
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"timed out; received {got}")
        got.append(await recv_json(ws, left))
    return got


@pytest.fixture
def keys(sandbox):
    """Fresh HMAC keys with the default balances (10000 USDT, 1 BTC, 10 ETH, 100 BNB)."""
    return sandbox.create_keys()


def balances(sandbox, keys) -> dict:
    r = sandbox.signed("GET", "/api/v3/account", keys)
    assert r.status_code == 200, r.text
    return {b["asset"]: (b["free"], b["locked"]) for b in r.json()["balances"]}


def best_prices(sandbox, symbol: str = "BTCUSDT"):
    from decimal import Decimal

    t = sandbox.get("/api/v3/ticker/bookTicker", symbol=symbol).json()
    return Decimal(t["bidPrice"]), Decimal(t["askPrice"])
