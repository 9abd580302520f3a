"""Browser sessions: metadata kept beside the session store, and logging sessions out."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User, UserSession
from accounts.services import audit_record, client_ip, client_user_agent
from klineo.exceptions import NotFoundError

TOUCH_INTERVAL = timedelta(seconds=60)


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def session_touch(*, user: User, request) -> None:
    """Record that the request's session is in use (at most one write per minute)."""
    key = request.session.session_key
    if not key:
        return
    now = timezone.now()
    ip, agent = client_ip(request), client_user_agent(request)
    updated = UserSession.objects.filter(
        session_key=key, user=user, last_seen_at__lt=now - TOUCH_INTERVAL
    ).update(last_seen_at=now, ip_address=ip, user_agent=agent)
    if not updated:
        UserSession.objects.get_or_create(
            session_key=key,
            defaults={"user": user, "ip_address": ip, "user_agent": agent, "created_at": now},
        )


def session_logout(*, user: User, session_id: int, request=None) -> None:
    """End one of the user's sessions (another user's session is "not found")."""
    with transaction.atomic():
        row = UserSession.objects.filter(user=user, pk=session_id).first()
        if row is None:
            raise NotFoundError("No such session.")
        _session_store()(session_key=row.session_key).delete()
        row.delete()
        audit_record(user=user, action="session.logged_out", request=request, session_id=session_id)


def sessions_logout_all(*, user: User, except_key: str | None = None, request=None) -> int:
    """End every session of the user except `except_key` (the current one). Returns the count."""
    store = _session_store()
    with transaction.atomic():
        rows = list(UserSession.objects.filter(user=user).exclude(session_key=except_key or ""))
        for row in rows:
            store(session_key=row.session_key).delete()
        UserSession.objects.filter(pk__in=[row.pk for row in rows]).delete()
        if request is not None:
            audit_record(
                user=user, action="session.logged_out_others", request=request, count=len(rows)
            )
    return len(rows)
