"""Fixtures of the orders tests: a user with a sandbox connection, an API client, fast settings.

The Django process reaches the suite's sandbox through settings.SANDBOX_PORT; the Celery worker
through its environment (the same values, see `orders_worker`).
"""

from __future__ import annotations

import pytest

from exchanges import crypto
from exchanges.models import Environment, ExchangeConnection
from tests.factories import UserFactory
from tests.fixtures.processes import sandbox_env

# Short timings so reconciliation tests finish in seconds (recvWindow 2 s + 0.5 s margin).
FAST = {
    "BINANCE_RECV_WINDOW": "2000",
    "ORDER_NOT_FOUND_MARGIN_SECONDS": "0.5",
    "ORDER_RECONCILE_FIRST_DELAY": "0.2",
    "ORDER_RECONCILE_BACKOFF": "0.3",
    "ORDER_RECONCILE_BACKOFF_MAX": "1.0",
    "ORDER_SWEEP_AGE_SECONDS": "1.0",
    "BINANCE_READ_TIMEOUT": "2.0",
    "ORDER_RECONCILE_LOCK_SECONDS": "3.0",
}


@pytest.fixture(autouse=True)
def orders_settings(settings, sandbox):
    settings.SANDBOX_HOST = "127.0.0.1"
    settings.SANDBOX_PORT = int(sandbox.url.rsplit(":", 1)[1])
    settings.BINANCE_RECV_WINDOW = int(FAST["BINANCE_RECV_WINDOW"])
    settings.BINANCE_READ_TIMEOUT = float(FAST["BINANCE_READ_TIMEOUT"])
    settings.ORDER_NOT_FOUND_MARGIN_SECONDS = float(FAST["ORDER_NOT_FOUND_MARGIN_SECONDS"])
    settings.ORDER_RECONCILE_FIRST_DELAY = float(FAST["ORDER_RECONCILE_FIRST_DELAY"])
    settings.ORDER_SWEEP_AGE_SECONDS = float(FAST["ORDER_SWEEP_AGE_SECONDS"])
    return settings


@pytest.fixture
def market(sandbox):
    """Frozen prices (no random walk) for the test; faults and config are reset afterwards."""
    sandbox.configure(walk=False)
    sandbox.set_price("BTCUSDT", "65000")
    sandbox.set_price("ETHUSDT", "3200")
    yield sandbox
    sandbox.reset()


@pytest.fixture
def orders_worker(celery_worker, sandbox):
    """The suite's Celery worker, pointed at the sandbox with fast reconciliation settings."""
    wanted = {**sandbox_env(sandbox), **FAST}
    if celery_worker.extra_env != wanted:
        celery_worker.stop()
        celery_worker.start(extra_env=wanted)
    return celery_worker


def make_connection(
    sandbox, user, *, futures: bool = False, environment=Environment.SANDBOX, **key_options
):
    keys = sandbox.create_keys(**key_options)
    return ExchangeConnection.objects.create(
        owner=user,
        label=f"sandbox {keys['apiKey'][-4:]}",
        environment=environment,
        api_key_encrypted=crypto.encrypt(keys["apiKey"]),
        secret_encrypted=crypto.encrypt(keys["secretKey"]),
        key_last4=keys["apiKey"][-4:],
        futures_enabled=futures,
    ), keys


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def connection(sandbox, user):
    conn, _keys = make_connection(sandbox, user)
    return conn


@pytest.fixture
def futures_connection(sandbox, user):
    conn, _keys = make_connection(sandbox, user, futures=True)
    return conn


@pytest.fixture
def api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=user)
    return client


def orders_url(connection, suffix: str = "") -> str:
    return f"/api/connections/{connection.pk}/orders{suffix}"


def futures_url(connection, suffix: str) -> str:
    return f"/api/connections/{connection.pk}/futures/{suffix}"


def pytest_collection_modifyitems(config, items):
    """Run the browser tests of this directory last: Playwright keeps an event loop in the test
    thread, after which on-commit pushes (async_to_sync) in this thread cannot run."""
    here = [i for i in items if "tests/orders/" in str(i.fspath)]
    browser = [i for i in here if i.get_closest_marker("browser")]
    if browser:
        rest = [i for i in items if i not in browser]
        last_here = (
            max(rest.index(i) for i in here if i not in browser)
            if len(here) > len(browser)
            else len(rest) - 1
        )
        items[:] = rest[: last_here + 1] + browser + rest[last_here + 1 :]
