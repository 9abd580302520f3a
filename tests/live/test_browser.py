"""Two tabs in a real browser: an order placed in one fills live in the other."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.models import Order
from tests.factories import PASSWORD
from tests.live.conftest import make_trader, stream_status, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_order_placed_in_one_tab_fills_live_in_the_other(page, live_app, sandbox, run_streams):
    user, connection, _ = make_trader(sandbox)
    run_streams()
    wait_for(lambda: stream_status(connection) == "up", 15)
    page.goto("/accounts/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_app.url}/")

    # Tab 2: the dashboard, live.
    dashboard = page.context.new_page()
    dashboard.goto("/")
    dashboard.wait_for_selector("#live-indicator[data-state=up]")
    dashboard.wait_for_selector("[data-testid=live-chart][data-ready=true]")
    # The ticker shows a price (a number, not the placeholder dash).
    dashboard.wait_for_function(
        "/[0-9]/.test(document.querySelector('[data-testid=live-price]').textContent)"
    )

    # Tab 1: place a resting limit buy.
    price = Decimal(sandbox.get("/api/v3/ticker/price", symbol="BTCUSDT").json()["price"])
    limit = (price * Decimal("0.8")).quantize(Decimal("0.01"))
    page.goto(f"/connections/{connection.pk}/trade/")
    ticket = page.locator("[data-testid=order-ticket]")
    ticket.locator("[data-testid=type]").select_option("LIMIT")
    ticket.locator("[data-testid=price]").fill(str(limit))
    ticket.locator("[data-testid=amount]").fill("0.001")
    ticket.locator("[data-testid=place-order]").click()
    page.wait_for_selector("[data-testid=ticket-result]:has-text('open')")
    dashboard.wait_for_selector("[data-testid=live-activity] li[data-status=NEW]")

    sandbox.set_price("BTCUSDT", limit * Decimal("0.9"))
    dashboard.wait_for_selector("[data-testid=live-activity] li[data-status=FILLED]")
    dashboard.wait_for_selector("[data-testid=live-activity] li[data-type='balance.update']")
    assert Order.objects.get(owner=user).status == "FILLED"
