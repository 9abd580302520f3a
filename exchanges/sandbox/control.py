"""The control API under /sandbox/v1 (loopback peers only unless ``--control-allow`` names
other networks). See README.md for the contract."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from aiohttp import web

from .faults import KINDS
from .state import SandboxState
from .util import dumps, fmt8, loads

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str | Iterable[str]) -> tuple[Network, ...]:
    """'10.0.0.0/8,192.168.0.0/16' (or a list of CIDRs) -> networks; raises ValueError.
    A bare address is a single-host network; host bits are allowed (10.1.2.3/8 = 10.0.0.0/8)."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    nets = tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())
    if not nets:
        raise ValueError("no network given")
    return nets


def peer_allowed(remote: str | None, networks: tuple[Network, ...]) -> bool:
    if not remote:
        return False
    try:
        addr = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:10.0.0.5 on a dual-stack socket is 10.0.0.5
    return any(addr in net for net in networks)


def _json(data, status: int = 200) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json")


def _error(msg: str, status: int = 400) -> web.Response:
    return _json({"error": msg}, status)


async def _body(request: web.Request) -> dict:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = loads(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=dumps({"error": "body must be JSON"}), content_type="application/json"
        ) from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=dumps({"error": "body must be a JSON object"}), content_type="application/json"
        )
    return data


