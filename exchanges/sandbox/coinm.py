"""COIN-M futures of the sandbox: /dapi REST and /dstream websockets.

Inverse perpetuals (BTCUSD_PERP, 100 USD a contract; ETHUSD_PERP, 10 USD a contract): quantity
in contracts, margin, commission and PnL in the coin, e.g. a long's PnL is
contracts * contractSize * (1/entry - 1/exit). Wallets start from the account's
``coinm_balances`` (default 1 BTC and 10 ETH). The handlers are futures.py's, run on the
COIN-M ``Venue``.
"""

from __future__ import annotations

from aiohttp import web

from .futures import (
    FuturesApi,
    Venue,
    asset_json,
    fmt8,
    h_leverage_bracket,
    position_rows_for,
    register_common,
    start_background,
    wallet_assets,
)
from .futures_engine import COINM_CONTRACTS, ZERO, Ids
from .futures_streams import setup_dstream
from .rest import ApiRequest
from .state import SandboxState


async def h_account(venue: Venue, req: ApiRequest):
    fa = venue.account(req)
    assets = [asset_json(venue, fa, a, req.now_ms) for a in wallet_assets(venue, fa)]
    for row in assets:
        row.pop("marginAvailable", None)
    positions = []
    for spec, position in position_rows_for(venue, fa, False, None):
        im = fa.position_initial_margin(position, venue.mark)
        order_im = sum(
            (fa.order_initial_margin(o, venue.mark) for o in fa.open_orders(spec.symbol)), ZERO
        )
        leverage = fa.leverage_of(spec.symbol)
        positions.append(
            {
                "symbol": spec.symbol,
                "positionAmt": spec.fmt_qty(position.amount),
                "initialMargin": fmt8(im + order_im),
                "maintMargin": fmt8(fa.maint_margin(position, venue.mark)),
                "unrealizedProfit": fmt8(fa.unrealized(position, venue.mark)),
                "positionInitialMargin": fmt8(im),
                "openOrderInitialMargin": fmt8(order_im),
                "leverage": str(leverage),
                "isolated": fa.isolated(spec.symbol),
                "positionSide": position.side,
                "entryPrice": fmt8(position.entry_price),
                "breakEvenPrice": fmt8(position.break_even_price),
                "maxQty": str(spec.bracket_for_leverage(leverage).notional_cap),
                "updateTime": position.update_time,
            }
        )
    return {
        "assets": assets,
        "positions": positions,
        "canDeposit": True,
        "canTrade": req.account.can_trade,
        "canWithdraw": bool(req.key and req.key.permissions.get("withdrawals")),
        "feeTier": fa.fee_tier,
        "updateTime": 0,
    }


async def h_position_risk(venue: Venue, req: ApiRequest):
    """All COIN-M contracts (optionally one marginAsset or pair), like Binance's /dapi."""
    fa = venue.account(req)
    margin_asset = req.get("marginAsset")
    pair = req.get("pair")
    rows = []
    for spec, position in position_rows_for(venue, fa, False, None):
        if margin_asset and spec.margin_asset != margin_asset:
            continue
        if pair and spec.pair != pair:
            continue
        mark = venue.mark(spec.symbol)
        up = fa.unrealized(position, venue.mark)
        isolated = fa.isolated(spec.symbol)
        leverage = fa.leverage_of(spec.symbol)
        rows.append(
            {
                "symbol": spec.symbol,
                "positionAmt": spec.fmt_qty(position.amount),
                "entryPrice": fmt8(position.entry_price),
                "breakEvenPrice": fmt8(position.break_even_price),
                "markPrice": fmt8(mark),
                "unRealizedProfit": fmt8(up),
                "liquidationPrice": "0",
                "leverage": str(leverage),
                "maxQty": str(spec.bracket_for_leverage(leverage).notional_cap),
                "marginType": "isolated" if isolated else "cross",
                "isolatedMargin": fmt8(position.isolated_wallet + up if isolated else ZERO),
                "isAutoAddMargin": "false",
                "positionSide": position.side,
                "notionalValue": fmt8(spec.notional(position.amount, mark)),
                "isolatedWallet": fmt8(position.isolated_wallet),
                "updateTime": position.update_time,
            }
        )
    return rows


async def h_balance(venue: Venue, req: ApiRequest):
    from .futures import h_balance as balance

    return await balance(venue, req)


def setup(app: web.Application, state: SandboxState) -> Venue:
    """Mount /dapi and /dstream on the sandbox app."""
    venue = Venue(
        state,
        market="coinm",
        contracts=COINM_CONTRACTS,
        bucket="dapi",
        prefix="/dapi",
        ids=Ids(200_000_000, 80_000_000, 3_000_000),
    )
    state.engines["coinm"] = venue
    state.register_persistence("futures_coinm", venue.dump, venue.load)
    state.engines.setdefault("balance_listeners", []).append(venue.on_balances_patched)
    api = FuturesApi(app, venue)
    register_common(api, "/dapi")
    signed = {"security": "SIGNED"}
    api.route("GET", "/dapi/v1/account", h_account, weight=5, **signed)
    api.route("GET", "/dapi/v1/balance", h_balance, **signed)
    api.route("GET", "/dapi/v1/positionRisk", h_position_risk, **signed)
    api.route("GET", "/dapi/v1/leverageBracket", h_leverage_bracket, **signed)
    api.route("GET", "/dapi/v2/leverageBracket", h_leverage_bracket, **signed)
    setup_dstream(app, venue)
    start_background(app, venue)
    return venue
