"""Binance clients built from Django settings: the only place settings meet exchanges.binance.

Every process (web, worker, streams) shares one request-weight budget and ban state through
Redis, because Binance counts weight per server IP, not per user.
"""

from __future__ import annotations

from functools import lru_cache

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
from exchanges.models import ExchangeConnection, KeyType


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


@lru_cache(maxsize=4)
def _budget(redis_url: str) -> RedisBudget:
    return RedisBudget(redis.Redis.from_url(redis_url), prefix="klineo:binance")


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
    return client_for(
        environment=connection.environment,
        credentials=connection_credentials(connection),
        **config,
    )
