"""Schemathesis against the OpenAPI schema (/api/schema/): no 5xx, responses match the schema.

Every operation of the schema is fuzzed through the real Django app (WSGI, in this process, on
the test database) as a user with a JWT that carries a fresh re-authentication (so the risky
endpoints are reachable), a sandbox connection and an order, so path ids resolve: half of the
generated cases use the user's own ids, the others whatever Hypothesis draws. Exchange calls go
to the suite's sandbox over 127.0.0.1.

Checks: not_a_server_error, response_schema_conformance, content_type_conformance.
FUZZ_EXAMPLES sets the cases per operation (default 8: about 300 cases in `make test`;
`make soak` runs 80, a few thousand).
"""

from __future__ import annotations

import os
import random

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from exchanges.models import Order
from tests.factories import UserFactory
from tests.fixtures.security import jwt_client
from tests.orders.conftest import make_connection

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def fuzz_user(db, sandbox, settings):
    """A user with a sandbox connection, an order and a re-authenticated JWT."""
    settings.SANDBOX_HOST = "127.0.0.1"
    settings.SANDBOX_PORT = int(sandbox.url.rsplit(":", 1)[1])
    settings.BINANCE_READ_TIMEOUT = 3.0
    user = UserFactory()
    connection, _keys = make_connection(sandbox, user, futures=True)
    order = Order.objects.create(
        owner=user, connection=connection, market="spot", symbol="BTCUSDT", side="BUY",
        type="LIMIT", quantity="0.001", price="1000", client_order_id="fuzz-order-0001",
        status="REJECTED", reject_reason="never reached the exchange",
    )  # fmt: skip
    client = jwt_client(user, reauth=True)
    token = client._credentials["HTTP_AUTHORIZATION"]
    # As django.test.Client does (after its last use here, since it reconnects them): the
    # WSGI requests must not close the test transaction's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {
        "headers": {"Authorization": token},
        "ids": {"connection_id": connection.pk, "id": connection.pk, "order_id": order.pk},
    }
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_and_matches_its_schema(case, fuzz_user):
    rng = random.Random(repr(case.path_parameters))
    for name, value in fuzz_user["ids"].items():
        if case.path_parameters and name in case.path_parameters and rng.random() < 0.5:
            case.path_parameters[name] = value
    if case.path_parameters and "symbol" in case.path_parameters and rng.random() < 0.5:
        case.path_parameters["symbol"] = "BTCUSDT"
    case.call_and_validate(headers=fuzz_user["headers"], checks=CHECKS)
