"""Spot orders through the API against the sandbox: every type, fills, cancels, history."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from exchanges.models import Fill, Order
from exchanges.services.orders import order_reconcile
from tests.factories import UserFactory
from tests.orders.conftest import orders_url

pytestmark = pytest.mark.django_db


def place(api, connection, **body):
    return api.post(orders_url(connection), body, format="json")


def test_market_order_by_quantity_is_filled_with_fills(api, connection, market):
    r = place(api, connection, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "FILLED"
    assert body["executed_quantity"] == "0.01"
    assert Decimal(body["cumulative_quote"]) > Decimal("600")
    assert Decimal(body["average_price"]) > Decimal("60000")
    order = Order.objects.get(pk=body["id"])
    fills = list(order.fills.all())
    assert fills and sum(f.quantity for f in fills) == Decimal("0.01")
    assert all(f.commission_asset for f in fills)
    assert market.orders(order.client_order_id)[0]["status"] == "FILLED"
    assert AuditEvent.objects.filter(action="order.place", details__order_id=order.pk).exists()


def test_market_order_by_quote_amount(api, connection, market):
    r = place(api, connection, symbol="BTCUSDT", side="BUY", type="MARKET", quote_quantity="100")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "FILLED"
    assert Decimal(body["cumulative_quote"]) <= Decimal("100")
    assert Decimal(body["executed_quantity"]) > 0


def test_limit_order_rests_then_fills_after_price_move(api, connection, market):
    r = place(
        api, connection, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01",
        price="60000", time_in_force="GTC",
    )  # fmt: skip
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "NEW" and body["executed_quantity"] == "0"
    listed = api.get(orders_url(connection), {"status": "open"}).json()
    assert [o["id"] for o in listed["results"]] == [body["id"]]

    market.set_price("BTCUSDT", "59000")
    detail = api.get(orders_url(connection, f"/{body['id']}")).json()
    assert detail["status"] == "FILLED"
    assert detail["executed_quantity"] == "0.01"
    assert detail["average_price"] == "60000"
    assert len(detail["fills"]) >= 1
    assert api.get(orders_url(connection), {"status": "open"}).json()["results"] == []


def test_partial_fill_of_a_resting_order(api, connection, market):
    # A huge limit sell above the market; the move up only takes part of it.
    r = place(
        api, connection, symbol="ETHUSDT", side="SELL", type="LIMIT", quantity="9",
        price="3300", time_in_force="GTC",
    )  # fmt: skip
    assert r.status_code == 201, r.json()
    market.set_price("ETHUSDT", "3301")
    detail = api.get(orders_url(connection, f"/{r.json()['id']}")).json()
    assert detail["status"] in ("PARTIALLY_FILLED", "FILLED"), detail
    assert Decimal(detail["executed_quantity"]) > 0


def test_ioc_and_fok(api, connection, market):
    r = place(
        api, connection, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001",
        price="60000", time_in_force="IOC",
    )  # fmt: skip
    assert r.status_code == 201, r.json()
    assert r.json()["status"] == "EXPIRED"
    r = place(
        api, connection, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001",
        price="70000", time_in_force="FOK",
    )  # fmt: skip
    assert r.json()["status"] == "FILLED"


def test_limit_maker_and_stop_limit_and_take_profit_limit(api, connection, market):
    r = place(
        api, connection, symbol="BTCUSDT", side="BUY", type="LIMIT_MAKER", quantity="0.001",
        price="64000",
    )  # fmt: skip
    assert r.status_code == 201, r.json()
    assert r.json()["status"] == "NEW"
    # Would take: the exchange refuses it, the row stays REJECTED with Binance's reason.
    r = place(
        api, connection, symbol="BTCUSDT", side="BUY", type="LIMIT_MAKER", quantity="0.001",
        price="66000",
    )  # fmt: skip
    assert r.status_code == 400
    err = r.json()["error"]
    assert "immediately match" in err["message"]
    assert Order.objects.get(pk=err["order"]["id"]).status == "REJECTED"

    r = place(
        api, connection, symbol="BTCUSDT", side="SELL", type="STOP_LOSS_LIMIT", quantity="0.001",
        price="59900", stop_price="60000", time_in_force="GTC",
    )  # fmt: skip
    assert r.status_code == 201, r.json()
    stop = r.json()
    assert stop["status"] == "NEW" and stop["stop_price"] == "60000"
    r = place(
        api, connection, symbol="BTCUSDT", side="SELL", type="TAKE_PROFIT_LIMIT",
        quantity="0.001", price="70000", stop_price="70000", time_in_force="GTC",
    )  # fmt: skip
    assert r.status_code == 201, r.json()
    # The stop triggers when the market falls through it, and its limit fills.
    market.set_price("BTCUSDT", "59950")
    detail = api.get(orders_url(connection, f"/{stop['id']}")).json()
    assert detail["status"] == "FILLED", detail


def test_oco_legs_are_linked(api, connection, market):
    r = api.post(
        orders_url(connection, "/oco"),
        {"symbol": "BTCUSDT", "side": "SELL", "quantity": "0.01", "price": "70000",
         "stop_price": "60000", "stop_limit_price": "59900"},
        format="json",
    )  # fmt: skip
    assert r.status_code == 201, r.json()
    legs = r.json()
    assert len(legs) == 2
    assert {leg["type"] for leg in legs} == {"LIMIT_MAKER", "STOP_LOSS_LIMIT"}
    assert legs[0]["order_list_id"] is not None
    assert legs[0]["order_list_id"] == legs[1]["order_list_id"]
    assert all(leg["status"] == "NEW" for leg in legs)
    # The limit leg fills, the stop leg is cancelled by the exchange.
    market.set_price("BTCUSDT", "70001")
    by_type = {leg["type"]: api.get(orders_url(connection, f"/{leg['id']}")).json() for leg in legs}
    assert by_type["LIMIT_MAKER"]["status"] == "FILLED"
    assert by_type["STOP_LOSS_LIMIT"]["status"] in ("CANCELED", "EXPIRED")


def test_cancel_one_and_cancel_all(api, connection, market):
    ids = []
    for price in ("60000", "60001", "60002"):
        r = place(
            api, connection, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001",
            price=price,
        )  # fmt: skip
        ids.append(r.json()["id"])
    r = api.delete(orders_url(connection, f"/{ids[0]}"))
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "CANCELED"
    again = api.delete(orders_url(connection, f"/{ids[0]}"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_open"

    r = api.delete(orders_url(connection) + "?symbol=BTCUSDT")
    assert r.status_code == 200, r.json()
    assert sorted(o["id"] for o in r.json()["canceled"]) == sorted(ids[1:])
    assert r.json()["failed"] == []
    assert set(Order.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"CANCELED"}
    for order in Order.objects.filter(pk__in=ids):
        assert market.orders(order.client_order_id)[0]["status"] == "CANCELED"
    assert AuditEvent.objects.filter(action="order.cancel").count() == 1
    assert AuditEvent.objects.filter(action="order.cancel_all").count() == 1


def test_history_filters_and_pagination(api, connection, market):
    for _ in range(3):
        place(api, connection, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    place(api, connection, symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01")
    page = api.get(orders_url(connection), {"limit": 2}).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    eth = api.get(orders_url(connection), {"symbol": "ethusdt"}).json()
    assert [o["symbol"] for o in eth["results"]] == ["ETHUSDT"]
    filled = api.get(orders_url(connection), {"status": "FILLED", "market": "spot"}).json()
    assert filled["count"] == 4
    assert api.get(orders_url(connection), {"status": "nonsense"}).status_code == 400
    assert api.get(orders_url(connection), {"market": "usdm"}).json()["count"] == 0


def test_fills_are_recorded_once_across_refreshes(api, connection, market):
    r = place(api, connection, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.05")
    order = Order.objects.get(pk=r.json()["id"])
    count = order.fills.count()
    assert count >= 1
    assert order_reconcile(order_id=order.pk).done
    api.get(orders_url(connection, f"/{order.pk}"))
    assert Fill.objects.filter(order=order).count() == count


def test_other_users_objects_are_404(api, connection, market, sandbox):
    r = place(api, connection, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001",
              price="60000")  # fmt: skip
    order_id = r.json()["id"]
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_authenticate(user=UserFactory())
    assert other.get(orders_url(connection)).status_code == 404
    assert other.get(orders_url(connection, f"/{order_id}")).status_code == 404
    assert other.delete(orders_url(connection, f"/{order_id}")).status_code == 404
    r = other.post(
        orders_url(connection),
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
        format="json",
    )
    assert r.status_code == 404
    assert other.delete(orders_url(connection) + "?symbol=BTCUSDT").status_code == 404
    assert other.get(f"/api/connections/{connection.pk}/symbols/BTCUSDT/rules").status_code == 404
    assert other.post(orders_url(connection, "/test"), {}, format="json").status_code == 404
    assert Order.objects.get(pk=order_id).status == "NEW"


def test_order_pages_render_and_hide_other_users_objects(client, user, connection, market):
    from exchanges.services.orders import order_place

    order = order_place(user=user, connection=connection, market="spot", symbol="BTCUSDT",
                        side="BUY", order_type="MARKET", quantity="0.001").order  # fmt: skip
    client.force_login(user)
    for url in (
        "/orders/",
        f"/connections/{connection.pk}/trade/",
        f"/connections/{connection.pk}/futures/trade/",
        f"/connections/{connection.pk}/orders/?symbol=%00&status=x",
        f"/connections/{connection.pk}/orders/{order.pk}/",
    ):
        assert client.get(url).status_code == 200, url
    client.force_login(UserFactory())
    for url in (
        f"/connections/{connection.pk}/trade/",
        f"/connections/{connection.pk}/futures/trade/",
        f"/connections/{connection.pk}/orders/",
        f"/connections/{connection.pk}/orders/{order.pk}/",
    ):
        assert client.get(url).status_code == 404, url
