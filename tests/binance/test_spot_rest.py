"""Spot REST calls against the sandbox over real sockets."""

from decimal import Decimal

import pytest

from exchanges.binance import BinanceClient, BinanceError, ErrorCategory, Market
from exchanges.binance.models import Order, OrderList, PriceFilter

from .conftest import make_credentials


def test_public_market_data(client: BinanceClient, sandbox):
    client.spot.ping()
    assert abs(client.spot.server_time() - client.clock() * 1000) < 5000
    sandbox.set_price("BTCUSDT", "50000")
    assert client.spot.ticker_price("BTCUSDT").price == Decimal("50000")
    prices = {t.symbol: t.price for t in client.spot.ticker_prices(["BTCUSDT", "ETHUSDT"])}
    assert prices["BTCUSDT"] == Decimal("50000")
    ticker = client.spot.ticker_24h("BTCUSDT")
    assert ticker.symbol == "BTCUSDT" and isinstance(ticker.volume, Decimal)
    book = client.spot.book_ticker("BTCUSDT")
    assert book.bid_price <= book.ask_price
    assert len(client.spot.book_tickers(["BTCUSDT"])) == 1
    klines = client.spot.klines("BTCUSDT", "1m", limit=5)
    assert 1 <= len(klines) <= 5
    assert all(k.low <= k.high and isinstance(k.close, Decimal) for k in klines)
    depth = client.spot.depth("BTCUSDT", limit=5)
    assert depth.bids and depth.asks and depth.bids[0][0] < depth.asks[0][0]
    assert client.last_used_weight[Market.SPOT] > 0


def test_exchange_info_is_typed_and_cached(client: BinanceClient):
    info = client.spot.exchange_info()
    btc = info.symbols["BTCUSDT"]
    price_filter = btc.get_filter(PriceFilter)
    assert price_filter is not None and price_filter.tick_size > 0
    assert info.weight_limit_per_minute() == 6000
    used = client.last_used_weight[Market.SPOT]
    assert client.spot.exchange_info() is info  # served from the cache, nothing sent
    assert client.last_used_weight[Market.SPOT] == used
    one = client.spot.exchange_info(symbol="ETHUSDT")
    assert list(one.symbols) == ["ETHUSDT"]


def test_account_omits_zero_balances(client: BinanceClient):
    account = client.spot.account()
    assert account.balance("USDT").free == Decimal("100000")
    assert all(b.total > 0 for b in account.balances)
    assert account.can_trade is True
    full = client.spot.account(omit_zero_balances=False)
    assert len(full.balances) >= len(account.balances)


def test_order_lifecycle(client: BinanceClient, sandbox):
    sandbox.set_price("BTCUSDT", "50000")
    order = client.spot.place_order(
        "BTCUSDT", "BUY", "LIMIT", quantity=Decimal("0.01"), price=Decimal("40000"),
        time_in_force="GTC",
    )  # fmt: skip
    assert order.client_order_id.startswith("kln-") and len(order.client_order_id) <= 36
    assert order.status == "NEW" and order.price == Decimal("40000")
    assert sandbox.orders(order.client_order_id)  # the id we generated is the one sent
    by_id = client.spot.get_order("BTCUSDT", order_id=order.order_id)
    by_cid = client.spot.get_order("BTCUSDT", client_order_id=order.client_order_id)
    assert by_id.order_id == by_cid.order_id == order.order_id
    assert [o.order_id for o in client.spot.open_orders("BTCUSDT")] == [order.order_id]
    cancelled = client.spot.cancel_order("BTCUSDT", client_order_id=order.client_order_id)
    assert cancelled.status == "CANCELED"
    assert client.spot.open_orders("BTCUSDT") == []
    assert order.order_id in [o.order_id for o in client.spot.all_orders("BTCUSDT")]


def test_market_order_fills_and_trades(client: BinanceClient, sandbox):
    sandbox.set_price("BTCUSDT", "50000")
    order = client.spot.place_order(
        "BTCUSDT", "BUY", "MARKET", quantity=Decimal("0.01"), client_order_id="kln-my-own-id_1"
    )
    assert order.client_order_id == "kln-my-own-id_1"
    assert order.status == "FILLED" and order.executed_qty == Decimal("0.01")
    assert order.fills and all(isinstance(f.price, Decimal) for f in order.fills)
    assert order.average_price is not None and order.average_price > 0
    trades = client.spot.my_trades("BTCUSDT", order_id=order.order_id)
    assert trades and trades[0].order_id == order.order_id and trades[0].is_buyer


