"""Celery tasks of the live streams: futures listenKey keepalive / renewal / close, and the
futures balance refresh after trades. Thin: load by id, call one function, JSON arguments.

Every task is idempotent and holds a per-connection Redis lock, so a beat tick that overlaps a
slow run, or two workers, never PUT and POST the same key at once.
"""

from __future__ import annotations

import json
import logging

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from exchanges.binance import BinanceError
from exchanges.clients import client_for_connection
from exchanges.events import redis_client
from exchanges.models import ExchangeConnection, StreamKind, StreamState, StreamStatus
from exchanges.streams.leases import CONTROL_CHANNEL

logger = logging.getLogger("exchanges.streams")

LISTEN_KEY_MISSING = -1125
TASK_LIMITS = {"soft_time_limit": 20, "time_limit": 30}


def _lock(connection_id: int):
    return redis_client().lock(
        f"klineo:streams:lk-lock:{connection_id}", timeout=30, blocking_timeout=10
    )


def _notify_reconnect(connection_id: int, reason: str) -> None:
    message = {"op": "reconnect", "stream": f"user:{connection_id}:usdm", "reason": reason}
    redis_client().publish(CONTROL_CHANNEL, json.dumps(message))


@shared_task(**TASK_LIMITS)
def listen_keys_keepalive() -> int:
    """Beat: queue a keepalive for every running futures user-data stream."""
    ids = list(
        StreamState.objects.filter(
            kind=StreamKind.USDM,
            connection__deleted_at__isnull=True,
            connection__futures_enabled=True,
        )
        .exclude(status__in=[StreamStatus.STOPPED, StreamStatus.REFUSED])
        .values_list("connection_id", flat=True)
    )
    for connection_id in ids:
        listen_key_keepalive.delay(connection_id)
    return len(ids)


@shared_task(**TASK_LIMITS)
def listen_key_keepalive(connection_id: int) -> str:
    """PUT the connection's listenKey; when Binance says it no longer exists (-1125), POST a
    new one and tell run_streams to reconnect with it."""
    with _lock(connection_id):
        connection = ExchangeConnection.objects.filter(
            pk=connection_id, deleted_at__isnull=True, futures_enabled=True
        ).first()
        if connection is None:
            return "gone"
        with client_for_connection(connection) as client:
            try:
                client.usdm.keepalive_listen_key()
                outcome = "extended"
                last4 = None
            except BinanceError as exc:
                if exc.code != LISTEN_KEY_MISSING:
                    raise
                last4 = client.usdm.create_listen_key().listen_key[-4:]
                outcome = "recreated"
        fields = {"listen_key_renewed_at": timezone.now()}
        if last4:
            fields["listen_key_last4"] = last4
        StreamState.objects.filter(connection_id=connection_id, kind=StreamKind.USDM).update(
            **fields
        )
    if outcome == "recreated":
        logger.info("listenKey of connection %s had expired: recreated", connection_id)
        _notify_reconnect(connection_id, "listenKey recreated")
    return outcome


@shared_task(**TASK_LIMITS)
def listen_keys_close_stale() -> int:
    """Beat: close the listenKeys of removed or disabled connections."""
    ids = list(
        StreamState.objects.filter(kind=StreamKind.USDM)
        .exclude(listen_key_last4="")
        .filter(
            Q(connection__deleted_at__isnull=False)
            | Q(connection__futures_enabled=False)
            | Q(connection__owner__is_active=False)
        )
        .values_list("connection_id", flat=True)
    )
    for connection_id in ids:
        listen_key_close.delay(connection_id)
    return len(ids)


@shared_task(**TASK_LIMITS)
def listen_key_close(connection_id: int) -> str:
    """DELETE the connection's listenKey (if its keys still exist) and forget it."""
    with _lock(connection_id):
        connection = ExchangeConnection.objects.filter(pk=connection_id).first()
        outcome = "forgotten"
        if connection is not None and connection.api_key_encrypted:
            with client_for_connection(connection) as client:
                try:
                    client.usdm.close_listen_key()
                    outcome = "closed"
                except BinanceError as exc:
                    if exc.code != LISTEN_KEY_MISSING:
                        raise
        StreamState.objects.filter(connection_id=connection_id, kind=StreamKind.USDM).update(
            listen_key_last4="", updated_at=timezone.now()
        )
    return outcome


@shared_task(**TASK_LIMITS)
def futures_balances_refresh(connection_id: int) -> None:
    from exchanges.services import live

    live.futures_balances_publish(connection_id)
