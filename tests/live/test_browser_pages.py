"""The order, balance and position pages follow the live events in a real browser: no reload,
and no poll (the fallback refresh runs only while the live connection is not up, every 15 s;
each assertion here waits at most 5 s)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from exchanges.models import Order
from exchanges.services.orders import order_place
from tests.live.conftest import make_trader, session_cookie, stream_status, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE = 5_000  # ms: well under the 15 s fallback refresh


def sign_in(page, live_app, user) -> None:
    name, value = session_cookie(user).split("=", 1)
    page.context.add_cookies([{"name": name, "value": value, "url": live_app.url}])


def open_live(page, path: str) -> None:
    """Open a page, wait for the live connection, and mark the document: a reload loses it."""
    page.goto(path)
    page.wait_for_selector("#live-indicator[data-state=up]")
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def api_requests(page, pattern: str) -> list[str]:
    """Record the page's GET requests whose URL matches pattern (from now on)."""
    seen: list[str] = []
    page.on(
        "request",
        lambda r: seen.append(r.url) if r.method == "GET" and re.search(pattern, r.url) else None,
    )
    return seen


def test_open_orders_and_history_follow_an_order_from_open_to_filled(
    page, live_app, sandbox, run_streams
):
    user, connection, _ = make_trader(sandbox)
    run_streams()
    wait_for(lambda: stream_status(connection) == "up", 15)
    sign_in(page, live_app, user)
    history = page.context.new_page()
    open_live(history, f"/connections/{connection.pk}/orders/")
    open_live(page, f"/connections/{connection.pk}/trade/")
    page.wait_for_selector("[data-testid=open-orders] >> text=No open orders.")
    polls = api_requests(page, rf"/api/connections/{connection.pk}/orders\?")

    # A resting limit buy placed through the REST API (not through the ticket, which would
    # refresh the tables itself).
    price = Decimal(sandbox.get("/api/v3/ticker/price", symbol="BTCUSDT").json()["price"])
    limit = (price * Decimal("0.8")).quantize(Decimal("0.01"))
    placed = page.evaluate(
        """async ([url, body]) => {
            const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
            const r = await fetch(url, {method: "POST", credentials: "same-origin",
              headers: {"Content-Type": "application/json", "X-CSRFToken": csrf}, body});
            return [r.status, await r.json()];
        }""",
        [
            f"/api/connections/{connection.pk}/orders",
            f'{{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"0.001",'
            f'"price":"{limit}","time_in_force":"GTC"}}',
        ],
    )
    assert placed[0] == 201, placed
    order_id = placed[1]["id"]
    row = f"[data-testid=open-orders] tr[data-order='{order_id}']"
    page.wait_for_selector(f"{row}[data-status=NEW]", timeout=LIVE)
    history.wait_for_selector(f"tr[data-order='{order_id}'] [data-status=NEW]", timeout=LIVE)

    sandbox.set_price("BTCUSDT", limit * Decimal("0.9"))
    # The row leaves the open orders and shows FILLED in the recent orders and the history.
    page.wait_for_selector(row, state="detached", timeout=LIVE)
    page.wait_for_selector(
        f"[data-testid=recent-orders] tr[data-order='{order_id}'][data-status=FILLED]",
        timeout=LIVE,
    )
    page.wait_for_selector("[data-testid=open-orders] >> text=No open orders.")
    filled_row = history.locator(f"tr[data-order='{order_id}']")
    filled_row.locator("[data-status=FILLED]").wait_for(timeout=LIVE)
    assert filled_row.locator("[data-role=executed]").inner_text() == "0.001"
    assert filled_row.locator("[data-role=average]").inner_text() != "—"
    assert not_reloaded(page) and not_reloaded(history)
    assert polls == [], "the tables were refreshed over REST instead of from the live events"
    assert Order.objects.get(pk=order_id).status == "FILLED"

    # The order's own page shows it; an older snapshot pushed late never overrides it.
    history.goto(f"/connections/{connection.pk}/orders/{order_id}/")
    history.wait_for_selector("#live-indicator[data-state=up]")
    assert history.locator("[data-testid=order-status] [data-status=FILLED]").count() == 1
    history.evaluate(
        """id => document.dispatchEvent(new CustomEvent("klineo:order.update", {detail: {
            type: "order.update", data: {id, status: "NEW", executed_quantity: "0",
            cumulative_quote: "0", average_price: null, version: 0}}}))""",
        order_id,
    )
    assert history.locator("[data-testid=order-status] [data-status=FILLED]").count() == 1
    assert history.locator("[data-testid=order-filled]").inner_text() == "0.001"


def test_balances_change_after_a_fill_without_reload(page, live_app, sandbox, run_streams):
    user, connection, _ = make_trader(sandbox)
    run_streams()
    wait_for(lambda: stream_status(connection) == "up", 15)
    sign_in(page, live_app, user)
    open_live(page, f"/connections/{connection.pk}/")
    btc_total = page.locator("[data-testid=balance-table] tr[data-asset=BTC] [data-role=total]")
    assert btc_total.inner_text() == "2"
    page.wait_for_selector("[data-testid=stream-state] [data-stream=spot][data-status=up]")
    usdt_before = page.locator("tr[data-asset=USDT] [data-role=free]").inner_text()
    value_before = page.locator("tr[data-asset=BTC] [data-role=value]").inner_text()

    result = order_place(
        user=user,
        connection=connection,
        market="spot",
        symbol="BTCUSDT",
        side="BUY",
        order_type="MARKET",
        quantity="0.01",
    )
    assert result.order.status == "FILLED"

    # 0.01 BTC bought, 0.1 % commission paid in BTC.
    expect(btc_total).to_have_text("2.00999", timeout=LIVE)
    assert page.locator("tr[data-asset=USDT] [data-role=free]").inner_text() != usdt_before
    assert page.locator("tr[data-asset=BTC] [data-role=value]").inner_text() != value_before
    assert page.locator("[data-testid=balances-note]").inner_text().startswith("Updated live")
    assert not_reloaded(page)


def test_a_futures_position_appears_live(page, live_app, sandbox, run_streams):
    user, connection, _ = make_trader(sandbox, futures=True)
    run_streams()
    wait_for(lambda: stream_status(connection, "usdm") == "up", 15)
    sign_in(page, live_app, user)
    open_live(page, f"/connections/{connection.pk}/futures/trade/")
    page.wait_for_selector("[data-testid=positions] >> text=No open positions.")

    result = order_place(
        user=user,
        connection=connection,
        market="usdm",
        symbol="BTCUSDT",
        side="BUY",
        order_type="MARKET",
        quantity="0.01",
    )
    assert result.order.status == "FILLED", result.order.reject_reason

    position = page.locator("[data-testid=positions] tr[data-position=BTCUSDT]")
    position.wait_for(timeout=LIVE)
    assert position.locator("[data-role=size]").inner_text() == "0.01"
    assert position.locator("[data-role=entry]").inner_text() not in ("", "0")
    # The mark price follows from the positions API right after the event.
    expect(position.locator("[data-role=mark]")).to_have_text(re.compile(r"\d"), timeout=LIVE)
    assert not_reloaded(page)
