"""The one place that pushes events to browsers (Channels groups), always after commit.

Each user has a monotonically increasing sequence number; the last EVENT_REPLAY_SIZE events are
kept in Redis so a reconnecting browser can resume with `since=<seq>` without missing anything.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
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

_redis: redis.Redis | None = None


def redis_client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return _redis


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _keys(user_id: int) -> tuple[str, str]:
    return f"klineo:events:{user_id}:seq", f"klineo:events:{user_id}:log"


def publish(*, user_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Push an event to the user's browsers once the current transaction commits."""
    transaction.on_commit(lambda: publish_now(user_id=user_id, event_type=event_type, data=data))


def publish_now(*, user_id: int, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(
        {"type": event_type, "ts": int(time.time() * 1000), "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    seq_key, log_key = _keys(user_id)
    raw = redis_client().eval(
        _APPEND_SCRIPT, 2, seq_key, log_key, body, EVENT_REPLAY_SIZE, EVENT_REPLAY_TTL
    )
    event = json.loads(raw)
    async_to_sync(get_channel_layer().group_send)(
        user_group(user_id), {"type": "live.event", "event": event}
    )
    return event


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
