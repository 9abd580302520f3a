"""Orders API: validate the shape -> call a service or selector -> render. No business logic.

Another user's connection or order is 404. Amounts are strings. Errors use the app's one body,
{"error": {"code", "message", "fields"?}}.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Scope
from accounts.reauth import require_first_mainnet_order_auth, require_recent_auth
from exchanges.api.order_serializers import (
    CheckResultSerializer,
    FuturesOrderInputSerializer,
    KillSwitchInputSerializer,
    LeverageInputSerializer,
    MarginTypeInputSerializer,
    OcoInputSerializer,
    OrderDetailSerializer,
    OrderInputSerializer,
    OrderSerializer,
    PositionCloseInputSerializer,
    order_representation,
)
from exchanges.models import ExchangeConnection, OrderMarket, OrderStatus
from exchanges.order_selectors import order_connection_get, order_get, order_list
from exchanges.services import orders as order_services
from klineo.exceptions import ApplicationError

READ = [Scope.VIEW_ORDERS]
WRITE = [Scope.PLACE_ORDERS]


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _connection(request, connection_id: int) -> ExchangeConnection:
    return order_connection_get(user=request.user, pk=connection_id)


def _order_kwargs(data: dict) -> dict:
    return {
        "symbol": data.get("symbol"),
        "side": data.get("side"),
        "order_type": data.get("type"),
        "quantity": data.get("quantity"),
        "quote_quantity": data.get("quote_quantity"),
        "price": data.get("price"),
        "stop_price": data.get("stop_price"),
        "time_in_force": data.get("time_in_force"),
        "reduce_only": data.get("reduce_only", False),
        "position_side": data.get("position_side"),
    }


def _mainnet_gate(request, connection: ExchangeConnection) -> None:
    if connection.is_mainnet:
        require_first_mainnet_order_auth(request)


def _placed_response(result: order_services.PlaceResult) -> Response:
    return Response(
        order_representation(result.order),
        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
    )


class _PlaceView(APIView):
    market = OrderMarket.SPOT
    input_serializer = OrderInputSerializer
    required_scopes = {"POST": WRITE}

    def place(self, request, connection_id: int) -> Response:
        connection = _connection(request, connection_id)
        data = _valid(self.input_serializer, request)
        _mainnet_gate(request, connection)
        result = order_services.order_place(
            user=request.user,
            connection=connection,
            market=self.market,
            client_order_id=data.get("client_order_id"),
            confirm=data.get("confirm", False),
            request=request,
            **_order_kwargs(data),
        )
        return _placed_response(result)


class OrdersView(_PlaceView, GenericAPIView):
    """Spot orders of a connection: place one, list them, cancel all on a symbol."""

    serializer_class = OrderSerializer
    required_scopes = {"GET": READ, "POST": WRITE, "DELETE": WRITE}

    @extend_schema(
        summary="Place a spot order",
        request=OrderInputSerializer,
        responses={201: OrderSerializer, 200: OrderSerializer},
        description="Validated against the symbol's filters and the free balance first. "
        "201: placed (status may be UNKNOWN while KLINEO checks the outcome). 200: an order "
        "with this client_order_id exists already and is returned instead.",
    )
    def post(self, request, connection_id: int):
        return self.place(request, connection_id)

    @extend_schema(
        summary="List orders (paginated)",
        parameters=[
            OpenApiParameter("status", str, description="open, closed or a status name"),
            OpenApiParameter("symbol", str),
            OpenApiParameter("market", str, description="spot or usdm"),
        ],
        responses=OrderSerializer(many=True),
    )
    def get(self, request, connection_id: int):
        connection = _connection(request, connection_id)
        status_filter = request.query_params.get("status") or None
        if (
            status_filter
            and status_filter not in ("open", "closed")
            and (status_filter.upper() not in OrderStatus.values)
        ):
            raise ApplicationError(
                "Unknown status filter.",
                code="invalid",
                fields={"status": ["Use open, closed or a status name."]},
            )
        market = request.query_params.get("market") or None
        if market and market not in OrderMarket.values:
            raise ApplicationError(
                "Unknown market.", code="invalid", fields={"market": ["spot or usdm."]}
            )
        symbol = (request.query_params.get("symbol") or "").strip()
        if symbol and (not symbol.isascii() or not symbol.isalnum() or len(symbol) > 20):
            raise ApplicationError(
                "Unknown symbol.", code="invalid", fields={"symbol": ["A symbol such as BTCUSDT."]}
            )
        orders = order_list(
            user=request.user,
            connection=connection,
            status=status_filter,
            symbol=symbol or None,
            market=market,
        )
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(OrderSerializer(page, many=True).data)

    @extend_schema(
        operation_id="orders_cancel_all",
        summary="Cancel all open orders on a symbol",
        parameters=[
            OpenApiParameter("symbol", str, required=True),
            OpenApiParameter("market", str, description="spot (default) or usdm"),
        ],
        responses=inline_serializer(
            "CancelAllResult",
            {
                "canceled": OrderSerializer(many=True),
                "failed": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def delete(self, request, connection_id: int):
        connection = _connection(request, connection_id)
        market = request.query_params.get("market") or OrderMarket.SPOT
        if market not in OrderMarket.values:
            raise ApplicationError(
                "Unknown market.", code="invalid", fields={"market": ["spot or usdm."]}
            )
        if market == OrderMarket.USDM and not connection.futures_enabled:
            order_services._require_may_trade_futures(connection)
        report = order_services.orders_cancel_symbol(
            user=request.user,
            connection=connection,
            market=market,
            symbol=request.query_params.get("symbol"),
            request=request,
        )
        return Response(
            {"canceled": OrderSerializer(report.canceled, many=True).data, "failed": report.failed}
        )


class FuturesOrdersView(_PlaceView):
    market = OrderMarket.USDM
    input_serializer = FuturesOrderInputSerializer

    @extend_schema(
        summary="Place a USD-M futures order",
        request=FuturesOrderInputSerializer,
        responses={201: OrderSerializer, 200: OrderSerializer},
        description="Only when the connection has futures enabled. STOP, TAKE_PROFIT, "
        "STOP_MARKET and TAKE_PROFIT_MARKET are sent to /fapi/v1/algoOrder.",
    )
    def post(self, request, connection_id: int):
        return self.place(request, connection_id)


class OcoView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        summary="Place a spot OCO (limit + stop leg)",
        request=OcoInputSerializer,
        responses={201: OrderSerializer(many=True), 200: OrderSerializer(many=True)},
    )
    def post(self, request, connection_id: int):
        connection = _connection(request, connection_id)
        data = _valid(OcoInputSerializer, request)
        _mainnet_gate(request, connection)
        list_id = data.get("list_client_order_id")
        existed = bool(list_id) and connection.orders.filter(list_client_order_id=list_id).exists()
        legs = order_services.order_place_oco(
            user=request.user,
            connection=connection,
            symbol=data["symbol"],
            side=data["side"],
            quantity=data.get("quantity"),
            price=data.get("price"),
            stop_price=data.get("stop_price"),
            stop_limit_price=data.get("stop_limit_price"),
            list_client_order_id=list_id,
            confirm=data.get("confirm", False),
            request=request,
        )
        return Response(
            OrderSerializer(legs, many=True).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )


class _CheckView(APIView):
    market = OrderMarket.SPOT
    input_serializer = OrderInputSerializer
    required_scopes = {"POST": WRITE}

    def check(self, request, connection_id: int) -> Response:
        connection = _connection(request, connection_id)
        data = _valid(self.input_serializer, request)
        result = order_services.order_check(
            user=request.user, connection=connection, market=self.market, **_order_kwargs(data)
        )
        return Response(result)


class OrderTestView(_CheckView):
    @extend_schema(
        summary="Check a spot order without placing it (order/test + commission estimate)",
        request=OrderInputSerializer,
        responses=CheckResultSerializer,
    )
    def post(self, request, connection_id: int):
        return self.check(request, connection_id)


class FuturesOrderTestView(_CheckView):
    market = OrderMarket.USDM
    input_serializer = FuturesOrderInputSerializer

    @extend_schema(
        summary="Check a futures order without placing it (/fapi/v1/order/test)",
        request=FuturesOrderInputSerializer,
        responses=CheckResultSerializer,
    )
    def post(self, request, connection_id: int):
        return self.check(request, connection_id)


class OrderDetailView(APIView):
    required_scopes = {"GET": READ, "DELETE": WRITE}

    @extend_schema(
        summary="One order with its fills (refreshed from the exchange while open)",
        responses=OrderDetailSerializer,
    )
    def get(self, request, connection_id: int, order_id: int):
        connection = _connection(request, connection_id)
        order = order_get(user=request.user, connection=connection, pk=order_id)
        if not order.is_final:
            order = order_services.order_refresh(order=order)
        return Response(OrderDetailSerializer(order).data)

    @extend_schema(
        operation_id="order_cancel", summary="Cancel an open order", responses=OrderSerializer
    )
    def delete(self, request, connection_id: int, order_id: int):
        connection = _connection(request, connection_id)
        order = order_get(user=request.user, connection=connection, pk=order_id)
        order = order_services.order_cancel(user=request.user, order=order, request=request)
        return Response(OrderSerializer(order).data)


class PositionsView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        summary="Open USD-M positions (entry, mark, unrealised PnL) and the position mode",
        responses=inline_serializer(
            "Positions",
            {
                "hedge_mode": serializers.BooleanField(),
                "positions": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request, connection_id: int):
        connection = _connection(request, connection_id)
        return Response(order_services.futures_positions(connection=connection))


class PositionCloseView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        summary="Close a position with a reduce-only MARKET order of its size",
        request=PositionCloseInputSerializer,
        responses={201: OrderSerializer},
    )
    def post(self, request, connection_id: int):
        connection = _connection(request, connection_id)
        data = _valid(PositionCloseInputSerializer, request)
        _mainnet_gate(request, connection)
        result = order_services.futures_position_close(
            user=request.user,
            connection=connection,
            symbol=data["symbol"],
            position_side=data.get("position_side"),
            confirm=data.get("confirm", False),
            request=request,
        )
        return _placed_response(result)


class LeverageView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        summary="Set a symbol's leverage",
        request=LeverageInputSerializer,
        responses=inline_serializer(
            "LeverageResult",
            {
                "symbol": serializers.CharField(),
                "leverage": serializers.IntegerField(),
                "max_notional": serializers.CharField(allow_null=True),
            },
        ),
    )
    def post(self, request, connection_id: int):
        connection = _connection(request, connection_id)
        data = _valid(LeverageInputSerializer, request)
        return Response(
            order_services.futures_set_leverage(
                user=request.user,
                connection=connection,
                symbol=data["symbol"],
                leverage=data["leverage"],
                request=request,
            )
        )


class MarginTypeView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        summary="Set a symbol's margin type (ISOLATED or CROSSED)",
        request=MarginTypeInputSerializer,
        responses=inline_serializer(
            "MarginTypeResult",
            {
                "symbol": serializers.CharField(),
                "margin_type": serializers.CharField(),
                "changed": serializers.BooleanField(),
            },
        ),
    )
    def post(self, request, connection_id: int):
        connection = _connection(request, connection_id)
        data = _valid(MarginTypeInputSerializer, request)
        return Response(
            order_services.futures_set_margin_type(
                user=request.user,
                connection=connection,
                symbol=data["symbol"],
                margin_type=data["margin_type"],
                request=request,
            )
        )


class SymbolRulesView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        summary="A symbol's trading rules, sellable amount (rounded to the step) and balance",
        parameters=[OpenApiParameter("market", str, description="spot (default) or usdm")],
        responses=inline_serializer("SymbolRules", {"symbol": serializers.CharField()}),
    )
    def get(self, request, connection_id: int, symbol: str):
        connection = _connection(request, connection_id)
        market = request.query_params.get("market") or OrderMarket.SPOT
        if market not in OrderMarket.values:
            raise ApplicationError(
                "Unknown market.", code="invalid", fields={"market": ["spot or usdm."]}
            )
        return Response(
            order_services.symbol_rules(connection=connection, market=market, symbol=symbol)
        )


class KillSwitchView(APIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        summary="The kill switch state",
        responses=inline_serializer("KillSwitch", {"enabled": serializers.BooleanField()}),
    )
    def get(self, request):
        request.user.refresh_from_db(fields=["kill_switch_enabled"])
        return Response({"enabled": request.user.kill_switch_enabled})

    @extend_schema(
        summary="Turn the kill switch on (refuse new orders, cancel all open ones) or off",
        request=KillSwitchInputSerializer,
        responses=inline_serializer(
            "KillSwitchResult",
            {
                "enabled": serializers.BooleanField(),
                "canceled": serializers.IntegerField(),
                "symbols": serializers.ListField(child=serializers.DictField()),
                "failed": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def post(self, request):
        data = _valid(KillSwitchInputSerializer, request)
        if not data["enabled"]:
            # Stopping trading is never gated; starting again needs a fresh re-authentication.
            require_recent_auth(request, action="killswitch.change", scope=Scope.PLACE_ORDERS)
        result = order_services.kill_switch_set(
            user=request.user, enabled=data["enabled"], request=request
        )
        return Response(
            {
                "enabled": result.enabled,
                "canceled": result.canceled,
                "symbols": result.symbols,
                "failed": result.failed,
            }
        )
