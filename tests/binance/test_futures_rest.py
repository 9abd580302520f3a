"""USD-M and COIN-M futures calls against the sandbox."""

from decimal import Decimal

import pytest

from exchanges.binance import BinanceClient, BinanceError, ErrorCategory
from exchanges.binance.models import FuturesAlgoOrder, FuturesOrder


def test_usdm_account_balances_positions(client: BinanceClient):
    account = client.usdm.account()
    usdt = account.asset("USDT")
    assert usdt is not None and usdt.wallet_balance == Decimal("50000")
    assert account.can_trade is None  # v3 has no permission flags
    permissions = client.usdm.account_permissions()
    assert permissions.can_trade is True
    balances = {b.asset: b for b in client.usdm.balances()}
    assert balances["USDT"].balance == Decimal("50000")
    assert isinstance(client.usdm.position_risk(), list)
    info = client.usdm.exchange_info()
    assert "BTCUSDT" in info.symbols


def test_usdm_settings(client: BinanceClient):
    setting = client.usdm.set_leverage("BTCUSDT", 5)
    assert setting.leverage == 5 and setting.symbol == "BTCUSDT"
    assert client.usdm.set_margin_type("BTCUSDT", "ISOLATED") is True
    assert client.usdm.set_margin_type("BTCUSDT", "ISOLATED") is False  # -4046: already
    assert client.usdm.position_mode() is False
    assert client.usdm.set_position_mode(True) is True
    assert client.usdm.set_position_mode(True) is False
    assert client.usdm.position_mode() is True
    client.usdm.set_position_mode(False)


def test_usdm_order_lifecycle(client: BinanceClient, sandbox):
    sandbox.set_price("BTCUSDT", "50000")
    client.usdm.test_order("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="48000",
                           time_in_force="GTC")  # fmt: skip
    order = client.usdm.place_order(
        "BTCUSDT", "BUY", "LIMIT", quantity=Decimal("0.01"), price=Decimal("48000"),
        time_in_force="GTC",
    )  # fmt: skip
    assert isinstance(order, FuturesOrder) and order.client_order_id.startswith("kln-")
    got = client.usdm.get_order("BTCUSDT", client_order_id=order.client_order_id)
    assert got.order_id == order.order_id and got.price == Decimal("48000")
    assert [o.order_id for o in client.usdm.open_orders("BTCUSDT")] == [order.order_id]
    cancelled = client.usdm.cancel_order("BTCUSDT", order_id=order.order_id)
    assert cancelled.status == "CANCELED"
    client.usdm.place_order("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="48500",
                            time_in_force="GTC")  # fmt: skip
    client.usdm.cancel_all_orders("BTCUSDT")
    assert client.usdm.open_orders("BTCUSDT") == []


@pytest.mark.parametrize("order_type", ["STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"])
def test_usdm_conditional_orders_route_to_algo_order(client: BinanceClient, sandbox, order_type):
    sandbox.set_price("BTCUSDT", "50000")
    limit_price = {"STOP": "56000", "TAKE_PROFIT": "44000"}.get(order_type)
    trigger = "55000" if order_type.startswith("STOP") else "45000"
    algo = client.usdm.place_order(
        "BTCUSDT", "BUY", order_type, quantity="0.01", stop_price=trigger, price=limit_price,
        time_in_force="GTC" if limit_price else None,
    )  # fmt: skip
    assert isinstance(algo, FuturesAlgoOrder)
    assert algo.trigger_price == Decimal(trigger) and algo.client_algo_id.startswith("kln-")
    fetched = client.usdm.get_algo_order(client_algo_id=algo.client_algo_id)
    assert fetched.algo_id == algo.algo_id
    client.usdm.cancel_algo_order(algo_id=algo.algo_id)


def test_usdm_listen_key(client: BinanceClient):
    key = client.usdm.create_listen_key()
    assert key.listen_key and key.listen_key[-4:] in repr(key)
    assert key.listen_key not in repr(key)
    client.usdm.keepalive_listen_key()
    client.usdm.close_listen_key()


def test_usdm_permission_off(sandbox, urls, budget):
    from .conftest import make_credentials

    creds = make_credentials(sandbox, permissions={"futures": False})
    with BinanceClient(urls, creds, budget=budget) as client, pytest.raises(BinanceError) as info:
        client.usdm.account()
    assert info.value.code == -2015
    assert info.value.category is ErrorCategory.AUTH_PERMISSION


def test_coinm_account_orders_listen_key(client: BinanceClient, sandbox):
    account = client.coinm.account()
    assert isinstance(account.assets, tuple)
    assert isinstance(client.coinm.balances(), list)
    assert isinstance(client.coinm.position_risk(), list)
    info = client.coinm.exchange_info()
    symbol = next(iter(info.symbols))
    key = client.coinm.create_listen_key()
    assert key.listen_key
    client.coinm.keepalive_listen_key()
    client.coinm.close_listen_key()
    with pytest.raises(BinanceError) as err:
        client.coinm.get_order(symbol, order_id=123456789)
    assert err.value.category is ErrorCategory.ORDER_NOT_FOUND
