"""The spot WebSocket API at /ws-api/v3: ping, time, session.* and user-data subscriptions.

Requests ``{"id", "method", "params"}``; responses ``{"id", "status", "result"|"error",
"rateLimits"}``. User-data events arrive as ``{"subscriptionId": N, "event": {...}}``.
Signatures (``userDataStream.subscribe.signature``, ``session.logon``) are checked over the
sorted, unencoded params including ``apiKey`` (see signing.ws_payload).
"""

from __future__ import annotations

import itertools

from aiohttp import web

from .accounts import KEY_RE
from .errors import (
    MSG_BAD_KEY_FMT,
    MSG_BAD_SIGNATURE,
    MSG_MANDATORY,
    MSG_REJECTED_KEY,
    MSG_TOO_GREAT,
    MSG_TS_AHEAD,
    MSG_TS_OUTSIDE,
    ApiError,
)
from .rest import MIN_TIMESTAMP_MS, RECV_WINDOW_RE
from .signing import ws_payload
from .state import SandboxState
from .util import dumps, loads
from .ws import WsConnection

WEIGHTS = {
    "ping": 1,
    "time": 1,
    "session.logon": 2,
    "session.status": 2,
    "session.logout": 2,
    "session.subscriptions": 2,
    "userDataStream.subscribe": 2,
    "userDataStream.subscribe.signature": 2,
    "userDataStream.unsubscribe": 2,
}
REMOVED = ("userDataStream.start", "userDataStream.ping", "userDataStream.stop")
MAX_SUBSCRIPTIONS = 1000
MAX_LIFETIME_SUBSCRIPTIONS = 65535


