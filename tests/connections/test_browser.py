"""In a real browser: connect demo keys, read the test report and the balances, test the keys
of the connect form in place (JavaScript), enable futures after re-authenticating."""

from __future__ import annotations

import pytest

from exchanges.models import ExchangeConnection
from tests.connections.conftest import remember
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_app, user) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_app.url}/")


def reauthenticate(page) -> None:
    page.wait_for_url("**/accounts/reauth/**")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")


def test_demo_keys_report_balances_and_futures(page, live_app, sandbox):
    user = UserFactory()
    log_in(page, live_app, user)

    page.click("[data-testid=nav-connections]")
    page.click("main [data-testid=create-demo-keys]")
    page.wait_for_url("**/connections/*/")
    connection = ExchangeConnection.objects.get(owner=user)
    assert page.get_by_text("Demo keys created").is_visible()
    report = page.locator("#test [data-testid=test-report]")
    assert report.get_attribute("data-status") == "ok"
    assert report.locator("[data-check=authentication][data-status=pass]").is_visible()
    assert page.locator("[data-testid=masked-key]").inner_text().startswith(connection.masked_key)
    assert page.locator("[data-testid=balance-table] tr[data-asset=USDT]").is_visible()
    assert "USDT" in page.locator("[data-testid=balance-total]").inner_text()

    # Futures: enabling is disabled until a futures test passes, then needs a re-auth.
    assert page.locator("[data-testid=futures-enable]").is_disabled()
    page.click("[data-testid=futures-test]")
    page.wait_for_url("**/connections/*/#futures")
    futures_report = page.locator("[data-testid=futures-panel] [data-testid=test-report]")
    assert futures_report.get_attribute("data-status") == "ok"
    page.click("[data-testid=futures-enable]")
    reauthenticate(page)
    page.wait_for_url("**/connections/*/#futures")
    page.click("[data-testid=futures-enable]")
    page.wait_for_url("**/connections/*/#futures")
    assert page.locator("[data-testid=futures-state]").inner_text() == "enabled"
    connection.refresh_from_db()
    assert connection.futures_enabled is True

    page.goto("/connections/")
    row = page.locator(f"tr[data-connection='{connection.pk}']")
    assert row.locator("[data-testid=test-status]").inner_text() == "Tested OK"
    assert row.locator("[data-testid=futures-badge]").inner_text() == "Futures on"


def test_connect_form_tests_keys_in_place_then_saves(page, live_app, sandbox):
    user = UserFactory()
    pair = remember(sandbox.create_keys(permissions={"spot": False}))
    log_in(page, live_app, user)
    page.goto("/connections/new/")
    reauthenticate(page)
    page.wait_for_url("**/connections/new/")

    page.fill("#id_label", "Browser keys")
    page.fill("#id_api_key", pair["apiKey"])
    page.fill("#id_secret", pair["secretKey"])
    page.select_option("#id_environment", "mainnet")
    assert page.locator("#mainnet-warning").is_visible()
    page.select_option("#id_environment", "sandbox")
    page.click("[data-testid=test-keys]")
    result = page.locator("[data-testid=keys-test-result] [data-testid=test-report]")
    result.wait_for()
    assert result.get_attribute("data-status") == "fail"
    failing = result.locator("[data-check=key_trading][data-status=fail]")
    assert "Enable Spot & Margin Trading" in failing.inner_text()
    assert page.input_value("#id_secret") == pair["secretKey"]  # still there: no reload
    assert not ExchangeConnection.objects.filter(owner=user).exists()

    page.click("[data-testid=save-connection]")
    page.wait_for_url("**/connections/*/#test")
    assert page.locator("[data-testid=test-status]").first.inner_text() == "Failing"
    assert pair["secretKey"] not in page.content()
