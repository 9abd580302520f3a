"""Live user data: what run_streams does with exchange events, and the stream bookkeeping.

Every function here is synchronous and runs in run_streams' thread pool. Order and fill rows
are written by the orders service (``exchanges.services.orders``: idempotent "apply this
event" and "refresh from the exchange" functions); balances and positions are not stored (the
balance cache is dropped) and go to the browser as events. Browsers are told after commit
through ``exchanges.events`` only.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from exchanges import events
from exchanges.binance import Credentials, EnvironmentUrls
from exchanges.clients import client_for_connection, connection_credentials, urls_for_environment
from exchanges.models import (
    OPEN_ORDER_STATUSES,
    ExchangeConnection,
    Order,
    OrderMarket,
    StreamKind,
    StreamState,
    StreamStatus,
)
from exchanges.streams.user_data import StreamSpec

logger = logging.getLogger("exchanges.streams")

# -- which streams should run -----------------------------------------------------------------


def desired_streams() -> list[StreamSpec]:
    """Every user-data stream that should be held: one spot stream per live connection of an
    active user, and a USD-M stream where futures are enabled."""
    rows = (
        ExchangeConnection.objects.filter(
            deleted_at__isnull=True,
            owner__is_active=True,
            owner__deleted_at__isnull=True,
        )
        .exclude(api_key_encrypted="")
        .values_list("pk", "owner_id", "environment", "futures_enabled")
        .order_by("pk")
    )
    specs = []
    for pk, owner_id, environment, futures in rows:
        specs.append(StreamSpec(pk, owner_id, environment, StreamKind.SPOT.value))
        if futures:
            specs.append(StreamSpec(pk, owner_id, environment, StreamKind.USDM.value))
    return specs


def stream_client_parts(
    connection_id: int, kind: str
) -> tuple[EnvironmentUrls, Credentials, int, str | None] | None:
    """What a stream needs to connect, and the status its previous holder left (None: the
    stream never ran; "stopped": it was stopped cleanly)."""
    connection = ExchangeConnection.objects.filter(
        pk=connection_id, deleted_at__isnull=True
    ).first()
    if connection is None:
        return None
    previous = (
        StreamState.objects.filter(connection_id=connection_id, kind=kind)
        .values_list("status", flat=True)
        .first()
    )
    return (
        urls_for_environment(connection.environment),
        connection_credentials(connection),
        settings.BINANCE_RECV_WINDOW,
        previous,
    )


@lru_cache(maxsize=100_000)
def _owner_id(connection_id: int) -> int:
    # A connection never changes owner, so this lookup is cached for the process's life.
    return ExchangeConnection.objects.values_list("owner_id", flat=True).get(pk=connection_id)


# -- stream state (fenced) --------------------------------------------------------------------


def _state_write(*, connection_id: int, kind: str, fence: int, holder: str, **fields: Any) -> bool:
    """Update the stream's state row unless a newer lease holder (higher fence) wrote it."""
    now = timezone.now()
    fields.setdefault("updated_at", now)
    updated = StreamState.objects.filter(
        connection_id=connection_id, kind=kind, fence__lte=fence
    ).update(fence=fence, holder=holder, **fields)
    if updated:
        return True
    if StreamState.objects.filter(connection_id=connection_id, kind=kind).exists():
        return False  # a newer holder owns the row
    values = {k: (v if not hasattr(v, "resolve_expression") else 1) for k, v in fields.items()}
    try:
        with transaction.atomic():
            StreamState.objects.create(
                connection_id=connection_id, kind=kind, fence=fence, holder=holder, **values
            )
    except IntegrityError:
        return _state_write(
            connection_id=connection_id, kind=kind, fence=fence, holder=holder, **fields
        )
    return True


def stream_status_record(
    *,
    connection_id: int,
    owner_id: int,
    kind: str,
    status: str,
    reason: str,
    fence: int,
    holder: str,
) -> None:
    """Record a status change and tell the owner's browsers (connection.status)."""
    fields: dict[str, Any] = {"status": status, "reason": reason[:200]}
    if status == StreamStatus.UP:
        fields["connected_at"] = timezone.now()
    elif status == StreamStatus.RECONNECTING:
        fields["reconnect_count"] = F("reconnect_count") + 1
    if not _state_write(
        connection_id=connection_id, kind=kind, fence=fence, holder=holder, **fields
    ):
        return
    if status == StreamStatus.STOPPED and reason.startswith("handed over"):
        return  # another process continues the stream: nothing for the user to see
    events.publish(
        user_id=owner_id,
        event_type="connection.status",
        data={
            "connection_id": connection_id,
            "stream": kind,
            "status": status,
            "reason": reason[:200],
        },
    )


