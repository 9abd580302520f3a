"""Binance error codes and messages (verbatim from SPOT/errors.md) and the one error response.

Raise ``ApiError`` anywhere below a route; the endpoint wrapper in ``http.py`` turns it into
``{"code": ..., "msg": ...}`` with the right HTTP status and headers.
"""

from __future__ import annotations

from aiohttp import web

from .util import dumps

# Messages used in more than one place. Percent placeholders are filled by callers.
MSG_UNKNOWN = "An unknown error occurred while processing the request."
MSG_DISCONNECTED = "Internal error; unable to process your request. Please try again."
MSG_UNEXPECTED_RESP = (
    "An unexpected response was received from the message bus. Execution status unknown."
)
MSG_TIMEOUT = (
    "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown."
)
MSG_WEIGHT_EXCEEDED = (
    "Too much request weight used; current limit is {limit} request weight per {interval}. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
MSG_IP_BANNED = (
    "Way too much request weight used; IP banned until {until}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)
MSG_TOO_MANY_ORDERS = "Too many new orders; current limit is {limit} orders per {interval}."
MSG_TS_OUTSIDE = "Timestamp for this request is outside of the recvWindow."
MSG_TS_AHEAD = "Timestamp for this request was 1000ms ahead of the server's time."
MSG_BAD_SIGNATURE = "Signature for this request is not valid."
MSG_ILLEGAL_CHARS = "Illegal characters found in parameter '{name}'; legal range is '{range}'."
MSG_DUPLICATE_PARAM = "Duplicate values for a parameter detected."
MSG_MANDATORY = "Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
MSG_EITHER = "Param '{a}' or '{b}' must be sent, but both were empty/null!"
MSG_TOO_GREAT = "'{name}' contains unexpected value. Cannot be greater than {max}."
MSG_UNREAD = "Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'."
MSG_PARAM_NOT_REQUIRED = "Parameter '{name}' sent when not required."
MSG_PRECISION = "Parameter '{name}' has too much precision."
MSG_INVALID_TIF = "Invalid timeInForce."
MSG_INVALID_TYPE = "Invalid orderType."
MSG_INVALID_SIDE = "Invalid side."
MSG_INVALID_INTERVAL = "Invalid interval."
MSG_BAD_SYMBOL = "Invalid symbol."
MSG_BAD_KEY_FMT = "API-key format invalid."
MSG_REJECTED_KEY = "Invalid API-key, IP, or permissions for action."
MSG_NO_SUCH_ORDER = "Order does not exist."
MSG_UNKNOWN_ORDER = "Unknown order sent."
MSG_DUPLICATE_ORDER = "Duplicate order sent."
MSG_INSUFFICIENT = "Account has insufficient balance for requested action."
MSG_WOULD_TAKE = "Order would immediately match and take."
MSG_WOULD_TRIGGER = "Order would trigger immediately."
MSG_BAD_OCO_PRICES = "The relationship of the prices for the orders is not correct."
MSG_UNSUPPORTED_COMBO = "Unsupported order combination"
MSG_QTY_ZERO = "Price * QTY is zero or less."
MSG_NOT_FOUND = "Not found, authenticated, or authorized."
MSG_CLIENT_ID_INVALID = "The supplied clientOrderId is invalid for this order."
MSG_CANCEL_RESTRICTED = "Order was not canceled due to cancel restrictions."
MSG_LIQUIDITY = "Order book liquidity is less than `LOT_SIZE` filter minimum quantity."
MSG_MORE_THAN_24H = "Time interval between startTime and endTime must be less than 24 hours."

CLIENT_ID_RANGE = "^[a-zA-Z0-9-_]{1,36}$"

# HTTP status per error code where it is not 400.
_STATUS = {
    -1003: 429,
    -1015: 429,
    -1006: 500,
    -1007: 408,
    -1001: 500,
    -1000: 500,
    -2014: 401,
    -2015: 401,
    -1002: 401,
}


class ApiError(Exception):
    """A Binance-style error: code, message, HTTP status and optional extra headers."""

    def __init__(
        self,
        code: int,
        msg: str,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status if status is not None else _STATUS.get(code, 400)
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def filter_failure(name: str) -> ApiError:
    return ApiError(-1013, f"Filter failure: {name}")


def mandatory(name: str) -> ApiError:
    return ApiError(-1102, MSG_MANDATORY.format(name=name))


def error_response(
    code: int,
    msg: str,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The one way the sandbox renders an error over HTTP."""
    err = ApiError(code, msg, status, headers)
    return web.Response(
        text=dumps(err.body()),
        status=err.status,
        content_type="application/json",
        headers=err.headers,
    )


def api_error_response(err: ApiError, extra_headers: dict[str, str] | None = None) -> web.Response:
    headers = dict(err.headers)
    if extra_headers:
        headers.update(extra_headers)
    return web.Response(
        text=dumps(err.body()), status=err.status, content_type="application/json", headers=headers
    )
