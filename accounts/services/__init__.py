"""Writes about users: registration, profile, audit entries."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.models import AuditEvent, User
from klineo.exceptions import ApplicationError


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def audit_record(*, user: User | None, action: str, request=None, **details: Any) -> AuditEvent:
    """Record a security or trading event. `details` must never hold a secret."""
    return AuditEvent.objects.create(
        user=user,
        action=action,
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""),
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
