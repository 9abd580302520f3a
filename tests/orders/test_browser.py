"""The order pages in a real browser: place a limit order, see it open, cancel it; place a
market order and see it filled."""

from __future__ import annotations

import pytest

from exchanges.models import Order
from tests.factories import PASSWORD, UserFactory
from tests.orders.conftest import make_connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_limit_order_open_then_cancelled_and_market_order_filled(page, live_app, market):
    user = UserFactory()
    connection, _keys = make_connection(market, user)
    page.goto("/accounts/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_app.url}/")
    page.click("[data-testid=nav-orders]")
    page.click(f"[data-testid=trade-{connection.pk}]")

    ticket = page.locator("[data-testid=order-ticket]")
    ticket.locator("[data-testid=type]").select_option("LIMIT")
    ticket.locator("[data-testid=price]").fill("60000")
    ticket.locator("[data-testid=amount]").fill("0.001")
    ticket.locator("[data-testid=check-order]").click()
    page.wait_for_selector("[data-testid=ticket-result]:has-text('would accept')")
    ticket.locator("[data-testid=place-order]").click()
    page.wait_for_selector("[data-testid=ticket-result]:has-text('open')")
    open_rows = page.locator("[data-testid=open-orders] tr[data-status=NEW]")
    open_rows.first.wait_for()
    assert open_rows.count() == 1
    limit = Order.objects.get(owner=user)
    assert limit.status == "NEW"

    open_rows.first.locator("[data-cancel]").click()
    page.wait_for_selector("[data-testid=open-orders] >> text=No open orders.")
    limit.refresh_from_db()
    assert limit.status == "CANCELED"
    assert market.orders(limit.client_order_id)[0]["status"] == "CANCELED"

    # A filter problem is shown inline, next to the field.
    ticket.locator("[data-testid=amount]").fill("0.0000123")
    ticket.locator("[data-testid=place-order]").click()
    page.wait_for_selector("[data-testid=ticket-errors]:has-text('multiple of 0.00001')")

    ticket.locator("[data-testid=type]").select_option("MARKET")
    ticket.locator("[data-testid=amount]").fill("0.002")
    ticket.locator("[data-testid=place-order]").click()
    page.wait_for_selector("[data-testid=ticket-result]:has-text('filled')")
    page.wait_for_selector("[data-testid=recent-orders] [data-status=FILLED]")
    filled = Order.objects.get(owner=user, type="MARKET")
    assert filled.status == "FILLED" and filled.fills.exists()

    page.goto(f"/connections/{connection.pk}/orders/{filled.pk}/")
    assert page.locator("[data-testid=fills] tbody tr").count() == filled.fills.count()
    page.goto(f"/connections/{connection.pk}/orders/?status=CANCELED")
    assert page.locator("[data-testid=order-rows] tbody tr").count() == 1
