"""Properties of the order filter checker (exchanges/services/filters.py), over random symbols.

Symbols get random tick sizes, step sizes, bounds and minimum notionals (as exchangeInfo sends
them: decimal strings), orders random prices and quantities. What must always hold:

- a quantity / price the checker accepts is on the step / tick grid and within min..max;
- the "nearest valid" value the checker suggests is itself accepted;
- an accepted order's value is at least the minimum notional, and the quantity suggested to
  reach the minimum does reach it and passes the lot rules.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exchanges.binance.models import SymbolInfo
from exchanges.services.filters import check_order, plain

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# 10^-8 .. 10^2 in 1/2/5 steps, as exchanges use.
GRID = st.builds(
    lambda mantissa, exponent: Decimal(mantissa).scaleb(exponent),
    st.sampled_from([1, 2, 5]),
    st.integers(min_value=-8, max_value=2),
)


@st.composite
def symbols(draw) -> SymbolInfo:
    tick = draw(GRID)
    step = draw(GRID)
    min_price = tick * draw(st.integers(min_value=1, max_value=100))
    max_price = min_price + tick * draw(st.integers(min_value=1, max_value=10**7))
    min_qty = step * draw(st.integers(min_value=1, max_value=100))
    max_qty = min_qty + step * draw(st.integers(min_value=1, max_value=10**7))
    min_notional = draw(st.sampled_from(["0", "1", "5", "10", "100"]))
    return SymbolInfo.from_json(
        {
            "symbol": "FUZZUSDT",
            "status": "TRADING",
            "baseAsset": "FUZZ",
            "quoteAsset": "USDT",
            "orderTypes": ["LIMIT", "MARKET"],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": plain(min_price),
                 "maxPrice": plain(max_price), "tickSize": plain(tick)},
                {"filterType": "LOT_SIZE", "minQty": plain(min_qty), "maxQty": plain(max_qty),
                 "stepSize": plain(step)},
                {"filterType": "NOTIONAL", "minNotional": min_notional, "applyMinToMarket": True,
                 "maxNotional": "0", "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
        }
    )  # fmt: skip


def rules(info: SymbolInfo) -> dict[str, Decimal]:
    raw = {f["filterType"]: f for f in info.raw["filters"]}
    return {
        "tick": Decimal(raw["PRICE_FILTER"]["tickSize"]),
        "min_price": Decimal(raw["PRICE_FILTER"]["minPrice"]),
        "max_price": Decimal(raw["PRICE_FILTER"]["maxPrice"]),
        "step": Decimal(raw["LOT_SIZE"]["stepSize"]),
        "min_qty": Decimal(raw["LOT_SIZE"]["minQty"]),
        "max_qty": Decimal(raw["LOT_SIZE"]["maxQty"]),
        "min_notional": Decimal(raw["NOTIONAL"]["minNotional"]),
    }


AMOUNTS = st.decimals(
    min_value=Decimal("0.00000001"), max_value=Decimal("100000000"), places=8, allow_nan=False
)


def problems_of(info: SymbolInfo, field: str, **order) -> list:
    found = check_order(info, market="spot", side="BUY", order_type="LIMIT", **order)
    return [p for p in found if p.field == field]


@SETTINGS
@given(info=symbols(), quantity=AMOUNTS)
def test_an_accepted_quantity_is_on_the_step_within_bounds(info, quantity):
    r = rules(info)
    if not problems_of(info, "quantity", quantity=quantity):
        assert r["min_qty"] <= quantity <= r["max_qty"]
        assert (quantity - r["min_qty"]) % r["step"] == 0


@SETTINGS
@given(info=symbols(), price=AMOUNTS)
def test_an_accepted_price_is_on_the_tick_within_bounds(info, price):
    r = rules(info)
    if not problems_of(info, "price", quantity=None, price=price):
        assert r["min_price"] <= price <= r["max_price"]
        assert (price - r["min_price"]) % r["tick"] == 0


@SETTINGS
@given(info=symbols(), quantity=AMOUNTS)
def test_the_suggested_quantity_is_accepted(info, quantity):
    for problem in problems_of(info, "quantity", quantity=quantity):
        assert problem.suggestion is not None, problem
        assert not problems_of(info, "quantity", quantity=problem.suggestion), (
            problem.message,
            problem.suggestion,
        )


@SETTINGS
@given(info=symbols(), price=AMOUNTS)
def test_the_suggested_price_is_accepted(info, price):
    for problem in problems_of(info, "price", quantity=None, price=price):
        assert problem.suggestion is not None, problem
        assert not problems_of(info, "price", quantity=None, price=problem.suggestion), (
            problem.message,
            problem.suggestion,
        )


@SETTINGS
@given(info=symbols(), data=st.data())
def test_min_notional_is_respected_and_its_suggestion_reaches_it(info, data):
    r = rules(info)
    # A valid price and quantity on the grids, so only the notional can fail.
    price = r["min_price"] + r["tick"] * data.draw(st.integers(0, 10**6), label="ticks")
    assume(price <= r["max_price"])
    quantity = r["min_qty"] + r["step"] * data.draw(st.integers(0, 10**4), label="steps")
    assume(quantity <= r["max_qty"])
    found = check_order(
        info, market="spot", side="BUY", order_type="LIMIT", quantity=quantity, price=price
    )
    notional = [p for p in found if p.filter_type == "NOTIONAL"]
    if not notional:
        assert price * quantity >= r["min_notional"]
        return
    assert price * quantity < r["min_notional"]
    suggestion = notional[0].suggestion
    assert suggestion is not None
    assume(suggestion <= r["max_qty"])
    assert suggestion * price >= r["min_notional"]
    again = check_order(
        info, market="spot", side="BUY", order_type="LIMIT", quantity=suggestion, price=price
    )
    assert not again, [p.message for p in again]
