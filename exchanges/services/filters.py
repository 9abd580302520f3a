"""Pre-send checks of an order against the symbol's exchangeInfo filters (Decimal math only).

Pure functions: no Django, no I/O. Each problem names the input field and says exactly what to
change ("quantity must be a multiple of 0.00001; nearest valid: 0.01234"), so a rejection like
-1013 / -1111 / -4164 is caught before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal

from exchanges.binance.models import (
    LotSizeFilter,
    MaxNumOrdersFilter,
    MinNotionalFilter,
    NotionalFilter,
    PercentPriceBySideFilter,
    PercentPriceFilter,
    PriceFilter,
    SymbolInfo,
)

ZERO = Decimal(0)
# Types whose `price` is a limit price (and so is checked by PRICE_FILTER and PERCENT_PRICE).
PRICED_TYPES = frozenset(
    {"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "STOP", "TAKE_PROFIT"}
)
MARKET_TYPES = frozenset(
    {"MARKET", "STOP_LOSS", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET"}
)


@dataclass(frozen=True, slots=True)
class FilterProblem:
    """One way an order breaks a symbol rule, with the field to change and a valid value."""

    field: str
    filter_type: str
    message: str
    suggestion: Decimal | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "field": self.field,
            "filter": self.filter_type,
            "message": self.message,
            "suggestion": plain(self.suggestion) if self.suggestion is not None else None,
        }


def plain(value: Decimal) -> str:
    """A Decimal as a plain string without exponent or trailing zeros (0.00001, 65000)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    """`value` on the grid of `step` (no-op when step is 0), quantised to the step's exponent."""
    if step <= 0:
        return value
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step.normalize()) if units else ZERO


def on_step(value: Decimal, base: Decimal, step: Decimal) -> bool:
    return step <= 0 or (value - base) % step == 0


def _lot_filters(info: SymbolInfo, order_type: str) -> list[LotSizeFilter]:
    out: list[LotSizeFilter] = []
    for item in info.filters:
        if isinstance(item, LotSizeFilter) and (
            item.filter_type == "LOT_SIZE"
            or (item.filter_type == "MARKET_LOT_SIZE" and order_type in MARKET_TYPES)
        ):
            out.append(item)
    return out


def quantity_step(info: SymbolInfo, order_type: str = "LIMIT") -> Decimal:
    """The coarsest step of the lot filters that apply to `order_type` (0 when none)."""
    steps = [f.step_size for f in _lot_filters(info, order_type) if f.step_size > 0]
    return max(steps) if steps else ZERO


def min_notional(info: SymbolInfo, *, market_order: bool) -> Decimal | None:
    """The minimum order value that applies, or None."""
    for item in info.filters:
        if (
            isinstance(item, NotionalFilter)
            and item.min_notional > 0
            and (not market_order or item.apply_min_to_market)
        ):
            return item.min_notional
        if (
            isinstance(item, MinNotionalFilter)
            and item.min_notional > 0
            and (not market_order or item.apply_to_market)
        ):
            return item.min_notional
    return None


def _check_price(
    problems: list[FilterProblem], info: SymbolInfo, field: str, value: Decimal
) -> None:
    rule = info.get_filter(PriceFilter)
    if rule is None:
        return
    quote = info.quote_asset
    if rule.min_price > 0 and value < rule.min_price:
        problems.append(
            FilterProblem(
                field,
                "PRICE_FILTER",
                f"{_label(field)} must be at least {plain(rule.min_price)} {quote}.",
                rule.min_price,
            )
        )
    elif rule.max_price > 0 and value > rule.max_price:
        problems.append(
            FilterProblem(
                field,
                "PRICE_FILTER",
                f"{_label(field)} must be at most {plain(rule.max_price)} {quote}.",
                rule.max_price,
            )
        )
    elif not on_step(value, rule.min_price, rule.tick_size):
        nearest = round_to_step(value, rule.tick_size, ROUND_HALF_UP)
        problems.append(
            FilterProblem(
                field,
                "PRICE_FILTER",
                f"{_label(field)} must be a multiple of {plain(rule.tick_size)}; "
                f"nearest valid: {plain(nearest)}.",
                nearest,
            )
        )


