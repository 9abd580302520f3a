"""The synchronous REST client: one :class:`BinanceClient` per set of credentials.

``client.spot``, ``client.usdm`` and ``client.coinm`` share one ``requests.Session`` (pooled
connections), one rate-limit budget and the process-wide server-time offsets. Every call goes
through the same pipeline: budget gate -> timestamp + signature -> send -> headers recorded ->
typed result or :class:`~exchanges.binance.errors.BinanceError`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from . import ratelimit
from .credentials import Credentials, rest_query
from .environments import EnvironmentUrls
from .errors import BinanceError, ErrorCategory, classify, scrub
from .ids import is_valid_client_order_id, new_client_order_id
from .models import (
    Account,
    ApiRestrictions,
    BookTicker,
    ExchangeInfo,
    FuturesAccount,
    FuturesAccountPermissions,
    FuturesAlgoOrder,
    FuturesBalance,
    FuturesOrder,
    FuturesPosition,
    Kline,
    LeverageSetting,
    ListenKey,
    Order,
    OrderBook,
    OrderList,
    PriceTicker,
    TestOrderResult,
    Ticker24h,
    Trade,
)
from .ratelimit import InMemoryBudget, RateLimitBudget
from .timesync import TimeOffsetRegistry
from .timesync import registry as default_time_offsets

logger = logging.getLogger("exchanges.binance")


class _RedactSignedUrls(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string included; a signed query string
    (signature, timestamp) must never reach a log, so it is cut off there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and "signature=" in a for a in record.args
        ):
            record.args = tuple(
                a.split("?", 1)[0] + "?[redacted]"
                if isinstance(a, str) and "signature=" in a
                else a
                for a in record.args
            )
        elif isinstance(record.msg, str) and "signature=" in record.msg:
            record.msg = record.msg.split("?", 1)[0] + "?[redacted]"
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactSignedUrls())

ParamValue = str | int | Decimal | bool | Sequence[str] | Enum | None
Params = Mapping[str, ParamValue]

#: USD-M order types Binance only accepts on ``/fapi/v1/algoOrder`` since 2025-12-09.
USDM_CONDITIONAL_TYPES: Final = frozenset(
    {"STOP", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)

#: Budget shared by every client of this process that is not given another one.
default_budget: Final = InMemoryBudget()


class Market(StrEnum):
    SPOT = "spot"
    USDM = "usdm"
    COINM = "coinm"


_DEFAULT_WEIGHT_LIMITS: Final = {Market.SPOT: 6000, Market.USDM: 2400, Market.COINM: 6000}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Settings of a client (Django passes them in; nothing here reads the environment).

    Attributes:
        recv_window: ms a signed request stays valid (Binance default 5000, at most 60000).
        connect_timeout, read_timeout: seconds, for every request.
        https_proxy: proxy URL for HTTPS (and HTTP) requests, e.g. ``http://proxy:3128``.
        wait_for_budget: when the weight budget is spent or a 429 backoff is active, sleep up to
            ``max_budget_wait`` seconds instead of failing fast with ``rate_limited``.
        weight_limits: REQUEST_WEIGHT per minute per market; the budget keeps
            ``budget_headroom`` of it free for other tools sharing the IP.
        read_retries: extra attempts for idempotent reads after network errors, 5xx, -1006,
            -1007 (with exponential backoff from ``retry_backoff`` seconds). Never for writes.
        exchange_info_ttl: seconds exchangeInfo answers are cached (process-wide).
        time_resync_interval: seconds after which the server-time offset is measured again.
        failover: try the environment's alternative spot hosts for reads on connection errors.
    """

    recv_window: int | Decimal = 5000
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    https_proxy: str | None = None
    wait_for_budget: bool = False
    max_budget_wait: float = 10.0
    weight_limits: Mapping[Market, int] = field(
        default_factory=lambda: dict(_DEFAULT_WEIGHT_LIMITS)
    )
    budget_headroom: float = 0.1
    read_retries: int = 2
    retry_backoff: float = 0.25
    exchange_info_ttl: float = 300.0
    time_resync_interval: float = 900.0
    pool_maxsize: int = 10
    client_order_id_prefix: str = "kln-"
    failover: bool = True

    def __post_init__(self) -> None:
        if not 0 < Decimal(self.recv_window) <= 60000:
            raise ValueError("recv_window must be > 0 and at most 60000 ms")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("timeouts must be positive")


def encode_value(value: ParamValue) -> str:
    """A parameter value as Binance expects it (no floats: Decimal is written in plain form)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        raise TypeError("floats are not accepted for Binance parameters; use Decimal or str")
    if isinstance(value, Sequence):
        return json.dumps(list(value), separators=(",", ":"))
    raise TypeError(f"unsupported parameter type {type(value).__name__}")


def encode_params(params: Params | None) -> list[tuple[str, str]]:
    if not params:
        return []
    return [(k, encode_value(v)) for k, v in params.items() if v is not None]


def _parse_body(content: bytes) -> Any:
    if not content:
        return {}
    return json.loads(content, parse_float=Decimal)


def _sent_before_failure(exc: requests.exceptions.RequestException) -> bool:
    """Whether the request may have reached the server before ``exc`` (conservative: yes)."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return False
    if isinstance(exc, requests.exceptions.ProxyError):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason: Any = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        if isinstance(reason, NewConnectionError):
            return False
    return True


_ExchangeInfoKey = tuple[str, str, str]
_exchange_info_cache: dict[_ExchangeInfoKey, tuple[float, ExchangeInfo]] = {}
_exchange_info_lock = threading.Lock()


def clear_exchange_info_cache() -> None:
    with _exchange_info_lock:
        _exchange_info_cache.clear()


T = TypeVar("T")


