"""Reads of exchange connections. Every selector takes the owner, so one user can never reach
another user's rows: someone else's (or a deleted) connection is simply "not found"."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from exchanges.models import ExchangeConnection
from klineo.exceptions import NotFoundError


def connection_list(*, user: User) -> QuerySet[ExchangeConnection]:
    """The user's live (not deleted) connections, oldest first."""
    return ExchangeConnection.objects.filter(owner=user, deleted_at__isnull=True)


def connection_get(*, user: User, pk: int | str) -> ExchangeConnection:
    """The user's live connection `pk`; NotFoundError (404) for anyone else's or a deleted one."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFoundError("No such connection.") from None
    connection = connection_list(user=user).filter(pk=pk).first()
    if connection is None:
        raise NotFoundError("No such connection.")
    return connection


def connection_default(*, user: User) -> ExchangeConnection | None:
    """The connection a page uses when none is chosen: the most recently created live one."""
    return connection_list(user=user).order_by("-created_at", "-id").first()


def connections_summary(*, user: User) -> dict:
    """Counts for the dashboard: total, by test status, futures enabled, mainnet."""
    rows = list(connection_list(user=user))
    by_status: dict[str, int] = {"ok": 0, "warning": 0, "failing": 0, "untested": 0}
    for connection in rows:
        by_status[connection.test_status] += 1
    return {
        "connections": rows,
        "total": len(rows),
        "by_status": by_status,
        "futures_enabled": sum(1 for c in rows if c.futures_enabled),
        "mainnet": sum(1 for c in rows if c.is_mainnet),
    }
