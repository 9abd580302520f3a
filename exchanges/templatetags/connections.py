"""Template filters of the connection pages (dates from stored reports, Decimal amounts)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def isotime(value: str | None) -> dt.datetime | None:
    """An ISO 8601 string from a stored report as a datetime (for |date)."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


@register.filter
def epoch_ms(value: int | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)


@register.filter
def amount(value: Decimal | None, places: int | None = None) -> str:
    """A Decimal without exponent or trailing zeros (or rounded to `places`), never a float."""
    if value is None:
        return "—"
    value = Decimal(value)
    sign = "-" if value < 0 else ""
    value = abs(value)
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-int(places)))
    else:
        value = value.normalize()
    whole, _, frac = format(value, "f").partition(".")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")
