"""Parts of the client that need no exchange: environments, ids, errors, budgets, models."""

import pickle
from decimal import Decimal

import pytest

from exchanges.binance import (
    URL_PARTS,
    BinanceError,
    ErrorCategory,
    InMemoryBudget,
    environment_urls,
    new_client_order_id,
    setting_name,
)
from exchanges.binance.client import encode_value
from exchanges.binance.errors import classify
from exchanges.binance.ids import SPOT_CLIENT_ORDER_ID
from exchanges.binance.models import (
    ExchangeInfo,
    LotSizeFilter,
    MaxNumOrdersFilter,
    NotionalFilter,
    PriceFilter,
    UnknownFilter,
)


def test_every_environment_has_every_part():
    for env in ("mainnet", "testnet", "demo", "sandbox"):
        urls = environment_urls(env)
        for field in URL_PARTS.values():
            assert getattr(urls, field).startswith(("http", "ws"))
    mainnet = environment_urls("mainnet")
    assert mainnet.spot_rest == "https://api.binance.com"
    assert "https://api-gcp.binance.com" in mainnet.spot_rest_alternates
    assert mainnet.usdm_stream_url("private") == "wss://fstream.binance.com/private"
    assert environment_urls("testnet").usdm_rest == "https://demo-fapi.binance.com"
    assert environment_urls("demo").spot_rest == "https://demo-api.binance.com"


def test_sandbox_defaults_and_one_override_moves_every_part():
    default = environment_urls("sandbox")
    assert default.spot_rest == "http://127.0.0.1:9100"
    assert default.spot_ws_api == "ws://127.0.0.1:9100/ws-api/v3"
    assert default.usdm_stream_url("market") == "ws://127.0.0.1:9100/fstream/market"
    assert default.coinm_stream == "ws://127.0.0.1:9100/dstream"
    moved = environment_urls("sandbox", {"SPOT_REST": "http://127.0.0.1:9555/"})
    assert moved.usdm_rest == "http://127.0.0.1:9555"
    assert moved.spot_stream == "ws://127.0.0.1:9555"


def test_overrides_by_part_name_and_setting_names():
    urls = environment_urls(
        "mainnet", {"SPOT_REST": "https://relay.example/", "USDM_STREAM": "", "COINM_REST": None}
    )
    assert urls.spot_rest == "https://relay.example"
    assert urls.spot_rest_alternates == ()  # fail-over would bypass the relay
    assert urls.usdm_stream == "wss://fstream.binance.com"
    assert setting_name("sandbox", "SPOT_REST") == "BINANCE_SANDBOX_SPOT_REST_URL"
    assert setting_name("testnet", "USDM_STREAM") == "BINANCE_TESTNET_USDM_STREAM_URL"
    with pytest.raises(ValueError, match="unknown URL part"):
        environment_urls("mainnet", {"SPOT": "x"})
    with pytest.raises(ValueError):
        environment_urls("moon")


def test_client_order_ids():
    ids = {new_client_order_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        assert value.startswith("kln-")
        assert len(value) <= 36
        assert SPOT_CLIENT_ORDER_ID.match(value)
    with pytest.raises(ValueError):
        new_client_order_id("bad.prefix")


def test_parameter_encoding_never_accepts_float():
    assert encode_value(Decimal("0.00000100")) == "0.00000100"
    assert encode_value(Decimal("1E-7")) == "0.0000001"
    assert encode_value(True) == "true"
    assert encode_value(["BTCUSDT", "ETHUSDT"]) == '["BTCUSDT","ETHUSDT"]'
    with pytest.raises(TypeError):
        encode_value(0.1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "code", "msg", "mutating", "trading", "category", "known"),
    [
        (451, 0, "Service unavailable from a restricted location", False, False,
         ErrorCategory.RESTRICTED_REGION, True),
        (418, -1003, "Way too much request weight used; IP banned until 1.", False, False,
         ErrorCategory.IP_BANNED, True),
        (429, -1003, "Too much request weight used", False, False,
         ErrorCategory.RATE_LIMITED, True),
        (429, -1015, "Too many new orders", True, True, ErrorCategory.RATE_LIMITED, True),
        (503, None, "", True, True, ErrorCategory.UNKNOWN_OUTCOME, False),
        (503, None, "", False, False, ErrorCategory.EXCHANGE_UNAVAILABLE, True),
        (500, -1006, "unexpected", True, True, ErrorCategory.UNKNOWN_OUTCOME, False),
        (408, -1007, "Timeout", True, True, ErrorCategory.UNKNOWN_OUTCOME, False),
        (400, -1021, "Timestamp", False, False, ErrorCategory.TIMESTAMP, True),
        (400, -1022, "Signature", False, False, ErrorCategory.AUTH_SIGNATURE, True),
        (401, -2014, "API-key format invalid.", False, False, ErrorCategory.AUTH_INVALID_KEY, True),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", False, False,
         ErrorCategory.AUTH_INVALID_KEY, True),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", True, True,
         ErrorCategory.AUTH_PERMISSION, True),
        (400, -2010, "Account has insufficient balance for requested action.", True, True,
         ErrorCategory.INSUFFICIENT_BALANCE, True),
        (400, -2019, "Margin is insufficient.", True, True,
         ErrorCategory.INSUFFICIENT_BALANCE, True),
        (400, -1013, "Filter failure: LOT_SIZE", True, True, ErrorCategory.FILTER_FAILURE, True),
        (400, -4164, "Order's notional must be no smaller than 5", True, True,
         ErrorCategory.FILTER_FAILURE, True),
        (400, -1121, "Invalid symbol.", False, False, ErrorCategory.INVALID_SYMBOL, True),
        (400, -2013, "Order does not exist.", False, False, ErrorCategory.ORDER_NOT_FOUND, True),
        (400, -2011, "Unknown order sent.", True, True, ErrorCategory.ORDER_NOT_FOUND, True),
        (400, -1102, "Mandatory parameter", True, True, ErrorCategory.INVALID_PARAMETER, True),
        (400, -2010, "Rest API trading is not enabled.", True, True,
         ErrorCategory.AUTH_PERMISSION, True),
        (400, -4061, "position side", True, True, ErrorCategory.INVALID_PARAMETER, True),
    ],
)  # fmt: skip
def test_classification(status, code, msg, mutating, trading, category, known):
    assert classify(
        http_status=status, code=code, message=msg, mutating=mutating, trading=trading
    ) == (category, known)


