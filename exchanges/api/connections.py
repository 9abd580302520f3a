"""Connections API: thin views (validate input shape -> service or selector -> serialize).

Another user's connection is a 404 everywhere (selectors take the owner). Responses never
contain a secret: a key appears only as "…abcd".
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Scope
from accounts.reauth import require_recent_auth
from exchanges.api.connection_serializers import (
    BalanceQuerySerializer,
    BalanceSnapshotSerializer,
    ConnectionCreateSerializer,
    ConnectionSerializer,
    ConnectionUpdateSerializer,
    DemoKeysSerializer,
    KeysTestSerializer,
    MarketQuerySerializer,
    MarketSnapshotSerializer,
    TestReportSerializer,
)
from exchanges.selectors import connection_default, connection_get, connection_list
from exchanges.services.balances import (
    DUST_THRESHOLD_USDT,
    connection_balances,
    market_snapshot,
    parse_symbols,
)
from exchanges.services.connection_test import connection_test_spot, keys_test_spot
from exchanges.services.connections import (
    connection_create,
    connection_create_demo,
    connection_delete,
    connection_update,
)
from exchanges.services.futures import (
    connection_disable_futures,
    connection_enable_futures,
    connection_test_futures,
)
from klineo.exceptions import ApplicationError

TAG = ["connections"]
KEY_FIELDS = ("environment", "key_type", "api_key", "secret")


def _out(connection) -> dict:
    return ConnectionSerializer(connection).data


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


class ConnectionListView(APIView):
    # Reading connections shows nothing secret and every script needs their ids.
    required_scopes = {"GET": [], "POST": [Scope.MANAGE_CONNECTIONS]}
    pagination_class = None

    @extend_schema(tags=TAG, responses={200: ConnectionSerializer(many=True)})
    def get(self, request):
        return Response([_out(c) for c in connection_list(user=request.user)])

    @extend_schema(
        tags=TAG,
        request=ConnectionCreateSerializer,
        responses={201: ConnectionSerializer},
        description="Store a new connection (keys encrypted). Needs a recent re-authentication. "
        "Bad keys answer 400 naming the field with a plain-words reason.",
    )
    def post(self, request):
        require_recent_auth(request, action="connection.add")
        serializer = ConnectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        connection = connection_create(
            user=request.user,
            label=data["label"],
            environment=data["environment"],
            key_type=data["key_type"],
            api_key=data["api_key"],
            secret=data["secret"],
            request=request._request,
        )
        if data["run_test"]:
            connection = connection_test_spot(
                user=request.user, connection=connection, request=request._request
            )
        return Response(_out(connection), status=status.HTTP_201_CREATED)


class ConnectionDetailView(APIView):
    required_scopes = {
        "GET": [],
        "PATCH": [Scope.MANAGE_CONNECTIONS],
        "DELETE": [Scope.MANAGE_CONNECTIONS],
    }

    @extend_schema(tags=TAG, responses={200: ConnectionSerializer})
    def get(self, request, pk: int):
        return Response(_out(connection_get(user=request.user, pk=pk)))

    @extend_schema(
        tags=TAG,
        request=ConnectionUpdateSerializer,
        responses={200: ConnectionSerializer},
        description="Rename, or replace keys / environment (needs a recent re-authentication; "
        "clears the test results and turns futures off).",
    )
    def patch(self, request, pk: int):
        connection = connection_get(user=request.user, pk=pk)
        serializer = ConnectionUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if any(data.get(name) not in (None, "") for name in KEY_FIELDS):
            require_recent_auth(request, action="connection.replace_keys")
        connection = connection_update(
            user=request.user, connection=connection, request=request._request, **data
        )
        return Response(_out(connection))

    @extend_schema(
        tags=TAG,
        responses={204: None},
        description="Erase the keys and hide the connection; its orders stay as history.",
    )
    def delete(self, request, pk: int):
        connection = connection_get(user=request.user, pk=pk)
        connection_delete(user=request.user, connection=connection, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class KeysTestView(APIView):
    required_scopes = {"POST": [Scope.MANAGE_CONNECTIONS]}

    @extend_schema(
        tags=TAG,
        operation_id="connections_keys_test",
        request=KeysTestSerializer,
        responses={200: TestReportSerializer},
        description="Test keys before saving them (nothing is stored). The report lists every "
        "check with pass / warning / fail / skipped and what to do.",
    )
    def post(self, request):
        serializer = KeysTestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = keys_test_spot(
            user=request.user, request=request._request, **serializer.validated_data
        )
        return Response(report)


class ConnectionTestView(APIView):
    required_scopes = {"POST": [Scope.MANAGE_CONNECTIONS]}

    @extend_schema(
        tags=TAG,
        operation_id="connections_test",
        request=None,
        responses={200: ConnectionSerializer},
        description="Run the spot connection test and store the report (last_test_report).",
    )
    def post(self, request, pk: int):
        connection = connection_get(user=request.user, pk=pk)
        connection = connection_test_spot(
            user=request.user, connection=connection, request=request._request
        )
        return Response(_out(connection))


class ConnectionBalanceView(APIView):
    required_scopes = {"GET": [Scope.VIEW_BALANCES]}

    @extend_schema(
        tags=TAG,
        parameters=[BalanceQuerySerializer],
        responses={200: BalanceSnapshotSerializer},
        description="Spot balances with their USDT value; cached ~10 s unless refresh=true.",
    )
    def get(self, request, pk: int):
        connection = connection_get(user=request.user, pk=pk)
        query = BalanceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        hide_dust = query.validated_data["hide_dust"]
        snapshot = connection_balances(
            connection=connection, refresh=query.validated_data["refresh"]
        )
        rows = snapshot.visible(hide_dust=hide_dust)
        return Response(
            {
                "connection_id": connection.pk,
                "fetched_at": snapshot.fetched_at,
                "cached": snapshot.cached,
                "total_usdt": _s(snapshot.total_usdt),
                "dust_threshold_usdt": _s(DUST_THRESHOLD_USDT),
                "hidden_dust_count": snapshot.dust_count() if hide_dust else 0,
                "unpriced_assets": list(snapshot.unpriced_assets),
                "balances": [
                    {
                        "asset": b.asset,
                        "free": _s(b.free),
                        "locked": _s(b.locked),
                        "total": _s(b.total),
                        "price_usdt": _s(b.price_usdt),
                        "value_usdt": _s(b.value_usdt),
                        "is_dust": b.is_dust(),
                    }
                    for b in rows
                ],
            }
        )


class FuturesTestView(APIView):
    required_scopes = {"POST": [Scope.MANAGE_CONNECTIONS]}

    @extend_schema(
        tags=TAG,
        request=None,
        responses={200: ConnectionSerializer},
        description="Test USD-M futures (account, position mode, multi-assets mode, wallet, a "
        "test order) and store the report (futures_test_report).",
    )
    def post(self, request, pk: int):
        connection = connection_get(user=request.user, pk=pk)
        connection = connection_test_futures(
            user=request.user, connection=connection, request=request._request
        )
        return Response(_out(connection))


class FuturesEnableView(APIView):
    required_scopes = {"POST": [Scope.MANAGE_CONNECTIONS]}

    @extend_schema(
        tags=TAG,
        request=None,
        responses={200: ConnectionSerializer},
        description="Enable futures: needs a passing futures test from the last 24 h (else 409 "
        "futures_test_required) and a recent re-authentication.",
    )
    def post(self, request, pk: int):
        connection = connection_get(user=request.user, pk=pk)
        require_recent_auth(request, action="futures.enable")
        connection = connection_enable_futures(
            user=request.user, connection=connection, request=request._request
        )
        return Response(_out(connection))


class FuturesDisableView(APIView):
    required_scopes = {"POST": [Scope.MANAGE_CONNECTIONS]}

    @extend_schema(tags=TAG, request=None, responses={200: ConnectionSerializer})
    def post(self, request, pk: int):
        connection = connection_get(user=request.user, pk=pk)
        connection = connection_disable_futures(
            user=request.user, connection=connection, request=request._request
        )
        return Response(_out(connection))


class DemoKeysView(APIView):
    # Demo keys hold fake money on this server's own sandbox, so no re-authentication.
    required_scopes = {"POST": [Scope.MANAGE_CONNECTIONS]}

    @extend_schema(
        tags=TAG,
        request=DemoKeysSerializer,
        responses={201: ConnectionSerializer},
        description="Sandbox only: ask the local sandbox exchange for a funded key pair, store "
        "it as a new connection and test it. The secret is never shown.",
    )
    def post(self, request):
        serializer = DemoKeysSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = connection_create_demo(
            user=request.user,
            label=serializer.validated_data.get("label"),
            key_type=serializer.validated_data["key_type"],
            request=request._request,
        )
        connection = connection_test_spot(
            user=request.user, connection=connection, request=request._request
        )
        return Response(_out(connection), status=status.HTTP_201_CREATED)


class MarketSnapshotView(APIView):
    required_scopes = {"GET": []}

    @extend_schema(
        tags=["market"],
        parameters=[
            OpenApiParameter("symbols", str, required=True, description="e.g. BTCUSDT,ETHUSDT"),
            OpenApiParameter(
                "connection", int, required=False, description="default: newest connection"
            ),
        ],
        responses={200: MarketSnapshotSerializer},
        description="Last price, 24 h change and best bid/ask in the connection's environment.",
    )
    def get(self, request):
        query = MarketQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        symbols = parse_symbols(query.validated_data["symbols"])
        if "connection" in query.validated_data:
            connection = connection_get(user=request.user, pk=query.validated_data["connection"])
        else:
            connection = connection_default(user=request.user)
            if connection is None:
                message = "Add a connection first: prices come from its environment."
                raise ApplicationError(message, code="invalid", fields={"connection": [message]})
        tickers = market_snapshot(environment=connection.environment, symbols=symbols)
        return Response(
            {
                "environment": connection.environment,
                "connection_id": connection.pk,
                "tickers": [
                    {
                        "symbol": t.symbol,
                        "last": _s(t.last),
                        "change": _s(t.change),
                        "change_percent": _s(t.change_percent),
                        "bid": _s(t.bid),
                        "ask": _s(t.ask),
                    }
                    for t in tickers
                ],
            }
        )
