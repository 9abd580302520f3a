"""Sandbox throughput: signed REST requests per second and market-stream fan-out.

    python benchmarks/bench_sandbox.py [--seconds 5] [--concurrency 32] [--clients 200]
    python benchmarks/bench_sandbox.py --url http://127.0.0.1:9100   # an already running one

Starts a sandbox process unless --url is given, then measures from ONE client process with a
keep-alive aiohttp session: signed GET /api/v3/account, signed POST /api/v3/order (MARKET,
ACK), and fan-out of btcusdt@trade + btcusdt@bookTicker to N websocket clients while the
control API moves the price. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(url: str, proc: subprocess.Popen | None) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("sandbox exited")
            try:
                async with s.get(url + "/api/v3/ping") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("sandbox did not start")


class KeepAliveConnection:
    """A minimal HTTP/1.1 keep-alive client, so the client process is not the bottleneck."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, target: str, headers: str) -> tuple[int, bytes]:
        self.writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n{headers}"
            "Content-Length: 0\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        return status, body

    def close(self) -> None:
        self.writer.close()


async def signed_load(
    url: str, keys: dict, method: str, path: str, params_fn, seconds: float, concurrency: int
) -> dict:
    secret = hmac.new(keys["secretKey"].encode(), digestmod=hashlib.sha256)
    headers = f"X-MBX-APIKEY: {keys['apiKey']}\r\n"
    host, port = url.split("//")[1].split(":")
    done = 0
    errors = 0
    latencies: list[float] = []
    conns = [KeepAliveConnection(host, int(port)) for _ in range(concurrency)]
    for conn in conns:
        await conn.open()
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        nonlocal done, errors
        conn = conns[n]
        i = 0
        while time.perf_counter() < deadline:
            i += 1
            query = urlencode({**params_fn(n, i), "timestamp": int(time.time() * 1000)})
            h = secret.copy()
            h.update(query.encode())
            t0 = time.perf_counter()
            status, _body = await conn.request(
                method, f"{path}?{query}&signature={h.hexdigest()}", headers
            )
            if status == 200:
                done += 1
            else:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.close()
    latencies.sort()
    return {
        "requests_per_second": round(done / elapsed, 1),
        "ok": done,
        "errors": errors,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
    }


async def fanout(url: str, ws_url: str, clients: int, seconds: float, moves_per_second: int):
    streams = "btcusdt@trade/btcusdt@bookTicker"
    received = 0
    lags: list[float] = []
    stop = asyncio.Event()
    # limit=0: the default pool of 100 connections would block the 101st websocket.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets = [await session.ws_connect(f"{ws_url}/ws/{streams}") for _ in range(clients)]

        async def reader(ws) -> None:
            nonlocal received
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), 0.5)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                received += 1
                if received % 50 == 0:
                    data = json.loads(msg.data)
                    if "E" in data:
                        lags.append(time.time() * 1000 - data["E"])

        readers = [asyncio.create_task(reader(ws)) for ws in sockets]
        await asyncio.sleep(1.0)
        received = 0
        price = 65000.0
        start = time.perf_counter()
        moves = 0
        while time.perf_counter() - start < seconds:
            price += 0.5 if moves % 2 == 0 else -0.5
            async with session.post(
                f"{url}/sandbox/v1/price", json={"symbol": "BTCUSDT", "price": f"{price:.2f}"}
            ) as r:
                await r.read()
            moves += 1
            await asyncio.sleep(max(0.0, moves / moves_per_second - (time.perf_counter() - start)))
        await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - start
        stop.set()
        await asyncio.gather(*readers)
        for ws in sockets:
            await ws.close()
    lags.sort()
    return {
        "clients": clients,
        "price_moves": moves,
        "messages_delivered": received,
        "messages_per_second": round(received / elapsed, 1),
        "p50_event_lag_ms": round(lags[len(lags) // 2], 1) if lags else None,
        "p99_event_lag_ms": round(lags[int(len(lags) * 0.99)], 1) if lags else None,
    }


def start_process(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchanges.sandbox",
            "--port",
            str(port),
            "--seed",
            "1",
            "--log-level",
            "WARNING",
        ],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", default=None)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--moves-per-second", type=int, default=50)
    args = p.parse_args()
    proc = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_process(port)
    ws_url = url.replace("http", "ws", 1)
    try:
        await wait_ready(url, proc)
        async with aiohttp.ClientSession() as s:
            async with s.post(
                url + "/sandbox/v1/config",
                json={
                    "limits": {"spot": {"request_weight_1m": 0, "orders_10s": 0, "orders_1d": 0}},
                },
            ) as r:
                assert r.status == 200, await r.text()
            async with s.post(
                url + "/sandbox/v1/keys", json={"balances": {"USDT": "1000000000", "BTC": "100000"}}
            ) as r:
                keys = await r.json()
        account = await signed_load(
            url, keys, "GET", "/api/v3/account", lambda n, i: {}, args.seconds, args.concurrency
        )
        orders = await signed_load(
            url,
            keys,
            "POST",
            "/api/v3/order",
            lambda n, i: {
                "symbol": "BTCUSDT",
                "side": "BUY" if i % 2 else "SELL",
                "type": "MARKET",
                "quantity": "0.0001",
                "newOrderRespType": "ACK",
            },
            args.seconds,
            args.concurrency,
        )
        streams = await fanout(url, ws_url, args.clients, args.seconds, args.moves_per_second)
        print(
            json.dumps(
                {
                    "signed_get_account": account,
                    "signed_post_order": orders,
                    "stream_fanout": streams,
                    "cpu_count": os.cpu_count(),
                    "python": sys.version.split()[0],
                },
                indent=2,
            )
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