def test_error_carries_everything_and_pickles():
    err = BinanceError(
        ErrorCategory.UNKNOWN_OUTCOME,
        code=-1007,
        binance_message="Timeout",
        http_status=408,
        outcome_known=False,
        method="POST",
        path="/api/v3/order",
        client_order_id="kln-abc",
    )
    again = pickle.loads(pickle.dumps(err))
    assert (again.category, again.code, again.outcome_known, again.client_order_id) == (
        ErrorCategory.UNKNOWN_OUTCOME,
        -1007,
        False,
        "kln-abc",
    )
    assert "outcome=UNKNOWN" in str(err)
    assert "may or may not" in err.user_message
    dup = BinanceError(
        ErrorCategory.INVALID_PARAMETER, code=-2010, binance_message="Duplicate order sent."
    )
    assert dup.is_duplicate_order


def test_in_memory_budget_window_blocks_and_bans():
    budget = InMemoryBudget()
    now = 60.0 * 20_000 + 20  # 20 s into a minute
    assert budget.acquire("h", 50, 100, now).granted
    budget.record("h", 90, now)
    refused = budget.acquire("h", 20, 100, now)
    assert not refused.granted and refused.blocked == "budget"
    assert 40 < refused.wait <= 40.1
    assert budget.acquire("h", 20, 100, now + 41).granted  # next minute
    budget.block("h", now + 100, "banned")
    budget.block("h", now + 50, "rate_limited")  # never shortens or downgrades a ban
    decision = budget.acquire("h", 1, 100, now + 60)
    assert (decision.granted, decision.blocked, round(decision.wait)) == (False, "banned", 40)
    assert budget.acquire("h", 1, 100, now + 101).granted
    budget.block("account:x", now + 200, "rate_limited")
    assert budget.acquire("h", 1, 100, now + 102).granted
    assert not budget.acquire("h", 1, 100, now + 102, account="account:x").granted


def test_exchange_info_filters_are_typed_decimals():
    info = ExchangeInfo.from_json(
        {
            "timezone": "UTC",
            "serverTime": 1,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000}
            ],
            "exchangeFilters": [{"filterType": "EXCHANGE_MAX_NUM_ORDERS", "maxNumOrders": 1000}],
            "symbols": [
                {
                    "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC",
                    "quoteAsset": "USDT", "permissionSets": [["SPOT", "MARGIN"]],
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000",
                         "tickSize": "0.01"},
                        {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000",
                         "stepSize": "0.00001"},
                        {"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": True,
                         "maxNotional": "9000000", "applyMaxToMarket": False,
                         "avgPriceMins": 5},
                        {"filterType": "SOMETHING_NEW", "x": "1"},
                    ],
                }
            ],
        }
    )  # fmt: skip
    assert info.weight_limit_per_minute() == 6000
    assert info.exchange_filters == (MaxNumOrdersFilter(1000, "EXCHANGE_MAX_NUM_ORDERS"),)
    btc = info.symbols["BTCUSDT"]
    assert btc.get_filter(PriceFilter) == PriceFilter(
        Decimal("0.01"), Decimal("1000000"), Decimal("0.01")
    )
    lot = btc.get_filter(LotSizeFilter)
    assert lot is not None and lot.step_size == Decimal("0.00001")
    notional = btc.get_filter(NotionalFilter)
    assert notional is not None and notional.min_notional == Decimal(5)
    unknown = btc.filter_by_type("SOMETHING_NEW")
    assert isinstance(unknown, UnknownFilter)
    assert btc.permission_sets == (("SPOT", "MARGIN"),)