def _check_quantity(
    problems: list[FilterProblem], info: SymbolInfo, order_type: str, quantity: Decimal
) -> None:
    base = info.base_asset
    for rule in _lot_filters(info, order_type):
        name = rule.filter_type
        if rule.min_qty > 0 and quantity < rule.min_qty:
            problems.append(
                FilterProblem(
                    "quantity",
                    name,
                    f"quantity must be at least {plain(rule.min_qty)} {base}.",
                    rule.min_qty,
                )
            )
            return
        if rule.max_qty > 0 and quantity > rule.max_qty:
            what = "a market order's quantity" if name == "MARKET_LOT_SIZE" else "quantity"
            problems.append(
                FilterProblem(
                    "quantity",
                    name,
                    f"{what} must be at most {plain(rule.max_qty)} {base}.",
                    rule.max_qty,
                )
            )
            return
        if not on_step(quantity, rule.min_qty, rule.step_size):
            nearest = round_to_step(quantity, rule.step_size, ROUND_DOWN)
            if nearest < rule.min_qty:
                nearest = round_to_step(quantity, rule.step_size, ROUND_CEILING)
            problems.append(
                FilterProblem(
                    "quantity",
                    name,
                    f"quantity must be a multiple of {plain(rule.step_size)}; "
                    f"nearest valid: {plain(nearest)}.",
                    nearest,
                )
            )
            return


def _percent_bounds(
    info: SymbolInfo, side: str, reference: Decimal
) -> tuple[str, Decimal, Decimal] | None:
    by_side = info.get_filter(PercentPriceBySideFilter)
    if by_side is not None:
        if side == "BUY":
            return (
                "PERCENT_PRICE_BY_SIDE",
                reference * by_side.bid_multiplier_down,
                reference * by_side.bid_multiplier_up,
            )
        return (
            "PERCENT_PRICE_BY_SIDE",
            reference * by_side.ask_multiplier_down,
            reference * by_side.ask_multiplier_up,
        )
    plain_rule = info.get_filter(PercentPriceFilter)
    if plain_rule is not None and plain_rule.multiplier_up > 0:
        return (
            "PERCENT_PRICE",
            reference * plain_rule.multiplier_down,
            reference * plain_rule.multiplier_up,
        )
    return None


def _label(field: str) -> str:
    return {"stop_price": "stop price", "quote_quantity": "quote amount"}.get(field, field)


