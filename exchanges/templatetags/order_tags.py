"""Template filters of the order pages: Decimal amounts as plain strings, never floats."""

from __future__ import annotations

from decimal import Decimal

from django import template

from exchanges.services.filters import plain

register = template.Library()


@register.filter(name="amount")
def amount(value: Decimal | None, empty: str = "—") -> str:
    """65000.000000 -> "65000", 0.0100 -> "0.01", None -> "—" (no exponent, no float)."""
    if value is None or value == "":
        return empty
    return plain(value if isinstance(value, Decimal) else Decimal(str(value)))
