"""Fixtures of the Binance client tests: clients on the sandbox, a Redis budget, and a log spy
that fails any test whose log output (captured at DEBUG) contains a key, secret or signature."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import redis
import requests

from exchanges.binance import (
    BinanceClient,
    ClientConfig,
    Credentials,
    InMemoryBudget,
    RedisBudget,
    credentials_from,
    sandbox_urls,
)
from exchanges.binance.client import clear_exchange_info_cache
from exchanges.binance.credentials import Ed25519Credentials, HmacCredentials, RsaCredentials
from exchanges.binance.environments import EnvironmentUrls
from exchanges.binance.timesync import registry

SPOT_BALANCES = {"USDT": "100000", "BTC": "2", "ETH": "10", "BNB": "5"}
FUTURES_BALANCES = {"USDT": "50000"}

# Everything that must never reach a log: filled by the key factory and the signing spy.
SECRETS: set[str] = set()
LOG_STATS = {"records": 0, "tests": 0}


@pytest.fixture(scope="session", autouse=True)
def _record_signatures() -> Iterator[None]:
    """Spy (not a mock): remember every signature produced so the log check can look for it."""
    originals = {cls: cls.sign for cls in (HmacCredentials, Ed25519Credentials, RsaCredentials)}

    def spy(original: Any) -> Any:
        def sign(self: Credentials, payload: bytes) -> str:
            signature: str = original(self, payload)
            SECRETS.add(signature)
            SECRETS.add(quote(signature, safe=""))
            return signature

        return sign

    for cls, original in originals.items():
        cls.sign = spy(original)  # type: ignore[method-assign]
    yield
    for cls, original in originals.items():
        cls.sign = original  # type: ignore[method-assign]


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), str(record.args), record.exc_text or ""]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in ("msg", "args")]
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    LOG_STATS["tests"] += 1
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    for record in records:
        LOG_STATS["records"] += 1
        text = _record_text(record)
        for secret in SECRETS:
            if len(secret) >= 8:
                assert secret not in text, f"a secret leaked into the log: {record.name}"


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    registry.forget()
    clear_exchange_info_cache()
    yield


@pytest.fixture
def urls(sandbox: Any) -> EnvironmentUrls:
    return sandbox_urls(sandbox.url)


@pytest.fixture
def budget() -> InMemoryBudget:
    return InMemoryBudget()


class Control:
    """The sandbox control API (direct HTTP, for parameters the fixture's helpers don't take)."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.url = f"{sandbox.url}/sandbox/v1"

    def fault(self, path: str, kind: str, count: int = 1, **extra: Any) -> None:
        r = requests.post(
            f"{self.url}/faults", json={"path": path, "kind": kind, "count": count, **extra}
        )
        r.raise_for_status()

    def patch_key(self, api_key: str, **data: Any) -> None:
        requests.patch(f"{self.url}/keys/{api_key}", json=data).raise_for_status()

    def delete_key(self, api_key: str) -> None:
        requests.delete(f"{self.url}/keys/{api_key}").raise_for_status()


@pytest.fixture
def control(sandbox: Any) -> Iterator[Control]:
    yield Control(sandbox)
    sandbox.clear_faults()
    sandbox.set_clock_skew(0)


def make_credentials(
    sandbox: Any,
    key_type: str = "HMAC",
    permissions: dict[str, Any] | None = None,
    balances: dict[str, str] | None = None,
    futures_balances: dict[str, str] | None = None,
) -> Credentials:
    keys = sandbox.create_keys(
        key_type=key_type,
        permissions=permissions,
        balances=balances if balances is not None else SPOT_BALANCES,
        futures_balances=futures_balances if futures_balances is not None else FUTURES_BALANCES,
    )
    for name in ("apiKey", "secretKey", "privateKey"):
        if keys.get(name):
            SECRETS.add(keys[name].strip())
    return credentials_from(
        key_type=key_type,
        api_key=keys["apiKey"],
        secret_key=keys.get("secretKey"),
        private_key_pem=keys.get("privateKey"),
    )


@pytest.fixture
def creds(sandbox: Any) -> Credentials:
    return make_credentials(sandbox)


@pytest.fixture
def client(
    urls: EnvironmentUrls, creds: Credentials, budget: InMemoryBudget
) -> Iterator[BinanceClient]:
    with BinanceClient(
        urls, creds, config=ClientConfig(read_timeout=5, retry_backoff=0.05), budget=budget
    ) as c:
        yield c


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    r = redis.Redis(host="127.0.0.1", port=6379, db=15)
    yield r
    r.close()


@pytest.fixture
def redis_budget(redis_client: redis.Redis) -> Iterator[RedisBudget]:
    b = RedisBudget(redis_client, prefix=f"test-binance:{uuid.uuid4().hex}")
    yield b
    b.clear()


def dec(value: str) -> Decimal:
    return Decimal(value)
