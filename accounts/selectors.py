"""Reads about users' security state; every selector takes the owner."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.contrib.sessions.models import Session
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, User, UserSession

# Audit actions are named "<category>.<what happened>"; these are the categories the audit
# page filters by. Other apps record with accounts.services.audit_record using the same shape,
# e.g. "connection.added", "order.placed", "killswitch.enabled", "futures.enabled".
AUDIT_CATEGORIES = {
    "auth": "Logins and re-authentication",
    "2fa": "Two-factor authentication",
    "token": "API tokens",
    "session": "Sessions",
    "account": "Account",
    "connection": "Exchange connections and keys",
    "futures": "Futures",
    "order": "Orders",
    "killswitch": "Kill switch",
}


def api_tokens_for_user(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at", "-id")


def sessions_for_user(*, user: User) -> QuerySet[UserSession]:
    """The user's sessions that still exist and have not expired (database session store)."""
    live = Session.objects.filter(expire_date__gt=timezone.now()).values("session_key")
    return UserSession.objects.filter(user=user, session_key__in=live)


def audit_events_visible_to(
    *,
    viewer: User,
    category: str = "",
    since: date | None = None,
    until: date | None = None,
    user_email: str = "",
) -> QuerySet[AuditEvent]:
    """The viewer's own events; staff see every user's (optionally one user's by e-mail)."""
    events = AuditEvent.objects.select_related("user")
    if viewer.is_staff:
        if user_email:
            events = events.filter(user__email__iexact=user_email.strip())
    else:
        events = events.filter(user=viewer)
    if category in AUDIT_CATEGORIES:
        events = events.filter(action__startswith=f"{category}.")
    if since is not None:
        events = events.filter(created_at__gte=datetime.combine(since, time.min, tzinfo=UTC))
    if until is not None:
        events = events.filter(created_at__lte=datetime.combine(until, time.max, tzinfo=UTC))
    return events.order_by("-created_at", "-id")