def stream_activity_record(*, activity: dict[tuple[int, str], tuple[float, int]]) -> None:
    """Store the last event time of each stream (batched by the runtime every few seconds)."""
    for (connection_id, kind), (last_event, fence) in activity.items():
        StreamState.objects.filter(connection_id=connection_id, kind=kind, fence=fence).update(
            last_event_at=datetime.fromtimestamp(last_event, tz=UTC)
        )


# -- futures listenKeys -------------------------------------------------------------------------


def listen_key_obtain(*, connection_id: int, fence: int, holder: str) -> str:
    """POST /fapi/v1/listenKey: the active key (extended) or a new one. Only its last 4
    characters are stored."""
    connection = ExchangeConnection.objects.get(pk=connection_id, deleted_at__isnull=True)
    with client_for_connection(connection) as client:
        key = client.usdm.create_listen_key().listen_key
    _state_write(
        connection_id=connection_id,
        kind=StreamKind.USDM,
        fence=fence,
        holder=holder,
        listen_key_last4=key[-4:],
        listen_key_renewed_at=timezone.now(),
    )
    return key


def listen_key_close_later(connection_id: int) -> None:
    from exchanges.stream_tasks import listen_key_close

    transaction.on_commit(lambda: listen_key_close.delay(connection_id))


# -- events -> database -> browser ---------------------------------------------------------------


def _orders():
    from exchanges.services import orders

    return orders


def _balances_changed(connection_id: int) -> None:
    from exchanges.services.connections import balances_cache_key

    connection = ExchangeConnection.objects.filter(pk=connection_id).first()
    if connection is not None:
        cache.delete(balances_cache_key(connection))


def user_event_apply(*, connection_id: int, kind: str, event: dict[str, Any]) -> None:
    """One user-data event: update the database, then (after commit) the browser."""
    owner_id = _owner_id(connection_id)
    # The orders service only needs the id to scope its client-order-id lookup.
    connection = ExchangeConnection(pk=connection_id, owner_id=owner_id)
    etype = event.get("e")
    if kind == StreamKind.SPOT:
        if etype == "executionReport":
            _orders().order_apply_execution_report(connection=connection, event=event)
        elif etype == "outboundAccountPosition":
            _balances_changed(connection_id)
            events.publish(
                user_id=owner_id,
                event_type="balance.update",
                data={
                    "connection_id": connection_id,
                    "market": "spot",
                    "balances": [
                        {"asset": b["a"], "free": str(b["f"]), "locked": str(b["l"])}
                        for b in event.get("B", [])
                    ],
                    "time": event.get("E"),
                },
            )
    elif kind == StreamKind.USDM:
        if etype == "ORDER_TRADE_UPDATE":
            _orders().order_apply_futures_update(connection=connection, event=event)
            if (event.get("o") or {}).get("x") == "TRADE":
                futures_balances_refresh_soon(connection_id)
        elif etype == "ALGO_UPDATE":
            _orders().order_apply_algo_update(connection=connection, event=event)
        elif etype == "ACCOUNT_UPDATE":
            _balances_changed(connection_id)
            account = event.get("a") or {}
            balances = [
                {
                    "asset": b.get("a"),
                    "wallet_balance": str(b.get("wb")),
                    "cross_wallet_balance": str(b.get("cw")),
                }
                for b in account.get("B", [])
            ]
            if balances:
                events.publish(
                    user_id=owner_id,
                    event_type="balance.update",
                    data={
                        "connection_id": connection_id,
                        "market": "usdm",
                        "reason": account.get("m"),
                        "balances": balances,
                        "time": event.get("E"),
                    },
                )
            positions = [_position_from_event(p) for p in account.get("P", [])]
            if positions:
                events.publish(
                    user_id=owner_id,
                    event_type="position.update",
                    data={"connection_id": connection_id, "positions": positions},
                )


def _position_from_event(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": p.get("s"),
        "position_side": p.get("ps"),
        "position_amount": str(p.get("pa")),
        "entry_price": str(p.get("ep")),
        "break_even_price": str(p.get("bep")),
        "unrealized_profit": str(p.get("up")),
        "margin_type": p.get("mt"),
    }


def futures_balances_refresh_soon(connection_id: int) -> None:
    """ACCOUNT_UPDATE lags (it fires on position changes only): after a futures trade, fetch
    the balances over REST. Debounced to one refresh per connection and second."""
    from exchanges.events import redis_client
    from exchanges.stream_tasks import futures_balances_refresh

    if redis_client().set(f"klineo:streams:fbal:{connection_id}", 1, nx=True, px=1000):
        transaction.on_commit(
            lambda: futures_balances_refresh.apply_async((connection_id,), countdown=0.5)
        )


