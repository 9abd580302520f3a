from django.urls import path

from exchanges import views

app_name = "exchanges"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("connections/", views.connection_list_page, name="connections"),
    path("connections/new/", views.connection_new, name="connection_new"),
    path("connections/demo/", views.connection_demo, name="connection_demo"),
    path("connections/<int:pk>/", views.connection_detail, name="connection_detail"),
    path("connections/<int:pk>/test/", views.connection_test, name="connection_test"),
    path("connections/<int:pk>/edit/", views.connection_edit, name="connection_edit"),
    path("connections/<int:pk>/delete/", views.connection_delete_page, name="connection_delete"),
    path("connections/<int:pk>/futures/test/", views.futures_test, name="futures_test"),
    path("connections/<int:pk>/futures/enable/", views.futures_enable, name="futures_enable"),
    path("connections/<int:pk>/futures/disable/", views.futures_disable, name="futures_disable"),
]

# --- orders (issue 6) -----------------------------------------------------------------------------
from exchanges import order_views  # noqa: E402

urlpatterns += [
    path("orders/", order_views.orders_home, name="orders"),
    path("connections/<int:pk>/trade/", order_views.trade_page, name="order_trade"),
    path("connections/<int:pk>/futures/trade/", order_views.futures_page, name="order_futures"),
    path("connections/<int:pk>/orders/", order_views.order_history, name="order_history"),
    path(
        "connections/<int:pk>/orders/<int:order_id>/",
        order_views.order_detail_page,
        name="order_detail",
    ),
]
