"""Binance clients built from Django settings: the only place settings meet exchanges.binance.

Every process (web, worker, streams) shares one request-weight budget and ban state through
Redis, because Binance counts weight per server IP, not per user.

`connection_client` is the one way services get a signed client for a connection: one client
per connection (and settings) per process, shared by all threads, so its HTTP connections to
Binance stay warm across requests (daphne runs every request in a thread of its own).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings

from exchanges import crypto
from exchanges.binance import (
    URL_PARTS,
    BinanceClient,
    ClientConfig,
    Credentials,
    EnvironmentUrls,
    RedisBudget,
    credentials_from,
    environment_urls,
    setting_name,
)
from exchanges.binance.ratelimit import GRANTED, BudgetDecision
from exchanges.models import ExchangeConnection, KeyType
from klineo.exceptions import ApplicationError

logger = logging.getLogger(__name__)


def sandbox_http_url() -> str:
    return f"http://{settings.SANDBOX_HOST}:{settings.SANDBOX_PORT}"


def urls_for_environment(environment: str) -> EnvironmentUrls:
    """The environment's URL table with any BINANCE_<ENV>_<PART>_URL overrides applied."""
    overrides = {
        part: settings.BINANCE_URL_OVERRIDES.get(setting_name(environment, part))
        for part in URL_PARTS
    }
    if environment == "sandbox" and not overrides.get("SPOT_REST"):
        overrides["SPOT_REST"] = sandbox_http_url()
    return environment_urls(environment, overrides)


class CoalescingRedisBudget(RedisBudget):
    """A RedisBudget that sends the used weight Binance reported with the next acquire.

    Every Binance answer carries X-MBX-USED-WEIGHT-1M; recording it at once costs a second Redis
    round trip per request. The value only matters to the next acquire (of any process), so it
    is kept here (the highest per scope and minute) and sent in the same pipeline as this
    process's next acquire: one round trip per request. When the reported weight is close to the
    limit (RECORD_NOW_SHARE of it) it is recorded at once, so other processes see it before they
    spend the rest. Recording keeps the maximum, so a late or repeated value is harmless.
    """

    RECORD_NOW_SHARE = 0.5

    def __init__(self, redis_client: Any, prefix: str = "klineo:binance") -> None:
        super().__init__(redis_client, prefix)
        self._pending: dict[str, int] = {}  # weight key (scope and minute) -> used weight
        self._limits: dict[str, int] = {}  # scope -> the limit of its last acquire
        self._pending_lock = threading.Lock()

    def acquire(
        self, scope: str, weight: int, limit: int, now: float, account: str | None = None
    ) -> BudgetDecision:
        self._limits[scope] = limit
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return super().acquire(scope, weight, limit, now, account)
        pipe = self._redis.pipeline(transaction=False)
        for key, used in pending.items():
            self._record(keys=[key], args=[used], client=pipe)
        keys = [self._block_key(scope)]
        if account:
            keys.append(self._block_key(account))
        keys.append(self._weight_key(scope, now))
        self._acquire(keys=keys, args=[weight, limit], client=pipe)
        status, value = pipe.execute()[-1]
        return self._decision(status, value, now)

    def record(self, scope: str, used_weight: int, now: float) -> None:
        limit = self._limits.get(scope)
        if limit is None or used_weight >= limit * self.RECORD_NOW_SHARE:
            super().record(scope, used_weight, now)
            return
        key = self._weight_key(scope, now)
        with self._pending_lock:
            if used_weight > self._pending.get(key, 0):
                self._pending[key] = used_weight

    def _decision(self, status: int, value: Any, now: float) -> BudgetDecision:
        if status == 0:
            return GRANTED
        if status == 1:
            reason, until = self._parse_block(value)
            return BudgetDecision(False, max(until - now, 0.0), reason)
        return BudgetDecision(False, 60.0 - (now % 60.0) + 0.05, "budget")


@lru_cache(maxsize=4)
def _budget(redis_url: str) -> RedisBudget:
    return CoalescingRedisBudget(redis.Redis.from_url(redis_url), prefix="klineo:binance")


def shared_budget() -> RedisBudget:
    return _budget(settings.REDIS_URL)


def client_config(**overrides) -> ClientConfig:
    values = {
        "recv_window": settings.BINANCE_RECV_WINDOW,
        "connect_timeout": settings.BINANCE_CONNECT_TIMEOUT,
        "read_timeout": settings.BINANCE_READ_TIMEOUT,
        "https_proxy": settings.BINANCE_HTTPS_PROXY or None,
    }
    values.update(overrides)
    return ClientConfig(**values)


