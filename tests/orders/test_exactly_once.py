"""Exactly once: unknown outcomes are resolved by querying, never by resending.

Faults come from the sandbox (timeout after executing, 5xx after executing, -1006, -1007 with and
without executing); reconciliation runs in the real Celery worker, which is also killed -9 in the
middle of a query and restarted. Every order must end with its true status, and the sandbox must
hold exactly one order per client order id.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from exchanges.models import Order
from exchanges.services.orders import order_place, order_reconcile
from exchanges.tasks import orders_reconcile_sweep
from tests.orders.conftest import orders_url

LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001"}


def wait_for(predicate, timeout: float = 15.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def settled(order_id: int) -> Order | None:
    order = Order.objects.get(pk=order_id)
    return order if not order.is_unresolved else None


@pytest.mark.django_db
def test_timeout_after_execute_is_resolved_by_query_in_process(api, connection, market, settings):
    settings.BINANCE_READ_TIMEOUT = 0.4
    market.fault("/api/v3/order", "timeout-after-execute", method="POST", hold=1.0)
    r = api.post(orders_url(connection), {**LIMIT, "price": "60000"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["status"] == "UNKNOWN" and body["checking"] is True
    assert body["status_display"] == "Checking…"
    outcome = order_reconcile(order_id=body["id"])
    assert outcome.done and outcome.status == "NEW"
    order = Order.objects.get(pk=body["id"])
    assert order.exchange_order_id
    assert len(market.orders(order.client_order_id)) == 1


@pytest.mark.django_db
def test_not_found_is_concluded_only_after_the_recv_window(api, connection, market):
    # -1007 without executing: the order never existed.
    market.fault("/api/v3/order", "-1007", method="POST", execute=False)
    r = api.post(orders_url(connection), {**LIMIT, "price": "60000"}, format="json")
    body = r.json()
    assert body["status"] == "UNKNOWN"
    first = order_reconcile(order_id=body["id"])
    assert not first.done and "recvWindow" in first.detail
    assert Order.objects.get(pk=body["id"]).status == "UNKNOWN"
    time.sleep(2.6)  # recvWindow 2 s + 0.5 s margin (tests/orders/conftest.py)
    final = order_reconcile(order_id=body["id"])
    assert final.done and final.status == "REJECTED"
    order = Order.objects.get(pk=body["id"])
    assert order.reject_reason == "never reached the exchange"
    assert market.orders(order.client_order_id) == []


@pytest.mark.django_db(transaction=True)
def test_every_unknown_outcome_is_resolved_by_the_worker(
    api, connection, market, orders_worker, settings
):
    settings.BINANCE_READ_TIMEOUT = 0.4
    cases = [
        ("timeout-after-execute", {"hold": 1.0}, "NEW"),
        ("5xx-after-execute", {}, "NEW"),
        ("-1006", {}, "NEW"),
        ("-1007", {}, "NEW"),
        ("-1007", {"execute": False}, "REJECTED"),
        ("5xx-after-execute", {}, "FILLED"),  # a market order
    ]
    placed = []
    for kind, extra, expected in cases:
        market.fault("/api/v3/order", kind, method="POST", **extra)
        body = (
            {**LIMIT, "type": "MARKET"}
            if expected == "FILLED"
            else {**LIMIT, "price": str(60000 + len(placed))}
        )
        r = api.post(orders_url(connection), body, format="json")
        assert r.status_code == 201, (kind, r.json())
        assert r.json()["status"] == "UNKNOWN", (kind, r.json())
        placed.append((r.json()["id"], expected))
    for order_id, expected in placed:
        order = wait_for(lambda oid=order_id: settled(oid), timeout=20)
        assert order.status == expected, (order_id, order.status, order.reject_reason)
        exchange_orders = market.orders(order.client_order_id)
        assert len(exchange_orders) == (0 if expected == "REJECTED" else 1)
        if expected != "REJECTED":
            assert exchange_orders[0]["status"] == expected
    assert orders_worker.proc.poll() is None


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_reconciliation_then_sweep_resolves(
    api, connection, market, orders_worker, settings
):
    market.fault("/api/v3/order", "5xx-after-execute", method="POST")
    # The worker's first query hangs (longer than its read timeout): kill it while it waits.
    market.fault("/api/v3/order", "timeout-before", method="GET", hold=8.0)
    r = api.post(orders_url(connection), {**LIMIT, "price": "61000"}, format="json")
    body = r.json()
    assert body["status"] == "UNKNOWN", body

    def query_in_flight():
        faults = market.http.get(market.url + "/sandbox/v1/faults", timeout=5).json()
        return not any(f["method"] == "GET" for f in faults)

    wait_for(query_in_flight, timeout=10, step=0.05)
    orders_worker.kill()
    assert Order.objects.get(pk=body["id"]).status == "UNKNOWN"
    market.clear_faults()
    orders_worker.start()
    # What beat would do on its next tick.
    orders_reconcile_sweep.delay(0)
    order = wait_for(lambda: settled(body["id"]), timeout=20)
    assert order.status == "NEW"
    assert len(market.orders(order.client_order_id)) == 1


@pytest.mark.django_db
def test_same_idempotency_key_twice_returns_the_first_order(api, connection, market):
    body = {**LIMIT, "price": "60000", "client_order_id": "my-key-0001"}
    first = api.post(orders_url(connection), body, format="json")
    assert first.status_code == 201, first.json()
    second = api.post(orders_url(connection), body, format="json")
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Order.objects.filter(client_order_id="my-key-0001").count() == 1
    assert len(market.orders("my-key-0001")) == 1


@pytest.mark.django_db(transaction=True)
def test_same_idempotency_key_concurrently_yields_one_order(user, connection, market):
    barrier = threading.Barrier(4)
    results: list = []

    def worker():
        try:
            barrier.wait()
            result = order_place(
                user=user, connection=connection, market="spot", symbol="BTCUSDT", side="BUY",
                order_type="LIMIT", quantity="0.001", price="60000",
                client_order_id="race-key-0001",
            )  # fmt: skip
            results.append((result.order.pk, result.created))
        except Exception as exc:
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(isinstance(r, tuple) for r in results), results
    assert len({pk for pk, _created in results}) == 1
    assert sum(created for _pk, created in results) == 1
    assert Order.objects.filter(client_order_id="race-key-0001").count() == 1
    assert len(market.orders("race-key-0001")) == 1


@pytest.mark.django_db
def test_client_order_id_of_another_user_is_refused(api, connection, market, sandbox):
    from rest_framework.test import APIClient

    from tests.factories import UserFactory
    from tests.orders.conftest import make_connection

    body = {**LIMIT, "price": "60000", "client_order_id": "shared-key-01"}
    assert api.post(orders_url(connection), body, format="json").status_code == 201
    other_user = UserFactory()
    other_conn, _ = make_connection(sandbox, other_user)
    other = APIClient()
    other.force_authenticate(user=other_user)
    r = other.post(orders_url(other_conn), body, format="json")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "duplicate_client_order_id"
