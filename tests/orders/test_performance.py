"""The order path's cost: queries per order (a regression guard), the one-query gate, the
version-guarded write of the exchange's answer, the shared client and the balance snapshot.

Latency itself is measured by benchmarks/bench_orders.py (docs/benchmarks.md), not here.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.api.views import token_pair_for
from accounts.models import User
from exchanges import crypto
from exchanges.binance.models import Order as SpotOrder
from exchanges.clients import connection_client
from exchanges.models import Fill, Order, OrderStatus
from exchanges.services import orders as services
from tests.orders.conftest import make_connection, orders_url

pytestmark = pytest.mark.django_db

# A filled MARKET order: the gate (kill switch + idempotency key + open-order count), the PENDING
# row and its audit entry in one transaction, the answer (one UPDATE) and its fill in another.
# Transaction statements (BEGIN/COMMIT or, inside a test, SAVEPOINT/RELEASE) are counted too.
SERVICE_QUERIES = 9
# Through the API with a JWT: + the user of the token, + the connection.
API_QUERIES = SERVICE_QUERIES + 2


def _sql(ctx) -> str:
    return "\n".join(q["sql"][:160] for q in ctx.captured_queries)


def _market_order(user, connection, side="BUY", **extra):
    return services.order_place(
        user=user,
        connection=connection,
        market="spot",
        symbol="BTCUSDT",
        side=side,
        order_type="MARKET",
        quantity="0.001",
        **extra,
    )


def test_queries_per_order_service(user, connection, market):
    _market_order(user, connection)  # warm: exchangeInfo, prices, balance snapshot, client
    with CaptureQueriesContext(db_connection) as ctx:
        result = _market_order(user, connection, side="SELL")
    assert result.order.status == OrderStatus.FILLED
    assert result.order.fills.count() >= 1
    assert len(ctx.captured_queries) <= SERVICE_QUERIES, _sql(ctx)


def test_queries_per_order_api_with_jwt(user, connection, market):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user)['access']}")
    body = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    assert api.post(orders_url(connection), body, format="json").status_code == 201
    with CaptureQueriesContext(db_connection) as ctx:
        r = api.post(orders_url(connection), {**body, "side": "SELL"}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["status"] == "FILLED"
    assert len(ctx.captured_queries) <= API_QUERIES, _sql(ctx)


def test_gate_reads_kill_switch_idempotency_key_and_open_orders(user, connection, market):
    req = services.order_request_build(
        market="spot", symbol="BTCUSDT", side="BUY", order_type="LIMIT", quantity="0.001",
        price="60000",
    )  # fmt: skip
    gate = services._place_gate(user=user, connection=connection, req=req, cid="k-1", count=True)
    assert gate == services._Gate(kill_switch=False, open_orders=0, existing_id=None)

    resting = services.order_place(
        user=user, connection=connection, market="spot", symbol="BTCUSDT", side="BUY",
        order_type="LIMIT", quantity="0.001", price="60000", client_order_id="k-1",
    ).order  # fmt: skip
    assert resting.status == OrderStatus.NEW
    User.objects.filter(pk=user.pk).update(kill_switch_enabled=True)
    # `user` still says the switch is off: the gate reads the database.
    gate = services._place_gate(user=user, connection=connection, req=req, cid="k-1", count=True)
    assert gate == services._Gate(kill_switch=True, open_orders=1, existing_id=resting.pk)
    gate = services._place_gate(user=user, connection=connection, req=req, cid=None, count=False)
    assert gate == services._Gate(kill_switch=True, open_orders=None, existing_id=None)


def _pending(user, connection) -> Order:
    return Order.objects.create(
        owner=user, connection=connection, market="spot", symbol="BTCUSDT", side="BUY",
        type="MARKET", quantity=Decimal("0.002"), client_order_id="perf-race-1",
        status=OrderStatus.PENDING,
    )  # fmt: skip


def _answer(status: str, executed: str, trades: list[tuple[int, str]]) -> SpotOrder:
    return SpotOrder.from_json(
        {
            "symbol": "BTCUSDT", "orderId": 77, "orderListId": -1,
            "clientOrderId": "perf-race-1", "transactTime": 1_700_000_000_000,
            "price": "0", "origQty": "0.002", "executedQty": executed,
            "cummulativeQuoteQty": str(Decimal(executed) * 65000), "status": status,
            "timeInForce": "GTC", "type": "MARKET", "side": "BUY",
            "fills": [
                {"price": "65000", "qty": qty, "commission": "0", "commissionAsset": "BNB",
                 "tradeId": trade_id}
                for trade_id, qty in trades
            ],
        }
    )  # fmt: skip


def test_answer_is_written_with_one_guarded_update(user, connection):
    pending = _pending(user, connection)
    with CaptureQueriesContext(db_connection) as ctx:
        order = services._apply_placed(
            order=pending, placed=_answer("FILLED", "0.002", [(1, "0.002")])
        )
    assert not any("FOR UPDATE" in q["sql"] for q in ctx.captured_queries), _sql(ctx)
    stored = Order.objects.get(pk=pending.pk)
    assert stored.status == "FILLED" and stored.executed_quantity == Decimal("0.002")
    assert stored.version == 1
    assert order.version == stored.version and order.status == stored.status
    assert list(Fill.objects.filter(order=pending).values_list("trade_id", flat=True)) == [1]


def test_answer_after_a_stream_update_takes_the_locked_path(user, connection):
    """The user-data stream applied a fill between the PENDING commit and the answer: the
    version guard misses, the row is locked and merged, and no fill is recorded twice."""
    pending = _pending(user, connection)
    services._apply_state(
        order_id=pending.pk,
        status=OrderStatus.PARTIALLY_FILLED,
        executed_quantity=Decimal("0.001"),
        cumulative_quote=Decimal("65"),
        fills=[services.FillData(trade_id=1, price=Decimal("65000"), quantity=Decimal("0.001"))],
    )
    order = services._apply_placed(
        order=pending, placed=_answer("FILLED", "0.002", [(1, "0.001"), (2, "0.001")])
    )
    stored = Order.objects.get(pk=pending.pk)
    assert stored.status == OrderStatus.FILLED and stored.executed_quantity == Decimal("0.002")
    assert stored.version == 2 and order.version == 2
    assert sorted(Fill.objects.filter(order=pending).values_list("trade_id", flat=True)) == [1, 2]


def test_answer_older_than_the_row_changes_nothing(user, connection):
    pending = _pending(user, connection)
    services._apply_state(order_id=pending.pk, status=OrderStatus.CANCELED, reason="by user")
    services._apply_placed(order=pending, placed=_answer("NEW", "0", []))
    stored = Order.objects.get(pk=pending.pk)
    assert stored.status == OrderStatus.CANCELED  # never backwards
    assert stored.exchange_order_id == 77 and stored.reject_reason == "by user"


def test_connection_client_is_shared_by_threads_and_rebuilt_when_keys_change(connection):
    first = connection_client(connection)
    seen = []
    threads = [
        threading.Thread(target=lambda: seen.append(connection_client(connection)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(client is first for client in seen)
    with connection_client(connection) as client:  # callers written for a client of their own
        assert client is first
    first.spot.ping()  # `with` left the shared client usable

    # New ciphertext (the keys were stored again): a new client, never the old keys.
    connection.secret_encrypted = crypto.encrypt(crypto.decrypt(connection.secret_encrypted))
    connection.save()
    assert connection_client(connection) is not first
    assert connection_client(connection, read_retries=1) is not connection_client(connection)


def test_balance_snapshot_covers_only_what_it_showed(connection):
    fetches = []

    def fetch():
        fetches.append(1)
        return {"USDT": Decimal("100")}

    key = ("test-account", connection.pk, len(services._snapshots))
    covers = services._balance_covers
    assert covers(key, fetch, "USDT", Decimal("40"), reserve=True) == (True, Decimal("100"))
    assert covers(key, fetch, "USDT", Decimal("40"), reserve=True) == (True, Decimal("60"))
    assert covers(key, fetch, "USDT", Decimal("15"), reserve=False) == (True, Decimal("20"))
    assert len(fetches) == 1
    # 20 left of the snapshot: not enough for 30, so it is confirmed with a fresh one.
    assert covers(key, fetch, "USDT", Decimal("30"), reserve=True) == (True, Decimal("100"))
    assert len(fetches) == 2
    assert covers(key, fetch, "USDT", Decimal("150"), reserve=True) == (False, Decimal("100"))
    assert len(fetches) == 3


def test_order_goes_out_when_the_budget_cannot_afford_the_balance_snapshot(
    user, connection, market
):
    """GET /api/v3/account weighs 20, the order 1: with the minute's weight nearly spent the
    pre-check goes without the balance (the exchange checks it) instead of refusing the order."""
    import time

    from exchanges.clients import shared_budget

    other, _keys = make_connection(market, user)
    _market_order(user, other)  # exchangeInfo and the average price are cached now
    client = connection_client(connection)
    budget = shared_budget()
    scope = client.spot.scope
    key = budget._weight_key(scope, time.time())
    budget._redis.set(key, client.spot.weight_limit - 5, ex=120)
    try:
        result = _market_order(user, connection)
    finally:
        budget._redis.delete(key)
    assert result.order.status == OrderStatus.FILLED
