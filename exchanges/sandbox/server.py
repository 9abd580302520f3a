"""The sandbox server: builds the aiohttp app, runs the market clock, persists state.

URL layout on one port (fixed; the client and futures code rely on it):
  spot REST /api/v3/..., /sapi/...; spot WS API /ws-api/v3; spot streams /ws/..., /stream
  USD-M REST /fapi/...; streams /fstream/public|market|private/...; legacy /fstream/ws
  COIN-M REST /dapi/...; streams /dstream/ws/..., /dstream/stream
  control /sandbox/v1/...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import logging
import signal
import sys
import time

from aiohttp import web

from . import control, spot_rest, streams, wsapi
from .config import LOOPBACK_NETWORKS, SandboxConfig
from .state import SandboxState

log = logging.getLogger("sandbox")


def _optional(name: str):
    """The futures modules are written separately; run without them until they exist."""
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{name}":
            raise
        return None


STATE_KEY = web.AppKey("state", SandboxState)


def create_app(config: SandboxConfig) -> web.Application:
    state = SandboxState(config)
    app = web.Application(client_max_size=1 << 20)
    app[STATE_KEY] = state
    spot_rest.setup(app, state)
    wsapi.setup(app, state)
    streams.setup(app, state)
    control.setup(app, state)
    for module in (_optional("futures"), _optional("coinm")):
        if module is not None:
            module.setup(app, state)
    state.load()
    app.on_startup.append(_start_background)
    app.on_shutdown.append(_close_websockets)
    app.on_cleanup.append(_stop_background)
    return app


async def _market_clock(state: SandboxState) -> None:
    while True:
        interval = max(0.05, state.config.tick_interval)
        await asyncio.sleep(interval - (time.time() % interval))
        try:
            state.prices.step_all(state.config.walk, state.now_ms())
        except Exception:
            log.exception("market tick failed")


async def _autosave(state: SandboxState) -> None:
    while True:
        await asyncio.sleep(max(1.0, state.config.save_interval))
        try:
            state.save()
        except OSError:
            log.exception("saving state failed")


async def _start_background(app: web.Application) -> None:
    state = app[STATE_KEY]
    tasks = [asyncio.create_task(_market_clock(state))]
    if state.config.state_file:
        tasks.append(asyncio.create_task(_autosave(state)))
    state.engines["background_tasks"] = tasks


async def _close_websockets(app: web.Application) -> None:
    state = app[STATE_KEY]
    for conn in list(state.engines.get("ws_connections", ())):
        await conn.close(code=1001, message=b"server shutdown")


async def _stop_background(app: web.Application) -> None:
    state = app[STATE_KEY]
    for task in state.engines.get("background_tasks", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    try:
        state.save()
    except OSError:
        log.exception("saving state failed")


def parse_args(argv: list[str] | None) -> SandboxConfig:
    p = argparse.ArgumentParser(
        prog="python -m exchanges.sandbox", description="Binance-compatible sandbox exchange"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--listen-key-ttl",
        type=float,
        default=3600.0,
        help="futures listenKey validity in seconds (default 3600)",
    )
    p.add_argument("--state", default=None, help="JSON file to load at start and save to")
    p.add_argument("--save-interval", type=float, default=30.0)
    p.add_argument("--tick-interval", type=float, default=1.0)
    p.add_argument("--kline-push-interval", type=float, default=2.0)
    p.add_argument("--ws-ping-interval", type=float, default=20.0)
    p.add_argument("--ws-pong-timeout", type=float, default=60.0)
    p.add_argument("--no-walk", action="store_true", help="freeze prices (tests)")
    p.add_argument(
        "--control-allow",
        default=",".join(LOOPBACK_NETWORKS),
        metavar="CIDR[,CIDR...]",
        help="networks whose peers may use the control API /sandbox/v1 (default: loopback "
        "only, %(default)s); e.g. 172.16.0.0/12,192.168.0.0/16,10.0.0.0/8 for a compose network",
    )
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    try:
        control_allow = tuple(str(n) for n in control.parse_networks(a.control_allow))
    except ValueError as exc:
        p.error(f"--control-allow: {exc}")
    logging.basicConfig(
        level=a.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return SandboxConfig(
        host=a.host,
        port=a.port,
        seed=a.seed,
        listen_key_ttl=a.listen_key_ttl,
        state_file=a.state,
        save_interval=a.save_interval,
        tick_interval=a.tick_interval,
        kline_push_interval=a.kline_push_interval,
        ws_ping_interval=a.ws_ping_interval,
        ws_pong_timeout=a.ws_pong_timeout,
        walk=not a.no_walk,
        control_allow=control_allow,
    )


async def serve(config: SandboxConfig, ready: asyncio.Event | None = None) -> None:
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True, backlog=1024)
    await site.start()
    _tune_gc()
    log.info(
        "sandbox listening on http://%s:%s (seed %s; control API for %s)",
        config.host,
        config.port,
        config.seed,
        ", ".join(config.control_allow),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("sandbox shutting down")
        await runner.cleanup()


def _tune_gc() -> None:
    """Every order keeps a few small objects alive (order, trades, registry and log entries)
    and they rarely form cycles; with the default thresholds the collector's passes over that
    growing heap cost about a fifth of an order's CPU time. Freeze what startup built and
    collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
