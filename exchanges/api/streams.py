"""Live data API: the state of the user's streams and the chart's candles."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from exchanges.selectors import connection_default, connection_get
from exchanges.services.live import KLINE_INTERVALS, market_klines
from exchanges.streams.status import live_processes, stream_rows
from exchanges.streams.watch import SYMBOL_RE
from klineo.exceptions import ApplicationError

_STREAM_ROW_FIELDS = {
    "connection_id": serializers.IntegerField(),
    "kind": serializers.CharField(),
    "should_run": serializers.BooleanField(),
    "status": serializers.CharField(),
    "reason": serializers.CharField(allow_blank=True),
    "last_event_at": serializers.DateTimeField(allow_null=True),
    "connected_at": serializers.DateTimeField(allow_null=True),
    "reconnect_count": serializers.IntegerField(),
    "listen_key": serializers.CharField(allow_null=True),
    "held": serializers.BooleanField(required=False),
}


class StreamStatusView(APIView):
    """GET /api/streams/status: the user's own streams (staff: every stream)."""

    required_scopes = {"GET": []}

    @extend_schema(
        tags=["live"],
        responses=inline_serializer(
            "StreamStatus",
            {
                "streams": inline_serializer("StreamRow", _STREAM_ROW_FIELDS, many=True),
                "processes": serializers.ListField(child=serializers.DictField(), required=False),
            },
        ),
        description=(
            "Every user-data stream (spot, USD-M) with its state (up / connecting / "
            "reconnecting / down / refused / stopped), the reason, last event time, reconnect "
            "count and whether a run_streams process holds it. Staff see all users' streams "
            "and the run_streams processes."
        ),
    )
    def get(self, request):
        staff = request.user.is_staff
        rows = stream_rows(user=None if staff else request.user)
        if not staff:
            # Process names and other users are server internals.
            for row in rows:
                del row["owner_id"]
                row["held"] = row.pop("holder") is not None
        body = {"streams": rows}
        if staff:
            body["processes"] = live_processes()
        return Response(body)


class KlinesView(APIView):
    """GET /api/market/klines?symbol=BTCUSDT&interval=1m&limit=300[&connection=<id>]."""

    required_scopes = {"GET": []}

    @extend_schema(
        tags=["market"],
        parameters=[
            OpenApiParameter("symbol", str, required=True),
            OpenApiParameter("interval", str, required=False, description="default 1m"),
            OpenApiParameter("limit", int, required=False, description="1-1000, default 300"),
            OpenApiParameter(
                "connection", int, required=False, description="environment of this connection"
            ),
        ],
        description="Spot candles (oldest first) for the chart; live updates come as kline "
        "messages on /ws/live/.",
        responses=inline_serializer(
            "Klines",
            {
                "symbol": serializers.CharField(),
                "interval": serializers.CharField(),
                "environment": serializers.CharField(),
                "klines": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request):
        params = request.query_params
        symbol = (params.get("symbol") or "").upper()
        interval = params.get("interval") or "1m"
        fields: dict[str, list[str]] = {}
        if not SYMBOL_RE.match(symbol):
            fields["symbol"] = ["Give a symbol such as BTCUSDT."]
        if interval not in KLINE_INTERVALS:
            fields["interval"] = [f"One of {', '.join(KLINE_INTERVALS)}."]
        try:
            limit = int(params.get("limit") or 300)
            if not 1 <= limit <= 1000:
                raise ValueError
        except ValueError:
            fields["limit"] = ["A whole number from 1 to 1000."]
        if fields:
            raise ApplicationError("Check the query.", code="invalid", fields=fields)
        if params.get("connection"):
            environment = connection_get(user=request.user, pk=params["connection"]).environment
        else:
            connection = connection_default(user=request.user)
            environment = connection.environment if connection else settings.MARKET_DATA_ENVIRONMENT
        candles = market_klines(
            environment=environment, symbol=symbol, interval=interval, limit=limit
        )
        return Response(
            {"symbol": symbol, "interval": interval, "environment": environment, "klines": candles}
        )
