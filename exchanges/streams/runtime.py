"""The supervisor of one run_streams process.

Every ``poll_interval`` seconds (or at once when notified on the control channel) it compares
the user-data streams the database wants with the ones this process holds, takes Redis leases
for missing ones up to its fair share (streams / live processes), starts them, and stops the
ones whose connection was removed or disabled. Leases are renewed every ttl/3; a lease that is
lost (or cannot be renewed in time) stops its stream at once, so a stream is never held twice
for longer than the time it takes to notice.

Database and REST work runs in a small thread pool (``run_sync``); the event loop only moves
websocket frames, so one process can hold a thousand streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis.asyncio as aioredis
from django.conf import settings
from django.db import close_old_connections

from exchanges.streams.leases import CONTROL_CHANNEL, LeaseManager
from exchanges.streams.market import MarketHub
from exchanges.streams.user_data import UserStream

logger = logging.getLogger("exchanges.streams")

T = TypeVar("T")


def _with_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    close_old_connections()
    return fn(*args, **kwargs)


class StreamsRuntime:
    def __init__(
        self,
        *,
        holder: str | None = None,
        lease_ttl: float | None = None,
        poll_interval: float | None = None,
        sync_workers: int | None = None,
        market_data: bool = True,
    ) -> None:
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_ttl = lease_ttl or settings.STREAMS_LEASE_TTL
        self.poll_interval = poll_interval or settings.STREAMS_POLL_INTERVAL
        self.silence_timeout = settings.STREAMS_SILENCE_TIMEOUT
        self.probe_timeout = settings.STREAMS_PROBE_TIMEOUT
        self.backoff_max = settings.STREAMS_BACKOFF_MAX
        self.proxy = settings.BINANCE_HTTPS_PROXY or None
        self.executor = ThreadPoolExecutor(
            sync_workers or settings.STREAMS_SYNC_WORKERS, thread_name_prefix="streams-sync"
        )
        self.streams: dict[str, UserStream] = {}
        self.market = MarketHub(self) if market_data else None
        self._reconcile_slots = asyncio.Semaphore(settings.STREAMS_RECONCILE_CONCURRENCY)
        self._reconcile_later: set[str] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._flush: asyncio.Task[None] | None = None
        self.redis: aioredis.Redis | None = None
        self.leases: LeaseManager | None = None
        self.started_at = time.time()

    # -- helpers ------------------------------------------------------------------------------

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, functools.partial(_with_db, fn, *args, **kwargs)
        )

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()

    # -- main ---------------------------------------------------------------------------------

    async def run(self) -> None:
        self.redis = aioredis.from_url(settings.REDIS_URL)
        self.leases = LeaseManager(self.redis, holder=self.holder, ttl=self.lease_ttl)
        await self.leases.heartbeat(self._info())
        logger.info(
            "run_streams %s started (lease ttl %.1f s, poll %.1f s)",
            self.holder,
            self.lease_ttl,
            self.poll_interval,
        )
        self._tasks = [
            asyncio.create_task(self._supervise_loop(), name="streams-supervise"),
            asyncio.create_task(self._renew_loop(), name="streams-renew"),
            asyncio.create_task(self._control_loop(), name="streams-control"),
        ]
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Stop streams and hand their leases back so another process takes over at once.
        await asyncio.gather(
            *(self._stop_stream(name, "run_streams stopped") for name in list(self.streams)),
            return_exceptions=True,
        )
        if self.market is not None:
            await self.market.stop_all()
        assert self.leases is not None and self.redis is not None
        with contextlib.suppress(Exception):
            await self.leases.release_all()
            await self.leases.leave()
        await self.redis.aclose()
        self.executor.shutdown(wait=False, cancel_futures=True)
        logger.info("run_streams %s stopped", self.holder)

    def _info(self) -> str:
        return json.dumps({"streams": len(self.streams), "started": int(self.started_at)})

    # -- supervision --------------------------------------------------------------------------

    async def _supervise_loop(self) -> None:
        while True:
            try:
                await self.supervise_once()
                if self.market is not None:
                    await self.market.sync()
            except Exception:
                logger.exception("stream supervision pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def supervise_once(self) -> None:
        from exchanges.services import live

        assert self.leases is not None
        desired = {spec.name: spec for spec in await self.run_sync(live.desired_streams)}
        for name, held in list(self.streams.items()):
            if desired.get(name) != held.spec:
                await self._stop_stream(name, "connection removed or disabled")
                if held.spec.kind == "usdm":
                    await self.run_sync(live.listen_key_close_later, held.spec.connection_id)
        processes = await self.leases.live_processes()
        share = self.leases.fair_share(len(desired), processes)
        excess = len(self.streams) - share
        if excess > 0:
            # Hand streams to the other processes (they pick them up on their next pass).
            for name in list(self.streams)[-min(excess, 50) :]:
                await self._stop_stream(name, "handed over to another run_streams process")
        for name, spec in desired.items():
            if len(self.streams) >= share:
                break
            if name in self.streams:
                continue
            lease = await self.leases.acquire(name)
            if lease is None:
                continue
            stream = UserStream(self, spec, lease.fence)
            self.streams[name] = stream
            try:
                await stream.start()
            except Exception:
                logger.warning("could not start %s", name, exc_info=True)
                self.streams.pop(name, None)
                await self.leases.release(name)

    async def _stop_stream(self, name: str, reason: str, *, release: bool = True) -> None:
        stream = self.streams.pop(name, None)
        if stream is not None:
            try:
                await stream.stop(reason)
            except Exception:
                logger.exception("stopping %s failed", name)
        if self.leases is not None:
            if release:
                await self.leases.release(name)
            else:
                self.leases.forget(name)

    async def _renew_loop(self) -> None:
        assert self.leases is not None
        interval = max(0.1, self.lease_ttl / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.leases.heartbeat(self._info())
                lost = await self.leases.renew_all()
            except Exception:
                logger.warning("lease renewal failed", exc_info=True)
                lost = []
            lost += self.leases.expired_locally()
            for name in lost:
                logger.warning("lease %s lost: stopping its stream", name)
                if name in self.streams:
                    await self._stop_stream(name, "lease lost", release=False)
                elif self.market is not None:
                    await self.market.lease_lost(name)
                self.leases.forget(name)
            # Never let a slow database delay the next renewal.
            if self._flush is None or self._flush.done():
                self._flush = asyncio.create_task(self._flush_activity())

    async def _flush_activity(self) -> None:
        from exchanges.services import live

        activity = {
            (s.spec.connection_id, s.spec.kind): (s.last_event_at, s.fence)
            for s in self.streams.values()
            if s.last_event_at is not None
        }
        if activity:
            with contextlib.suppress(Exception):
                await self.run_sync(live.stream_activity_record, activity=activity)

    # -- reconciliation -----------------------------------------------------------------------

    async def reconcile(self, stream: UserStream, *, full: bool) -> None:
        from exchanges.services import live

        async with self._reconcile_slots:
            try:
                await self.run_sync(
                    live.stream_reconcile,
                    connection_id=stream.spec.connection_id,
                    kind=stream.spec.kind,
                    full=full,
                )
            except Exception:
                logger.warning(
                    "reconciliation of %s failed; retrying soon", stream.spec.name, exc_info=True
                )
                self.reconcile_soon(stream)

    def reconcile_soon(self, stream: UserStream, delay: float = 2.0) -> None:
        name = stream.spec.name
        if name in self._reconcile_later:
            return
        self._reconcile_later.add(name)

        async def later() -> None:
            await asyncio.sleep(delay)
            self._reconcile_later.discard(name)
            if self.streams.get(name) is stream:
                await self.reconcile(stream, full=True)

        asyncio.get_running_loop().create_task(later())

    # -- control channel ----------------------------------------------------------------------

    async def _control_loop(self) -> None:
        assert self.redis is not None
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(CONTROL_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await self._on_control(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("control channel failed; resubscribing", exc_info=True)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _on_control(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        op = message.get("op")
        if op == "refresh":
            self.wake()
        elif op == "market" and self.market is not None:
            self.market.sync_soon()
        elif op == "reconnect":
            stream = self.streams.get(str(message.get("stream")))
            if stream is not None:
                await stream.restart(str(message.get("reason", "requested")))

    def snapshot(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "streams": [s.snapshot() for s in self.streams.values()],
            "market": self.market.snapshot() if self.market else [],
        }
