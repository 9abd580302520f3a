"""The one error type of the Binance client and the rules that classify Binance's answers."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class ErrorCategory(StrEnum):
    AUTH_INVALID_KEY = "auth_invalid_key"
    AUTH_SIGNATURE = "auth_signature"
    AUTH_PERMISSION = "auth_permission"
    IP_NOT_WHITELISTED = "ip_not_whitelisted"
    TIMESTAMP = "timestamp"
    RATE_LIMITED = "rate_limited"
    IP_BANNED = "ip_banned"
    RESTRICTED_REGION = "restricted_region"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    FILTER_FAILURE = "filter_failure"
    INVALID_SYMBOL = "invalid_symbol"
    INVALID_PARAMETER = "invalid_parameter"
    ORDER_NOT_FOUND = "order_not_found"
    UNKNOWN_OUTCOME = "unknown_outcome"
    EXCHANGE_UNAVAILABLE = "exchange_unavailable"
    NETWORK = "network"
    OTHER = "other"


_USER_MESSAGES: dict[ErrorCategory, str] = {
    ErrorCategory.AUTH_INVALID_KEY: (
        "Binance did not accept the API key. Check that the key was copied completely, without "
        "spaces, that it belongs to this environment (mainnet, testnet or demo), that it is not "
        "deleted, and that this server's IP address is allowed for it."
    ),
    ErrorCategory.AUTH_SIGNATURE: (
        "Binance could not verify the request signature. The secret (or private) key does not "
        "match the API key: paste it again, and check that key and secret were not swapped."
    ),
    ErrorCategory.AUTH_PERMISSION: (
        "The API key is valid but lacks the permission for this action (for example spot "
        "trading or futures). Enable it in Binance API Management, or create a new key if "
        "futures were opened after the key was made."
    ),
    ErrorCategory.IP_NOT_WHITELISTED: (
        "Binance refused this server's IP address for the API key. Add the server's IP to the "
        "key's IP access restriction list."
    ),
    ErrorCategory.TIMESTAMP: (
        "This server's clock differs too much from Binance's. The time offset was re-measured; "
        "if this persists, enable time synchronisation (NTP) on the server."
    ),
    ErrorCategory.RATE_LIMITED: (
        "Too many requests to Binance from this server. Requests are paused for a moment; try "
        "again shortly."
    ),
    ErrorCategory.IP_BANNED: (
        "Binance has temporarily banned this server's IP address for sending too many "
        "requests. Nothing is sent until the ban expires."
    ),
    ErrorCategory.RESTRICTED_REGION: (
        "Binance refuses service to this server's location (HTTP 451). Use an environment or "
        "host allowed in your region, or a permitted proxy."
    ),
    ErrorCategory.INSUFFICIENT_BALANCE: "The account does not have enough balance for this order.",
    ErrorCategory.FILTER_FAILURE: (
        "The order does not meet the symbol's trading rules (price step, quantity step, minimum "
        "or maximum size or notional). Adjust price or quantity."
    ),
    ErrorCategory.INVALID_SYMBOL: "Binance does not know this symbol in this environment.",
    ErrorCategory.INVALID_PARAMETER: "Binance rejected a parameter of the request.",
    ErrorCategory.ORDER_NOT_FOUND: "Binance has no such order.",
    ErrorCategory.UNKNOWN_OUTCOME: (
        "Binance did not confirm whether the request was carried out. The order may or may not "
        "exist; KLINEO checks its status before doing anything else."
    ),
    ErrorCategory.EXCHANGE_UNAVAILABLE: (
        "Binance is unavailable or overloaded right now. Nothing was changed; try again later."
    ),
    ErrorCategory.NETWORK: (
        "Binance could not be reached (network error). The request was not carried out."
    ),
    ErrorCategory.OTHER: "Binance returned an unexpected error.",
}


class BinanceError(Exception):
    """Every failure of the Binance client.

    Attributes:
        category: what went wrong, for the caller's decisions (:class:`ErrorCategory`).
        code: Binance's numeric error code (e.g. -2015), or ``None``.
        binance_message: Binance's ``msg``, with any secret of the request removed.
        http_status: HTTP status, or ``None`` when no response arrived.
        outcome_known: ``False`` only when the request may or may not have been carried out
            (an order that timed out after sending, 5xx, -1006, -1007): query before acting.
        retry_after: seconds to wait before retrying, when Binance or the budget said so.
        method, path: the endpoint (never the query string).
        client_order_id: for order requests, the id that was sent.
    """

    def __init__(
        self,
        category: ErrorCategory,
        *,
        code: int | None = None,
        binance_message: str = "",
        http_status: int | None = None,
        outcome_known: bool = True,
        retry_after: float | None = None,
        method: str = "",
        path: str = "",
        user_message: str | None = None,
        client_order_id: str | None = None,
    ) -> None:
        self.category = category
        #: The client order id of the order request that failed (set by order helpers), so an
        #: unknown outcome can be resolved with a query even when the id was generated here.
        self.client_order_id = client_order_id
        self.code = code
        self.binance_message = binance_message
        self.http_status = http_status
        self.outcome_known = outcome_known
        self.retry_after = retry_after
        self.method = method
        self.path = path
        self._user_message = user_message
        super().__init__(self._describe())

    @property
    def user_message(self) -> str:
        """A plain-words explanation safe to show a user (never contains a secret)."""
        return self._user_message or _USER_MESSAGES[self.category]

    @property
    def is_duplicate_order(self) -> bool:
        """The order was refused because its client order id is already in use."""
        return self.code == -4116 or (
            self.code == -2010 and "duplicate" in self.binance_message.lower()
        )

    def _describe(self) -> str:
        where = f" {self.method} {self.path}" if self.path else ""
        parts = [f"{self.category.value}{where}"]
        if self.http_status is not None:
            parts.append(f"http={self.http_status}")
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.binance_message:
            parts.append(f"msg={self.binance_message!r}")
        if not self.outcome_known:
            parts.append("outcome=UNKNOWN")
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after:g}s")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"BinanceError({self._describe()})"

    def __reduce__(self) -> tuple[object, ...]:  # keeps the error picklable (Celery results)
        return (
            _rebuild_error,
            (
                self.category.value,
                self.code,
                self.binance_message,
                self.http_status,
                self.outcome_known,
                self.retry_after,
                self.method,
                self.path,
                self._user_message,
                self.client_order_id,
            ),
        )


def _rebuild_error(
    category: str,
    code: int | None,
    binance_message: str,
    http_status: int | None,
    outcome_known: bool,
    retry_after: float | None,
    method: str,
    path: str,
    user_message: str | None,
    client_order_id: str | None,
) -> BinanceError:
    return BinanceError(
        ErrorCategory(category),
        code=code,
        binance_message=binance_message,
        http_status=http_status,
        outcome_known=outcome_known,
        retry_after=retry_after,
        method=method,
        path=path,
        user_message=user_message,
        client_order_id=client_order_id,
    )


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove any secret (key, secret, signature, signed query) that an answer might echo."""
    for secret in secrets:
        if secret and len(secret) >= 8 and secret in text:
            text = text.replace(secret, "[redacted]")
    return text