class WsApiConnection(WsConnection):
    def __init__(self, request: web.Request, state: SandboxState) -> None:
        super().__init__(request, state)
        self.ip = request.remote or ""
        self.logon_key = None
        self.authorized_since: int | None = None
        # subscriptionId -> (account id, api key, bus handle, made by logon?)
        self.subscriptions: dict[int, tuple[str, str, tuple, bool]] = {}
        self._sub_ids = itertools.count(0)
        self._issued = 0

    # ---- plumbing -----------------------------------------------------------------------
    def _rate_limits(self) -> list[dict]:
        lim = self.state.config.limits["spot"].get("request_weight_1m", 6000)
        used = self.state.limits.used_weight("spot", self.ip, self.state.now_ms())
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": lim,
                "count": used,
            }
        ]

    def _ok(self, req_id, result) -> None:
        self.send_text(
            dumps(
                {"id": req_id, "status": 200, "result": result, "rateLimits": self._rate_limits()}
            )
        )

    def _err(self, req_id, err: ApiError) -> None:
        body = {"id": req_id, "status": err.status, "error": {"code": err.code, "msg": err.msg}}
        if err.status in (418, 429) and "Retry-After" in err.headers:
            body["error"]["data"] = {
                "retryAfter": self.state.now_ms() + int(err.headers["Retry-After"]) * 1000
            }
        body["rateLimits"] = self._rate_limits()
        self.send_text(dumps(body))

    def _session(self) -> dict:
        now = self.state.now_ms()
        return {
            "apiKey": self.logon_key.api_key if self.logon_key else None,
            "authorizedSince": self.authorized_since,
            "connectedSince": self.connected_ms,
            "returnRateLimits": True,
            "serverTime": now,
            "userDataStream": any(s[3] for s in self.subscriptions.values())
            if self.logon_key
            else None,
        }

    async def on_open(self) -> None:
        # Connecting costs 2 weight, like on Binance.
        self.state.limits.add("spot", self.ip, 2, self.state.now_ms())
        self.state.engines.setdefault("wsapi_connections", set()).add(self)

    async def on_close(self) -> None:
        for sub_id in list(self.subscriptions):
            self._end(sub_id, notify=False)
        self.state.engines.get("wsapi_connections", set()).discard(self)

    # ---- auth ---------------------------------------------------------------------------
    def _verify(self, params: dict):
        api_key = params.get("apiKey")
        if not isinstance(api_key, str) or not KEY_RE.match(api_key):
            raise ApiError(-2014, MSG_BAD_KEY_FMT)
        key = self.state.keys.get(api_key)
        if key is None:
            raise ApiError(-2015, MSG_REJECTED_KEY)
        ts = params.get("timestamp")
        if isinstance(ts, str) and ts.isdigit():
            ts = int(ts)
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise ApiError(-1102, MSG_MANDATORY.format(name="timestamp"))
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise ApiError(-1102, MSG_MANDATORY.format(name="signature"))
        ts_ms = ts / 1000 if ts >= 10**14 else ts
        recv_window = 5000.0
        if params.get("recvWindow") is not None:
            raw = str(params["recvWindow"])
            if not RECV_WINDOW_RE.match(raw):
                raise ApiError(-1102, MSG_MANDATORY.format(name="recvWindow"))
            recv_window = float(raw)
            if recv_window > 60000:
                raise ApiError(-1102, MSG_TOO_GREAT.format(name="recvWindow", max=60000))
        now = self.state.now_ms()
        if ts_ms >= now + 1000:
            raise ApiError(-1021, MSG_TS_AHEAD)
        if ts_ms < MIN_TIMESTAMP_MS or now - ts_ms > recv_window:
            raise ApiError(-1021, MSG_TS_OUTSIDE)
        if not key.verifier.verify(ws_payload(params).encode(), signature):
            raise ApiError(-1022, MSG_BAD_SIGNATURE)
        if not key.allows("reading", self.ip):
            raise ApiError(-2015, MSG_REJECTED_KEY)
        return key

    # ---- subscriptions ------------------------------------------------------------------
    def _subscribe(self, key, by_logon: bool) -> int:
        account_id = key.account.id
        if any(s[0] == account_id for s in self.subscriptions.values()):
            raise ApiError(-2035, "User Data Stream subscription already active.")
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS or self._issued >= (
            MAX_LIFETIME_SUBSCRIPTIONS
        ):
            raise ApiError(-2042, "Maximum subscription ID reached for this connection.")
        sub_id = next(self._sub_ids)
        self._issued += 1

        def deliver(event: dict, sub_id=sub_id) -> None:
            self.send_text(dumps({"subscriptionId": sub_id, "event": event}))

        handle = self.state.bus.subscribe(("spot", account_id), deliver)
        self.subscriptions[sub_id] = (account_id, key.api_key, handle, by_logon)
        return sub_id

    def _end(self, sub_id: int, notify: bool = True) -> None:
        _account, _key, handle, _by_logon = self.subscriptions.pop(sub_id)
        self.state.bus.unsubscribe(handle)
        if notify:
            self.send_text(
                dumps(
                    {
                        "subscriptionId": sub_id,
                        "event": {"e": "eventStreamTerminated", "E": self.state.now_ms()},
                    }
                )
            )

    def key_revoked(self, api_key: str) -> None:
        for sub_id, sub in list(self.subscriptions.items()):
            if sub[1] == api_key:
                self._end(sub_id)
        if self.logon_key is not None and self.logon_key.api_key == api_key:
            self.logon_key = None
            self.authorized_since = None

    # ---- requests -----------------------------------------------------------------------
    async def on_text(self, data: str) -> None:
        try:
            msg = loads(data)
        except ValueError:
            self._err(None, ApiError(-1135, "Invalid JSON Request"))
            return
        if not isinstance(msg, dict):
            self._err(None, ApiError(-1135, "Invalid JSON Request"))
            return
        req_id = msg.get("id")
        method = msg.get("method")
        params = msg.get("params") or {}
        if not isinstance(params, dict):
            self._err(req_id, ApiError(-1102, "Field value was empty or malformed."))
            return
        try:
            result = self._dispatch(method, params)
        except ApiError as err:
            self._err(req_id, err)
            return
        self._ok(req_id, result)

    def _dispatch(self, method, params: dict):
        state = self.state
        now = state.now_ms()
        if method in REMOVED or method not in WEIGHTS:
            # Weight is charged for unknown methods too.
            state.limits.check("spot", self.ip, 1, now)
            state.limits.add("spot", self.ip, 1, now)
            raise ApiError(-1020, "This operation is not supported.")
        weight = WEIGHTS[method]
        state.limits.check("spot", self.ip, weight, now)
        state.limits.add("spot", self.ip, weight, now)
        if self.logon_key is not None and state.keys.get(self.logon_key.api_key) is None:
            self.logon_key = None
            self.authorized_since = None
            raise ApiError(-2015, MSG_REJECTED_KEY)
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": now}
        if method == "userDataStream.subscribe.signature":
            key = self._verify(params)
            return {"subscriptionId": self._subscribe(key, by_logon=False)}
        if method == "session.logon":
            key = self._verify(params)
            if key.key_type == "HMAC":
                raise ApiError(-4056, "HMAC_SHA256 API key is not supported.")
            if key.key_type == "RSA":
                raise ApiError(-4057, "RSA API key is not supported.")
            self.logon_key = key
            self.authorized_since = now
            return self._session()
        if method == "session.status":
            return self._session()
        if method == "session.logout":
            for sub_id, sub in list(self.subscriptions.items()):
                if sub[3]:
                    self._end(sub_id)
            self.logon_key = None
            self.authorized_since = None
            return self._session()
        if method == "userDataStream.subscribe":
            if self.logon_key is None:
                raise ApiError(-2015, MSG_REJECTED_KEY, 401)
            return {"subscriptionId": self._subscribe(self.logon_key, by_logon=True)}
        if method == "userDataStream.unsubscribe":
            sub_id = params.get("subscriptionId")
            if sub_id is None:
                for sid in list(self.subscriptions):
                    self._end(sid)
                return {}
            if isinstance(sub_id, str) and sub_id.isdigit():
                sub_id = int(sub_id)
            if sub_id not in self.subscriptions:
                raise ApiError(-2036, "User Data Stream subscription not active.")
            self._end(sub_id)
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": sid} for sid in sorted(self.subscriptions)]
        raise ApiError(-1020, "This operation is not supported.")


def setup(app: web.Application, state: SandboxState) -> None:
    async def handler(request: web.Request):
        return await WsApiConnection(request, state).run()

    def revoked(api_key: str) -> None:
        for conn in list(state.engines.get("wsapi_connections", ())):
            conn.key_revoked(api_key)

    state.engines.setdefault("revoke_listeners", []).append(revoked)
    app.router.add_get("/ws-api/v3", handler)
