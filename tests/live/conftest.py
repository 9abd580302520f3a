"""Fixtures of the live-update tests: real run_streams processes, a Celery worker with beat,
users with sandbox connections, and websocket clients of the real ASGI app.

Intervals are shortened through the environment (lease TTL 2 s, poll 0.3 s, listenKey
keepalive every second) so failover and keepalive tests run in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import websockets

from tests.factories import UserFactory
from tests.fixtures.processes import BASE_DIR, process_env, sandbox_env

LEASE_TTL = "2"
STREAMS_ENV = {
    "STREAMS_LEASE_TTL": LEASE_TTL,
    "STREAMS_POLL_INTERVAL": "0.3",
    "STREAMS_SILENCE_TIMEOUT": "2",
    "STREAMS_PROBE_TIMEOUT": "1.5",
    "STREAMS_BACKOFF_MAX": "1",
    # The test PostgreSQL is shared by many processes: keep run_streams' connections few.
    "STREAMS_SYNC_WORKERS": "2",
    "LISTEN_KEY_KEEPALIVE_SECONDS": "1",
    "LISTEN_KEY_CLOSE_STALE_SECONDS": "2",
}


class StreamsProcess:
    """One `manage.py run_streams` subprocess."""

    def __init__(self, env: dict[str, str], log_path: Path, holder: str) -> None:
        self.log_path = log_path
        self.holder = holder
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_streams", "--holder", holder],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]

    def kill(self) -> None:
        """kill -9, as a crash would: no lease is released."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


@pytest.fixture(scope="session")
def live_queue() -> str:
    return f"klineo-live-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def live_env(sandbox, live_queue, django_db_setup) -> dict[str, str]:
    return process_env(CELERY_QUEUE=live_queue, **sandbox_env(sandbox), **STREAMS_ENV)


@pytest.fixture
def run_streams(live_env, tmp_path):
    """Start run_streams processes: ``run_streams()`` -> StreamsProcess (stopped after)."""
    started: list[StreamsProcess] = []

    def start(name: str | None = None) -> StreamsProcess:
        holder = name or f"test-{len(started)}-{uuid.uuid4().hex[:4]}"
        proc = StreamsProcess(live_env, tmp_path / f"{holder}.log", holder)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
        # Shown by pytest only when the test failed.
        sys.stderr.write(f"--- run_streams {proc.holder} ---\n{proc.output()}\n")


