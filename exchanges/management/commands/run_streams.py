"""manage.py run_streams: hold every user-data and market-data websocket (long-lived asyncio).

Run one or more (docker compose --scale streams=N): Redis leases split the streams between
them and a crashed process's streams are taken over within the lease TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import signal

from django.core.management.base import BaseCommand

from exchanges.streams.runtime import StreamsRuntime

M_ARENA_MAX = -8


def _limit_malloc_arenas() -> None:
    """glibc gives every thread its own malloc arena; the sync thread pool would otherwise add
    tens of MB of RSS to a process that should stay small with a thousand streams."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)


class Command(BaseCommand):
    help = "Hold the Binance user-data and market-data streams and push events to browsers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--lease-ttl", type=float, default=None, help="seconds")
        parser.add_argument("--poll-interval", type=float, default=None, help="seconds")
        parser.add_argument("--holder", default=None, help="name of this process in leases")
        parser.add_argument(
            "--no-market-data", action="store_true", help="hold user-data streams only"
        )

    def handle(self, *args, **options) -> None:
        _limit_malloc_arenas()
        logging.getLogger("exchanges.streams").setLevel(logging.INFO)
        # Everything imported so far lives for the whole process: keep it out of GC passes.
        gc.freeze()
        runtime = StreamsRuntime(
            holder=options["holder"],
            lease_ttl=options["lease_ttl"],
            poll_interval=options["poll_interval"],
            market_data=not options["no_market_data"],
        )

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, runtime.stop)
            await runtime.run()

        asyncio.run(main())
