"""The state of every stream, for ``manage.py streams_status`` and GET /api/streams/status."""

from __future__ import annotations

import time
from typing import Any

import redis as redis_sync
from django.conf import settings

from exchanges.models import StreamState, StreamStatus
from exchanges.streams.leases import PROCESSES_KEY, lease_key, parse_lease_value

#: States that count as an outage for --check ("refused" is the key owner's problem, shown in
#: the UI, and "stopped" streams should not run).
UNHEALTHY = {StreamStatus.DOWN}
#: (Re)connecting is normal for a moment; longer than this it counts as down.
TRANSIENT = {StreamStatus.RECONNECTING, StreamStatus.CONNECTING, "not started"}
TRANSIENT_GRACE = 60.0


def _redis() -> redis_sync.Redis:
    return redis_sync.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def live_processes() -> dict[str, str]:
    now_ms = int(time.time() * 1000)
    out = {}
    for holder, value in _redis().hgetall(PROCESSES_KEY).items():
        stamp, _, info = value.partition("|")
        if now_ms - int(stamp) <= settings.STREAMS_LEASE_TTL * 1000:
            out[holder] = info
    return out


def stream_rows(*, user=None) -> list[dict[str, Any]]:
    """Every stream that should run (and the stopped ones with a state), with its lease holder.

    ``user``: only that user's streams (None: all, for staff and the command).
    """
    from exchanges.services.live import desired_streams

    desired = desired_streams()
    if user is not None:
        desired = [spec for spec in desired if spec.owner_id == user.pk]
    states = StreamState.objects.select_related("connection")
    if user is not None:
        states = states.filter(connection__owner=user)
    by_key = {(s.connection_id, s.kind): s for s in states}
    names = [spec.name for spec in desired]
    leases = _redis().mget([lease_key(n) for n in names]) if names else []
    rows = []
    for spec, lease in zip(desired, leases, strict=True):
        state = by_key.pop((spec.connection_id, spec.kind), None)
        holder = parse_lease_value(lease)
        rows.append(_row(spec.connection_id, spec.owner_id, spec.kind, state, holder, True))
    for (connection_id, kind), state in by_key.items():
        rows.append(_row(connection_id, state.connection.owner_id, kind, state, None, False))
    rows.sort(key=lambda r: (r["connection_id"], r["kind"]))
    return rows


def _row(connection_id, owner_id, kind, state, holder, should_run) -> dict[str, Any]:
    status = state.status if state else "not started"
    return {
        "connection_id": connection_id,
        "owner_id": owner_id,
        "kind": kind,
        "should_run": should_run,
        "status": status,
        "reason": state.reason if state else "",
        "holder": holder[0] if holder else None,
        "last_event_at": state.last_event_at if state else None,
        "connected_at": state.connected_at if state else None,
        "reconnect_count": state.reconnect_count if state else 0,
        "listen_key": f"…{state.listen_key_last4}" if state and state.listen_key_last4 else None,
        "updated_at": state.updated_at if state else None,
    }


def health_problems(rows: list[dict[str, Any]], processes: dict[str, str]) -> list[str]:
    problems = []
    now = time.time()
    if not processes:
        problems.append("no run_streams process is alive (no heartbeat in Redis)")
    for row in rows:
        if not row["should_run"]:
            continue
        name = f"user:{row['connection_id']}:{row['kind']}"
        if row["holder"] is None:
            problems.append(f"{name}: no run_streams process holds its lease")
        elif row["status"] in UNHEALTHY or (
            row["status"] in TRANSIENT
            and (row["updated_at"] is None or row["updated_at"].timestamp() < now - TRANSIENT_GRACE)
        ):
            problems.append(f"{name}: {row['status']} {row['reason']}".strip())
    return problems
