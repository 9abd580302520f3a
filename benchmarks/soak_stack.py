"""A whole KLINEO deployment on 127.0.0.1 for the soak and the page benchmark.

    with Stack("soak", redis_db=11) as stack:      # PostgreSQL database klineo_soak, migrated
        stack.start_sandbox(); stack.start_web(); stack.start_worker(); stack.start_streams()
        ...
        stack.worker.kill()                           # SIGKILL, as a crash would
        stack.worker.start()

Every process gets the same environment: its own PostgreSQL database (dropped and created
here), a private Redis database number (flushed here), a private Celery queue, the sandbox's
port, and shortened reconciliation / stream intervals so faults resolve within a soak.
Processes run in their own process group, so kill() takes a prefork worker's children too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import redis
import requests

BASE_DIR = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("SOAK_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")

# Intervals short enough that an unknown outcome or a dead stream is resolved within seconds.
FAST_ENV = {
    "BINANCE_RECV_WINDOW": "2000",
    "BINANCE_READ_TIMEOUT": "2.0",
    "ORDER_NOT_FOUND_MARGIN_SECONDS": "0.5",
    "ORDER_RECONCILE_FIRST_DELAY": "0.3",
    "ORDER_RECONCILE_BACKOFF": "0.5",
    "ORDER_RECONCILE_BACKOFF_MAX": "2.0",
    "ORDER_RECONCILE_LOCK_SECONDS": "5.0",
    "ORDER_SWEEP_AGE_SECONDS": "3.0",
    "ORDER_SWEEP_INTERVAL_SECONDS": "3.0",
    "STREAMS_LEASE_TTL": "4",
    "STREAMS_POLL_INTERVAL": "0.5",
    "STREAMS_SILENCE_TIMEOUT": "4",
    "STREAMS_PROBE_TIMEOUT": "2",
    "STREAMS_BACKOFF_MAX": "1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} did not answer {url}:\n{proc.output()}") from None
            time.sleep(0.1)


class Process:
    """One child process with a log file; restartable with the same command line."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def kill(self) -> None:
        """SIGKILL the process group (a prefork worker's children included), as a crash."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Stack:
    def __init__(
        self,
        name: str,
        *,
        redis_db: int,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.db_name = f"klineo_{name}"
        self.redis_url = f"redis://127.0.0.1:6379/{redis_db}"
        self.log_dir = log_dir or BASE_DIR / "var" / name
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.queue = f"klineo-{name}-{uuid.uuid4().hex[:6]}"
        admin = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
        self.database_url = (
            f"postgres://{admin.get('user', 'postgres')}:{admin.get('password', '')}"
            f"@{admin.get('host', '127.0.0.1')}:{admin.get('port', 5432)}/{self.db_name}"
        )
        self.extra_env = dict(env or {})
        self.processes: list[Process] = []
        self.sandbox: Process | None = None
        self.sandbox_url = ""
        self.web: Process | None = None
        self.web_url = ""
        self.worker: Process | None = None
        self.streams: Process | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        self.prepare()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def prepare(self) -> None:
        """A fresh, migrated PostgreSQL database and an empty private Redis database."""
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        redis.Redis.from_url(self.redis_url).flushdb()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=BASE_DIR,
            env=self.env(),
            check=True,
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "KLINEO_TESTING": "1",
                "DEBUG": "false",
                "DJANGO_SETTINGS_MODULE": "klineo.settings",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "CELERY_QUEUE": self.queue,
                "JWT_ACCESS_MINUTES": "240",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                **FAST_ENV,
            }
        )
        if self.sandbox_url:
            env["SANDBOX_HOST"] = "127.0.0.1"
            env["SANDBOX_PORT"] = self.sandbox_url.rsplit(":", 1)[1]
        env.update(self.extra_env)
        return env

    def _process(self, name: str, args: list[str], **extra_env: str) -> Process:
        # libpq names the connection after the process: pg_stat_activity shows who holds what.
        env = {**self.env(), "PGAPPNAME": f"klineo-{name}", **extra_env}
        log_path = self.log_dir / f"{name}.log"
        log_path.unlink(missing_ok=True)
        proc = Process(name, args, env, log_path)
        proc.start()
        self.processes.append(proc)
        return proc

    def start_sandbox(self) -> None:
        port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{port}"
        self.sandbox = self._process(
            "sandbox",
            [sys.executable, "-m", "exchanges.sandbox", "--port", str(port), "--seed", "1",
             "--log-level", "WARNING"],
        )  # fmt: skip
        wait_http(f"{self.sandbox_url}/api/v3/ping", self.sandbox)

    def start_web(self) -> None:
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self.web = self._process(
            "web",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "klineo.asgi:application"],
            # Django: "When using ASGI, persistent connections should be disabled" -- with the
            # default DATABASE_CONN_MAX_AGE=60 every request thread of daphne keeps its own
            # connection (32 for 8 soak users), which exhausts PostgreSQL's max_connections.
            **{"DATABASE_CONN_MAX_AGE": self.extra_env.get("WEB_DATABASE_CONN_MAX_AGE", "0")},
        )  # fmt: skip
        wait_http(f"{self.web_url}/accounts/login/", self.web)

    def start_worker(self) -> None:
        self.worker = self._process(
            "worker",
            [sys.executable, "-m", "celery", "-A", "klineo", "worker", "--beat",
             "--schedule", str(self.log_dir / "beat-schedule"), "--concurrency", "2",
             "--queues", self.queue, "--hostname", f"{self.queue}@%h", "--loglevel", "WARNING",
             "--without-mingle", "--without-gossip"],
        )  # fmt: skip

    def start_streams(self) -> None:
        self.streams = self._process(
            "streams",
            [sys.executable, "manage.py", "run_streams", "--holder", f"{self.name}-streams"],
        )

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://")) as conn:
            return conn.execute(query, params).fetchall()
