"""Binance request handling for every REST route: one wrapper, used by spot and futures.

    api = RestApi(app, state, bucket="spot")            # or bucket="fapi", recv_window_max=None
    @api.route("GET", "/api/v3/account", security="SIGNED", weight=20, permission="reading",
               params=("omitZeroBalances",))
    async def account(req: ApiRequest): return {...}

The wrapper, in Binance's order: injected faults -> parameters (-1101 duplicates) -> IP ban
and REQUEST_WEIGHT (429/418, X-MBX-USED-WEIGHT-1M) -> API key (-2014/-2015) -> timestamp and
recvWindow (-1102/-1021) -> signature (-1022) -> key permission and IP (-2015) -> unread
parameters (-1104) -> handler. Handlers return a JSON-able value (200) or raise ApiError.
``security``: "NONE", "USER_STREAM" (API key header, no signature) or "SIGNED".
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .accounts import KEY_RE, Account, ApiKey
from .errors import (
    MSG_BAD_KEY_FMT,
    MSG_BAD_SIGNATURE,
    MSG_BAD_SYMBOL,
    MSG_DISCONNECTED,
    MSG_DUPLICATE_PARAM,
    MSG_ILLEGAL_CHARS,
    MSG_IP_BANNED,
    MSG_MANDATORY,
    MSG_REJECTED_KEY,
    MSG_TIMEOUT,
    MSG_TOO_GREAT,
    MSG_TS_AHEAD,
    MSG_TS_OUTSIDE,
    MSG_UNEXPECTED_RESP,
    MSG_UNKNOWN,
    MSG_UNREAD,
    MSG_WEIGHT_EXCEEDED,
    ApiError,
    mandatory,
)
from .faults import Fault
from .signing import rest_payload
from .state import SandboxState
from .util import dec, dumpb

log = logging.getLogger("sandbox.rest")

JSON_CT = "application/json;charset=UTF-8"
DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
DECIMAL_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
RECV_WINDOW_RE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,3})?$")
MIN_TIMESTAMP_MS = 1_483_228_800_000  # 2017-01-01
SIGNED_COMMON = ("timestamp", "recvWindow", "signature")

Handler = Callable[["ApiRequest"], Awaitable[Any]]


class ApiRequest:
    """What a handler sees: parsed params, the authenticated key/account, time and IP."""

    __slots__ = ("headers", "ip", "key", "now_ms", "params", "request", "state")

    def __init__(self, request: web.Request, state: SandboxState, params: dict[str, str]):
        self.request = request
        self.state = state
        self.params = params
        self.key: ApiKey | None = None
        self.now_ms = state.now_ms()
        self.ip = request.remote or ""
        # Extra response headers (e.g. X-MBX-ORDER-COUNT-*) set by the handler.
        self.headers: dict[str, str] = {}

    @property
    def account(self) -> Account:
        assert self.key is not None
        return self.key.account

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            return default
        return value

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise mandatory(name)
        return value

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        raw = self.require(name) if required else self.get(name)
        if raw is None:
            return None
        if not DECIMAL_RE.match(raw):
            raise ApiError(-1100, MSG_ILLEGAL_CHARS.format(name=name, range=DECIMAL_RANGE))
        value = dec(raw)
        if value is None:
            raise mandatory(name)
        return value

    def integer(self, name: str, default: int | None = None, required: bool = False) -> int | None:
        raw = self.require(name) if required else self.get(name)
        if raw is None:
            return default
        if not raw.lstrip("-").isdigit():
            raise ApiError(-1100, MSG_ILLEGAL_CHARS.format(name=name, range="^-?[0-9]{1,20}$"))
        return int(raw)

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        low = raw.lower()
        if low not in ("true", "false"):
            raise ApiError(-1100, MSG_ILLEGAL_CHARS.format(name=name, range="^(true|false)$"))
        return low == "true"

    def enum(
        self,
        name: str,
        allowed: Iterable[str],
        code: int,
        msg: str,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        raw = self.require(name) if required else self.get(name)
        if raw is None:
            return default
        if raw not in allowed:
            raise ApiError(code, msg)
        return raw

    def symbol(
        self, known: Iterable[str], name: str = "symbol", required: bool = True
    ) -> str | None:
        raw = self.require(name) if required else self.get(name)
        if raw is None:
            return None
        if raw not in known:
            raise ApiError(-1121, MSG_BAD_SYMBOL)
        return raw


def _parse(raw: str, into: dict[str, str], overwrite: bool) -> None:
    if "%" in raw or "+" in raw:
        pairs = parse_qsl(raw, keep_blank_values=True)
    else:
        # Nothing to unquote: the same pairs parse_qsl would give, several times cheaper.
        pairs = [(k, v) for k, _, v in (p.partition("=") for p in raw.split("&") if p)]
    parsed = dict(pairs)
    if len(parsed) != len(pairs):
        raise ApiError(-1101, MSG_DUPLICATE_PARAM)
    if overwrite or not into:
        into.update(parsed)
    else:
        for k, v in parsed.items():
            if k not in into:
                into[k] = v


class RawJson(bytes):
    """A JSON body encoded in advance (e.g. cached); handlers may return it as is."""

    __slots__ = ()


def json_response(data: Any, headers: dict[str, str], status: int = 200) -> web.Response:
    headers["Content-Type"] = JSON_CT
    body = data if type(data) is RawJson else dumpb(data)
    return web.Response(body=body, status=status, headers=headers)


def fault_error(fault: Fault, now_ms: int) -> ApiError:
    kind = fault.kind
    if kind.startswith("timeout"):
        err = ApiError(-1007, MSG_TIMEOUT, 408)
    elif kind.startswith("5xx"):
        err = ApiError(-1000, MSG_UNKNOWN, 503)
    elif kind == "-1006":
        err = ApiError(-1006, MSG_UNEXPECTED_RESP, 500)
    elif kind == "-1007":
        err = ApiError(-1007, MSG_TIMEOUT, 408)
    elif kind == "429":
        err = ApiError(
            -1003,
            MSG_WEIGHT_EXCEEDED.format(limit=6000, interval="1 MINUTE"),
            429,
            {"Retry-After": str(fault.retry_after)},
        )
    else:  # 418
        until = now_ms + fault.retry_after * 1000
        err = ApiError(
            -1003, MSG_IP_BANNED.format(until=until), 418, {"Retry-After": str(fault.retry_after)}
        )
    if fault.status is not None:
        err.status = fault.status
    if fault.code is not None:
        err.code = fault.code
    if fault.msg is not None:
        err.msg = fault.msg
    return err


class Endpoint:
    __slots__ = (
        "bucket",
        "handler",
        "micros",
        "params",
        "permission",
        "recv_window_max",
        "security",
        "state",
        "weight",
        "zero_weight_on_success",
    )

    def __init__(
        self,
        state: SandboxState,
        handler: Handler,
        *,
        security: str,
        weight,
        permission: str | None,
        params: tuple[str, ...] | None,
        bucket: str,
        recv_window_max: int | None,
        micros: bool,
        zero_weight_on_success: bool,
    ):
        self.state = state
        self.handler = handler
        self.security = security
        self.weight = weight
        self.permission = permission
        self.params = (
            None
            if params is None
            else frozenset(params + (SIGNED_COMMON if security == "SIGNED" else ()))
        )
        self.bucket = bucket
        self.recv_window_max = recv_window_max
        self.micros = micros
        self.zero_weight_on_success = zero_weight_on_success

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        arrived_ms = int(time.time() * 1000)
        if self.state.faults.http_active:
            response = await self._respond(request)
        else:
            response = await self._handle(request)
        self.state.request_log.append((arrived_ms, request.method, request.path, response.status))
        return response

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        """The request while faults are registered: maybe replaced by (or after) one."""
        fault = self.state.faults.take_http(request.path, request.method)
        if fault is not None and not fault.executes_first:
            return await self._fault_response(fault)
        response = await self._handle(request)
        if fault is not None:
            return await self._fault_response(fault, response)
        return response

    async def _fault_response(self, fault: Fault, executed: web.StreamResponse | None = None):
        if fault.kind.startswith("timeout"):
            hold = fault.hold if fault.hold is not None else self.state.config.fault_hold_seconds
            await asyncio.sleep(hold)
        err = fault_error(fault, self.state.now_ms())
        headers = dict(err.headers)
        if executed is not None:
            # Keep the limit headers of the executed request; the body is what got lost.
            for name in ("X-MBX-USED-WEIGHT", "X-MBX-USED-WEIGHT-1M"):
                if name in executed.headers:
                    headers[name] = executed.headers[name]
        return json_response(err.body(), headers, err.status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        limits = state.limits
        params: dict[str, str] = {}
        raw_path = request.raw_path
        qpos = raw_path.find("?")
        raw_query = raw_path[qpos + 1 :] if qpos >= 0 else ""
        raw_body = ""
        bucket = self.bucket
        req = ApiRequest(request, state, params)
        ip = req.ip
        weight = 1
        charged = False
        try:
            if request.body_exists:
                raw_body = (await request.read()).decode("utf-8", "replace")
            if raw_query:
                _parse(raw_query, params, True)
            if raw_body:
                _parse(raw_body, params, False)
            weight = self.weight(params) if callable(self.weight) else self.weight
            limits.check(bucket, ip, weight, req.now_ms)
            charged = True
            if self.security != "NONE":
                self._authenticate(request, req, raw_query, raw_body)
            if self.params is not None and not self.params.issuperset(params):
                read = len([p for p in params if p in self.params])
                raise ApiError(-1104, MSG_UNREAD.format(read=read, sent=len(params)))
            result = await self.handler(req)
            used = limits.add(bucket, ip, 0 if self.zero_weight_on_success else weight, req.now_ms)
            headers = limits.weight_headers(used)
            if req.headers:
                headers.update(req.headers)
            if type(result) not in (dict, list, RawJson) and isinstance(result, web.StreamResponse):
                result.headers.update(headers)
                return result
            return json_response(result, headers)
        except ApiError as err:
            headers = dict(req.headers)
            headers.update(err.headers)
            if charged:
                used = limits.add(bucket, ip, weight, req.now_ms)
                headers.update(limits.weight_headers(used))
            return json_response(err.body(), headers, err.status)
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path)
            return json_response({"code": -1001, "msg": MSG_DISCONNECTED}, {}, 500)

    def _authenticate(
        self, request: web.Request, req: ApiRequest, raw_query: str, raw_body: str
    ) -> None:
        api_key = request.headers.get("X-MBX-APIKEY")
        if not api_key or not KEY_RE.match(api_key):
            raise ApiError(-2014, MSG_BAD_KEY_FMT)
        key = self.state.keys.get(api_key)
        if key is None:
            raise ApiError(-2015, MSG_REJECTED_KEY)
        if self.security == "SIGNED":
            params = req.params
            payload, encoded_sig = rest_payload(raw_query, raw_body)
            signature = params.get("signature")
            if not signature or encoded_sig is None:
                raise mandatory("signature")
            self._check_timestamp(params, req)
            if not key.verifier.verify(payload.encode(), signature):
                raise ApiError(-1022, MSG_BAD_SIGNATURE)
        if not key.allows(self.permission, req.ip):
            raise ApiError(-2015, MSG_REJECTED_KEY)
        req.key = key

    def _check_timestamp(self, params: dict[str, str], req: ApiRequest) -> None:
        raw_ts = params.get("timestamp")
        if not raw_ts or not raw_ts.isdigit():
            raise mandatory("timestamp")
        ts = int(raw_ts)
        ts_ms: float = ts
        if self.micros and ts >= 10**14:  # µs timestamps are 16 digits
            ts_ms = ts / 1000
        raw_rw = params.get("recvWindow")
        if raw_rw is None or raw_rw == "":
            recv_window = 5000.0
        else:
            if not RECV_WINDOW_RE.match(raw_rw):
                raise ApiError(-1102, MSG_MANDATORY.format(name="recvWindow"))
            recv_window = float(raw_rw)
            if self.recv_window_max is not None and recv_window > self.recv_window_max:
                raise ApiError(
                    -1102, MSG_TOO_GREAT.format(name="recvWindow", max=self.recv_window_max)
                )
        now = req.now_ms
        if ts_ms >= now + 1000:
            raise ApiError(-1021, MSG_TS_AHEAD)
        if ts_ms < MIN_TIMESTAMP_MS or now - ts_ms > recv_window:
            raise ApiError(-1021, MSG_TS_OUTSIDE)


class RestApi:
    """Registers Binance-style routes on an aiohttp app (see the module docstring)."""

    def __init__(
        self,
        app: web.Application,
        state: SandboxState,
        bucket: str = "spot",
        recv_window_max: int | None = 60000,
        micros: bool = True,
    ) -> None:
        self.app = app
        self.state = state
        self.bucket = bucket
        self.recv_window_max = recv_window_max
        self.micros = micros

    def route(
        self,
        method: str,
        path: str,
        *,
        security: str = "NONE",
        weight=1,
        permission: str | None = None,
        params: tuple[str, ...] | None = (),
        zero_weight_on_success: bool = False,
    ):
        """Decorator. ``weight``: int or fn(params) -> int. ``params``: accepted names
        (signature/timestamp/recvWindow are added for SIGNED), or None to accept anything."""
        if security not in ("NONE", "USER_STREAM", "SIGNED"):
            raise ValueError(security)

        def register(handler: Handler) -> Handler:
            endpoint = Endpoint(
                self.state,
                handler,
                security=security,
                weight=weight,
                permission=permission,
                params=params,
                bucket=self.bucket,
                recv_window_max=self.recv_window_max,
                micros=self.micros,
                zero_weight_on_success=zero_weight_on_success,
            )
            self.app.router.add_route(method, path, endpoint)
            return handler

        return register
