"""Base URLs of every Binance environment KLINEO can talk to.

An environment is a table of base URLs, one per *part*. Every part can be overridden (for a
proxy, a relay or the tests): Django reads ``BINANCE_<ENV>_<PART>_URL`` settings and passes
them to :func:`environment_urls` as ``{"<PART>": url}``.

Parts (the ``<PART>`` names):

==============  ========================================================================
SPOT_REST       spot REST base, without path (``/api/v3/...`` and ``/sapi/...`` are added)
SPOT_WS_API     spot WebSocket API, full URL (``.../ws-api/v3``)
SPOT_STREAM     spot market streams base (``/ws/<stream>`` and ``/stream?streams=`` added)
USDM_REST       USD-M futures REST base (``/fapi/...`` added)
USDM_STREAM     USD-M streams base; ``/public``, ``/market`` or ``/private`` is added
COINM_REST      COIN-M futures REST base (``/dapi/...`` added)
COINM_STREAM    COIN-M streams base (``/ws/<listenKey>``, ``/stream?streams=`` added)
==============  ========================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit


class EnvironmentName(StrEnum):
    MAINNET = "mainnet"
    TESTNET = "testnet"
    DEMO = "demo"
    SANDBOX = "sandbox"


#: Part name -> field of :class:`EnvironmentUrls`.
URL_PARTS: dict[str, str] = {
    "SPOT_REST": "spot_rest",
    "SPOT_WS_API": "spot_ws_api",
    "SPOT_STREAM": "spot_stream",
    "USDM_REST": "usdm_rest",
    "USDM_STREAM": "usdm_stream",
    "COINM_REST": "coinm_rest",
    "COINM_STREAM": "coinm_stream",
}

SANDBOX_DEFAULT_HTTP = "http://127.0.0.1:9100"


@dataclass(frozen=True, slots=True)
class EnvironmentUrls:
    """Base URLs of one environment. No trailing slashes."""

    name: str
    spot_rest: str
    spot_ws_api: str
    spot_stream: str
    usdm_rest: str
    usdm_stream: str
    coinm_rest: str
    coinm_stream: str
    #: Other spot REST hosts serving the same API, tried in order for *reads* when the
    #: primary host cannot be reached (mainnet only by default). Never used for orders.
    spot_rest_alternates: tuple[str, ...] = ()

    def usdm_stream_url(self, route: str) -> str:
        """USD-M stream base for a route: ``public``, ``market`` or ``private``."""
        if route not in ("public", "market", "private"):
            raise ValueError(f"unknown USD-M stream route {route!r}")
        return f"{self.usdm_stream}/{route}"


_MAINNET = EnvironmentUrls(
    name="mainnet",
    spot_rest="https://api.binance.com",
    spot_ws_api="wss://ws-api.binance.com:443/ws-api/v3",
    spot_stream="wss://stream.binance.com:9443",
    usdm_rest="https://fapi.binance.com",
    usdm_stream="wss://fstream.binance.com",
    coinm_rest="https://dapi.binance.com",
    coinm_stream="wss://dstream.binance.com",
    spot_rest_alternates=(
        "https://api-gcp.binance.com",
        "https://api1.binance.com",
        "https://api2.binance.com",
        "https://api3.binance.com",
        "https://api4.binance.com",
    ),
)

_TESTNET = EnvironmentUrls(
    name="testnet",
    spot_rest="https://testnet.binance.vision",
    spot_ws_api="wss://ws-api.testnet.binance.vision/ws-api/v3",
    spot_stream="wss://stream.testnet.binance.vision",
    # The futures docs of 2026 name demo-fapi / demo-fstream as the test network.
    usdm_rest="https://demo-fapi.binance.com",
    usdm_stream="wss://demo-fstream.binance.com",
    coinm_rest="https://testnet.binancefuture.com",
    coinm_stream="wss://dstream.binancefuture.com",
)

_DEMO = EnvironmentUrls(
    name="demo",
    spot_rest="https://demo-api.binance.com",
    spot_ws_api="wss://demo-ws-api.binance.com/ws-api/v3",
    spot_stream="wss://demo-stream.binance.com",
    usdm_rest="https://demo-fapi.binance.com",
    usdm_stream="wss://demo-fstream.binance.com",
    # UNCONFIRMED by Binance's docs (third-party reports only); override if it moves.
    coinm_rest="https://demo-dapi.binance.com",
    coinm_stream="wss://demo-dstream.binance.com",
)


def sandbox_urls(http_url: str = SANDBOX_DEFAULT_HTTP) -> EnvironmentUrls:
    """The sandbox's table, derived from its one ``http://host:port`` address."""
    http_url = http_url.rstrip("/")
    parts = urlsplit(http_url)
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    ws = f"{ws_scheme}://{parts.netloc}"
    return EnvironmentUrls(
        name="sandbox",
        spot_rest=http_url,
        spot_ws_api=f"{ws}/ws-api/v3",
        spot_stream=ws,
        usdm_rest=http_url,
        usdm_stream=f"{ws}/fstream",
        coinm_rest=http_url,
        coinm_stream=f"{ws}/dstream",
    )


_DEFAULTS: dict[str, EnvironmentUrls] = {
    "mainnet": _MAINNET,
    "testnet": _TESTNET,
    "demo": _DEMO,
    "sandbox": sandbox_urls(),
}


def setting_name(environment: str, part: str) -> str:
    """Name of the Django setting / environment variable overriding one URL part.

    >>> setting_name("testnet", "USDM_STREAM")
    'BINANCE_TESTNET_USDM_STREAM_URL'
    """
    if part not in URL_PARTS:
        raise ValueError(f"unknown URL part {part!r}; known: {', '.join(URL_PARTS)}")
    return f"BINANCE_{EnvironmentName(environment).value.upper()}_{part}_URL"


def environment_urls(
    environment: str, overrides: Mapping[str, str | None] | None = None
) -> EnvironmentUrls:
    """The URL table of ``environment`` with ``overrides`` applied.

    ``overrides`` maps part names (``"SPOT_REST"``, ...; see :data:`URL_PARTS`) to URLs; empty
    or ``None`` values are ignored so settings can pass unset variables through. For the
    sandbox, overriding only ``SPOT_REST`` moves every part to that host and port. Overriding
    ``SPOT_REST`` drops the mainnet fail-over hosts (they would bypass the override).
    """
    env = EnvironmentName(environment).value
    given = {k: v.rstrip("/") for k, v in (overrides or {}).items() if v}
    unknown = set(given) - set(URL_PARTS)
    if unknown:
        raise ValueError(f"unknown URL part(s) {sorted(unknown)}; known: {', '.join(URL_PARTS)}")
    base = _DEFAULTS[env]
    if env == "sandbox" and "SPOT_REST" in given:
        base = sandbox_urls(given["SPOT_REST"])
    changes: dict[str, object] = {URL_PARTS[k]: v for k, v in given.items()}
    if "SPOT_REST" in given:
        changes["spot_rest_alternates"] = ()
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