@pytest.fixture(scope="session")
def celery_beat_worker(live_env, live_queue, tmp_path_factory):
    """A Celery worker with an embedded beat on a private queue, pointed at the sandbox."""
    from klineo.celery import app

    directory = tmp_path_factory.mktemp("live-worker")
    log_path = directory / "worker.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "klineo",
            "worker",
            "--beat",
            "--schedule",
            str(directory / "beat-schedule"),
            "--pool",
            "solo",
            "--queues",
            live_queue,
            "--hostname",
            f"{live_queue}@%h",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=BASE_DIR,
        env=live_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    import socket

    node = f"{live_queue}@{socket.gethostname()}"
    while not app.control.ping(destination=[node], timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
    proc.log_path = log_path
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(autouse=True)
def _sandbox_settings(settings, sandbox):
    """This process reaches the suite's sandbox too (placing orders, REST checks)."""
    settings.SANDBOX_HOST = "127.0.0.1"
    settings.SANDBOX_PORT = sandbox.port


# -- users, connections, sessions ---------------------------------------------------------------


def make_trader(sandbox, *, futures: bool = False, label: str = "Sandbox"):
    """A user with a sandbox connection (fresh sandbox keys with money)."""
    from exchanges import crypto
    from exchanges.models import ExchangeConnection

    keys = sandbox.create_keys(
        balances={"USDT": "100000", "BTC": "2", "ETH": "20"},
        futures_balances={"USDT": "100000"} if futures else None,
        permissions={"futures": True} if futures else None,
    )
    user = UserFactory()
    connection = ExchangeConnection.objects.create(
        owner=user,
        label=label,
        environment="sandbox",
        key_type="HMAC",
        api_key_encrypted=crypto.encrypt(keys["apiKey"]),
        secret_encrypted=crypto.encrypt(keys["secretKey"]),
        key_last4=keys["apiKey"][-4:],
        futures_enabled=futures,
    )
    return user, connection, keys


def session_cookie(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or "condition not met in time")


def stream_status(connection, kind: str = "spot") -> str | None:
    from exchanges.models import StreamState

    state = StreamState.objects.filter(connection=connection, kind=kind).first()
    return state.status if state else None


def place_resting_buy(user, connection, sandbox, *, market="spot", symbol="BTCUSDT"):
    """A limit buy under the market (20 % spot, 3 % futures: its price band is narrower); it
    rests until the test moves the price under it (``sandbox.set_price(symbol, limit * 0.9)``)."""
    from decimal import Decimal

    from exchanges.services.orders import order_place

    path = "/api/v3/ticker/price" if market == "spot" else "/fapi/v1/ticker/price"
    price = Decimal(sandbox.get(path, symbol=symbol).json()["price"])
    factor = Decimal("0.8") if market == "spot" else Decimal("0.97")
    limit = (price * factor).quantize(Decimal("0.1"))
    result = order_place(
        user=user,
        connection=connection,
        market=market,
        symbol=symbol,
        side="BUY",
        order_type="LIMIT",
        quantity="0.01",
        price=str(limit),
        time_in_force="GTC",
    )
    assert result.order.status == "NEW", result.order.reject_reason
    return result.order, limit


def filled(order):
    """Predicate: the order.update that reports `order` FILLED."""
    return lambda m: (
        m.get("type") == "order.update"
        and m["data"]["client_order_id"] == order.client_order_id
        and m["data"]["status"] == "FILLED"
    )


def fill_of(order):
    """Predicate: the fill event of `order` ."""
    return lambda m: m.get("type") == "fill" and m["data"].get("symbol") == (order.symbol)


class LiveSocket:
    """A websocket client of /ws/live/ on the live daphne, read from a background thread-free
    asyncio loop owned by this object (tests stay synchronous)."""

    def __init__(self, url: str, *, cookie: str | None = None, origin: str | None = None):
        self.loop = asyncio.new_event_loop()
        headers = {}
        if cookie:
            headers["Cookie"] = cookie
        self.ws = self.loop.run_until_complete(
            websockets.connect(url, additional_headers=headers, origin=origin, open_timeout=5)
        )
        self.received: list[dict] = []

    def send(self, message: dict) -> None:
        self.loop.run_until_complete(self.ws.send(json.dumps(message)))

    def recv(self, timeout: float = 10.0) -> dict:
        raw = self.loop.run_until_complete(asyncio.wait_for(self.ws.recv(), timeout))
        message = json.loads(raw)
        self.received.append(message)
        return message

    def wait_for(self, predicate, timeout: float = 15.0) -> dict:
        """The first message (already received or new) matching predicate."""
        for message in self.received:
            if predicate(message) and not message.get("_seen"):
                message["_seen"] = True
                return message
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                shown = "\n".join(json.dumps(m)[:400] for m in self.received)
                raise AssertionError(f"no matching message; received:\n{shown}")
            try:
                message = self.recv(remaining)
            except TimeoutError:
                continue
            if predicate(message):
                message["_seen"] = True
                return message

    def drain(self, seconds: float = 0.3) -> list[dict]:
        out = []
        with contextlib.suppress(TimeoutError):
            while True:
                out.append(self.recv(seconds))
        return out

    def close(self) -> None:
        if self.loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.ws.close())
        self.loop.close()


@pytest.fixture
def live_socket(live_app):
    opened: list[LiveSocket] = []

    def open_socket(user=None, *, origin: str | None = "default", cookie: str | None = None):
        if origin == "default":
            origin = live_app.url
        if user is not None and cookie is None:
            cookie = session_cookie(user)
        sock = LiveSocket(f"{live_app.ws_url}/ws/live/", cookie=cookie, origin=origin)
        opened.append(sock)
        return sock

    yield open_socket
    for sock in opened:
        sock.close()