def test_test_order_with_commission_rates(client: BinanceClient, sandbox):
    sandbox.set_price("BTCUSDT", "50000")
    plain = client.spot.test_order("BTCUSDT", "BUY", "MARKET", quantity=Decimal("0.01"))
    assert plain.standard_commission is None
    rates = client.spot.test_order(
        "BTCUSDT", "BUY", "MARKET", quantity=Decimal("0.01"), compute_commission_rates=True
    )
    assert rates.standard_commission is not None
    assert rates.standard_commission.taker == Decimal("0.001")
    assert client.spot.open_orders("BTCUSDT") == []


def test_cancel_all_and_oco(client: BinanceClient, sandbox):
    sandbox.set_price("BTCUSDT", "50000")
    for price in ("40000", "41000"):
        client.spot.place_order(
            "BTCUSDT", "BUY", "LIMIT", quantity="0.01", price=price, time_in_force="GTC"
        )
    oco = client.spot.place_oco(
        "BTCUSDT", "SELL", Decimal("0.01"),
        above_type="LIMIT_MAKER", above_price=Decimal("60000"),
        below_type="STOP_LOSS_LIMIT", below_price=Decimal("44000"),
        below_stop_price=Decimal("45000"), below_time_in_force="GTC",
    )  # fmt: skip
    assert isinstance(oco, OrderList) and oco.contingency_type == "OCO"
    assert len(oco.orders) == 2 and oco.list_client_order_id.startswith("kln-")
    cancelled = client.spot.cancel_all_orders("BTCUSDT")
    assert sum(isinstance(c, Order) for c in cancelled) == 2
    assert sum(isinstance(c, OrderList) for c in cancelled) == 1
    assert client.spot.open_orders("BTCUSDT") == []


def test_api_restrictions(client: BinanceClient):
    restrictions = client.spot.api_restrictions()
    assert restrictions.enable_reading is True
    assert restrictions.enable_withdrawals is False


def test_generic_request_signed_and_unsigned(client: BinanceClient):
    avg = client.request("spot", "GET", "/api/v3/avgPrice", {"symbol": "BTCUSDT"}, weight=2)
    assert isinstance(avg["price"], str)
    account = client.request(Market.SPOT, "GET", "/api/v3/account", signed=True, weight=20)
    assert "balances" in account


@pytest.mark.parametrize("key_type", ["ED25519", "RSA"])
def test_asymmetric_keys_sign_reads_and_orders(sandbox, urls, budget, key_type):
    creds = make_credentials(sandbox, key_type=key_type)
    with BinanceClient(urls, creds, budget=budget) as client:
        assert client.spot.account().balance("USDT").free == Decimal("100000")
        sandbox.set_price("BTCUSDT", "50000")
        order = client.spot.place_order(
            "BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="40000", time_in_force="GTC"
        )
        assert order.status == "NEW"


def test_error_categories_from_real_answers(client: BinanceClient, sandbox):
    sandbox.set_price("BTCUSDT", "50000")
    cases = [
        (lambda: client.spot.ticker_price("NOPEUSDT"), ErrorCategory.INVALID_SYMBOL),
        (
            lambda: client.spot.get_order("BTCUSDT", order_id=999999999),
            ErrorCategory.ORDER_NOT_FOUND,
        ),
        (
            lambda: client.spot.place_order(
                "BTCUSDT", "BUY", "LIMIT", quantity="3", price="40000", time_in_force="GTC"
            ),
            ErrorCategory.INSUFFICIENT_BALANCE,
        ),
        (
            lambda: client.spot.place_order(
                "BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="40000.001",
                time_in_force="GTC",
            ),
            ErrorCategory.FILTER_FAILURE,
        ),
        (
            lambda: client.spot.place_order("BTCUSDT", "BUY", "LIMIT", quantity="0.01"),
            ErrorCategory.INVALID_PARAMETER,
        ),
    ]  # fmt: skip
    for call, category in cases:
        with pytest.raises(BinanceError) as info:
            call()
        assert info.value.category is category, info.value
        assert info.value.outcome_known is True
        assert info.value.code is not None and info.value.http_status is not None