def futures_balances_publish(connection_id: int) -> None:
    """GET /fapi/v3/balance and push it as balance.update (used after trades and reconnects)."""
    connection = ExchangeConnection.objects.filter(
        pk=connection_id, deleted_at__isnull=True
    ).first()
    if connection is None:
        return
    with client_for_connection(connection) as client:
        balances = client.usdm.balances()
    _balances_changed(connection_id)
    events.publish(
        user_id=connection.owner_id,
        event_type="balance.update",
        data={
            "connection_id": connection_id,
            "market": "usdm",
            "reason": "refresh",
            "balances": [
                {
                    "asset": b.asset,
                    "wallet_balance": b.balance,
                    "cross_wallet_balance": b.cross_wallet_balance,
                    "available_balance": b.available_balance,
                }
                for b in balances
            ],
        },
    )


# -- reconciliation after every (re)connect ------------------------------------------------------


def stream_reconcile(*, connection_id: int, kind: str, full: bool) -> None:
    """Close the gap of a disconnection over REST: the orders KLINEO thinks are open (their
    current state and trades), then the balances and, for futures, the positions.

    ``full=False`` (a stream starting fresh, e.g. after a deploy: nothing was being watched)
    refreshes only the open orders, and the balances only when one of them changed, so that
    starting a thousand streams does not spend the server's shared request weight (an
    account snapshot costs 20 weight; the limit is 6,000 a minute per IP)."""
    connection = (
        ExchangeConnection.objects.filter(pk=connection_id, deleted_at__isnull=True)
        .select_related("owner")
        .first()
    )
    if connection is None:
        return
    market = OrderMarket.SPOT if kind == StreamKind.SPOT else OrderMarket.USDM
    open_orders = Order.objects.filter(
        connection=connection, market=market, status__in=OPEN_ORDER_STATUSES
    ).select_related("connection")
    changed = False
    for order in open_orders:
        changed |= _reconcile_order(order)
    if not (full or changed):
        return
    with client_for_connection(connection) as client:
        if market == OrderMarket.SPOT:
            account = client.spot.account()
            balances = [
                {"asset": b.asset, "free": b.free, "locked": b.locked} for b in account.balances
            ]
            positions = None
        else:
            balances = [
                {
                    "asset": b.asset,
                    "wallet_balance": b.balance,
                    "cross_wallet_balance": b.cross_wallet_balance,
                    "available_balance": b.available_balance,
                }
                for b in client.usdm.balances()
            ]
            positions = [
                {
                    "symbol": p.symbol,
                    "position_side": p.position_side,
                    "position_amount": p.position_amt,
                    "entry_price": p.entry_price,
                    "break_even_price": p.break_even_price,
                    "unrealized_profit": p.unrealized_profit,
                    "margin_type": p.margin_type,
                }
                for p in client.usdm.position_risk()
                if p.position_amt
            ]
    _balances_changed(connection_id)
    events.publish(
        user_id=connection.owner_id,
        event_type="balance.update",
        data={
            "connection_id": connection_id,
            "market": market,
            "reason": "reconcile",
            "snapshot": True,
            "balances": balances,
        },
    )
    if positions is not None:
        events.publish(
            user_id=connection.owner_id,
            event_type="position.update",
            data={"connection_id": connection_id, "snapshot": True, "positions": positions},
        )


def _reconcile_order(order: Order) -> bool:
    """Refresh one order from the exchange; True when its status or filled amount changed."""
    before = (order.status, order.executed_quantity)
    try:
        after = _orders().order_refresh(order=order)
    except Exception:
        # One unreadable order must not keep the balances from being reconciled.
        logger.warning("reconcile: refreshing order %s failed", order.pk, exc_info=True)
        return True
    return (after.status, after.executed_quantity) != before


# -- market data over REST (the chart's history) --------------------------------------------------

KLINE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w")


def market_klines(*, environment: str, symbol: str, interval: str, limit: int) -> list[dict]:
    """Spot candles for the chart (public data, no key): oldest first."""
    from exchanges.binance import BinanceError, ErrorCategory
    from exchanges.clients import client_for
    from exchanges.services.explanations import exchange_error
    from klineo.exceptions import ApplicationError

    try:
        with client_for(environment=environment) as client:
            rows = client.spot.klines(symbol, interval, limit=limit)
    except BinanceError as exc:
        if exc.category is ErrorCategory.INVALID_SYMBOL:
            message = f"{symbol} is not listed in this environment."
            raise ApplicationError(message, code="invalid", fields={"symbol": [message]}) from exc
        raise exchange_error(exc, environment=environment) from exc
    # Decimal values go out as strings (JSON numbers would turn them into floats).
    return [
        {
            "open_time": k.open_time,
            "open": format(k.open, "f"),
            "high": format(k.high, "f"),
            "low": format(k.low, "f"),
            "close": format(k.close, "f"),
            "volume": format(k.volume, "f"),
            "close_time": k.close_time,
        }
        for k in rows
    ]
