"""Filter pre-checks with fix-it messages, the exchange's own rejections when pre-checks are
bypassed, sellable amounts / dust, check orders, and the kill switch."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import AuditEvent
from exchanges.binance.models import ExchangeInfo
from exchanges.models import Order
from exchanges.services.filters import check_order, sellable_amount
from exchanges.services.orders import connection_client, order_place
from klineo.exceptions import ApplicationError
from tests.orders.conftest import futures_url, make_connection, orders_url

pytestmark = pytest.mark.django_db


def place(api, connection, **body):
    return api.post(orders_url(connection), body, format="json")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"type": "LIMIT", "quantity": "0.012345", "price": "65000"},
            "quantity",
            "quantity must be a multiple of 0.00001; nearest valid: 0.01234.",
        ),
        (
            {"type": "LIMIT", "quantity": "0.01", "price": "65000.005"},
            "price",
            "price must be a multiple of 0.01; nearest valid: 65000.01.",
        ),
        (
            {"type": "LIMIT", "quantity": "0.00005", "price": "64000"},
            "quantity",
            "order value 3.2 USDT is below the minimum 5 USDT; increase the quantity to at "
            "least 0.00008.",
        ),
        (
            {"type": "LIMIT", "quantity": "0.001", "price": "10000"},
            "price",
            # The bounds follow the sandbox's 5-minute average price, which earlier tests move.
            "a buy price must be between ",
        ),
        (
            {"type": "MARKET", "quantity": "100"},
            "quantity",
            "a market order's quantity must be at most 91.5 BTC.",
        ),
        (
            {"type": "MARKET", "quote_quantity": "2"},
            "quote_quantity",
            "order value 2 USDT is below the minimum 5 USDT.",
        ),
        (
            {"type": "LIMIT", "quantity": "1", "price": "65000"},
            "quantity",
            "This order needs about 65000 USDT but only 10000 USDT is free.",
        ),
    ],
)
def test_filter_failures_are_caught_before_sending(api, connection, market, body, field, message):
    r = place(api, connection, symbol="BTCUSDT", side="BUY", **body)
    assert r.status_code == 400, r.json()
    err = r.json()["error"]
    assert err["code"] in ("filter_failure", "insufficient_balance")
    assert message in err["message"]
    assert field in err["fields"]
    assert Order.objects.count() == 0


def test_max_num_orders_and_status_with_the_exchange_rules(connection, market):
    info = ExchangeInfo.from_json(
        connection_client(connection).spot.request("GET", "/api/v3/exchangeInfo")
    ).symbols["BTCUSDT"]
    problems = check_order(
        info, market="spot", side="BUY", order_type="LIMIT", quantity=Decimal("0.001"),
        price=Decimal("65000"), reference_price=Decimal("65000"), open_orders=200,
    )  # fmt: skip
    assert [p.filter_type for p in problems] == ["MAX_NUM_ORDERS"]
    assert "already has 200 open orders" in problems[0].message


def test_exchange_rejection_is_mapped_when_prechecks_are_bypassed(user, connection, market):
    with pytest.raises(ApplicationError) as caught:
        order_place(
            user=user, connection=connection, market="spot", symbol="BTCUSDT", side="BUY",
            order_type="LIMIT", quantity="0.012345", price="65000", precheck=False,
        )  # fmt: skip
    err = caught.value
    assert err.code == "filter_failure"
    assert "LOT_SIZE" in err.message
    order = Order.objects.get()
    assert order.status == "REJECTED" and "LOT_SIZE" in order.reject_reason
    with pytest.raises(ApplicationError) as caught:
        order_place(
            user=user, connection=connection, market="spot", symbol="BTCUSDT", side="BUY",
            order_type="LIMIT", quantity="1", price="65000", precheck=False,
        )  # fmt: skip
    assert caught.value.code == "insufficient_balance"


def test_symbol_rules_with_sellable_and_dust(api, sandbox, user, market):
    conn, keys = make_connection(sandbox, user, balances={"BTC": "0.000123456", "USDT": "50"})
    rules = api.get(f"/api/connections/{conn.pk}/symbols/btcusdt/rules").json()
    assert rules["symbol"] == "BTCUSDT" and rules["base_asset"] == "BTC"
    assert {f["filter_type"] for f in rules["filters"]} >= {"PRICE_FILTER", "LOT_SIZE"}
    assert rules["sellable"] == {
        "free": "0.00012345", "amount": "0.00012", "step": "0.00001", "is_dust": False,
        "reason": "",
    }  # fmt: skip
    assert rules["available"] == {"asset": "USDT", "free": "50"}
    assert rules["bid"] and rules["ask"]
    sandbox.update_keys(keys["apiKey"], balances={"BTC": "0.00005"})
    rules = api.get(f"/api/connections/{conn.pk}/symbols/BTCUSDT/rules").json()
    assert rules["sellable"]["is_dust"] is True
    assert "dust" in rules["sellable"]["reason"]
    assert api.get(f"/api/connections/{conn.pk}/symbols/NOPE/rules").status_code == 400


def test_sellable_unit():
    info = ExchangeInfo.from_json(
        {"symbols": [{"symbol": "XUSDT", "status": "TRADING", "baseAsset": "X",
                      "quoteAsset": "USDT", "filters": [
                          {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "100",
                           "stepSize": "0.001"},
                          {"filterType": "NOTIONAL", "minNotional": "5",
                           "applyMinToMarket": True, "maxNotional": "0",
                           "applyMaxToMarket": False, "avgPriceMins": 5}]}]}
    ).symbols["XUSDT"]  # fmt: skip
    result = sellable_amount(info, free=Decimal("1.23456"), reference_price=Decimal("10"))
    assert result.amount == Decimal("1.234") and not result.is_dust
    dust = sellable_amount(info, free=Decimal("0.4999"), reference_price=Decimal("10"))
    assert dust.amount == Decimal("0.499") and dust.is_dust


def test_check_order_runs_the_exchange_test_with_commission(api, connection, market):
    r = api.post(orders_url(connection, "/test"),
                 {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                  "price": "65000"}, format="json")  # fmt: skip
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["ok"] is True
    assert body["commission"]["taker_rate"] == "0.001"
    assert body["commission"]["estimate"] == "0.65"
    assert Order.objects.count() == 0
    assert market.orders("nothing") == []
    bad = api.post(orders_url(connection, "/test"),
                   {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                    "price": "65000.001"}, format="json")  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "filter_failure"


def test_mainnet_needs_confirmation(api, sandbox, user, market):
    conn, _ = make_connection(sandbox, user, environment="mainnet")
    r = place(api, conn, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    # First mainnet order of a session needs re-authentication, then confirm=true.
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauth_required"
    with pytest.raises(ApplicationError) as caught:
        order_place(user=user, connection=conn, market="spot", symbol="BTCUSDT", side="BUY",
                    order_type="MARKET", quantity="0.001")  # fmt: skip
    assert caught.value.code == "confirmation_required"
    assert Order.objects.count() == 0


def test_kill_switch_cancels_everything_and_blocks_orders(api, sandbox, user, market):
    spot, _ = make_connection(sandbox, user)
    fut, _ = make_connection(sandbox, user, futures=True)
    ids = [
        place(api, spot, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001",
              price="60000").json()["id"],
        place(api, spot, symbol="ETHUSDT", side="BUY", type="LIMIT", quantity="0.01",
              price="3000").json()["id"],
        api.post(futures_url(fut, "orders"),
                 {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                  "price": "62000"}, format="json").json()["id"],
        api.post(futures_url(fut, "orders"),
                 {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET", "quantity": "0.01",
                  "stop_price": "68000"}, format="json").json()["id"],
    ]  # fmt: skip
    assert set(Order.objects.values_list("status", flat=True)) == {"NEW"}

    r = api.post("/api/kill-switch", {"enabled": True}, format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["enabled"] is True and body["canceled"] == 4 and body["failed"] == []
    for order in Order.objects.filter(pk__in=ids):
        assert order.status == "CANCELED", order
        assert market.orders(order.client_order_id)[0]["status"] == "CANCELED"
    user.refresh_from_db()
    assert user.kill_switch_enabled
    r = place(api, spot, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    assert r.status_code == 409 and r.json()["error"]["code"] == "kill_switch"
    r = api.post(futures_url(fut, "orders"), {"symbol": "BTCUSDT", "side": "BUY",
                 "type": "MARKET", "quantity": "0.01"}, format="json")  # fmt: skip
    assert r.json()["error"]["code"] == "kill_switch"
    assert api.get("/api/kill-switch").json() == {"enabled": True}
    assert AuditEvent.objects.filter(action="killswitch.change", details__enabled=True).exists()
    # Turning it off again needs a fresh re-authentication.
    r = api.post("/api/kill-switch", {"enabled": False}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "reauth_required"