def check_order(
    info: SymbolInfo,
    *,
    market: str,
    side: str,
    order_type: str,
    quantity: Decimal | None,
    quote_quantity: Decimal | None = None,
    price: Decimal | None = None,
    stop_price: Decimal | None = None,
    reference_price: Decimal | None = None,
    open_orders: int | None = None,
    reduce_only: bool = False,
) -> list[FilterProblem]:
    """Every filter `info` imposes that the order breaks (empty list: it passes).

    `reference_price` is the price market-order notionals and PERCENT_PRICE bounds are measured
    against (spot: the average price; futures: the mark price); those checks are skipped when
    it is None. `open_orders` is the number of open orders on the symbol (MAX_NUM_ORDERS).
    """
    problems: list[FilterProblem] = []
    if info.status and info.status != "TRADING":
        problems.append(
            FilterProblem(
                "symbol",
                "STATUS",
                f"{info.symbol} is not trading right now (status {info.status}).",
            )
        )
        return problems
    if market == "spot" and info.order_types and order_type not in info.order_types:
        problems.append(
            FilterProblem(
                "type", "ORDER_TYPES", f"{info.symbol} does not accept {order_type} orders."
            )
        )
        return problems
    if price is not None and order_type in PRICED_TYPES:
        _check_price(problems, info, "price", price)
    if stop_price is not None:
        _check_price(problems, info, "stop_price", stop_price)
    if quantity is not None:
        _check_quantity(problems, info, order_type, quantity)

    is_market = order_type in MARKET_TYPES
    effective_price = price if (price is not None and not is_market) else reference_price
    if is_market and order_type != "MARKET" and stop_price is not None:
        effective_price = stop_price
    notional: Decimal | None = None
    if quote_quantity is not None:
        notional = quote_quantity
    elif quantity is not None and effective_price is not None:
        notional = quantity * effective_price
    quote = info.quote_asset
    if notional is not None and not (market == "usdm" and reduce_only):
        minimum = min_notional(info, market_order=is_market)
        if minimum is not None and notional < minimum:
            suggestion = None
            if quote_quantity is None and effective_price:
                step = quantity_step(info, order_type)
                suggestion = round_to_step(minimum / effective_price, step, ROUND_CEILING)
                if suggestion * effective_price < minimum and step > 0:
                    suggestion += step
            field = "quote_quantity" if quote_quantity is not None else "quantity"
            unless = " (unless the order is reduce-only)" if market == "usdm" else ""
            hint = f"; increase the quantity to at least {plain(suggestion)}" if suggestion else ""
            problems.append(
                FilterProblem(
                    field,
                    "NOTIONAL" if market == "spot" else "MIN_NOTIONAL",
                    f"order value {plain(notional.normalize())} {quote} is below the minimum "
                    f"{plain(minimum)} {quote}{unless}{hint}.",
                    suggestion if quote_quantity is None else minimum,
                )
            )
        rule = info.get_filter(NotionalFilter)
        if (
            rule is not None
            and rule.max_notional > 0
            and (not is_market or rule.apply_max_to_market)
            and notional > rule.max_notional
        ):
            problems.append(
                FilterProblem(
                    "quantity",
                    "NOTIONAL",
                    f"order value {plain(notional)} {quote} is above the maximum "
                    f"{plain(rule.max_notional)} {quote}.",
                )
            )
    if price is not None and reference_price and order_type in PRICED_TYPES:
        bounds = _percent_bounds(info, side, reference_price)
        if bounds is not None:
            name, low, high = bounds
            tick = info.get_filter(PriceFilter)
            tick_size = tick.tick_size if tick else ZERO
            low_ok = round_to_step(low, tick_size, ROUND_CEILING) if tick_size else low
            high_ok = round_to_step(high, tick_size, ROUND_DOWN) if tick_size else high
            if price < low or price > high:
                problems.append(
                    FilterProblem(
                        "price",
                        name,
                        f"a {side.lower()} price must be between {plain(low_ok)} and "
                        f"{plain(high_ok)} {quote} right now (around the "
                        f"{'average' if market == 'spot' else 'mark'} price "
                        f"{plain(reference_price)}).",
                        low_ok if price < low else high_ok,
                    )
                )
    if open_orders is not None:
        for item in info.filters:
            if (
                isinstance(item, MaxNumOrdersFilter)
                and item.filter_type == "MAX_NUM_ORDERS"
                and item.limit > 0
                and open_orders >= item.limit
            ):
                problems.append(
                    FilterProblem(
                        "symbol",
                        "MAX_NUM_ORDERS",
                        f"{info.symbol} already has {open_orders} open orders, the most the "
                        f"exchange allows ({item.limit}); cancel one first.",
                    )
                )
    return problems


@dataclass(frozen=True, slots=True)
class Sellable:
    """How much of the base asset can actually be sold: free balance rounded down to the step."""

    free: Decimal
    amount: Decimal
    step: Decimal
    is_dust: bool
    reason: str

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "free": plain(self.free),
            "amount": plain(self.amount),
            "step": plain(self.step),
            "is_dust": self.is_dust,
            "reason": self.reason,
        }


def sellable_amount(
    info: SymbolInfo, *, free: Decimal, reference_price: Decimal | None, order_type: str = "MARKET"
) -> Sellable:
    """`free` base rounded down to the lot step, flagged dust when it cannot be sold at all."""
    step = quantity_step(info, order_type)
    amount = round_to_step(free, step, ROUND_DOWN) if step > 0 else free
    lots = _lot_filters(info, order_type)
    min_qty = max((f.min_qty for f in lots), default=ZERO)
    max_qty = min((f.max_qty for f in lots if f.max_qty > 0), default=ZERO)
    if max_qty > 0 and amount > max_qty:
        amount = max_qty
    reason = ""
    if amount <= 0 or amount < min_qty:
        reason = (
            f"{plain(free)} {info.base_asset} is below the minimum quantity "
            f"{plain(min_qty)}: it cannot be sold (dust)."
        )
    else:
        minimum = min_notional(info, market_order=order_type in MARKET_TYPES)
        if minimum is not None and reference_price and amount * reference_price < minimum:
            reason = (
                f"{plain(amount)} {info.base_asset} is worth about "
                f"{plain((amount * reference_price).normalize())} {info.quote_asset}, below the "
                f"minimum order value {plain(minimum)} {info.quote_asset} (dust)."
            )
    return Sellable(free, amount, step, bool(reason), reason)
