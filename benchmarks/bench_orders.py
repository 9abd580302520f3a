"""Benchmark: POST /api/connections/{id}/orders end to end, next to a bare python-binance order.

    .venv/bin/python -m benchmarks.bench_orders [--orders 60] [--concurrency 1,10,50] [--repeat 1]

Starts its own sandbox (prices frozen, order limits raised), a fresh PostgreSQL database
(klineo_bench_orders), and daphne serving KLINEO on a free port. For 1, 10 and 50 concurrent
users (each with its own account, JWT and connection) every user places MARKET orders one after
another (alternating BUY / SELL 0.0002 BTC); the same is done with python-binance directly
against the same sandbox in the same run. Prints p50 / p99 latency and throughput as JSON (the
last stdout line, for `make bench`). Goal: KLINEO adds at most 5 ms at p50 over the bare call.

Binance counts request weight per IP, and KLINEO's budget follows the X-MBX-USED-WEIGHT-1M the
sandbox reports. The bare python-binance calls therefore come from 127.0.0.2, as a script on
another machine would: otherwise their weight would count against KLINEO's budget (6000 a
minute, like Binance's) and KLINEO's orders would be refused locally as rate_limited.
`--repeat N` runs every level N times (bare and KLINEO interleaved) and reports the median p50.
KLINEO levels of 10 or more users start at a new wall-clock minute (Binance's weight window):
50 users place ~3000 orders in well under a minute, and together with the previous level's
orders and the balance snapshots that would exceed the 6000 a minute one IP may spend, so the
budget would refuse orders (correctly) and the figure would measure the budget, not latency.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
DB_NAME = "klineo_bench_orders"
PG = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/9"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {timeout} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """Connections from a given local address (127.0.0.2: another "IP" for the sandbox)."""

    def __init__(self, source: str) -> None:
        self._source = (source, 0)
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = self._source
        return super().init_poolmanager(*args, **kwargs)


def wait_for_next_minute() -> None:
    time.sleep(60.05 - time.time() % 60)


def run_users(count: int, per_user: int, send) -> dict:
    """`count` threads, each calling send(user_index, i) `per_user` times; latencies in ms."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def user(index: int) -> None:
        barrier.wait()
        mine = []
        for i in range(per_user):
            started = time.perf_counter()
            error = send(index, i)
            mine.append((time.perf_counter() - started) * 1000)
            if error:
                with lock:
                    errors.append(error)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(count)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "orders_per_s": round(len(latencies) / elapsed, 1),
        "orders": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=60, help="orders per user")
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per level (median p50)")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    users_needed = max(levels)

    procs: list[subprocess.Popen] = []
    try:
        # --- sandbox ---------------------------------------------------------------------
        sandbox_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "exchanges.sandbox",
                    "--port",
                    str(sandbox_port),
                    "--no-walk",
                    "--log-level",
                    "WARNING",
                ],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_http(f"{sandbox_url}/api/v3/ping", procs[-1], "sandbox")
        control = requests.Session()
        control.post(
            f"{sandbox_url}/sandbox/v1/config",
            json={"limits": {"spot": {"orders_10s": 10**7, "orders_1d": 10**9,
                                      "request_weight_1m": 10**7}}},
            timeout=5,
        ).raise_for_status()  # fmt: skip

        # --- database and Django ---------------------------------------------------------
        env = {
            **os.environ,
            "KLINEO_TESTING": "1",
            "DATABASE_URL": f"{PG}/{DB_NAME}",
            "REDIS_URL": REDIS_URL,
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": str(sandbox_port),
            "DJANGO_SETTINGS_MODULE": "klineo.settings",
            "LOG_LEVEL": "WARNING",
        }
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO, env=env, check=True,
        )  # fmt: skip
        os.environ.update({k: env[k] for k in ("KLINEO_TESTING", "DATABASE_URL", "REDIS_URL",
                                                "SANDBOX_HOST", "SANDBOX_PORT",
                                                "DJANGO_SETTINGS_MODULE")})  # fmt: skip
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from accounts.api.views import token_pair_for
        from accounts.models import User
        from exchanges import crypto
        from exchanges.models import ExchangeConnection

        users = []
        for n in range(users_needed):
            keys = control.post(
                f"{sandbox_url}/sandbox/v1/keys",
                json={"balances": {"USDT": "100000000", "BTC": "1000"}},
                timeout=5,
            ).json()
            user = User.objects.create_user(email=f"bench{n}@example.com", password=None)
            connection = ExchangeConnection.objects.create(
                owner=user, label="bench", environment="sandbox",
                api_key_encrypted=crypto.encrypt(keys["apiKey"]),
                secret_encrypted=crypto.encrypt(keys["secretKey"]),
                key_last4=keys["apiKey"][-4:],
            )  # fmt: skip
            users.append((token_pair_for(user)["access"], connection.pk, keys))

        # --- daphne ------------------------------------------------------------------------
        app_port = free_port()
        log_path = Path(os.environ.get("BENCH_DAPHNE_LOG", "/tmp/klineo-bench-orders-daphne.log"))
        daphne_log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        app_url = f"http://127.0.0.1:{app_port}"
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(app_port),
                    "klineo.asgi:application",
                ],
                cwd=REPO,
                env=env,
                stdout=daphne_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_http(f"{app_url}/accounts/login/", procs[-1], "daphne")

        sessions = [requests.Session() for _ in users]

        def klineo_send(index: int, i: int) -> str | None:
            token, connection_id, _keys = users[index]
            r = sessions[index].post(
                f"{app_url}/api/connections/{connection_id}/orders",
                json={"symbol": "BTCUSDT", "side": "BUY" if i % 2 == 0 else "SELL",
                      "type": "MARKET", "quantity": "0.0002"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )  # fmt: skip
            if r.status_code != 201 or r.json().get("status") != "FILLED":
                return f"{r.status_code} {r.text[:200]}"
            return None

        def floor_send(index: int, i: int) -> str | None:
            # The same stack (daphne, middleware, DRF, JWT) around a view with one query: what
            # any authenticated API call costs here, before the order's own work.
            token, _connection_id, _keys = users[index]
            r = sessions[index].get(
                f"{app_url}/api/kill-switch",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            return None if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"

        from binance.client import Client as PyBinanceClient

        bare_clients = []
        for _token, _cid, keys in users:
            client = PyBinanceClient(keys["apiKey"], keys["secretKey"], ping=False)
            client.API_URL = f"{sandbox_url}/api"
            client.session.mount("http://", SourceAddressAdapter("127.0.0.2"))
            bare_clients.append(client)

        def bare_send(index: int, i: int) -> str | None:
            try:
                answer = bare_clients[index].create_order(
                    symbol="BTCUSDT", side="BUY" if i % 2 == 0 else "SELL", type="MARKET",
                    quantity="0.0002",
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - counted as an error
                return str(exc)[:200]
            return None if answer.get("status") == "FILLED" else str(answer)[:200]

        # Warm-up: connections, exchangeInfo / price caches, time offsets.
        run_users(1, 5, klineo_send)
        run_users(1, 5, bare_send)
        rounds: dict[str, list[dict]] = {}
        run_users(1, 5, floor_send)
        for _round in range(args.repeat):
            rounds.setdefault("floor_c1", []).append(run_users(1, args.orders, floor_send))
            for level in levels:
                for name, send in (("bare", bare_send), ("klineo", klineo_send)):
                    if name == "klineo" and level >= 10:
                        wait_for_next_minute()
                    result = run_users(level, args.orders, send)
                    rounds.setdefault(f"{name}_c{level}", []).append(result)
        results = {}
        for name, runs in rounds.items():
            # The round with the median p50 stands for the level; errors are summed.
            runs_sorted = sorted(runs, key=lambda r: r["p50_ms"])
            chosen = dict(runs_sorted[len(runs_sorted) // 2])
            chosen["errors"] = sum(r["errors"] for r in runs)
            chosen["first_error"] = next((r["first_error"] for r in runs if r["first_error"]), None)
            if len(runs) > 1:
                chosen["p50_rounds_ms"] = [r["p50_ms"] for r in runs]
            results[name] = chosen

        added = results["klineo_c1"]["p50_ms"] - results["bare_c1"]["p50_ms"]
        rows = []
        for level in levels:
            k, b = results[f"klineo_c{level}"], results[f"bare_c{level}"]
            rows.append({
                "figure": f"{level} user(s): KLINEO POST /orders p50 / p99",
                "value": f"{k['p50_ms']} / {k['p99_ms']} ms, {k['orders_per_s']} orders/s"
                + (f", {k['errors']} errors" if k["errors"] else ""),
                "goal": None, "met": None,
            })  # fmt: skip
            rows.append({
                "figure": f"{level} user(s): bare python-binance order p50 / p99",
                "value": f"{b['p50_ms']} / {b['p99_ms']} ms, {b['orders_per_s']} orders/s"
                + (f", {b['errors']} errors" if b["errors"] else ""),
                "goal": None, "met": None,
            })  # fmt: skip
        for level in levels:
            if level == 1:
                continue
            extra = results[f"klineo_c{level}"]["p50_ms"] - results[f"bare_c{level}"]["p50_ms"]
            rows.append({
                "figure": f"KLINEO added latency at p50 ({level} users)",
                "value": f"{extra:.2f} ms", "goal": None, "met": None,
            })  # fmt: skip
        floor = results["floor_c1"]
        rows.append({
            "figure": "1 user: GET /api/kill-switch p50 (HTTP + JWT + one query, no order)",
            "value": f"{floor['p50_ms']} ms",
            "goal": None, "met": None,
        })  # fmt: skip
        rows.append({
            "figure": "KLINEO added latency at p50 (1 user)",
            "value": f"{added:.2f} ms",
            "goal": "<= 5 ms",
            "met": added <= 5.0,
            "note": "HTTP to daphne, JWT auth, filter and balance pre-checks (cached), "
            "PENDING row + audit row committed before sending, result row + fills after",
        })  # fmt: skip
        print(json.dumps({
            "title": "Orders: POST /api/connections/{id}/orders vs bare python-binance",
            "rows": rows,
            "notes": [
                f"{args.orders} MARKET orders per user per level ({args.repeat} round(s), median "
                "p50); daphne (one process) on PostgreSQL, sandbox with frozen prices; "
                "python-binance in the same run, from 127.0.0.2 (its own request-weight count).",
                "Raw: " + json.dumps(results),
            ],
        }))  # fmt: skip
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
