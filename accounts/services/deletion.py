"""Account deletion: erase secrets and personal data, keep an anonymised trading history.

The user row is anonymised and deactivated, not deleted, so orders (exchanges.models.Order,
owner FK to the user) stay as history without a person attached: what tax and anti-fraud rules
expect an operator to keep. What is erased:

- exchange keys: the exchanges app's `exchanges.services.connections_erase_for_user(*, user)`
  wipes the encrypted secrets (and whatever else it decides). If the app has an
  ExchangeConnection model but no such hook, deletion is refused rather than leave keys behind.
- API tokens, TOTP devices, recovery codes, every session (the user is logged out everywhere);
- e-mail, name and password (the row becomes deleted-<id>@deleted.invalid, unusable password,
  inactive, no staff rights, kill switch on);
- IP addresses, user agents and e-mail addresses in the user's audit events (the events stay,
  so the anonymised history still says what happened when).
"""

from __future__ import annotations

import importlib

from django.apps import apps
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken, AuditEvent, RecoveryCode, User
from accounts.services import audit_record, notify_security_event
from accounts.services.sessions import sessions_logout_all
from klineo.exceptions import ApplicationError

ERASE_HOOK = ("exchanges.services", "connections_erase_for_user")


def _exchange_eraser():
    module_name, function_name = ERASE_HOOK
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        module = None
    hook = getattr(module, function_name, None) if module is not None else None
    if hook is None:
        try:
            apps.get_model("exchanges", "ExchangeConnection")
        except LookupError:
            return None  # nothing holds exchange keys yet
        raise ApplicationError(
            "Account deletion is unavailable: exchange keys cannot be erased yet. "
            "Remove your exchange connections first or ask the administrator.",
            code="deletion_unavailable",
        )
    return hook


def account_delete(*, user: User, request=None) -> None:
    """Erase the account (see the module docstring). Callers must require re-authentication."""
    if user.deleted_at is not None:
        return
    eraser = _exchange_eraser()
    old_email = user.email
    with transaction.atomic():
        # Addressed now, sent after commit: the last message to the old address.
        notify_security_event(
            user=user,
            subject="your account was deleted",
            body="Your KLINEO account was deleted: exchange keys, API tokens and personal data "
            "were erased. Your order history is kept without your name or e-mail address.",
        )
        if eraser is not None:
            eraser(user=user)
        ApiToken.objects.filter(user=user).delete()
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        sessions_logout_all(user=user)
        AuditEvent.objects.filter(user=user).update(ip_address=None, user_agent="")
        for event in AuditEvent.objects.filter(details__email__iexact=old_email):
            event.details = {**event.details, "email": ""}
            event.save(update_fields=["details"])
        user.email = f"deleted-{user.pk}@deleted.invalid"
        user.display_name = ""
        user.set_unusable_password()
        user.is_active = False
        user.is_staff = False
        user.is_superuser = False
        user.kill_switch_enabled = True
        user.deleted_at = timezone.now()
        user.save()
        user.groups.clear()
        user.user_permissions.clear()
        audit_record(user=user, action="account.deleted")