class BinanceClient:
    """REST client for one environment and (optionally) one API key.

    Args:
        urls: the environment's URL table (:func:`~exchanges.binance.environment_urls`).
        credentials: ``HmacCredentials``, ``Ed25519Credentials`` or ``RsaCredentials``; needed
            for signed endpoints only.
        config: timeouts, recvWindow, proxy, budget policy (:class:`ClientConfig`).
        budget: the shared rate-limit budget; :data:`default_budget` (this process) if omitted,
            a :class:`~exchanges.binance.ratelimit.RedisBudget` to share it between processes.
        clock, sleep: injectable for tests (epoch seconds / seconds).
        time_offsets: server-time offsets, process-wide by default.

    Thread-safety: a client may be shared by threads (``requests.Session`` use is the usual
    caveat); cheap to create, so one per request/task is fine too. Close it (or use ``with``).
    """

    def __init__(
        self,
        urls: EnvironmentUrls,
        credentials: Credentials | None = None,
        *,
        config: ClientConfig | None = None,
        budget: RateLimitBudget | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        time_offsets: TimeOffsetRegistry | None = None,
    ) -> None:
        self.urls = urls
        self.credentials = credentials
        self.config = config or ClientConfig()
        self.budget: RateLimitBudget = budget if budget is not None else default_budget
        self.clock = clock
        self.sleep = sleep
        self.time_offsets = time_offsets or default_time_offsets
        self.session = requests.Session()
        # No environment proxy lookups / .netrc per request: the proxy is explicit.
        self.session.trust_env = False
        adapter = HTTPAdapter(
            pool_connections=4, pool_maxsize=self.config.pool_maxsize, max_retries=0
        )
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        if self.config.https_proxy:
            self.session.proxies = {
                "https": self.config.https_proxy,
                "http": self.config.https_proxy,
            }
        self.session.headers.update(
            {"User-Agent": "klineo-binance/1", "Accept": "application/json"}
        )
        if credentials is not None:
            self.session.headers["X-MBX-APIKEY"] = credentials.api_key
        self._timeout = (self.config.connect_timeout, self.config.read_timeout)
        self._recv_window = encode_value(
            self.config.recv_window
            if isinstance(self.config.recv_window, Decimal)
            else int(self.config.recv_window)
        )
        self._secrets: tuple[str, ...] = credentials.secrets() if credentials else ()
        self._account_scope = f"account:{credentials.fingerprint}" if credentials else None
        #: Last X-MBX-USED-WEIGHT-1M seen per market, and X-MBX-ORDER-COUNT-* per header.
        self.last_used_weight: dict[Market, int] = {}
        self.last_order_counts: dict[str, int] = {}
        self.spot = SpotApi(self, Market.SPOT, urls.spot_rest, urls.spot_rest_alternates)
        self.usdm = UsdmApi(self, Market.USDM, urls.usdm_rest, ())
        self.coinm = CoinmApi(self, Market.COINM, urls.coinm_rest, ())

    def api(self, market: Market | str) -> _MarketApi:
        return {Market.SPOT: self.spot, Market.USDM: self.usdm, Market.COINM: self.coinm}[
            Market(market)
        ]

    def request(
        self,
        market: Market | str,
        method: str,
        path: str,
        params: Params | None = None,
        *,
        signed: bool = False,
        weight: int = 1,
        api_key: bool = False,
    ) -> Any:
        """Any endpoint without a helper, e.g. ``request("spot", "GET", "/api/v3/avgPrice",
        {"symbol": "BTCUSDT"}, weight=2)``. Same signing, limits, retries and errors as the
        helpers; returns the decoded JSON (floats as Decimal)."""
        return self.api(market).request(
            method, path, params, signed=signed, weight=weight, api_key=api_key
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> BinanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        key = self.credentials.masked_api_key if self.credentials else "-"
        return f"<BinanceClient {self.urls.name} key={key}>"


class _MarketApi:
    """The request pipeline for one market (base URL, time endpoint, weight scope)."""

    _time_path = "/api/v3/time"
    _ping_path = "/api/v3/ping"
    _exchange_info_path = "/api/v3/exchangeInfo"
    _exchange_info_weight = 20

    def __init__(
        self,
        client: BinanceClient,
        market: Market,
        base_url: str,
        alternates: tuple[str, ...],
    ) -> None:
        self._client = client
        self.market = market
        self.base_url = base_url.rstrip("/")
        self._alternates = alternates if client.config.failover else ()
        self.scope = f"{urlsplit(self.base_url).netloc or self.base_url}:{market.value}"
        limit = client.config.weight_limits.get(market, _DEFAULT_WEIGHT_LIMITS[market])
        self.weight_limit = max(int(limit * (1 - client.config.budget_headroom)), 1)

    # -- public generic entry point ---------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        *,
        signed: bool = False,
        weight: int = 1,
        api_key: bool = False,
    ) -> Any:
        """Send one request to this market's base URL; see :meth:`BinanceClient.request`."""
        method = method.upper()
        mutating = method != "GET" and not path.endswith("/order/test")
        return self._call(
            method,
            path,
            params,
            signed=signed,
            weight=weight,
            api_key=api_key,
            mutating=mutating,
            order=False,
        )

    # -- time ---------------------------------------------------------------------------------

    def sync_time(self) -> float:
        """Measure the server-time offset now (shared by all clients of this base URL)."""
        c = self._client
        sent = c.clock()
        data = self._call(
            "GET", self._time_path, None, signed=False, weight=1, mutating=False, order=False
        )
        received = c.clock()
        offset = c.time_offsets.update(
            self.base_url,
            server_time_ms=int(data["serverTime"]),
            sent_at=sent,
            received_at=received,
        )
        logger.info(
            "binance time offset %.0f ms (%s)",
            offset.offset_ms,
            self.scope,
            extra={"binance_time_offset_ms": offset.offset_ms, "binance_scope": self.scope},
        )
        return offset.offset_ms

    def _timestamp(self) -> int:
        c = self._client
        offset = c.time_offsets.get(self.base_url)
        now = c.clock()
        if offset.measured_at is None or now - offset.measured_at > c.config.time_resync_interval:
            self.sync_time()
            offset = c.time_offsets.get(self.base_url)
            now = c.clock()
        return int(now * 1000 + offset.offset_ms)

    # -- pipeline -----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        params: Params | None,
        *,
        signed: bool,
        weight: int,
        mutating: bool,
        order: bool,
        api_key: bool = False,
        client_order_id: str | None = None,
    ) -> Any:
        c = self._client
        if (signed or api_key) and c.credentials is None:
            raise BinanceError(
                ErrorCategory.AUTH_INVALID_KEY,
                method=method,
                path=path,
                user_message="This request needs an API key, and none is configured.",
            )
        pairs = encode_params(params)
        resynced = False
        attempt = 0
        while True:
            try:
                return self._send(method, path, pairs, signed, weight, mutating, order)
            except BinanceError as exc:
                exc.client_order_id = client_order_id
                if exc.category is ErrorCategory.TIMESTAMP and signed and not resynced:
                    # A -1021 refusal means nothing was executed: resync once, retry once.
                    resynced = True
                    self.sync_time()
                    continue
                if (
                    not mutating
                    and attempt < c.config.read_retries
                    and exc.category in (ErrorCategory.NETWORK, ErrorCategory.EXCHANGE_UNAVAILABLE)
                ):
                    c.sleep(c.config.retry_backoff * (2**attempt))
                    attempt += 1
                    continue
                raise

    def _gate(self, method: str, path: str, weight: int, order: bool) -> None:
        """Wait for, or refuse, a request the shared budget does not allow now."""
        c = self._client
        deadline: float | None = None
        while True:
            now = c.clock()
            decision = c.budget.acquire(
                self.scope, weight, self.weight_limit, now, c._account_scope if order else None
            )
            if decision.granted:
                return
            if deadline is None:
                deadline = now + c.config.max_budget_wait
            if c.config.wait_for_budget and now + decision.wait <= deadline:
                c.sleep(max(decision.wait, 0.01))
                continue
            category = (
                ErrorCategory.IP_BANNED
                if decision.blocked == ratelimit.BANNED
                else ErrorCategory.RATE_LIMITED
            )
            logger.warning(
                "binance request refused locally: %s %s (%s, %.1f s left)",
                method,
                path,
                decision.blocked,
                decision.wait,
                extra={
                    "binance_method": method,
                    "binance_path": path,
                    "binance_blocked": decision.blocked,
                    "binance_wait_s": decision.wait,
                },
            )
            raise BinanceError(
                category,
                method=method,
                path=path,
                retry_after=round(decision.wait, 3),
                binance_message=f"not sent: {decision.blocked} for {decision.wait:.1f}s",
            )

    def _send(
        self,
        method: str,
        path: str,
        pairs: list[tuple[str, str]],
        signed: bool,
        weight: int,
        mutating: bool,
        order: bool,
    ) -> Any:
        c = self._client
        self._gate(method, path, weight, order)
        if signed:
            pairs = [*pairs, ("recvWindow", c._recv_window), ("timestamp", str(self._timestamp()))]
            query = rest_query(pairs, c.credentials)
        else:
            query = rest_query(pairs, None)
        bases = (self.base_url, *self._alternates) if not mutating else (self.base_url,)
        started = c.clock()
        response: requests.Response | None = None
        for index, base in enumerate(bases):
            url = f"{base}{path}?{query}" if query else f"{base}{path}"
            try:
                response = c.session.request(method, url, timeout=c._timeout)
                break
            except requests.exceptions.RequestException as exc:
                sent = _sent_before_failure(exc)
                if not sent and index + 1 < len(bases):
                    logger.warning(
                        "binance host %s unreachable, failing over",
                        urlsplit(base).netloc,
                        extra={"binance_path": path, "binance_host": urlsplit(base).netloc},
                    )
                    continue
                self._log(method, path, weight, started, None, None)
                if sent and mutating:
                    raise BinanceError(
                        ErrorCategory.UNKNOWN_OUTCOME,
                        outcome_known=False,
                        method=method,
                        path=path,
                        binance_message=f"no answer after sending ({type(exc).__name__})",
                    ) from None
                raise BinanceError(
                    ErrorCategory.NETWORK,
                    method=method,
                    path=path,
                    binance_message=f"{type(exc).__name__} before an answer",
                ) from None
        assert response is not None
        return self._handle(method, path, weight, started, response, mutating, order)

    def _handle(
        self,
        method: str,
        path: str,
        weight: int,
        started: float,
        response: requests.Response,
        mutating: bool,
        order: bool,
    ) -> Any:
        c = self._client
        now = c.clock()
        headers = response.headers
        status = response.status_code
        used_raw = headers.get("x-mbx-used-weight-1m")
        used: int | None = None
        if used_raw is not None:
            used = int(used_raw)
            c.last_used_weight[self.market] = used
            c.budget.record(self.scope, used, now)
        if order:
            for name, value in headers.items():
                lower = name.lower()
                if lower.startswith("x-mbx-order-count-"):
                    c.last_order_counts[lower[18:]] = int(value)
        if status < 300:
            self._log(method, path, weight, started, status, used)
            return _parse_body(response.content)
        return self._raise(method, path, weight, started, response, mutating, order, used, now)

    def _raise(
        self,
        method: str,
        path: str,
        weight: int,
        started: float,
        response: requests.Response,
        mutating: bool,
        order: bool,
        used: int | None,
        now: float,
    ) -> Any:
        c = self._client
        status = response.status_code
        code: int | None = None
        message = ""
        try:
            body = _parse_body(response.content)
            if isinstance(body, Mapping):
                code = int(body["code"]) if body.get("code") is not None else None
                message = str(body.get("msg", ""))
        except (ValueError, TypeError):
            message = f"HTTP {status}"
        message = scrub(message, c._secrets)
        retry_after: float | None = None
        ra = response.headers.get("Retry-After")
        if ra is not None:
            try:
                retry_after = float(ra)
            except ValueError:
                retry_after = None
        if status == 418:
            retry_after = retry_after if retry_after is not None else 120.0
            c.budget.block(self.scope, now + retry_after, ratelimit.BANNED)
        elif status == 429:
            if retry_after is None:
                retry_after = 60.0 - (now % 60.0)
            if code == -1015 and c._account_scope:
                c.budget.block(c._account_scope, now + retry_after, ratelimit.RATE_LIMITED)
            else:
                c.budget.block(self.scope, now + retry_after, ratelimit.RATE_LIMITED)
        category, known = classify(
            http_status=status,
            code=code,
            message=message,
            mutating=mutating,
            trading=order or self.market is not Market.SPOT,
        )
        self._log(method, path, weight, started, status, used, code)
        raise BinanceError(
            category,
            code=code,
            binance_message=message,
            http_status=status,
            outcome_known=known,
            retry_after=retry_after,
            method=method,
            path=path,
        )

    def _log(
        self,
        method: str,
        path: str,
        weight: int,
        started: float,
        status: int | None,
        used: int | None,
        code: int | None = None,
    ) -> None:
        if not logger.isEnabledFor(logging.DEBUG):
            return
        c = self._client
        latency_ms = (c.clock() - started) * 1000.0
        logger.debug(
            "binance %s %s -> %s (weight %d, %.1f ms)",
            method,
            path,
            status if status is not None else "no answer",
            weight,
            latency_ms,
            extra={
                "binance_market": self.market.value,
                "binance_method": method,
                "binance_path": path,
                "binance_status": status,
                "binance_code": code,
                "binance_weight": weight,
                "binance_used_weight": used,
                "binance_latency_ms": round(latency_ms, 2),
                "binance_api_key": c.credentials.masked_api_key if c.credentials else None,
            },
        )

    # -- helpers shared by the markets ----------------------------------------------------------

    def _client_order_id(self, given: str | None, *, futures: bool) -> str:
        if given is None:
            return new_client_order_id(self._client.config.client_order_id_prefix)
        if not is_valid_client_order_id(given, futures=futures):
            raise BinanceError(
                ErrorCategory.INVALID_PARAMETER,
                binance_message="client order id has illegal characters or is too long",
                user_message=(
                    "The client order id must be 1-36 characters of letters, digits, '-' or '_'."
                ),
            )
        return given

    def ping(self) -> None:
        self._call(
            "GET", self._ping_path, None, signed=False, weight=1, mutating=False, order=False
        )

    def server_time(self) -> int:
        """Binance's time in epoch ms."""
        data = self._call(
            "GET", self._time_path, None, signed=False, weight=1, mutating=False, order=False
        )
        return int(data["serverTime"])

    def exchange_info(
        self,
        symbol: str | None = None,
        symbols: Sequence[str] | None = None,
        *,
        use_cache: bool = True,
    ) -> ExchangeInfo:
        """Trading rules and filters; cached process-wide for ``exchange_info_ttl`` seconds."""
        params: dict[str, ParamValue] = {}
        if symbol:
            params["symbol"] = symbol
        if symbols:
            params["symbols"] = list(symbols)
        key = (self.base_url, self._exchange_info_path, json.dumps(encode_params(params)))
        now = self._client.clock()
        if use_cache:
            with _exchange_info_lock:
                hit = _exchange_info_cache.get(key)
            if hit is not None and now - hit[0] < self._client.config.exchange_info_ttl:
                return hit[1]
        data = self._call(
            "GET",
            self._exchange_info_path,
            params,
            signed=False,
            weight=self._exchange_info_weight,
            mutating=False,
            order=False,
        )
        info = ExchangeInfo.from_json(data)
        with _exchange_info_lock:
            _exchange_info_cache[key] = (now, info)
        return info

    def _get(self, path: str, params: Params | None, weight: int, signed: bool = True) -> Any:
        return self._call(
            "GET", path, params, signed=signed, weight=weight, mutating=False, order=False
        )


