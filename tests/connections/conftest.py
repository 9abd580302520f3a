"""Fixtures of the connection tests: Django pointed at the session sandbox, keys that are
remembered for the leak scans, and cleanup of injected faults, bans and clock skew."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings as django_settings

from exchanges.binance.timesync import registry as time_offsets

# Every key and secret a test of this package created (for the leak scans).
SECRETS: set[str] = set()


def remember(keys: dict) -> dict:
    """Record a sandbox key pair's secret parts; returns it unchanged."""
    for name in ("apiKey", "secretKey"):
        if keys.get(name):
            SECRETS.add(keys[name])
    if keys.get("privateKey"):
        body = "".join(
            line for line in keys["privateKey"].splitlines() if line and "-----" not in line
        )
        SECRETS.add(body)
        # A line of the PEM body is enough to give the key away.
        SECRETS.update(body[i : i + 40] for i in range(0, len(body) - 40, 40))
    return keys


def secret_of(keys: dict) -> str:
    return keys.get("secretKey") or keys["privateKey"]


def lift_local_blocks(sandbox) -> None:
    """Forget 429/418 blocks the client stored in Redis for this sandbox (shared budget)."""
    r = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in r.scan_iter(match=f"klineo:binance:block:*:{sandbox.port}:*", count=500):
        r.delete(key)


@pytest.fixture
def exchange(settings, sandbox):
    """The session sandbox, with this Django process pointed at it (SANDBOX_HOST/PORT)."""
    settings.SANDBOX_HOST = "127.0.0.1"
    settings.SANDBOX_PORT = sandbox.port
    yield sandbox
    lift_local_blocks(sandbox)


@pytest.fixture
def exchange_clean(exchange):
    """`exchange`, reset afterwards: faults, clock skew, config; bans and time offsets lifted."""
    yield exchange
    exchange.reset()
    lift_local_blocks(exchange)
    time_offsets.forget()


@pytest.fixture
def keys(exchange):
    """A factory of sandbox key pairs: keys(key_type="ED25519", permissions={...})."""

    def make(**options) -> dict:
        return remember(exchange.create_keys(**options))

    return make


@pytest.fixture
def api(reauthenticated_api_client):
    """JWT client of `user` with a fresh re-authentication."""
    return reauthenticated_api_client


def leaks(text: str) -> list[str]:
    """The remembered secrets (masked) that occur in `text`."""
    return [f"…{s[-6:]} ({len(s)} chars)" for s in SECRETS if s and s in text]


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog):
    """Every test of this package: nothing logged at any level may contain a key or secret."""
    import logging

    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage() + " " + str(record.__dict__)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        assert not leaks(text), f"secret in log record {record.name}: {leaks(text)}"
