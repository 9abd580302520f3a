"""Benchmark: live updates. Fill-to-browser latency and the memory of run_streams.

    .venv/bin/python -m benchmarks.bench_live [--streams 1000] [--clients 500] [--fills 100]

Starts its own sandbox (prices frozen, limits raised), a fresh PostgreSQL database
(klineo_bench_live), daphne and one `manage.py run_streams`. Creates --streams users, each
with a sandbox connection (keys from the control API), waits until run_streams holds every
spot user-data stream and reads its RSS. Then opens --clients websocket clients (one per
user, session cookie, like browsers) and, --fills times, places a resting limit buy for one of
them, moves the sandbox price through it and measures from the price move (the fill) to the
order.update FILLED message on that user's websocket. Prints JSON (last stdout line).
Goals: p50 < 20 ms, p99 < 100 ms; RSS < 150 MB for 1,000 streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import requests

from benchmarks.bench_orders import free_port, percentile, wait_http

REPO = Path(__file__).resolve().parents[1]
DB_NAME = "klineo_bench_live"
PG = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/8"
BASE_PRICE = Decimal("50000")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--fills", type=int, default=100)
    args = parser.parse_args()
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        sandbox_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "exchanges.sandbox", "--port", str(sandbox_port),
                 "--no-walk", "--log-level", "WARNING"],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        wait_http(f"{sandbox_url}/api/v3/ping", procs[-1], "sandbox")
        control = requests.Session()
        control.post(
            f"{sandbox_url}/sandbox/v1/config",
            json={"limits": {"spot": {"orders_10s": 10**7, "orders_1d": 10**9,
                                      "request_weight_1m": 10**7}}},
            timeout=5,
        ).raise_for_status()  # fmt: skip
        control.post(
            f"{sandbox_url}/sandbox/v1/price",
            json={"symbol": "BTCUSDT", "price": str(BASE_PRICE)},
            timeout=5,
        ).raise_for_status()

        env = {
            **os.environ,
            "KLINEO_TESTING": "1",
            "DATABASE_URL": f"{PG}/{DB_NAME}",
            "REDIS_URL": REDIS_URL,
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": str(sandbox_port),
            "DJANGO_SETTINGS_MODULE": "klineo.settings",
            "LOG_LEVEL": "WARNING",
            "CELERY_QUEUE": "klineo-bench-live",
        }
        import psycopg
        import redis

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        redis.Redis.from_url(REDIS_URL).flushdb()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO, env=env, check=True,
        )  # fmt: skip
        os.environ.update(env)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        from accounts.models import User
        from exchanges import crypto
        from exchanges.models import ExchangeConnection, StreamState

        users = []
        for n in range(args.streams):
            keys = control.post(
                f"{sandbox_url}/sandbox/v1/keys",
                json={"balances": {"USDT": "100000000", "BTC": "1000"}},
                timeout=5,
            ).json()
            user = User.objects.create_user(email=f"live{n}@example.com", password=None)
            connection = ExchangeConnection.objects.create(
                owner=user, label="bench", environment="sandbox",
                api_key_encrypted=crypto.encrypt(keys["apiKey"]),
                secret_encrypted=crypto.encrypt(keys["secretKey"]),
                key_last4=keys["apiKey"][-4:],
            )  # fmt: skip
            users.append((user, connection))

        # --- run_streams holding every stream -----------------------------------------------
        streams_log = open("/tmp/klineo-bench-live-streams.log", "wb")  # noqa: SIM115
        logs.append(streams_log)
        started = time.monotonic()
        streams = subprocess.Popen(
            [sys.executable, "manage.py", "run_streams", "--no-market-data"],
            cwd=REPO, env=env, stdout=streams_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(streams)
        deadline = time.monotonic() + 300
        while StreamState.objects.filter(status="up").count() < args.streams:
            if streams.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("run_streams did not bring every stream up")
            time.sleep(0.5)
        all_up_seconds = time.monotonic() - started
        time.sleep(3)  # let the start-up reconciliations finish
        memory = rss_mb(streams.pid)

        # --- daphne and the websocket clients ----------------------------------------------
        app_port = free_port()
        daphne_log = open("/tmp/klineo-bench-live-daphne.log", "wb")  # noqa: SIM115
        logs.append(daphne_log)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(app_port),
                 "klineo.asgi:application"],
                cwd=REPO, env=env, stdout=daphne_log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        app_url = f"http://127.0.0.1:{app_port}"
        wait_http(f"{app_url}/accounts/login/", procs[-1], "daphne")

        def cookie(user) -> str:
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.save()
            return f"sessionid={session.session_key}"

        clients = users[: args.clients]
        cookies = [cookie(user) for user, _ in clients]
        latencies = asyncio.run(
            measure(app_url, clients, cookies, args.fills, sandbox_url, control)
        )
        result = {
            "title": "Live updates (run_streams, Channels, websockets)",
            "rows": [
                {
                    "figure": f"fill -> browser order.update, p50 ({args.clients} sockets)",
                    "value": f"{percentile(latencies, 50):.1f} ms",
                    "goal": "< 20 ms",
                    "met": percentile(latencies, 50) < 20,
                },
                {
                    "figure": f"fill -> browser order.update, p99 ({args.clients} sockets)",
                    "value": f"{percentile(latencies, 99):.1f} ms",
                    "goal": "< 100 ms",
                    "met": percentile(latencies, 99) < 100,
                },
                {
                    "figure": f"run_streams RSS holding {args.streams} user streams",
                    "value": f"{memory:.0f} MB",
                    "goal": "< 150 MB" if args.streams == 1000 else "-",
                    "met": memory < 150 * args.streams / 1000,
                },
                {
                    "figure": f"time until {args.streams} streams are up",
                    "value": f"{all_up_seconds:.1f} s",
                    "goal": "-",
                    "met": True,
                },
            ],
            "notes": (
                f"{len(latencies)} fills, one at a time, each for a different user; the clock "
                "starts before the price move that fills the resting order and stops when the "
                "owner's websocket receives order.update FILLED (database commit included)."
            ),
        }
        print(json.dumps(result))
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for log in logs:
            log.close()


async def measure(app_url, clients, cookies, fills, sandbox_url, control) -> list[float]:
    import websockets
    from asgiref.sync import sync_to_async

    from exchanges.services.orders import order_place

    ws_url = app_url.replace("http://", "ws://") + "/ws/live/"
    sockets = []
    for index in range(0, len(cookies), 50):
        batch = cookies[index : index + 50]
        sockets += await asyncio.gather(
            *(
                websockets.connect(ws_url, additional_headers={"Cookie": c}, origin=app_url)
                for c in batch
            )
        )
    for sock in sockets:
        json.loads(await sock.recv())  # hello

    def place(user, connection):
        return order_place(
            user=user, connection=connection, market="spot", symbol="BTCUSDT", side="BUY",
            order_type="LIMIT", quantity="0.001", price=str(BASE_PRICE - 1000),
            time_in_force="GTC", precheck=False,
        ).order  # fmt: skip

    def set_price(price) -> None:
        control.post(
            f"{sandbox_url}/sandbox/v1/price",
            json={"symbol": "BTCUSDT", "price": str(price)},
            timeout=5,
        ).raise_for_status()

    latencies = []
    for n in range(fills):
        index = (n * 7) % len(clients)
        user, connection = clients[index]
        sock = sockets[index]
        order = await sync_to_async(place)(user, connection)
        await asyncio.sleep(0.05)  # the NEW events arrive first
        while True:  # drop what is already there
            try:
                await asyncio.wait_for(sock.recv(), 0.01)
            except TimeoutError:
                break
        started = time.perf_counter()
        await asyncio.to_thread(set_price, BASE_PRICE - 2000)
        while True:
            message = json.loads(await asyncio.wait_for(sock.recv(), 10))
            data = message.get("data") or {}
            if (
                message.get("type") == "order.update"
                and data.get("client_order_id") == order.client_order_id
                and data.get("status") == "FILLED"
            ):
                latencies.append((time.perf_counter() - started) * 1000)
                break
        await asyncio.to_thread(set_price, BASE_PRICE)
    for sock in sockets:
        await sock.close()
    return latencies


if __name__ == "__main__":
    main()