_FILTER_CODES = {
    -1013,
    -1111,
    -4131,
    -4164,
    -2027,
    -2028,
    -4003,
    -4004,
    -4005,
    -4014,
    -4023,
    -4024,
    -4025,
}
_INSUFFICIENT_CODES = {-2018, -2019}
_UNKNOWN_OUTCOME_CODES = {-1006, -1007}
_ORDER_NOT_FOUND_CODES = {-2013, -2026}
_PERMISSION_CODES = {-1002}


def classify(
    *,
    http_status: int | None,
    code: int | None,
    message: str,
    mutating: bool,
    trading: bool,
) -> tuple[ErrorCategory, bool]:
    """(category, outcome_known) for an error answer.

    ``mutating`` is true for requests that change state (orders, cancels, settings), where a
    server-side failure leaves the outcome unknown; ``trading`` is true for order endpoints and
    futures endpoints, where -2015 most likely means a missing permission rather than a bad key.

    -2015 ("Invalid API-key, IP, or permissions for action") cannot be split reliably from one
    answer: the raw code stays on the error so a connection test can combine several answers.
    """
    msg = message.lower()
    if http_status == 451:
        return ErrorCategory.RESTRICTED_REGION, True
    if http_status == 418:
        return ErrorCategory.IP_BANNED, True
    if http_status == 429 or code in (-1003, -1015):
        if code == -1003 and "banned" in msg:
            return ErrorCategory.IP_BANNED, True
        return ErrorCategory.RATE_LIMITED, True
    if code in _UNKNOWN_OUTCOME_CODES or (http_status is not None and http_status >= 500):
        if code == -1008:
            return ErrorCategory.EXCHANGE_UNAVAILABLE, True
        if mutating:
            return ErrorCategory.UNKNOWN_OUTCOME, False
        return ErrorCategory.EXCHANGE_UNAVAILABLE, True
    if http_status == 408:
        if mutating:
            return ErrorCategory.UNKNOWN_OUTCOME, False
        return ErrorCategory.EXCHANGE_UNAVAILABLE, True
    if code in (-1008, -1001, -1016):
        return ErrorCategory.EXCHANGE_UNAVAILABLE, True
    if code == -1021:
        return ErrorCategory.TIMESTAMP, True
    if code == -1022:
        return ErrorCategory.AUTH_SIGNATURE, True
    if code == -2014:
        return ErrorCategory.AUTH_INVALID_KEY, True
    if code == -2015:
        if "ip" in msg and ("whitelist" in msg or "not allowed" in msg or "restrict" in msg):
            return ErrorCategory.IP_NOT_WHITELISTED, True
        if trading:
            return ErrorCategory.AUTH_PERMISSION, True
        return ErrorCategory.AUTH_INVALID_KEY, True
    if code in _PERMISSION_CODES:
        return ErrorCategory.AUTH_PERMISSION, True
    if code in _INSUFFICIENT_CODES or "insufficient balance" in msg or "margin is insuff" in msg:
        return ErrorCategory.INSUFFICIENT_BALANCE, True
    if code in _FILTER_CODES or "filter failure" in msg:
        return ErrorCategory.FILTER_FAILURE, True
    if code == -1121:
        return ErrorCategory.INVALID_SYMBOL, True
    if code in _ORDER_NOT_FOUND_CODES or (
        code == -2011 and ("unknown order" in msg or "does not exist" in msg)
    ):
        return ErrorCategory.ORDER_NOT_FOUND, True
    if code == -2010 and (
        "not enabled" in msg
        or "disabled on this account" in msg
        or "may not place" in msg
        or "not permitted" in msg
    ):
        return ErrorCategory.AUTH_PERMISSION, True
    if code is not None and (
        -1199 <= code <= -1100 or code in (-2010, -2011, -2039, -1014, -1020) or code <= -4000
    ):
        return ErrorCategory.INVALID_PARAMETER, True
    if http_status == 403:
        return ErrorCategory.OTHER, True
    if http_status in (401,):
        return ErrorCategory.AUTH_INVALID_KEY, True
    return ErrorCategory.OTHER, True
