"""HTML pages for orders: thin. The tickets, open orders and positions talk to the orders API
from static/js/orders.js; history and an order's fills are rendered here from the selectors."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from exchanges.models import OrderMarket, OrderStatus
from exchanges.order_selectors import (
    order_connection_get,
    order_connections_of,
    order_fills,
    order_get,
    order_list,
)
from exchanges.services.orders import order_refresh
from klineo.exceptions import NotFoundError

SPOT_SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "ETHBTC"]
FUTURES_SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def _connection(request, pk: int):
    try:
        return order_connection_get(user=request.user, pk=pk)
    except NotFoundError as exc:
        raise Http404("No such connection.") from exc


@login_required
def orders_home(request):
    connections = list(order_connections_of(user=request.user))
    recent = order_list(user=request.user)[:20]
    request.user.refresh_from_db(fields=["kill_switch_enabled"])
    return render(
        request,
        "exchanges/orders_home.html",
        {"connections": connections, "recent": recent},
    )


@login_required
def trade_page(request, pk: int):
    connection = _connection(request, pk)
    request.user.refresh_from_db(fields=["kill_switch_enabled"])
    return render(
        request,
        "exchanges/order_trade.html",
        {"connection": connection, "symbols": SPOT_SYMBOLS, "market": OrderMarket.SPOT},
    )


@login_required
def futures_page(request, pk: int):
    connection = _connection(request, pk)
    request.user.refresh_from_db(fields=["kill_switch_enabled"])
    return render(
        request,
        "exchanges/order_futures.html",
        {"connection": connection, "symbols": FUTURES_SYMBOLS, "market": OrderMarket.USDM},
    )


@login_required
def order_history(request, pk: int):
    connection = _connection(request, pk)
    status = request.GET.get("status") or ""
    if status and status not in ("open", "closed") and status not in OrderStatus.values:
        status = ""
    market = request.GET.get("market") or ""
    if market not in OrderMarket.values:
        market = ""
    symbol = (request.GET.get("symbol") or "").strip().upper()[:20]
    if not (symbol.isascii() and symbol.isalnum()):
        symbol = ""
    orders = order_list(
        user=request.user,
        connection=connection,
        status=status or None,
        symbol=symbol or None,
        market=market or None,
    )
    page = Paginator(orders, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "exchanges/order_history.html",
        {
            "connection": connection,
            "page": page,
            "status": status,
            "market": market,
            "symbol": symbol,
            "statuses": OrderStatus.choices,
        },
    )


@login_required
def order_detail_page(request, pk: int, order_id: int):
    connection = _connection(request, pk)
    try:
        order = order_get(user=request.user, connection=connection, pk=order_id)
    except NotFoundError as exc:
        raise Http404("No such order.") from exc
    if not order.is_final:
        order = order_refresh(order=order)
    return render(
        request,
        "exchanges/order_detail.html",
        {"connection": connection, "order": order, "fills": order_fills(order=order)},
    )
