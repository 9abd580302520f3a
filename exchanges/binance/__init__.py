"""KLINEO's Binance client: plain Python, never imports Django (settings are passed in).

See README.md in this directory for a guide. Public interface::

    from exchanges.binance import (
        BinanceClient, ClientConfig, Market, environment_urls, sandbox_urls,
        HmacCredentials, Ed25519Credentials, RsaCredentials, credentials_from,
        BinanceError, ErrorCategory, RedisBudget, InMemoryBudget, new_client_order_id,
    )
"""

from .client import (
    USDM_CONDITIONAL_TYPES,
    BinanceClient,
    ClientConfig,
    CoinmApi,
    Market,
    SpotApi,
    UsdmApi,
    clear_exchange_info_cache,
    default_budget,
)
from .credentials import (
    Credentials,
    Ed25519Credentials,
    HmacCredentials,
    KeyType,
    RsaCredentials,
    credentials_from,
    mask_key,
)
from .environments import (
    URL_PARTS,
    EnvironmentName,
    EnvironmentUrls,
    environment_urls,
    sandbox_urls,
    setting_name,
)
from .errors import BinanceError, ErrorCategory
from .ids import is_valid_client_order_id, new_client_order_id
from .ratelimit import BudgetDecision, InMemoryBudget, RateLimitBudget, RedisBudget
from .timesync import TimeOffsetRegistry

__all__ = [
    "URL_PARTS",
    "USDM_CONDITIONAL_TYPES",
    "BinanceClient",
    "BinanceError",
    "BudgetDecision",
    "ClientConfig",
    "CoinmApi",
    "Credentials",
    "Ed25519Credentials",
    "EnvironmentName",
    "EnvironmentUrls",
    "ErrorCategory",
    "HmacCredentials",
    "InMemoryBudget",
    "KeyType",
    "Market",
    "RateLimitBudget",
    "RedisBudget",
    "RsaCredentials",
    "SpotApi",
    "TimeOffsetRegistry",
    "UsdmApi",
    "clear_exchange_info_cache",
    "credentials_from",
    "default_budget",
    "environment_urls",
    "is_valid_client_order_id",
    "mask_key",
    "new_client_order_id",
    "sandbox_urls",
    "setting_name",
]
