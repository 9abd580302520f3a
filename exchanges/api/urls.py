from django.urls import path

from exchanges.api import connections

# --- connections (issue 5) ------------------------------------------------------------------------
urlpatterns: list = [
    path("connections/", connections.ConnectionListView.as_view(), name="api-connections"),
    path("connections/test", connections.KeysTestView.as_view(), name="api-connection-keys-test"),
    path(
        "connections/demo-keys",
        connections.DemoKeysView.as_view(),
        name="api-connection-demo-keys",
    ),
    path(
        "connections/<int:pk>/",
        connections.ConnectionDetailView.as_view(),
        name="api-connection-detail",
    ),
    path(
        "connections/<int:pk>/test",
        connections.ConnectionTestView.as_view(),
        name="api-connection-test",
    ),
    path(
        "connections/<int:pk>/balance",
        connections.ConnectionBalanceView.as_view(),
        name="api-connection-balance",
    ),
    path(
        "connections/<int:pk>/futures/test",
        connections.FuturesTestView.as_view(),
        name="api-connection-futures-test",
    ),
    path(
        "connections/<int:pk>/futures/enable",
        connections.FuturesEnableView.as_view(),
        name="api-connection-futures-enable",
    ),
    path(
        "connections/<int:pk>/futures/disable",
        connections.FuturesDisableView.as_view(),
        name="api-connection-futures-disable",
    ),
    path("market/snapshot", connections.MarketSnapshotView.as_view(), name="api-market-snapshot"),
]

# --- orders (issue 6) -----------------------------------------------------------------------------
from django.urls import path as _path  # noqa: E402

from exchanges.api import orders as _orders  # noqa: E402

urlpatterns += [
    _path(
        "connections/<int:connection_id>/orders", _orders.OrdersView.as_view(), name="api-orders"
    ),
    _path(
        "connections/<int:connection_id>/orders/test",
        _orders.OrderTestView.as_view(),
        name="api-order-test",
    ),
    _path("connections/<int:connection_id>/orders/oco", _orders.OcoView.as_view(), name="api-oco"),
    _path(
        "connections/<int:connection_id>/orders/<int:order_id>",
        _orders.OrderDetailView.as_view(),
        name="api-order-detail",
    ),
    _path(
        "connections/<int:connection_id>/futures/orders",
        _orders.FuturesOrdersView.as_view(),
        name="api-futures-orders",
    ),
    _path(
        "connections/<int:connection_id>/futures/orders/test",
        _orders.FuturesOrderTestView.as_view(),
        name="api-futures-order-test",
    ),
    _path(
        "connections/<int:connection_id>/futures/positions",
        _orders.PositionsView.as_view(),
        name="api-futures-positions",
    ),
    _path(
        "connections/<int:connection_id>/futures/positions/close",
        _orders.PositionCloseView.as_view(),
        name="api-futures-position-close",
    ),
    _path(
        "connections/<int:connection_id>/futures/leverage",
        _orders.LeverageView.as_view(),
        name="api-futures-leverage",
    ),
    _path(
        "connections/<int:connection_id>/futures/margin-type",
        _orders.MarginTypeView.as_view(),
        name="api-futures-margin-type",
    ),
    _path(
        "connections/<int:connection_id>/symbols/<str:symbol>/rules",
        _orders.SymbolRulesView.as_view(),
        name="api-symbol-rules",
    ),
    _path("kill-switch", _orders.KillSwitchView.as_view(), name="api-kill-switch"),
]

# --- live (issue 7) -------------------------------------------------------------------------------
from exchanges.api import streams as _streams  # noqa: E402

urlpatterns += [
    _path("streams/status", _streams.StreamStatusView.as_view(), name="api-streams-status"),
    _path("market/klines", _streams.KlinesView.as_view(), name="api-market-klines"),
]
