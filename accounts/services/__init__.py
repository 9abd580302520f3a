"""Writes about users: registration, profile, audit entries, security notifications.

Feature areas live in submodules: two_factor, tokens, sessions, deletion.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from klineo.exceptions import ApplicationError


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def client_user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""


def audit_record(*, user: User | None, action: str, request=None, **details: Any) -> AuditEvent:
    """Record a security or trading event. `details` must never hold a secret."""
    return AuditEvent.objects.create(
        user=user,
        action=action,
        ip_address=client_ip(request),
        user_agent=client_user_agent(request),
        details=details,
    )


def user_register(*, email: str, password: str, display_name: str = "", request=None) -> User:
    """Create a user after validating the e-mail address and the password strength.

    Raises ApplicationError (code "invalid") naming the failing fields.
    """
    email = (email or "").strip().lower()
    fields: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        fields["email"] = ["Enter a valid e-mail address."]
    if not fields and User.objects.filter(email__iexact=email).exists():
        fields["email"] = ["An account with this e-mail address already exists."]
    try:
        password_validation.validate_password(password, User(email=email))
    except ValidationError as exc:
        fields["password"] = list(exc.messages)
    if fields:
        raise ApplicationError(next(iter(fields.values()))[0], code="invalid", fields=fields)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, display_name=display_name.strip()[:80]
            )
            audit_record(user=user, action="account.registered", request=request)
    except IntegrityError as exc:
        raise ApplicationError(
            "An account with this e-mail address already exists.",
            code="invalid",
            fields={"email": ["An account with this e-mail address already exists."]},
        ) from exc
    return user


def user_update_profile(*, user: User, display_name: str) -> User:
    user.display_name = display_name.strip()[:80]
    user.save(update_fields=["display_name"])
    return user


def notify_security_event(*, user: User, subject: str, body: str, request=None) -> None:
    """E-mail the user about a security-relevant change (keys, 2FA, tokens, new-IP logins).

    Sent by the Celery worker after the surrounding transaction commits, so a rolled-back
    change never produces an e-mail. `body` is plain text and must never contain a secret.
    """
    from accounts.tasks import send_email

    if not user.email or user.deleted_at is not None:
        return
    lines = [body.rstrip(), "", f"Time: {timezone.now():%Y-%m-%d %H:%M:%S} UTC"]
    if request is not None:
        lines.append(f"IP address: {client_ip(request) or 'unknown'}")
        lines.append(f"Browser or client: {client_user_agent(request) or 'unknown'}")
    lines += [
        "",
        "If this was not you, change your password, revoke your API tokens and log out other",
        "sessions from the Security page of KLINEO.",
    ]
    kwargs = {"to": user.email, "subject": f"KLINEO: {subject}", "body": "\n".join(lines)}
    transaction.on_commit(lambda: send_email.delay(**kwargs))


def login_record_success(*, user: User, request, via: str, **details: Any) -> AuditEvent:
    """Audit a completed login and e-mail the user when it comes from an IP not seen before."""
    ip = client_ip(request)
    known_ip = (
        ip is None
        or AuditEvent.objects.filter(
            user=user, ip_address=ip, action__in=["auth.login", "account.registered"]
        ).exists()
    )
    event = audit_record(user=user, action="auth.login", request=request, via=via, **details)
    if not known_ip:
        notify_security_event(
            user=user,
            subject="new login from an unfamiliar IP address",
            body=f"Your KLINEO account was logged into ({via}) from {ip}, an IP address it "
            "has not been used from before.",
            request=request,
        )
    return event


def login_record_failure(*, email: str, request, via: str, reason: str) -> None:
    """Audit a failed login step and let django-axes count it towards the lockout."""
    from django.contrib.auth.signals import user_login_failed

    user = User.objects.filter(email__iexact=email).first() if email else None
    audit_record(
        user=user,
        action="auth.login_failed",
        request=request,
        email=email[:254],
        via=via,
        reason=reason,
    )
    if reason != "password":
        # Wrong passwords are already counted by authenticate(); a wrong second factor is
        # reported the same way so password and code guesses share one lockout budget.
        user_login_failed.send(sender=__name__, credentials={"username": email}, request=request)
