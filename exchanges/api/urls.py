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
