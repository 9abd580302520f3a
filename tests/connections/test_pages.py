"""The connection pages through Django's test client (the browser flow is in test_browser.py)."""

from __future__ import annotations

import pytest

from exchanges.models import ExchangeConnection
from tests.connections.conftest import remember

pytestmark = pytest.mark.django_db


def test_adding_keys_asks_for_reauthentication_first(client, user):
    client.force_login(user)
    response = client.get("/connections/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/reauth/?next=")


def test_connect_form_saves_tests_and_shows_the_report(reauthenticated_client, keys):
    pair = keys()
    response = reauthenticated_client.post(
        "/connections/new/",
        {
            "label": "Form keys",
            "environment": "sandbox",
            "key_type": "HMAC",
            "api_key": f"  {pair['apiKey']}\n",
            "secret": pair["secretKey"],
            "action": "save",
        },
        follow=True,
    )
    connection = ExchangeConnection.objects.get(label="Form keys")
    assert response.redirect_chain[-1][0] == f"/connections/{connection.pk}/#test"
    page = response.content.decode()
    assert 'data-testid="test-report" data-status="ok"' in page
    assert connection.masked_key in page
    assert pair["secretKey"] not in page and pair["apiKey"] not in page
    assert 'data-asset="USDT"' in page  # balances table


def test_connect_form_explains_bad_input_on_the_field(reauthenticated_client):
    response = reauthenticated_client.post(
        "/connections/new/",
        {
            "label": "x",
            "environment": "sandbox",
            "key_type": "HMAC",
            "api_key": "abc def",
            "secret": "",
            "action": "save",
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "space or line break inside it" in form.errors["api_key"][0]
    assert "Enter the secret key" in form.errors["secret"][0]
    assert not ExchangeConnection.objects.exists()


def test_test_these_keys_without_javascript_shows_the_report(reauthenticated_client, keys):
    pair = keys(permissions={"spot": False})
    response = reauthenticated_client.post(
        "/connections/new/",
        {
            "label": "",
            "environment": "sandbox",
            "key_type": "HMAC",
            "api_key": pair["apiKey"],
            "secret": pair["secretKey"],
            "action": "test",
        },
    )
    page = response.content.decode()
    assert 'data-check="key_trading" data-status="fail"' in page
    assert pair["secretKey"] not in page
    assert not ExchangeConnection.objects.exists()


def test_demo_keys_from_the_list_page(client, user, exchange):
    client.force_login(user)
    assert 'data-testid="no-connections"' in client.get("/connections/").content.decode()
    response = client.post("/connections/demo/", follow=True)
    connection = ExchangeConnection.objects.get(owner=user)
    assert connection.environment == "sandbox" and connection.label == "Sandbox demo"
    assert connection.last_test_ok is True
    page = response.content.decode()
    assert "Demo keys created" in page
    listing = client.get("/connections/").content.decode()
    assert 'data-status="ok"' in listing and "Sandbox demo" in listing
    assert client.get("/").content.decode().count("Sandbox demo") == 1  # dashboard summary


def test_balances_hide_dust_and_refresh(client, user, exchange):
    pair = remember(
        exchange.create_keys(balances={"USDT": "250.5", "BTC": "0.00000100", "XYZ": "3"})
    )
    from exchanges.services.connections import connection_create

    connection = connection_create(
        user=user, label="dusty", environment="sandbox", key_type="HMAC",
        api_key=pair["apiKey"], secret=pair["secretKey"],
    )  # fmt: skip
    client.force_login(user)
    page = client.get(f"/connections/{connection.pk}/").content.decode()
    assert 'data-asset="USDT"' in page and 'data-asset="BTC"' not in page
    assert "Show 1 small balance" in page
    shown = client.get(f"/connections/{connection.pk}/?dust=show").content.decode()
    assert 'data-asset="BTC"' in shown
    assert "From the last" in shown  # second request within 10 s came from the cache
    refreshed = client.get(f"/connections/{connection.pk}/?refresh=1").content.decode()
    assert "Fetched just now" in refreshed


def test_futures_panel_flow(reauthenticated_client, keys):
    from exchanges.services.connections import connection_create

    pair = keys()
    user = reauthenticated_client.user
    connection = connection_create(
        user=user, label="fut", environment="sandbox", key_type="HMAC",
        api_key=pair["apiKey"], secret=pair["secretKey"],
    )  # fmt: skip
    c = reauthenticated_client
    page = c.get(f"/connections/{connection.pk}/").content.decode()
    assert 'data-testid="futures-enable" disabled' in page
    response = c.post(f"/connections/{connection.pk}/futures/enable/", follow=True)
    assert "Run the futures test first" in response.content.decode()
    c.post(f"/connections/{connection.pk}/futures/test/")
    c.post(f"/connections/{connection.pk}/futures/enable/")
    connection.refresh_from_db()
    assert connection.futures_enabled is True
    c.post(f"/connections/{connection.pk}/futures/disable/")
    connection.refresh_from_db()
    assert connection.futures_enabled is False


def test_delete_erases_the_keys_and_hides_the_connection(client, user, keys):
    from exchanges.services.connections import connection_create

    pair = keys()
    connection = connection_create(
        user=user, label="gone", environment="sandbox", key_type="HMAC",
        api_key=pair["apiKey"], secret=pair["secretKey"],
    )  # fmt: skip
    client.force_login(user)
    assert client.get(f"/connections/{connection.pk}/delete/").status_code == 200
    response = client.post(f"/connections/{connection.pk}/delete/", follow=True)
    assert "was deleted and its keys erased" in response.content.decode()
    connection.refresh_from_db()
    assert connection.deleted_at is not None
    assert connection.api_key_encrypted == "" and connection.secret_encrypted == ""
    assert 'data-testid="no-connections"' in client.get("/connections/").content.decode()
    assert client.get(f"/connections/{connection.pk}/").status_code == 404


def test_edit_page_replaces_the_secret_and_resets_the_results(reauthenticated_client, keys):
    from exchanges.services.connection_test import connection_test_spot
    from exchanges.services.connections import connection_create

    pair, other = keys(), keys()
    user = reauthenticated_client.user
    connection = connection_create(
        user=user, label="edit me", environment="sandbox", key_type="HMAC",
        api_key=pair["apiKey"], secret=other["secretKey"],
    )  # fmt: skip
    assert connection_test_spot(user=user, connection=connection).last_test_ok is False
    page = reauthenticated_client.get(f"/connections/{connection.pk}/edit/").content.decode()
    assert other["secretKey"] not in page and pair["apiKey"] not in page
    response = reauthenticated_client.post(
        f"/connections/{connection.pk}/edit/",
        {"label": "edited", "environment": "sandbox", "key_type": "HMAC", "api_key": "",
         "secret": pair["secretKey"]},
    )  # fmt: skip
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.label == "edited" and connection.test_status == "untested"
    assert connection_test_spot(user=user, connection=connection).last_test_ok is True
