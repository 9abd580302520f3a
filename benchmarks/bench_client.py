"""Benchmark: KLINEO's Binance client vs python-binance and ccxt against one local sandbox.

    .venv/bin/python benchmarks/bench_client.py [--seconds 3] [--url http://127.0.0.1:PORT]

Starts a sandbox process (unless --url is given), then for each client measures signed
GET /api/v3/account and POST /api/v3/order/test: calls per second, p50 and p99 latency (one
thread, sequential, after a warm-up). Also measures this client's per-call overhead without
the network: parameter encoding + timestamp + signing + response parsing + header and budget
bookkeeping, on a canned answer. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exchanges.binance import (  # noqa: E402
    BinanceClient,
    ClientConfig,
    HmacCredentials,
    InMemoryBudget,
    Market,
    sandbox_urls,
)
from exchanges.binance.client import encode_params  # noqa: E402
from exchanges.binance.credentials import rest_query  # noqa: E402
from exchanges.binance.models import Account  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_sandbox() -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchanges.sandbox", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            requests.get(f"{url}/api/v3/ping", timeout=1)
            return url, proc
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("sandbox did not start")


def measure(call: Callable[[], Any], seconds: float) -> dict[str, float]:
    for _ in range(20):
        call()
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    latencies.sort()
    return {
        "calls": len(latencies),
        "per_second": round(len(latencies) / sum(latencies), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
    }


def bench_overhead(client: BinanceClient, n: int = 20000) -> dict[str, float]:
    """Everything this client does per call except the HTTP round trip, on a canned answer."""
    api = client.spot
    body = json.dumps(
        {
            "makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": True,
            "canDeposit": True, "accountType": "SPOT", "permissions": ["SPOT"], "updateTime": 1,
            "commissionRates": {"maker": "0.001", "taker": "0.001", "buyer": "0", "seller": "0"},
            "balances": [{"asset": a, "free": "1.00000000", "locked": "0.00000000"}
                         for a in ("USDT", "BTC", "ETH", "BNB")],
        }
    ).encode()  # fmt: skip

    class Canned:
        status_code = 200
        content = body
        headers = requests.structures.CaseInsensitiveDict(
            {"X-MBX-USED-WEIGHT-1M": "20", "Content-Type": "application/json"}
        )

    response: Any = Canned()
    start = time.perf_counter()
    for _ in range(n):
        t0 = client.clock()
        api._gate("GET", "/api/v3/account", 20, False)
        pairs = [
            *encode_params({"omitZeroBalances": True}),
            ("recvWindow", client._recv_window),
            ("timestamp", str(api._timestamp())),
        ]
        query = rest_query(pairs, client.credentials)
        _url = f"{api.base_url}/api/v3/account?{query}"
        Account.from_json(api._handle("GET", "/api/v3/account", 20, t0, response, False, False))
    per_call_us = (time.perf_counter() - start) / n * 1e6
    return {"per_call_us": round(per_call_us, 1), "calls": n}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--url", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    proc = None
    url = args.url
    if url is None:
        url, proc = start_sandbox()
    try:
        keys = requests.post(
            f"{url}/sandbox/v1/keys",
            json={"key_type": "HMAC", "balances": {"USDT": "100000", "BTC": "1"}},
            timeout=5,
        ).json()
        api_key, secret = keys["apiKey"], keys["secretKey"]
        # Throughput, not rate limits, is measured here: lift them on both sides.
        limits = {"request_weight_1m": 10**9, "orders_10s": 10**9, "orders_1d": 10**9}
        requests.post(f"{url}/sandbox/v1/config", json={"limits": {"spot": limits}}, timeout=5)
        results: dict[str, Any] = {"sandbox": url, "seconds_per_case": args.seconds}

        ours = BinanceClient(
            sandbox_urls(url), HmacCredentials(api_key, secret), budget=InMemoryBudget(),
            config=ClientConfig(weight_limits={Market.SPOT: 10**9}),
        )  # fmt: skip
        from binance.client import Client as PyBinanceClient

        pyb = PyBinanceClient(api_key, secret, ping=False)
        pyb.API_URL = f"{url}/api"

        import ccxt

        exchange = ccxt.binance({"apiKey": api_key, "secret": secret, "enableRateLimit": False})
        for name in ("public", "private", "v3", "sapi"):
            if name in exchange.urls["api"]:
                exchange.urls["api"][name] = f"{url}/api/v3" if name != "sapi" else f"{url}/sapi/v1"
        exchange.options["adjustForTimeDifference"] = False

        cases: dict[tuple[str, str], Callable[[], Any]] = {
            ("klineo", "account"): ours.spot.account,
            ("klineo", "order_test"): lambda: ours.spot.test_order(
                "BTCUSDT", "BUY", "MARKET", quantity="0.001"
            ),
            ("python-binance", "account"): pyb.get_account,
            ("python-binance", "order_test"): lambda: pyb.create_test_order(
                symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
            ),
            ("ccxt", "account"): exchange.privateGetAccount,
            ("ccxt", "order_test"): lambda: exchange.privatePostOrderTest(
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
            ),
        }
        # Interleaved rounds so sandbox warm-up and machine noise hit every client alike;
        # the best round of each case is kept.
        best: dict[tuple[str, str], dict[str, float]] = {}
        for _round in range(args.rounds):
            for key, call in cases.items():
                result = measure(call, args.seconds / args.rounds)
                if key not in best or result["per_second"] > best[key]["per_second"]:
                    best[key] = result
        for (client_name, op), result in best.items():
            results.setdefault(client_name, {})[op] = result
        results["klineo_overhead"] = bench_overhead(ours)
        ours.close()
        print(json.dumps(results, indent=2))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
