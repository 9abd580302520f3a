"""One user-data stream of one exchange connection, held under a lease by the runtime."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exchanges.binance.streams import (
    FuturesUserDataStream,
    ReconnectInfo,
    SpotUserDataStream,
    StatusChange,
    StreamOptions,
)
from exchanges.binance.streams import StreamStatus as BinanceStatus

if TYPE_CHECKING:
    from exchanges.streams.runtime import StreamsRuntime

logger = logging.getLogger("exchanges.streams")


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A user-data stream that should run: what the database says, nothing secret."""

    connection_id: int
    owner_id: int
    environment: str
    kind: str  # "spot" or "usdm"

    @property
    def name(self) -> str:
        return f"user:{self.connection_id}:{self.kind}"


class UserStream:
    """Wraps exchanges.binance's stream: events -> database -> browser, status -> StreamState."""

    def __init__(self, runtime: StreamsRuntime, spec: StreamSpec, fence: int) -> None:
        self.runtime = runtime
        self.spec = spec
        self.fence = fence
        self.stream: SpotUserDataStream | FuturesUserDataStream | None = None
        self.last_event_at: float | None = None
        self.events = 0
        self._restarting = False
        self._reported: tuple[str, str] | None = None
        self.takeover = False

    @property
    def status(self) -> str:
        return self.stream.status.value if self.stream else "down"

    async def start(self) -> None:
        from exchanges.services import live

        built = await self.runtime.run_sync(
            live.stream_client_parts, self.spec.connection_id, self.spec.kind
        )
        if built is None:  # the connection vanished between the poll and now
            raise LookupError(f"connection {self.spec.connection_id} is gone")
        urls, credentials, recv_window, previous = built
        # A stream another process was holding when it died (or one that was reconnecting)
        # may have missed anything: its first connection gets the full reconciliation.
        self.takeover = previous not in (None, "stopped", "refused")
        options = StreamOptions(
            # Spot answers an application-level ping, so a mute connection is found; futures
            # user data is legitimately silent for hours, so there only websocket pings count
            # (and the listenKey keepalive notices a dead key).
            silence_timeout=self.runtime.silence_timeout if self.spec.kind == "spot" else None,
            probe_timeout=self.runtime.probe_timeout,
            backoff_max=self.runtime.backoff_max,
            proxy=self.runtime.proxy,
        )
        common: dict[str, Any] = {
            "options": options,
            "on_event": self._on_event,
            "on_status": self._on_status,
            "on_reconnect": self._on_reconnect,
        }
        if self.spec.kind == "spot":
            self.stream = SpotUserDataStream(
                urls,
                credentials,
                recv_window=recv_window,
                name=f"{self.spec.environment}:spot-user:{self.spec.connection_id}",
                **common,
            )
        else:
            self.stream = FuturesUserDataStream(
                urls,
                self._listen_key,
                name=f"{self.spec.environment}:usdm-user:{self.spec.connection_id}",
                **common,
            )
        await self.stream.start()

    async def stop(self, reason: str = "stopped") -> None:
        if self.stream is not None:
            self._restarting = True  # the DOWN "stopped" of the library is reported below
            await self.stream.stop()
            self._restarting = False
        await self._report("stopped", reason)

    async def restart(self, reason: str) -> None:
        """Reconnect now (e.g. a new listenKey was created by the keepalive task)."""
        if self.stream is None:
            return
        self._restarting = True
        try:
            await self.stream.stop()
        finally:
            self._restarting = False
        logger.info("stream %s restarting: %s", self.spec.name, reason)
        await self.stream.start()

    # -- callbacks from exchanges.binance.streams ---------------------------------------------

    async def _listen_key(self) -> str:
        from exchanges.services import live

        return await self.runtime.run_sync(
            live.listen_key_obtain,
            connection_id=self.spec.connection_id,
            fence=self.fence,
            holder=self.runtime.holder,
        )

    async def _on_event(self, event: dict[str, Any]) -> None:
        from exchanges.services import live

        self.last_event_at = time.time()
        self.events += 1
        try:
            await self.runtime.run_sync(
                live.user_event_apply,
                connection_id=self.spec.connection_id,
                kind=self.spec.kind,
                event=event,
            )
        except Exception:
            # A bad event must not end the stream; the next reconciliation repairs the row.
            logger.exception("applying %s event of %s failed", event.get("e"), self.spec.name)
            self.runtime.reconcile_soon(self)

    async def _on_status(self, change: StatusChange) -> None:
        if self._restarting and change.status is BinanceStatus.DOWN:
            return
        status = change.status.value
        # Refused subscriptions (bad key, no permission) are not an outage of KLINEO.
        if status == "down" and ("refused" in change.reason or "revoked" in change.reason):
            status = "refused"
        await self._report(status, change.reason)

    async def _report(self, status: str, reason: str) -> None:
        from exchanges.services import live

        if self._reported == (status, reason) and status != "reconnecting":
            return
        self._reported = (status, reason)
        try:
            await self.runtime.run_sync(
                live.stream_status_record,
                connection_id=self.spec.connection_id,
                owner_id=self.spec.owner_id,
                kind=self.spec.kind,
                status=status,
                reason=reason,
                fence=self.fence,
                holder=self.runtime.holder,
            )
        except Exception:
            logger.exception("recording the status of %s failed", self.spec.name)

    async def _on_reconnect(self, info: ReconnectInfo) -> None:
        # Awaited before any event of the new connection is delivered: whatever happened while
        # no connection was up is fetched over REST now, so nothing is lost.
        await self.runtime.reconcile(self, full=not info.initial or self.takeover)

    def snapshot(self) -> dict[str, Any]:
        return {
            "stream": self.spec.name,
            "status": self.status,
            "events": self.events,
            "last_event_at": self.last_event_at,
            "connections": self.stream.connections if self.stream else 0,
        }