def setup(app: web.Application, state: SandboxState) -> None:
    keys = state.keys
    r = app.router
    networks = parse_networks(state.config.control_allow)
    allowed_text = ", ".join(str(n) for n in networks)
    verdicts: dict[str, bool] = {}  # peer address -> allowed (a handful of peers)

    def loopback_only(handler):
        """Only peers inside --control-allow (default: loopback) reach the handler."""

        async def guarded(request: web.Request):
            remote = request.remote or ""
            ok = verdicts.get(remote)
            if ok is None:
                ok = peer_allowed(remote, networks)
                if len(verdicts) < 10_000:
                    verdicts[remote] = ok
            if not ok:
                return _error(
                    f"the control API answers only to peers in {allowed_text} (--control-allow)",
                    403,
                )
            return await handler(request)

        return guarded

    async def create_key(request: web.Request):
        data = await _body(request)
        try:
            out = keys.create(
                key_type=data.get("key_type", "HMAC"),
                public_key=data.get("public_key"),
                permissions=data.get("permissions"),
                balances=data.get("balances"),
                futures_balances=data.get("futures_balances"),
                coinm_balances=data.get("coinm_balances"),
                account_of=data.get("account_of"),
                api_key=data.get("api_key"),
                secret_key=data.get("secret_key"),
            )
        except (ValueError, InvalidOperation) as exc:
            return _error(str(exc))
        return _json(out)

    async def get_key(request: web.Request):
        key = keys.get(request.match_info["api_key"])
        if key is None:
            return _error("unknown apiKey", 404)
        acct = key.account
        return _json(
            {
                "apiKey": key.api_key,
                "keyType": key.key_type,
                "accountId": acct.id,
                "permissions": key.permissions,
                "balances": {
                    a: {"free": fmt8(f), "locked": fmt8(lk)} for a, (f, lk) in acct.balances.items()
                },
                "futures_balances": {a: fmt8(v) for a, v in acct.futures_balances.items()},
                "coinm_balances": {a: fmt8(v) for a, v in acct.coinm_balances.items()},
            }
        )

    async def patch_key(request: web.Request):
        key = keys.get(request.match_info["api_key"])
        if key is None:
            return _error("unknown apiKey", 404)
        data = await _body(request)
        now = state.now_ms()
        acct = key.account
        try:
            for name, value in (data.get("permissions") or {}).items():
                if name not in (
                    "reading",
                    "spot",
                    "futures",
                    "withdrawals",
                    "ip_restricted",
                    "allowed_ips",
                ):
                    return _error(f"unknown permission {name!r}")
                key.permissions[name] = value
            changed = []
            for asset, amount in (data.get("balances") or {}).items():
                asset = asset.upper()
                new = Decimal(str(amount))
                delta = new - acct.free(asset)
                acct.set_balances({asset: str(new)})
                changed.append((asset, delta))
            for asset, amount in (data.get("futures_balances") or {}).items():
                acct.futures_balances[asset.upper()] = Decimal(str(amount))
            for asset, amount in (data.get("coinm_balances") or {}).items():
                acct.coinm_balances[asset.upper()] = Decimal(str(amount))
            if "can_trade" in data:
                acct.can_trade = bool(data["can_trade"])
        except (InvalidOperation, ValueError) as exc:
            return _error(str(exc))
        for asset, delta in changed:
            state.bus.publish(
                ("spot", acct.id),
                {"e": "balanceUpdate", "E": now, "a": asset, "d": fmt8(delta), "T": now},
            )
        if changed:
            acct.update_time = now
            state.bus.publish(
                ("spot", acct.id),
                {
                    "e": "outboundAccountPosition",
                    "E": now,
                    "u": now,
                    "B": [
                        {"a": a, "f": fmt8(acct.free(a)), "l": fmt8(acct._bal(a)[1])}
                        for a, _d in changed
                    ],
                },
            )
        for fn in state.engines.get("balance_listeners", []):
            fn(acct, data)
        return _json({"apiKey": key.api_key, "permissions": key.permissions})

    async def delete_key(request: web.Request):
        api_key = request.match_info["api_key"]
        if not keys.revoke(api_key):
            return _error("unknown apiKey", 404)
        for fn in state.engines.get("revoke_listeners", []):
            fn(api_key)
        return _json({})

    async def add_fault(request: web.Request):
        data = await _body(request)
        path, kind = data.pop("path", None), data.pop("kind", None)
        if not path or kind not in KINDS:
            return _error(f"need 'path' and 'kind' (one of {', '.join(KINDS)})")
        try:
            count = int(data.pop("count", 1))
            fault = state.faults.add(path, kind, count, **data)
        except (TypeError, ValueError) as exc:
            return _error(str(exc))
        return _json(fault.to_dict())

    async def list_faults(request: web.Request):
        return _json([f.to_dict() for f in state.faults.faults])

    async def clear_faults(request: web.Request):
        state.faults.clear()
        return _json({})

    async def set_clock(request: web.Request):
        data = await _body(request)
        try:
            state.skew_ms = int(data.get("skew_ms", 0))
        except (TypeError, ValueError):
            return _error("skew_ms must be an integer")
        return _json({"skew_ms": state.skew_ms, "serverTime": state.now_ms()})

    async def set_price(request: web.Request):
        data = await _body(request)
        symbol = data.get("symbol")
        if symbol not in state.prices.markets:
            return _error(f"unknown symbol {symbol!r}; one of {', '.join(state.prices.markets)}")
        try:
            price = Decimal(str(data["price"]))
        except (KeyError, InvalidOperation):
            return _error("price must be a decimal string")
        if price <= 0:
            return _error("price must be positive")
        state.prices.set_price(symbol, price, state.now_ms())
        m = state.prices.markets[symbol]
        return _json(
            {
                "symbol": symbol,
                "price": fmt8(m.last_price),
                "bidPrice": fmt8(m.bid_price),
                "askPrice": fmt8(m.ask_price),
            }
        )

    async def orders_by_client_id(request: web.Request):
        cid = request.query.get("clientOrderId")
        if not cid:
            return _error("clientOrderId is required")
        return _json(state.orders.lookup(cid))

    async def request_log(request: web.Request):
        # Read-only: the REST requests that arrived in [since_ms, until_ms), optionally only
        # paths starting with `prefix`, as [arrival_ms, method, path, status] (oldest first).
        try:
            since = int(request.query.get("since_ms", 0))
            until = int(request.query.get("until_ms", 2**62))
        except ValueError:
            return _error("since_ms and until_ms must be integers (ms)")
        prefix = request.query.get("prefix", "")
        entries = list(state.request_log)
        return _json(
            {
                "oldest_ms": entries[0][0] if entries else None,
                "requests": [
                    list(e) for e in entries if since <= e[0] < until and e[2].startswith(prefix)
                ],
            }
        )

    async def get_config(request: web.Request):
        return _json(state.config.to_dict())

    async def set_config(request: web.Request):
        data = await _body(request)
        try:
            unknown = state.config.update(data)
        except (TypeError, ValueError, AttributeError) as exc:
            return _error(str(exc))
        if unknown:
            return _error(f"not runtime-configurable: {', '.join(unknown)}")
        return _json(state.config.to_dict())

    async def reset(request: web.Request):
        state.reset()
        return _json(state.config.to_dict())

    async def save(request: web.Request):
        if not state.config.state_file:
            return _error("no --state file configured")
        state.save()
        return _json({"saved": state.config.state_file})

    r.add_post("/sandbox/v1/keys", loopback_only(create_key))
    r.add_get("/sandbox/v1/keys/{api_key}", loopback_only(get_key))
    r.add_patch("/sandbox/v1/keys/{api_key}", loopback_only(patch_key))
    r.add_delete("/sandbox/v1/keys/{api_key}", loopback_only(delete_key))
    r.add_post("/sandbox/v1/faults", loopback_only(add_fault))
    r.add_get("/sandbox/v1/faults", loopback_only(list_faults))
    r.add_delete("/sandbox/v1/faults", loopback_only(clear_faults))
    r.add_post("/sandbox/v1/clock", loopback_only(set_clock))
    r.add_post("/sandbox/v1/price", loopback_only(set_price))
    r.add_get("/sandbox/v1/orders", loopback_only(orders_by_client_id))
    r.add_get("/sandbox/v1/requests", loopback_only(request_log))
    r.add_get("/sandbox/v1/config", loopback_only(get_config))
    r.add_post("/sandbox/v1/config", loopback_only(set_config))
    r.add_post("/sandbox/v1/reset", loopback_only(reset))
    r.add_post("/sandbox/v1/save", loopback_only(save))