class SpotApi(_MarketApi):
    """Spot endpoints (``/api/v3``, ``/sapi``). Reached as ``client.spot``."""

    # -- market data ----------------------------------------------------------------------------

    def ticker_price(self, symbol: str) -> PriceTicker:
        return PriceTicker.from_json(
            self._get("/api/v3/ticker/price", {"symbol": symbol}, 2, False)
        )

    def ticker_prices(self, symbols: Sequence[str] | None = None) -> list[PriceTicker]:
        params: Params = {"symbols": list(symbols)} if symbols else {}
        rows = self._get("/api/v3/ticker/price", params, 4, False)
        return [PriceTicker.from_json(r) for r in rows]

    def ticker_24h(self, symbol: str) -> Ticker24h:
        return Ticker24h.from_json(self._get("/api/v3/ticker/24hr", {"symbol": symbol}, 2, False))

    def tickers_24h(self, symbols: Sequence[str] | None = None) -> list[Ticker24h]:
        if symbols:
            n = len(symbols)
            weight = 2 if n <= 20 else 40 if n <= 100 else 80
            rows = self._get("/api/v3/ticker/24hr", {"symbols": list(symbols)}, weight, False)
        else:
            rows = self._get("/api/v3/ticker/24hr", None, 80, False)
        return [Ticker24h.from_json(r) for r in rows]

    def book_ticker(self, symbol: str) -> BookTicker:
        data = self._get("/api/v3/ticker/bookTicker", {"symbol": symbol}, 2, False)
        return BookTicker.from_json(data)

    def book_tickers(self, symbols: Sequence[str] | None = None) -> list[BookTicker]:
        params: Params = {"symbols": list(symbols)} if symbols else {}
        rows = self._get("/api/v3/ticker/bookTicker", params, 4, False)
        return [BookTicker.from_json(r) for r in rows]

    def klines(
        self,
        symbol: str,
        interval: str,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int | None = None,
        time_zone: str | None = None,
    ) -> list[Kline]:
        params: Params = {
            "symbol": symbol,
            "interval": interval,
            "startTime": start_time,
            "endTime": end_time,
            "limit": limit,
            "timeZone": time_zone,
        }
        return [Kline.from_json(r) for r in self._get("/api/v3/klines", params, 2, False)]

    def depth(self, symbol: str, limit: int = 100) -> OrderBook:
        weight = 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        data = self._get("/api/v3/depth", {"symbol": symbol, "limit": limit}, weight, False)
        return OrderBook.from_json(data)

    # -- account --------------------------------------------------------------------------------

    def account(self, *, omit_zero_balances: bool = True) -> Account:
        """Balances and account flags (``canTrade`` is the account's, not the key's)."""
        data = self._get("/api/v3/account", {"omitZeroBalances": omit_zero_balances}, 20)
        return Account.from_json(data)

    def api_restrictions(self) -> ApiRestrictions:
        """The API key's own permissions. Mainnet only: testnet and demo have no ``/sapi``."""
        return ApiRestrictions.from_json(self._get("/sapi/v1/account/apiRestrictions", None, 1))

    # -- orders ---------------------------------------------------------------------------------

    def _order_params(
        self,
        symbol: str,
        side: str,
        type: str,
        quantity: Decimal | str | None,
        quote_order_qty: Decimal | str | None,
        price: Decimal | str | None,
        time_in_force: str | None,
        stop_price: Decimal | str | None,
        trailing_delta: int | None,
        iceberg_qty: Decimal | str | None,
        new_order_resp_type: str | None,
        self_trade_prevention_mode: str | None,
        client_order_id: str,
        extra: Mapping[str, ParamValue],
    ) -> dict[str, ParamValue]:
        params: dict[str, ParamValue] = {
            "symbol": symbol,
            "side": side,
            "type": type,
            "timeInForce": time_in_force,
            "quantity": quantity,
            "quoteOrderQty": quote_order_qty,
            "price": price,
            "stopPrice": stop_price,
            "trailingDelta": trailing_delta,
            "icebergQty": iceberg_qty,
            "newClientOrderId": client_order_id,
            "newOrderRespType": new_order_resp_type,
            "selfTradePreventionMode": self_trade_prevention_mode,
        }
        params.update(extra)
        return params

    def place_order(
        self,
        symbol: str,
        side: str,
        type: str,
        *,
        quantity: Decimal | str | None = None,
        quote_order_qty: Decimal | str | None = None,
        price: Decimal | str | None = None,
        time_in_force: str | None = None,
        stop_price: Decimal | str | None = None,
        trailing_delta: int | None = None,
        iceberg_qty: Decimal | str | None = None,
        new_order_resp_type: str | None = None,
        self_trade_prevention_mode: str | None = None,
        client_order_id: str | None = None,
        extra: Mapping[str, ParamValue] | None = None,
    ) -> Order:
        """``POST /api/v3/order``. Sent exactly once, never retried here.

        ``client_order_id`` is generated when omitted (store it *before* calling when you need
        exactly-once; it is also on the raised error as ``error.client_order_id``). On an error
        with ``outcome_known == False`` query the order with :meth:`get_order` before acting.
        A 429/418 refusal is a known failure: retry later with the same client order id.
        """
        cid = self._client_order_id(client_order_id, futures=False)
        params = self._order_params(
            symbol, side, type, quantity, quote_order_qty, price, time_in_force, stop_price,
            trailing_delta, iceberg_qty, new_order_resp_type, self_trade_prevention_mode, cid,
            extra or {},
        )  # fmt: skip
        data = self._call(
            "POST", "/api/v3/order", params, signed=True, weight=1, mutating=True, order=True,
            client_order_id=cid,
        )  # fmt: skip
        return Order.from_json(data)

    def test_order(
        self,
        symbol: str,
        side: str,
        type: str,
        *,
        quantity: Decimal | str | None = None,
        quote_order_qty: Decimal | str | None = None,
        price: Decimal | str | None = None,
        time_in_force: str | None = None,
        stop_price: Decimal | str | None = None,
        trailing_delta: int | None = None,
        iceberg_qty: Decimal | str | None = None,
        self_trade_prevention_mode: str | None = None,
        client_order_id: str | None = None,
        compute_commission_rates: bool = False,
        extra: Mapping[str, ParamValue] | None = None,
    ) -> TestOrderResult:
        """``POST /api/v3/order/test``: validated by Binance, never sent to the matching engine."""
        cid = self._client_order_id(client_order_id, futures=False)
        params = self._order_params(
            symbol, side, type, quantity, quote_order_qty, price, time_in_force, stop_price,
            trailing_delta, iceberg_qty, None, self_trade_prevention_mode, cid, extra or {},
        )  # fmt: skip
        if compute_commission_rates:
            params["computeCommissionRates"] = True
        data = self._call(
            "POST", "/api/v3/order/test", params, signed=True,
            weight=20 if compute_commission_rates else 1, mutating=False, order=True,
        )  # fmt: skip
        return TestOrderResult.from_json(data)

    def get_order(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> Order:
        """``GET /api/v3/order`` by ``order_id`` or by ``client_order_id`` (origClientOrderId)."""
        if order_id is None and client_order_id is None:
            raise ValueError("order_id or client_order_id is required")
        params: Params = {
            "symbol": symbol,
            "orderId": order_id,
            "origClientOrderId": client_order_id,
        }
        return Order.from_json(self._get("/api/v3/order", params, 4))

    def cancel_order(
        self,
        symbol: str,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
        new_client_order_id: str | None = None,
        cancel_restrictions: str | None = None,
    ) -> Order:
        """``DELETE /api/v3/order``; an unknown outcome (5xx, timeout) is possible as for places."""
        if order_id is None and client_order_id is None:
            raise ValueError("order_id or client_order_id is required")
        params: Params = {
            "symbol": symbol,
            "orderId": order_id,
            "origClientOrderId": client_order_id,
            "newClientOrderId": new_client_order_id,
            "cancelRestrictions": cancel_restrictions,
        }
        data = self._call(
            "DELETE", "/api/v3/order", params, signed=True, weight=1, mutating=True, order=True
        )
        return Order.from_json(data)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        rows = self._get("/api/v3/openOrders", {"symbol": symbol}, 6 if symbol else 80)
        return [Order.from_json(r) for r in rows]

    def all_orders(
        self,
        symbol: str,
        *,
        order_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int | None = None,
    ) -> list[Order]:
        params: Params = {
            "symbol": symbol,
            "orderId": order_id,
            "startTime": start_time,
            "endTime": end_time,
            "limit": limit,
        }
        return [Order.from_json(r) for r in self._get("/api/v3/allOrders", params, 20)]

    def my_trades(
        self,
        symbol: str,
        *,
        order_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        from_id: int | None = None,
        limit: int | None = None,
    ) -> list[Trade]:
        params: Params = {
            "symbol": symbol,
            "orderId": order_id,
            "startTime": start_time,
            "endTime": end_time,
            "fromId": from_id,
            "limit": limit,
        }
        rows = self._get("/api/v3/myTrades", params, 5 if order_id is not None else 20)
        return [Trade.from_json(r) for r in rows]

    def cancel_all_orders(self, symbol: str) -> list[Order | OrderList]:
        """``DELETE /api/v3/openOrders``: every open order and order list of ``symbol``."""
        rows = self._call(
            "DELETE",
            "/api/v3/openOrders",
            {"symbol": symbol},
            signed=True,
            weight=1,
            mutating=True,
            order=True,
        )
        return [
            OrderList.from_json(r) if "contingencyType" in r else Order.from_json(r) for r in rows
        ]

    def place_oco(
        self,
        symbol: str,
        side: str,
        quantity: Decimal | str,
        *,
        above_type: str,
        below_type: str,
        above_price: Decimal | str | None = None,
        above_stop_price: Decimal | str | None = None,
        above_time_in_force: str | None = None,
        below_price: Decimal | str | None = None,
        below_stop_price: Decimal | str | None = None,
        below_time_in_force: str | None = None,
        list_client_order_id: str | None = None,
        above_client_order_id: str | None = None,
        below_client_order_id: str | None = None,
        new_order_resp_type: str | None = None,
        extra: Mapping[str, ParamValue] | None = None,
    ) -> OrderList:
        """``POST /api/v3/orderList/oco`` (the old ``/order/oco`` is deprecated). All three
        client ids are generated when omitted; the list id is on errors as ``client_order_id``."""
        list_id = self._client_order_id(list_client_order_id, futures=False)
        params: dict[str, ParamValue] = {
            "symbol": symbol,
            "side": side,
            "quantity": quantity,
            "listClientOrderId": list_id,
            "aboveType": above_type,
            "abovePrice": above_price,
            "aboveStopPrice": above_stop_price,
            "aboveTimeInForce": above_time_in_force,
            "aboveClientOrderId": self._client_order_id(above_client_order_id, futures=False),
            "belowType": below_type,
            "belowPrice": below_price,
            "belowStopPrice": below_stop_price,
            "belowTimeInForce": below_time_in_force,
            "belowClientOrderId": self._client_order_id(below_client_order_id, futures=False),
            "newOrderRespType": new_order_resp_type,
        }
        params.update(extra or {})
        data = self._call(
            "POST", "/api/v3/orderList/oco", params, signed=True, weight=1, mutating=True,
            order=True, client_order_id=list_id,
        )  # fmt: skip
        return OrderList.from_json(data)


class _FuturesApi(_MarketApi):
    """Endpoints USD-M and COIN-M share (``/fapi`` or ``/dapi``)."""

    _prefix = "/fapi"

    def _path(self, version: str, name: str) -> str:
        return f"{self._prefix}/{version}/{name}"

    def balances(self) -> list[FuturesBalance]:
        raise NotImplementedError

    def position_risk(self, symbol: str | None = None) -> list[FuturesPosition]:
        raise NotImplementedError

    def set_leverage(self, symbol: str, leverage: int) -> LeverageSetting:
        data = self._call(
            "POST", self._path("v1", "leverage"), {"symbol": symbol, "leverage": leverage},
            signed=True, weight=1, mutating=True, order=False,
        )  # fmt: skip
        return LeverageSetting.from_json(data)

    def set_margin_type(self, symbol: str, margin_type: str) -> bool:
        """``ISOLATED`` or ``CROSSED``. Returns False when it already was (-4046)."""
        try:
            self._call(
                "POST", self._path("v1", "marginType"),
                {"symbol": symbol, "marginType": margin_type.upper()},
                signed=True, weight=1, mutating=True, order=False,
            )  # fmt: skip
        except BinanceError as exc:
            if exc.code == -4046:
                return False
            raise
        return True

    def _futures_order_params(
        self,
        symbol: str,
        side: str,
        type: str,
        quantity: Decimal | str | None,
        price: Decimal | str | None,
        time_in_force: str | None,
        position_side: str | None,
        reduce_only: bool | None,
        new_order_resp_type: str | None,
        extra: Mapping[str, ParamValue] | None,
    ) -> dict[str, ParamValue]:
        params: dict[str, ParamValue] = {
            "symbol": symbol,
            "side": side,
            "positionSide": position_side,
            "type": type,
            "timeInForce": time_in_force,
            "quantity": quantity,
            "reduceOnly": reduce_only,
            "price": price,
            "newOrderRespType": new_order_resp_type,
        }
        params.update(extra or {})
        return params

    def _place(self, path: str, params: dict[str, ParamValue], cid: str) -> Any:
        return self._call(
            "POST", path, params, signed=True, weight=0, mutating=True, order=True,
            client_order_id=cid,
        )  # fmt: skip

    def get_order(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> FuturesOrder:
        if order_id is None and client_order_id is None:
            raise ValueError("order_id or client_order_id is required")
        params: Params = {
            "symbol": symbol,
            "orderId": order_id,
            "origClientOrderId": client_order_id,
        }
        return FuturesOrder.from_json(self._get(self._path("v1", "order"), params, 1))

    def cancel_order(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> FuturesOrder:
        if order_id is None and client_order_id is None:
            raise ValueError("order_id or client_order_id is required")
        params: Params = {
            "symbol": symbol,
            "orderId": order_id,
            "origClientOrderId": client_order_id,
        }
        data = self._call(
            "DELETE", self._path("v1", "order"), params, signed=True, weight=1, mutating=True,
            order=True,
        )  # fmt: skip
        return FuturesOrder.from_json(data)

    def open_orders(self, symbol: str | None = None) -> list[FuturesOrder]:
        rows = self._get(self._path("v1", "openOrders"), {"symbol": symbol}, 1 if symbol else 40)
        return [FuturesOrder.from_json(r) for r in rows]

    def cancel_all_orders(self, symbol: str) -> None:
        """``DELETE .../allOpenOrders`` for ``symbol``."""
        self._call(
            "DELETE", self._path("v1", "allOpenOrders"), {"symbol": symbol}, signed=True,
            weight=1, mutating=True, order=True,
        )  # fmt: skip

    def create_listen_key(self) -> ListenKey:
        """A listenKey valid 60 min (the same key, extended, if one is active)."""
        data = self._call(
            "POST", self._path("v1", "listenKey"), None, signed=False, weight=1, mutating=False,
            order=False, api_key=True,
        )  # fmt: skip
        return ListenKey.from_json(data)

    def keepalive_listen_key(self) -> None:
        """Extend the listenKey 60 min. Raises with code -1125 when it no longer exists:
        create a new one and reconnect the stream."""
        self._call(
            "PUT", self._path("v1", "listenKey"), None, signed=False, weight=1, mutating=False,
            order=False, api_key=True,
        )  # fmt: skip

    def close_listen_key(self) -> None:
        self._call(
            "DELETE", self._path("v1", "listenKey"), None, signed=False, weight=1,
            mutating=False, order=False, api_key=True,
        )  # fmt: skip


class UsdmApi(_FuturesApi):
    """USD-M futures (``/fapi``). Reached as ``client.usdm``."""

    _prefix = "/fapi"
    _time_path = "/fapi/v1/time"
    _ping_path = "/fapi/v1/ping"
    _exchange_info_path = "/fapi/v1/exchangeInfo"
    _exchange_info_weight = 1

    def account(self) -> FuturesAccount:
        """``GET /fapi/v3/account``: assets and positions (no permission flags in v3)."""
        return FuturesAccount.from_json(self._get("/fapi/v3/account", None, 5))

    def account_permissions(self) -> FuturesAccountPermissions:
        """``GET /fapi/v2/account``: canTrade / canDeposit / canWithdraw, fee tier."""
        return FuturesAccountPermissions.from_json(self._get("/fapi/v2/account", None, 5))

    def balances(self) -> list[FuturesBalance]:
        return [FuturesBalance.from_json(r) for r in self._get("/fapi/v3/balance", None, 5)]

    def position_risk(self, symbol: str | None = None) -> list[FuturesPosition]:
        rows = self._get("/fapi/v3/positionRisk", {"symbol": symbol}, 5)
        return [FuturesPosition.from_json(r) for r in rows]

    def position_mode(self) -> bool:
        """True when hedge mode (dual side position) is on."""
        data = self._get("/fapi/v1/positionSide/dual", None, 30)
        return bool(str(data.get("dualSidePosition")).lower() == "true")

    def set_position_mode(self, dual_side: bool) -> bool:
        """Switch hedge mode on/off. Returns False when it already was (-4059)."""
        try:
            self._call(
                "POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": dual_side},
                signed=True, weight=1, mutating=True, order=False,
            )  # fmt: skip
        except BinanceError as exc:
            if exc.code == -4059:
                return False
            raise
        return True

    def place_order(
        self,
        symbol: str,
        side: str,
        type: str,
        *,
        quantity: Decimal | str | None = None,
        price: Decimal | str | None = None,
        time_in_force: str | None = None,
        position_side: str | None = None,
        reduce_only: bool | None = None,
        stop_price: Decimal | str | None = None,
        close_position: bool | None = None,
        working_type: str | None = None,
        price_protect: bool | None = None,
        new_order_resp_type: str | None = None,
        client_order_id: str | None = None,
        extra: Mapping[str, ParamValue] | None = None,
    ) -> FuturesOrder | FuturesAlgoOrder:
        """Place a USD-M order, sent exactly once.

        Conditional types (STOP, TAKE_PROFIT, STOP_MARKET, TAKE_PROFIT_MARKET,
        TRAILING_STOP_MARKET) go to ``POST /fapi/v1/algoOrder`` (``algoType=CONDITIONAL``,
        ``stop_price`` sent as ``triggerPrice``, the client order id as ``clientAlgoId``) and
        return a :class:`FuturesAlgoOrder`; every other type returns a :class:`FuturesOrder`.
        Unknown outcomes: query with :meth:`get_order` / :meth:`get_algo_order`.
        """
        cid = self._client_order_id(client_order_id, futures=True)
        params = self._futures_order_params(
            symbol, side, type, quantity, price, time_in_force, position_side, reduce_only,
            new_order_resp_type, None,
        )  # fmt: skip
        params["closePosition"] = close_position
        params["workingType"] = working_type
        params["priceProtect"] = price_protect
        if type.upper() in USDM_CONDITIONAL_TYPES:
            params["algoType"] = "CONDITIONAL"
            params["triggerPrice"] = stop_price
            params["clientAlgoId"] = cid
            params.pop("newOrderRespType", None)
            params.update(extra or {})
            return FuturesAlgoOrder.from_json(self._place("/fapi/v1/algoOrder", params, cid))
        params["stopPrice"] = stop_price
        params["newClientOrderId"] = cid
        params.update(extra or {})
        return FuturesOrder.from_json(self._place("/fapi/v1/order", params, cid))

    def test_order(
        self,
        symbol: str,
        side: str,
        type: str,
        *,
        quantity: Decimal | str | None = None,
        price: Decimal | str | None = None,
        time_in_force: str | None = None,
        position_side: str | None = None,
        reduce_only: bool | None = None,
        stop_price: Decimal | str | None = None,
        client_order_id: str | None = None,
        extra: Mapping[str, ParamValue] | None = None,
    ) -> None:
        """``POST /fapi/v1/order/test``: validation only. Raises on refusal."""
        cid = self._client_order_id(client_order_id, futures=True)
        params = self._futures_order_params(
            symbol, side, type, quantity, price, time_in_force, position_side, reduce_only, None,
            extra,
        )  # fmt: skip
        params["stopPrice"] = stop_price
        params["newClientOrderId"] = cid
        self._call(
            "POST", "/fapi/v1/order/test", params, signed=True, weight=1, mutating=False,
            order=True,
        )  # fmt: skip

    def get_algo_order(
        self, *, algo_id: int | None = None, client_algo_id: str | None = None
    ) -> FuturesAlgoOrder:
        if algo_id is None and client_algo_id is None:
            raise ValueError("algo_id or client_algo_id is required")
        params: Params = {"algoId": algo_id, "clientAlgoId": client_algo_id}
        return FuturesAlgoOrder.from_json(self._get("/fapi/v1/algoOrder", params, 1))

    def cancel_algo_order(
        self, *, algo_id: int | None = None, client_algo_id: str | None = None
    ) -> Any:
        if algo_id is None and client_algo_id is None:
            raise ValueError("algo_id or client_algo_id is required")
        params: Params = {"algoId": algo_id, "clientAlgoId": client_algo_id}
        return self._call(
            "DELETE", "/fapi/v1/algoOrder", params, signed=True, weight=1, mutating=True,
            order=True,
        )  # fmt: skip

    def open_algo_orders(self, symbol: str | None = None) -> list[FuturesAlgoOrder]:
        rows = self._get("/fapi/v1/openAlgoOrders", {"symbol": symbol}, 1 if symbol else 40)
        if isinstance(rows, Mapping):
            rows = rows.get("orders", [])
        return [FuturesAlgoOrder.from_json(r) for r in rows]


class CoinmApi(_FuturesApi):
    """COIN-M futures (``/dapi``). Reached as ``client.coinm``. Quantities are contracts."""

    _prefix = "/dapi"
    _time_path = "/dapi/v1/time"
    _ping_path = "/dapi/v1/ping"
    _exchange_info_path = "/dapi/v1/exchangeInfo"
    _exchange_info_weight = 1

    def account(self) -> FuturesAccount:
        return FuturesAccount.from_json(self._get("/dapi/v1/account", None, 5))

    def balances(self) -> list[FuturesBalance]:
        return [FuturesBalance.from_json(r) for r in self._get("/dapi/v1/balance", None, 1)]

    def position_risk(self, symbol: str | None = None) -> list[FuturesPosition]:
        rows = self._get("/dapi/v1/positionRisk", {"symbol": symbol}, 1)
        return [FuturesPosition.from_json(r) for r in rows]

    def place_order(
        self,
        symbol: str,
        side: str,
        type: str,
        *,
        quantity: Decimal | str | None = None,
        price: Decimal | str | None = None,
        time_in_force: str | None = None,
        position_side: str | None = None,
        reduce_only: bool | None = None,
        stop_price: Decimal | str | None = None,
        new_order_resp_type: str | None = None,
        client_order_id: str | None = None,
        extra: Mapping[str, ParamValue] | None = None,
    ) -> FuturesOrder:
        """``POST /dapi/v1/order``, sent exactly once (see ``UsdmApi.place_order``)."""
        cid = self._client_order_id(client_order_id, futures=True)
        params = self._futures_order_params(
            symbol, side, type, quantity, price, time_in_force, position_side, reduce_only,
            new_order_resp_type, None,
        )  # fmt: skip
        params["stopPrice"] = stop_price
        params["newClientOrderId"] = cid
        params.update(extra or {})
        return FuturesOrder.from_json(self._place("/dapi/v1/order", params, cid))


def iter_secrets(client: BinanceClient) -> Iterable[str]:
    """Every string of ``client`` that must never be logged (for redaction tests)."""
    return client._secrets
