"""Properties of the Decimal formatting that goes to Binance and to JSON clients.

`exchanges.binance.client.encode_value` writes request parameters; `filters.plain` writes the
amounts of the API and of every fix-it message. Both must round-trip exactly, never use
exponent notation (Binance refuses "1E-8") and never show float artefacts (0.1 + 0.2).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchanges.binance.client import encode_value
from exchanges.services.filters import plain

PLAIN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
# Amounts as exchanges and users write them: up to 20 integer digits, up to 18 decimals,
# including values Python prints in exponent form (1E-8, 1E+3, 0E-8).
DECIMALS = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**20), max_value=10**20,
                places=18),
    st.builds(
        lambda digits, exponent: Decimal(digits).scaleb(exponent),
        st.integers(min_value=0, max_value=10**12),
        st.integers(min_value=-18, max_value=12),
    ),
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(DECIMALS)
def test_binance_parameters_round_trip_without_exponent(value):
    text = encode_value(value)
    assert PLAIN.match(text), text
    assert "e" not in text.lower()
    assert Decimal(text) == value


@settings(max_examples=500, deadline=None)
@given(DECIMALS)
def test_plain_round_trips_without_exponent_or_trailing_zeros(value):
    text = plain(value)
    assert PLAIN.match(text), text
    assert Decimal(text) == value
    if "." in text:
        assert not text.endswith("0"), text


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_are_refused_for_binance_parameters(value):
    with pytest.raises(TypeError):
        encode_value(value)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**8), st.integers(min_value=0, max_value=10**8))
def test_sums_of_amounts_show_no_float_artefacts(a, b):
    # 0.1 + 0.2 in Decimal is 0.3 exactly; the formatted sum has at most 8 decimals.
    total = Decimal(a).scaleb(-8) + Decimal(b).scaleb(-8)
    text = plain(total)
    assert len(text.partition(".")[2]) <= 8
    assert Decimal(text) == total
