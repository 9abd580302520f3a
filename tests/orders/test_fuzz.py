"""Bad input fuzzing of the order endpoints: never a 500, never a half-written order."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchanges.models import Order
from tests.orders.conftest import futures_url, orders_url

pytestmark = pytest.mark.django_db

AMOUNTS = st.one_of(
    st.none(),
    st.sampled_from(
        ["0.001", "0.01", "1", "60000", "65000.01", "-1", "0", "1e3", "NaN", "Infinity", "",
         " 0.001 ", "0.0000000000000000001", "9" * 40, "1,5", "0x10", "١٢"]
    ),
    st.text(max_size=12),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
WORDS = st.one_of(
    st.sampled_from(["BTCUSDT", "ethusdt", "NOPE", "", "BUY", "SELL", "sell", "MARKET", "LIMIT",
                     "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "STOP_MARKET",
                     "TAKE_PROFIT", "GTC", "IOC", "FOK", "GTX", "LONG", "SHORT", "BOTH"]),
    st.text(max_size=40),
    st.integers(),
    st.none(),
    st.booleans(),
)  # fmt: skip
CLIENT_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)
ORDER_BODIES = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "symbol": WORDS, "side": WORDS, "type": WORDS, "quantity": AMOUNTS,
            "quote_quantity": AMOUNTS, "price": AMOUNTS, "stop_price": AMOUNTS,
            "stop_limit_price": AMOUNTS, "time_in_force": WORDS, "reduce_only": WORDS,
            "position_side": WORDS, "confirm": WORDS,
            "client_order_id": st.one_of(WORDS, CLIENT_IDS),
            "qty": AMOUNTS,
        },
    ),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=20),
    st.integers(),
    st.none(),
)  # fmt: skip


def _check(response, before: set[int]) -> None:
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    new = Order.objects.exclude(pk__in=before)
    # Nothing is left half-written: every row that exists is resolved (or being checked).
    assert not new.filter(status="PENDING").exists()
    if response.status_code >= 400:
        error = response.json()["error"]
        rejected = error.get("order", {}).get("id")
        assert set(new.values_list("pk", flat=True)) <= {rejected}
        if rejected:
            assert Order.objects.get(pk=rejected).status == "REJECTED"


FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=ORDER_BODIES)
def test_fuzz_spot_orders(api, connection, market, body):
    before = set(Order.objects.values_list("pk", flat=True))
    _check(api.post(orders_url(connection), body, format="json"), before)


@FUZZ
@given(body=ORDER_BODIES)
def test_fuzz_futures_orders_and_checks(api, futures_connection, market, body):
    before = set(Order.objects.values_list("pk", flat=True))
    _check(api.post(futures_url(futures_connection, "orders"), body, format="json"), before)
    _check(api.post(orders_url(futures_connection, "/test"), body, format="json"), before)


@FUZZ
@given(body=ORDER_BODIES)
def test_fuzz_oco_and_settings(api, futures_connection, market, body):
    before = set(Order.objects.values_list("pk", flat=True))
    _check(api.post(orders_url(futures_connection, "/oco"), body, format="json"), before)
    for suffix in ("leverage", "margin-type", "positions/close"):
        _check(api.post(futures_url(futures_connection, suffix), body, format="json"), before)
    r = api.post("/api/kill-switch", body if not isinstance(body, dict) else {
        k: v for k, v in body.items() if k == "confirm"}, format="json")  # fmt: skip
    assert r.status_code == 400


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["status", "symbol", "market", "limit", "offset"]),
                             st.text(max_size=12), max_size=5))  # fmt: skip
def test_fuzz_order_list_and_cancel_all(api, connection, market, query):
    assert api.get(orders_url(connection), query).status_code < 500
    r = api.delete(orders_url(connection) + "?" + urlencode(query))
    assert r.status_code < 500