def client_for(
    *, environment: str, credentials: Credentials | None = None, **config
) -> BinanceClient:
    """A client for one environment, optionally signed with `credentials`."""
    return BinanceClient(
        urls_for_environment(environment),
        credentials,
        config=client_config(**config),
        budget=shared_budget(),
    )


def connection_credentials(connection: ExchangeConnection) -> Credentials:
    """Decrypt a connection's secrets into a credentials object (never log or render it)."""
    api_key = crypto.decrypt(connection.api_key_encrypted)
    secret = crypto.decrypt(connection.secret_encrypted)
    if connection.key_type == KeyType.HMAC:
        return credentials_from(key_type="HMAC", api_key=api_key, secret_key=secret)
    return credentials_from(key_type=connection.key_type, api_key=api_key, private_key_pem=secret)


def client_for_connection(connection: ExchangeConnection, **config) -> BinanceClient:
    """A new client of its own for the connection (close it after use); request paths use
    `connection_client`, which shares one per process."""
    return client_for(
        environment=connection.environment,
        credentials=connection_credentials(connection),
        **config,
    )


class SharedClient(BinanceClient):
    """A client shared by the threads of a process: `close()` (and `with`) leave it open, so
    callers written for a client of their own cannot cut another thread's connections."""

    def close(self) -> None:
        pass

    def dispose(self) -> None:
        super().close()


CLIENT_CACHE_SIZE = 512
_clients: OrderedDict[tuple, SharedClient] = OrderedDict()
_clients_lock = threading.Lock()


def _client_key(connection: ExchangeConnection, config: dict[str, Any]) -> tuple:
    # Everything the client is built from: the stored keys (ciphertext, so new keys or a test
    # database reusing ids never get an old client), the environment's URLs and the settings.
    base = (
        connection.pk,
        connection.updated_at,
        connection.environment,
        connection.key_type,
        connection.api_key_encrypted,
        connection.secret_encrypted,
        settings.BINANCE_RECV_WINDOW,
        settings.BINANCE_CONNECT_TIMEOUT,
        settings.BINANCE_READ_TIMEOUT,
        settings.BINANCE_HTTPS_PROXY,
        settings.SANDBOX_HOST,
        settings.SANDBOX_PORT,
        settings.REDIS_URL,
        tuple(sorted(settings.BINANCE_URL_OVERRIDES.items())),
    )
    return base, tuple(sorted(config.items()))


def connection_client(connection: ExchangeConnection, **config) -> BinanceClient:
    """The signed client of a connection, shared by every thread of this process.

    Built once per connection, keys and settings (a change of any of them builds a new one), so
    signing keys are decrypted once and HTTP connections stay open between requests. Safe to
    share: the client keeps no per-request state, requests.Session with urllib3's pool is used
    concurrently by many threads, and budget and time offsets are process-wide anyway. Closing
    it (or `with`) is harmless. Raises ApplicationError for a deleted connection
    ("connection_deleted") or keys the server cannot decrypt ("keys_unreadable").
    """
    if connection.deleted_at is not None:
        raise ApplicationError(
            "This connection was deleted.", code="connection_deleted", status_code=404
        )
    key = _client_key(connection, config)
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    try:
        credentials = connection_credentials(connection)
    except crypto.DecryptionError as exc:
        logger.error("connection %s: stored keys cannot be decrypted", connection.pk)
        raise ApplicationError(
            "The stored keys of this connection cannot be decrypted with the server's current "
            "encryption keys. Ask the administrator, or replace the keys.",
            code="keys_unreadable",
            status_code=409,
        ) from exc
    built = SharedClient(
        urls_for_environment(connection.environment),
        credentials,
        config=client_config(**config),
        budget=shared_budget(),
    )
    evicted: list[SharedClient] = []
    with _clients_lock:
        client = _clients.setdefault(key, built)
        _clients.move_to_end(key)
        # A connection's older clients (keys or settings changed) and the least recently used
        # beyond the cap go; a thread still using one finishes its request normally.
        base = key[0]
        for old_key in [k for k in _clients if k[0][0] == base[0] and k[0] != base]:
            evicted.append(_clients.pop(old_key))
        while len(_clients) > CLIENT_CACHE_SIZE:
            evicted.append(_clients.popitem(last=False)[1])
    if client is not built:
        evicted.append(built)  # another thread built the same client first
    for old in evicted:
        old.dispose()
    return client


def connection_clients_clear() -> None:
    """Forget every shared client (tests; a process that changed settings at runtime)."""
    with _clients_lock:
        old = list(_clients.values())
        _clients.clear()
    for client in old:
        client.dispose()
