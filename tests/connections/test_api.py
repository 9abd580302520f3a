"""The connections API: validation messages, updates, balances, market snapshot, futures,
demo keys, re-authentication and "another user's connection is a 404" on every endpoint."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.utils import timezone

from exchanges.models import ExchangeConnection
from exchanges.services.balances import usdt_price
from exchanges.services.futures import connection_require_futures
from klineo.exceptions import ApplicationError
from tests.connections.conftest import remember
from tests.factories import ConnectionFactory, UserFactory
from tests.fixtures.security import jwt_client

pytestmark = pytest.mark.django_db

KEY = "a" * 60 + "Zz09"


def pem(private) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


ED_PEM = pem(ed25519.Ed25519PrivateKey.generate())


def post_keys(api, **fields):
    body = {"label": "main", "environment": "sandbox", "key_type": "HMAC", **fields}
    return api.post("/api/connections/", body, format="json")


def field_error(response, field: str) -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    return error["fields"][field][0]


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "expected"),
    [
        ({"api_key": KEY[:30] + " " + KEY[31:], "secret": "b" * 64}, "api_key", "space or line"),
        ({"api_key": KEY, "secret": "b" * 30 + "\n" + "b" * 33}, "secret", "space or line"),
        ({"api_key": KEY[:-3], "secret": "b" * 64}, "api_key", "64 characters; this one has 61"),
        ({"api_key": KEY, "secret": KEY}, "secret", "same as the API key"),
        ({"api_key": KEY, "secret": ED_PEM}, "secret", "choose that key type"),
        ({"api_key": ED_PEM, "secret": ""}, "api_key", "This is a private key (PEM)"),
        (
            {"key_type": "ED25519", "api_key": ED_PEM, "secret": KEY},
            "api_key",
            "The API key and the private key are swapped",
        ),
        (
            {"key_type": "ED25519", "api_key": KEY, "secret": KEY},
            "secret",
            "looks like an API key or an HMAC secret key",
        ),
        (
            {"key_type": "ED25519", "api_key": KEY, "secret": ED_PEM.replace("M", "%", 1)},
            "secret",
            "damaged",
        ),
        (
            {"key_type": "ED25519", "api_key": KEY, "secret": ED_PEM.split("-----END")[0]},
            "secret",
            "END PRIVATE KEY----- line is missing",
        ),
        (
            {"key_type": "RSA", "api_key": KEY, "secret": ED_PEM},
            "secret",
            "This is an Ed25519 private key: choose key type Ed25519.",
        ),
        ({"api_key": "", "secret": ""}, "api_key", "Enter the API key"),
    ],
    ids=[
        "space-in-key",
        "newline-in-secret",
        "short-key",
        "secret-equals-key",
        "pem-as-hmac-secret",
        "pem-in-key-field",
        "swapped-key-and-pem",
        "key-as-private-key",
        "bad-pem",
        "truncated-pem",
        "wrong-key-type",
        "empty",
    ],
)
def test_bad_keys_give_their_message_naming_the_field(api, fields, field, expected):
    assert expected in field_error(post_keys(api, **fields), field)
    assert not ExchangeConnection.objects.exists()


def test_rsa_keys_need_pkcs8_and_2048_bits(api):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert "at least 2048" in field_error(
        post_keys(api, key_type="RSA", api_key=KEY, secret=pem(small)), "secret"
    )
    pkcs1 = small.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert "openssl pkcs8 -topk8" in field_error(
        post_keys(api, key_type="RSA", api_key=KEY, secret=pkcs1), "secret"
    )
    public = (
        small.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert "This is the public key" in field_error(
        post_keys(api, key_type="RSA", api_key=KEY, secret=public), "secret"
    )


def test_pem_pasted_on_one_line_is_rebuilt_and_works(api, keys):
    pair = keys(key_type="ED25519")
    one_line = " ".join(pair["privateKey"].split())
    response = post_keys(
        api, key_type="ED25519", api_key=f" {pair['apiKey']} ", secret=one_line, run_test=True
    )
    assert response.status_code == 201, response.content
    assert response.json()["test_status"] == "ok"


def test_choices_and_duplicate_labels_name_their_field(api):
    assert "valid choice" in field_error(
        post_keys(api, environment="moon", api_key=KEY, secret="b" * 64), "environment"
    )
    assert post_keys(api, api_key=KEY, secret="b" * 64).status_code == 201
    assert "already have a connection called 'main'" in field_error(
        post_keys(api, api_key=KEY, secret="c" * 64), "label"
    )
    assert ExchangeConnection.objects.count() == 1


def test_new_connections_default_to_the_sandbox(api):
    response = api.post(
        "/api/connections/",
        {"label": "x", "api_key": KEY, "secret": "b" * 64},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["environment"] == "sandbox"


def test_adding_keys_needs_a_recent_reauthentication(user):
    client = jwt_client(user)  # logged in, not re-authenticated
    response = post_keys(client, api_key=KEY, secret="b" * 64)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "reauth_required"
    assert not ExchangeConnection.objects.exists()


# --- read, update, delete ------------------------------------------------------------------------


def test_list_detail_patch_and_delete(api, keys):
    pair = keys()
    created = post_keys(api, api_key=pair["apiKey"], secret=pair["secretKey"]).json()
    pk = created["id"]
    assert [c["id"] for c in api.get("/api/connections/").json()] == [pk]
    detail = api.get(f"/api/connections/{pk}/").json()
    assert detail["key"] == "…" + pair["apiKey"][-4:] and "secret" not in detail

    renamed = api.patch(f"/api/connections/{pk}/", {"label": "renamed"}, format="json")
    assert renamed.json()["label"] == "renamed"

    api.post(f"/api/connections/{pk}/test")
    other = keys()
    replaced = api.patch(
        f"/api/connections/{pk}/",
        {"api_key": other["apiKey"], "secret": other["secretKey"]},
        format="json",
    ).json()
    assert replaced["key"] == "…" + other["apiKey"][-4:]
    assert replaced["test_status"] == "untested"  # results described the old keys

    assert api.delete(f"/api/connections/{pk}/").status_code == 204
    assert api.get("/api/connections/").json() == []
    assert api.get(f"/api/connections/{pk}/").status_code == 404
    row = ExchangeConnection.objects.get(pk=pk)
    assert (row.api_key_encrypted, row.secret_encrypted) == ("", "")


def test_test_these_keys_stores_nothing(api, keys):
    pair = keys(key_type="RSA")
    response = api.post(
        "/api/connections/test",
        {"environment": "sandbox", "key_type": "RSA", "api_key": pair["apiKey"],
         "secret": pair["privateKey"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert not ExchangeConnection.objects.exists()


def test_demo_keys_create_a_tested_sandbox_connection(api, exchange):
    response = api.post("/api/connections/demo-keys", {"key_type": "ED25519"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["environment"] == "sandbox" and body["key_type"] == "ED25519"
    assert body["test_status"] == "ok"
    second = api.post("/api/connections/demo-keys", {}, format="json").json()
    assert second["label"] == "Sandbox demo 2"


def test_demo_keys_when_the_sandbox_is_down(api, settings):
    from tests.fixtures.processes import free_port

    settings.SANDBOX_PORT = free_port()
    response = api.post("/api/connections/demo-keys", {}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "sandbox_unavailable"
    assert "run_sandbox" in response.json()["error"]["message"]


# --- balances and market -------------------------------------------------------------------------


def test_balances_valued_in_usdt_cached_and_refreshed(api, exchange_clean):
    exchange_clean.configure(walk=False)
    for symbol, price in (("BTCUSDT", "50000"), ("ETHUSDT", "2000"), ("BNBUSDT", "500")):
        exchange_clean.set_price(symbol, price)
    pair = remember(
        exchange_clean.create_keys(
            balances={"USDT": "100", "BTC": "0.5", "ETH": "2", "USDC": "10", "BNB": "0.001",
                      "XYZ": "3"}
        )
    )  # fmt: skip
    pk = post_keys(api, api_key=pair["apiKey"], secret=pair["secretKey"]).json()["id"]

    body = api.get(f"/api/connections/{pk}/balance").json()
    rows = {b["asset"]: b for b in body["balances"]}
    assert body["cached"] is False
    assert rows["BTC"]["value_usdt"] == "25000.00" and rows["BTC"]["free"] == "0.50000000"
    assert rows["USDC"]["value_usdt"] == "10.00"  # stablecoin 1:1
    assert rows["BNB"]["is_dust"] is True and rows["BNB"]["value_usdt"] == "0.50"
    assert rows["XYZ"]["value_usdt"] is None and body["unpriced_assets"] == ["XYZ"]
    assert body["total_usdt"] == "29110.50"
    assert [b["asset"] for b in body["balances"]][:2] == ["BTC", "ETH"]  # most valuable first

    hidden = api.get(f"/api/connections/{pk}/balance?hide_dust=true").json()
    assert "BNB" not in {b["asset"] for b in hidden["balances"]}
    assert hidden["hidden_dust_count"] == 1 and hidden["cached"] is True

    exchange_clean.update_keys(pair["apiKey"], balances={"USDT": "200"})
    assert api.get(f"/api/connections/{pk}/balance").json()["total_usdt"] == "29110.50"
    fresh = api.get(f"/api/connections/{pk}/balance?refresh=true").json()
    assert fresh["cached"] is False
    fresh_rows = {b["asset"]: b for b in fresh["balances"]}
    assert fresh_rows["USDT"]["value_usdt"] == "200.00"
    # Prices are read again on refresh (the shared sandbox may have printed a trade since), so
    # the total is checked against the rows rather than a fixed figure.
    assert Decimal(fresh["total_usdt"]) == sum(
        Decimal(b["value_usdt"]) for b in fresh["balances"] if b["value_usdt"] is not None
    )
    assert abs(Decimal(fresh["total_usdt"]) - Decimal("29210.50")) < Decimal("300")


def test_usdt_price_goes_through_btc_when_there_is_no_usdt_market():
    prices = {"BTCUSDT": Decimal("50000"), "ABCBTC": Decimal("0.001")}
    assert usdt_price("ABC", prices) == Decimal("50.000")
    assert usdt_price("FDUSD", prices) == Decimal(1)
    assert usdt_price("NOPE", prices) is None


def test_market_snapshot(api, exchange_clean):
    exchange_clean.configure(walk=False)
    exchange_clean.set_price("ETHUSDT", "2500")
    pk = post_keys(api, api_key=KEY, secret="b" * 64).json()["id"]
    body = api.get(f"/api/market/snapshot?symbols=BTCUSDT,ethusdt&connection={pk}").json()
    assert [t["symbol"] for t in body["tickers"]] == ["BTCUSDT", "ETHUSDT"]
    eth = body["tickers"][1]
    assert Decimal(eth["last"]) == Decimal("2500")
    assert Decimal(eth["bid"]) <= Decimal(eth["last"]) <= Decimal(eth["ask"])
    assert "change_percent" in eth
    assert "not a symbol" in field_error(api.get("/api/market/snapshot?symbols=BTC-USD"), "symbols")
    assert "not listed" in field_error(api.get("/api/market/snapshot?symbols=FOOUSDT"), "symbols")


# --- futures -------------------------------------------------------------------------------------


def test_futures_enable_is_refused_before_a_passing_test(api, keys):
    pair = keys()
    pk = post_keys(api, api_key=pair["apiKey"], secret=pair["secretKey"]).json()["id"]
    connection = ExchangeConnection.objects.get(pk=pk)
    with pytest.raises(ApplicationError) as exc:
        connection_require_futures(connection)
    assert exc.value.code == "futures_disabled"

    refused = api.post(f"/api/connections/{pk}/futures/enable")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "futures_test_required"

    tested = api.post(f"/api/connections/{pk}/futures/test").json()
    report = tested["futures_test_report"]
    assert report["ok"] is True, report
    assert {c["id"]: c["status"] for c in report["checks"]} == {
        "futures_account": "pass",
        "position_mode": "pass",
        "multi_assets": "pass",
        "futures_wallet": "pass",
        "futures_trading": "pass",
    }
    assert report["dual_side_position"] is False and Decimal(report["wallet_usdt"]) > 0
    assert tested["futures_enable_allowed"] is True

    enabled = api.post(f"/api/connections/{pk}/futures/enable").json()
    assert enabled["futures_enabled"] is True
    connection.refresh_from_db()
    connection_require_futures(connection)  # no error now

    assert api.post(f"/api/connections/{pk}/futures/disable").json()["futures_enabled"] is False
    connection.refresh_from_db()
    with pytest.raises(ApplicationError):
        connection_require_futures(connection)

    # A passing test expires after 24 hours.
    ExchangeConnection.objects.filter(pk=pk).update(
        futures_tested_at=timezone.now() - timedelta(hours=25)
    )
    stale = api.post(f"/api/connections/{pk}/futures/enable")
    assert stale.status_code == 409 and "more than 24 hours" in stale.json()["error"]["message"]


def test_futures_without_permission_is_explained_and_stays_off(api, keys):
    pair = keys(permissions={"futures": False})
    pk = post_keys(api, api_key=pair["apiKey"], secret=pair["secretKey"]).json()["id"]
    report = api.post(f"/api/connections/{pk}/futures/test").json()["futures_test_report"]
    account = report["checks"][0]
    assert report["ok"] is False and account["status"] == "fail"
    assert "created before your futures account" in account["message"]
    assert api.post(f"/api/connections/{pk}/futures/enable").status_code == 409


def test_enabling_futures_needs_a_recent_reauthentication(user, keys):
    pair = keys()
    from exchanges.services.connections import connection_create
    from exchanges.services.futures import connection_test_futures

    connection = connection_create(
        user=user, label="f", environment="sandbox", key_type="HMAC",
        api_key=pair["apiKey"], secret=pair["secretKey"],
    )  # fmt: skip
    connection_test_futures(user=user, connection=connection)
    response = jwt_client(user).post(f"/api/connections/{connection.pk}/futures/enable")
    assert response.status_code == 403 and response.json()["error"]["code"] == "reauth_required"


# --- another user's connection -------------------------------------------------------------------

API_ENDPOINTS = [
    ("get", "/api/connections/{pk}/", None),
    ("patch", "/api/connections/{pk}/", {"label": "mine now"}),
    ("patch", "/api/connections/{pk}/", {"api_key": KEY, "secret": "b" * 64}),
    ("delete", "/api/connections/{pk}/", None),
    ("post", "/api/connections/{pk}/test", None),
    ("get", "/api/connections/{pk}/balance", None),
    ("post", "/api/connections/{pk}/futures/test", None),
    ("post", "/api/connections/{pk}/futures/enable", None),
    ("post", "/api/connections/{pk}/futures/disable", None),
    ("get", "/api/market/snapshot?symbols=BTCUSDT&connection={pk}", None),
]
PAGES = [
    ("get", "/connections/{pk}/"),
    ("post", "/connections/{pk}/test/"),
    ("get", "/connections/{pk}/edit/"),
    ("post", "/connections/{pk}/edit/"),
    ("get", "/connections/{pk}/delete/"),
    ("post", "/connections/{pk}/delete/"),
    ("post", "/connections/{pk}/futures/test/"),
    ("post", "/connections/{pk}/futures/enable/"),
    ("post", "/connections/{pk}/futures/disable/"),
]


@pytest.mark.parametrize(("method", "url", "body"), API_ENDPOINTS)
def test_another_users_connection_is_404_on_every_endpoint(api, method, url, body):
    victim = ConnectionFactory(owner=UserFactory(), futures_enabled=True)
    before = ExchangeConnection.objects.values().get(pk=victim.pk)
    response = getattr(api, method)(url.format(pk=victim.pk), body, format="json")
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert ExchangeConnection.objects.values().get(pk=victim.pk) == before


@pytest.mark.parametrize(("method", "url"), PAGES)
def test_another_users_connection_is_404_on_every_page(reauthenticated_client, method, url):
    victim = ConnectionFactory(owner=UserFactory(), futures_enabled=True)
    before = ExchangeConnection.objects.values().get(pk=victim.pk)
    response = getattr(reauthenticated_client, method)(url.format(pk=victim.pk))
    assert response.status_code == 404
    assert ExchangeConnection.objects.values().get(pk=victim.pk) == before


def test_a_deleted_connection_is_404_for_its_owner_too(api):
    pk = post_keys(api, api_key=KEY, secret="b" * 64).json()["id"]
    api.delete(f"/api/connections/{pk}/")
    for method, url, body in API_ENDPOINTS:
        response = getattr(api, method)(url.format(pk=pk), body, format="json")
        assert response.status_code == 404, (method, url)


def test_replacing_keys_needs_a_recent_reauthentication_renaming_does_not(user):
    connection = ConnectionFactory(owner=user)
    client = jwt_client(user)  # not re-authenticated
    url = f"/api/connections/{connection.pk}/"
    refused = client.patch(url, {"api_key": KEY, "secret": "b" * 64}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "reauth_required"
    refused = client.patch(url, {"environment": "mainnet"}, format="json")
    assert refused.status_code == 403
    assert client.patch(url, {"label": "new name"}, format="json").json()["label"] == "new name"
    connection.refresh_from_db()
    assert connection.environment == "sandbox" and connection.key_last4 != KEY[-4:]
