"""The one place that pushes events to browsers (Channels groups), always after commit.

Each user has a monotonically increasing sequence number; the last EVENT_REPLAY_SIZE events are
kept in Redis so a reconnecting browser can resume with `since=<seq>` without missing anything.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
import time
from typing import Any

import redis
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

EVENT_REPLAY_SIZE = 500
EVENT_REPLAY_TTL = 24 * 3600

# INCR the user's sequence and append the event with that number in one atomic step, so the
# replay log is always in sequence order even with several publishing processes.
_APPEND_SCRIPT = """
local seq = redis.call('INCR', KEYS[1])
local event = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[2], event)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return event
"""

logger = logging.getLogger(__name__)

_redis: redis.Redis | None = None
_append = None


def redis_client() -> redis.Redis:
    global _redis, _append
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        # EVALSHA: the script is sent once, not with every event.
        _append = _redis.register_script(_APPEND_SCRIPT)
    return _redis


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _keys(user_id: int) -> tuple[str, str]:
    return f"klineo:events:{user_id}:seq", f"klineo:events:{user_id}:log"


def publish(*, user_id: int, event_type: str, data: dict[str, Any], robust: bool = False) -> None:
    """Push an event to the user's browsers once the current transaction commits.

    robust=True: a failure to push (Redis unreachable) is logged instead of raised, for callers
    whose own work (an order) must never fail because a browser could not be told.
    """
    transaction.on_commit(
        lambda: publish_now(user_id=user_id, event_type=event_type, data=data), robust=robust
    )


def publish_now(*, user_id: int, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(
        {"type": event_type, "ts": int(time.time() * 1000), "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    seq_key, log_key = _keys(user_id)
    redis_client()
    raw = _append(keys=[seq_key, log_key], args=[body, EVENT_REPLAY_SIZE, EVENT_REPLAY_TTL])
    event = json.loads(raw)
    _pusher.submit(user_group(user_id), {"type": "live.event", "event": event})
    return event


class _Pusher:
    """Sends channel-layer messages from one long-lived event loop per process.

    async_to_sync would build a new loop (and new Redis connections) for every push and cannot
    run in a thread that already has a loop; one loop thread keeps the connections warm, takes
    the round trips off the caller's latency and delivers in submission order. The sequence
    number and the replay log are written synchronously before submit, so a push that is lost
    (Redis down, process killed) is still replayed to a browser that resumes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._pid = 0

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        # Re-created after fork (Celery's prefork pool): threads do not survive fork().
        if self._loop is not None and self._pid == os.getpid():
            return self._loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(loop, ready), name="klineo-events", daemon=True
                )
                thread.start()
                ready.wait(5)
                self._loop, self._pid = loop, os.getpid()
        return self._loop

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._queue = asyncio.Queue()
        loop.create_task(self._consume(self._queue))
        loop.call_soon(ready.set)
        loop.run_forever()

    async def _consume(self, queue: asyncio.Queue) -> None:
        # A layer instance of its own: channels_redis keeps per-loop state (pools, locks) on the
        # instance, and sharing the process-wide one with the web server's loop can deadlock
        # when either loop closes.
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        while True:
            group, message, done = await queue.get()
            try:
                if group is not None:
                    await layer.group_send(group, message)
            except Exception:
                logger.warning("could not push an event to %s", group, exc_info=True)
            finally:
                if done is not None:
                    done.set()

    def submit(self, group: str | None, message: dict | None, done=None) -> None:
        loop = self._ensure_started()
        loop.call_soon_threadsafe(self._queue.put_nowait, (group, message, done))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every push submitted so far has been sent (tests, process exit)."""
        if self._loop is None or self._pid != os.getpid():
            return True
        done = threading.Event()
        self.submit(None, None, done)
        return done.wait(timeout)


_pusher = _Pusher()
atexit.register(_pusher.flush, 2.0)


def flush(timeout: float = 5.0) -> bool:
    return _pusher.flush(timeout)


def events_since(*, user_id: int, since: int) -> tuple[list[dict[str, Any]], bool]:
    """Events with seq > since, and whether they are complete (False: a gap, resync needed)."""
    seq_key, log_key = _keys(user_id)
    pipe = redis_client().pipeline()
    pipe.get(seq_key)
    pipe.lrange(log_key, 0, -1)
    current, raw_events = pipe.execute()
    current = int(current or 0)
    if since >= current:
        return [], since == current or current == 0
    events = [json.loads(raw) for raw in raw_events]
    missed = [event for event in events if event["seq"] > since]
    complete = bool(missed) and missed[0]["seq"] == since + 1
    return missed, complete


def current_seq(*, user_id: int) -> int:
    return int(redis_client().get(_keys(user_id)[0]) or 0)
