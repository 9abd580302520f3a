"""Reads of orders and fills. Every selector takes the owner, so one user never reaches another's
rows (another user's order or connection is simply "not found")."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from exchanges.models import (
    OPEN_ORDER_STATUSES,
    UNRESOLVED_ORDER_STATUSES,
    ExchangeConnection,
    Fill,
    Order,
)
from exchanges.selectors import connection_get, connection_list
from klineo.exceptions import NotFoundError


def order_connection_get(*, user: User, pk: int) -> ExchangeConnection:
    """The user's (not deleted) connection `pk`, or NotFoundError."""
    return connection_get(user=user, pk=pk)


def order_connections_of(*, user: User) -> QuerySet[ExchangeConnection]:
    return connection_list(user=user)


def order_get(*, user: User, connection: ExchangeConnection, pk: int) -> Order:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFoundError("No such order.") from None
    order = Order.objects.filter(owner=user, connection=connection, pk=pk).first()
    if order is None:
        raise NotFoundError("No such order.")
    return order


def order_list(
    *,
    user: User,
    connection: ExchangeConnection | None = None,
    status: str | None = None,
    symbol: str | None = None,
    market: str | None = None,
) -> QuerySet[Order]:
    """The user's orders, newest first. `status` is a status name, "open" (open or still being
    checked) or "closed" (final)."""
    orders = Order.objects.filter(owner=user)
    if connection is not None:
        orders = orders.filter(connection=connection)
    if status == "open":
        orders = orders.filter(status__in=[*OPEN_ORDER_STATUSES, *UNRESOLVED_ORDER_STATUSES])
    elif status == "closed":
        orders = orders.exclude(status__in=[*OPEN_ORDER_STATUSES, *UNRESOLVED_ORDER_STATUSES])
    elif status:
        orders = orders.filter(status=status.upper())
    if symbol:
        orders = orders.filter(symbol=symbol.upper())
    if market:
        orders = orders.filter(market=market.lower())
    return orders.order_by("-created_at", "-id")


def order_open_symbols(*, connection: ExchangeConnection, market: str) -> list[str]:
    return sorted(
        set(
            Order.objects.filter(
                connection=connection,
                market=market,
                status__in=[*OPEN_ORDER_STATUSES, *UNRESOLVED_ORDER_STATUSES],
            ).values_list("symbol", flat=True)
        )
    )


def order_fills(*, order: Order) -> QuerySet[Fill]:
    return order.fills.order_by("executed_at", "id")
