"""Every error category from a real sandbox answer or fault; clock resync; 429/418 handling."""

import socket
from decimal import Decimal
from typing import Any

import pytest

from exchanges.binance import (
    BinanceClient,
    BinanceError,
    ClientConfig,
    ErrorCategory,
    HmacCredentials,
    InMemoryBudget,
    Market,
    sandbox_urls,
)

from .conftest import Control, make_credentials


class RequestCounter:
    """Counts what really goes out of the client's session (a spy on the real transport)."""

    def __init__(self, client: BinanceClient) -> None:
        self.calls = 0
        self._send = client.session.request

        def request(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return self._send(*args, **kwargs)

        client.session.request = request  # type: ignore[method-assign]


def _raises(call: Any) -> BinanceError:
    with pytest.raises(BinanceError) as info:
        call()
    return info.value


def test_bad_api_key(sandbox, urls, budget):
    with BinanceClient(urls, HmacCredentials("x" * 64, "y" * 64), budget=budget) as client:
        err = _raises(client.spot.account)
    assert err.code in (-2014, -2015)
    assert err.category is ErrorCategory.AUTH_INVALID_KEY
    with BinanceClient(urls, HmacCredentials("bad key!", "y" * 64), budget=budget) as client:
        err = _raises(client.spot.account)
    assert err.code == -2014 and err.category is ErrorCategory.AUTH_INVALID_KEY
    assert "x" * 64 not in str(err) + repr(err) + err.user_message


def test_bad_secret_is_a_signature_error(sandbox, urls, budget, creds):
    wrong = HmacCredentials(creds.api_key, "z" * 64)
    with BinanceClient(urls, wrong, budget=budget) as client:
        err = _raises(client.spot.account)
    assert (err.code, err.category) == (-1022, ErrorCategory.AUTH_SIGNATURE)
    assert "signature" in err.user_message.lower()
    assert creds.api_key not in str(err)


def test_trading_permission_off(sandbox, urls, budget):
    creds = make_credentials(sandbox, permissions={"spot": False})
    with BinanceClient(urls, creds, budget=budget) as client:
        assert client.spot.account().can_trade is True  # reading still works
        err = _raises(
            lambda: client.spot.place_order("BTCUSDT", "BUY", "MARKET", quantity=Decimal("0.01"))
        )
    assert err.code == -2015 and err.category is ErrorCategory.AUTH_PERMISSION
    assert err.outcome_known is True


def test_clock_skew_resyncs_once_and_succeeds(client: BinanceClient, control: Control, sandbox):
    client.spot.account()  # measures the offset (about 0)
    sandbox.set_clock_skew(30_000)
    account = client.spot.account()  # -1021 -> resync -> retry succeeds
    assert account.balances
    offset = client.time_offsets.get(client.spot.base_url).offset_ms
    assert 29_000 < offset < 31_000
    sandbox.set_clock_skew(-45_000)
    order = client.spot.place_order("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="40000",
                                    time_in_force="GTC")  # fmt: skip
    assert order.status == "NEW"


def test_429_honours_retry_after_and_sends_nothing_meanwhile(client, control: Control):
    control.fault("/api/v3/account", "429", retry_after=30)
    err = _raises(client.spot.account)
    assert err.category is ErrorCategory.RATE_LIMITED and err.http_status == 429
    assert err.retry_after == 30
    counter = RequestCounter(client)
    again = _raises(client.spot.account)
    assert again.category is ErrorCategory.RATE_LIMITED and again.http_status is None
    assert 25 < again.retry_after <= 30
    assert counter.calls == 0


def test_429_wait_policy_sleeps_then_sends(sandbox, urls, creds, control: Control):
    slept: list[float] = []
    config = ClientConfig(wait_for_budget=True, max_budget_wait=5)
    with BinanceClient(urls, creds, config=config, budget=InMemoryBudget(),
                       sleep=slept.append) as client:  # fmt: skip
        control.fault("/api/v3/account", "429", retry_after=1)
        _raises(client.spot.account)
        # The fake sleep returns at once, so the budget keeps saying "wait" until 1 s passed;
        # what matters: the client waited instead of failing and then sent the request.
        assert client.spot.account().balances
    assert slept and sum(slept) >= 0.9


def test_418_bans_everything_until_expiry(client, control: Control):
    control.fault("/api/v3/ticker/price", "418", retry_after=120)
    err = _raises(lambda: client.spot.ticker_price("BTCUSDT"))
    assert err.category is ErrorCategory.IP_BANNED and err.http_status == 418
    counter = RequestCounter(client)
    for call in (client.spot.account, client.spot.ping, lambda: client.spot.ticker_price("X")):
        banned = _raises(call)
        assert banned.category is ErrorCategory.IP_BANNED and banned.retry_after > 100
    assert counter.calls == 0


def test_order_refused_with_429_is_a_known_failure(client, control: Control, sandbox):
    control.fault("/api/v3/order", "429", retry_after=1)
    err = _raises(lambda: client.spot.place_order("BTCUSDT", "BUY", "MARKET", quantity="0.01"))
    assert err.category is ErrorCategory.RATE_LIMITED and err.outcome_known is True
    assert err.client_order_id and not sandbox.orders(err.client_order_id)


@pytest.mark.parametrize(
    ("kind", "extra", "executed"),
    [
        ("5xx-after-execute", {}, True),
        ("timeout-after-execute", {"hold": 1.0}, True),
        ("-1006", {}, True),
        ("-1007", {}, True),
        ("timeout-before", {"hold": 1.0}, False),
    ],
)
def test_unknown_outcome_on_orders(sandbox, urls, creds, control: Control, kind, extra, executed):
    sandbox.set_price("BTCUSDT", "50000")
    config = ClientConfig(read_timeout=0.5)
    with BinanceClient(urls, creds, config=config, budget=InMemoryBudget()) as client:
        client.spot.sync_time()
        control.fault("/api/v3/order", kind, **extra)
        counter = RequestCounter(client)
        err = _raises(
            lambda: client.spot.place_order(
                "BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="40000", time_in_force="GTC"
            )
        )
        assert counter.calls == 1  # never resent
        assert err.category is ErrorCategory.UNKNOWN_OUTCOME and err.outcome_known is False
        assert "may or may not" in err.user_message
        cid = err.client_order_id
        assert cid
        # Resolve by querying, as the order service does.
        if executed:
            found = client.spot.get_order("BTCUSDT", client_order_id=cid)
            assert found.client_order_id == cid
        else:
            missing = _raises(lambda: client.spot.get_order("BTCUSDT", client_order_id=cid))
            assert missing.category is ErrorCategory.ORDER_NOT_FOUND


def test_reads_retry_server_errors_with_backoff(client, control: Control):
    control.fault("/api/v3/account", "5xx-before", count=2)
    slept: list[float] = []
    client.sleep = slept.append
    assert client.spot.account().balances
    assert slept == [0.05, 0.1]


def test_read_5xx_after_retries_is_exchange_unavailable(client, control: Control):
    control.fault("/api/v3/account", "5xx-before", count=5)
    client.sleep = lambda s: None
    err = _raises(client.spot.account)
    assert err.category is ErrorCategory.EXCHANGE_UNAVAILABLE and err.outcome_known


def test_closed_port_is_network_error_with_known_outcome(creds):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    urls = sandbox_urls(f"http://127.0.0.1:{port}")
    config = ClientConfig(read_retries=0)
    with BinanceClient(urls, creds, config=config, budget=InMemoryBudget()) as client:
        client.time_offsets.update(client.spot.base_url, server_time_ms=0, sent_at=0,
                                   received_at=client.clock())  # fmt: skip
        err = _raises(lambda: client.spot.place_order("BTCUSDT", "BUY", "MARKET", quantity="1"))
    assert err.category is ErrorCategory.NETWORK and err.outcome_known is True
    assert "not carried out" in err.user_message


def test_budget_fail_fast_before_sending(sandbox, urls, creds):
    budget = InMemoryBudget()
    config = ClientConfig(weight_limits={Market.SPOT: 30}, budget_headroom=0)
    with BinanceClient(urls, creds, config=config, budget=budget) as client:
        client.spot.ping()
        counter = RequestCounter(client)
        err = _raises(client.spot.account)  # 20 more would pass 30 with what the server used
        assert err.category is ErrorCategory.RATE_LIMITED
        assert counter.calls <= 1
