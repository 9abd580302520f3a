"""Two-factor authentication: TOTP devices (django-otp) and hashed one-time recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import RecoveryCode, User
from accounts.services import audit_record, notify_security_event
from klineo.exceptions import ApplicationError

RECOVERY_CODE_COUNT = 10
# 16 characters from a 32-letter alphabet without look-alikes: 80 bits per code.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz234567890"


def totp_device_get(*, user: User) -> TOTPDevice | None:
    """The user's confirmed TOTP device, or None when 2FA is off."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def two_factor_enabled(*, user: User) -> bool:
    return user.is_authenticated and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """Create (or reuse) the unconfirmed TOTP device whose secret the enrolment page shows."""
    if two_factor_enabled(user=user):
        raise ApplicationError("Two-factor authentication is already on.", code="2fa_enabled")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def _normalise_recovery_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _recovery_digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{_normalise_recovery_code(code)}".encode()).hexdigest()


def _recovery_codes_replace(*, user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        salt = secrets.token_hex(16)
        RecoveryCode.objects.create(user=user, salt=salt, code_hash=_recovery_digest(salt, raw))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    # "totp" or "recovery" when ok; "invalid" or "throttled" when not.
    kind: str
    retry_after: int = 0


def second_factor_check(*, user: User, code: str) -> CodeCheck:
    """Verify a 6-digit TOTP code or a one-time recovery code (which is then used up).

    django-otp throttles the TOTP device (1, 2, 4, ... seconds between failures) and refuses a
    code that was already accepted once; callers also report failures to django-axes.
    """
    code = (code or "").strip()
    device = totp_device_get(user=user)
    if device is None:
        return CodeCheck(ok=False, kind="invalid")
    allowed, info = device.verify_is_allowed()
    if not allowed:
        locked_until = (info or {}).get("locked_until")
        wait = int((locked_until - timezone.now()).total_seconds()) + 1 if locked_until else 1
        return CodeCheck(ok=False, kind="throttled", retry_after=max(wait, 1))
    if re.fullmatch(r"\d{6}", code.replace(" ", "")):
        if device.verify_token(code.replace(" ", "")):
            return CodeCheck(ok=True, kind="totp")
        return CodeCheck(ok=False, kind="invalid")
    normalised = _normalise_recovery_code(code)
    if len(normalised) == 16:
        with transaction.atomic():
            candidates = RecoveryCode.objects.select_for_update().filter(
                user=user, used_at__isnull=True
            )
            for candidate in candidates:
                if hmac.compare_digest(
                    candidate.code_hash, _recovery_digest(candidate.salt, normalised)
                ):
                    candidate.used_at = timezone.now()
                    candidate.save(update_fields=["used_at"])
                    device.throttle_reset()
                    return CodeCheck(ok=True, kind="recovery")
    # A wrong recovery code slows down the next attempt exactly like a wrong TOTP code.
    device.throttle_increment()
    return CodeCheck(ok=False, kind="invalid")


def recovery_codes_remaining(*, user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def totp_enrolment_confirm(*, user: User, code: str, request=None) -> list[str]:
    """Turn 2FA on once the app shows a valid code; returns the recovery codes (shown once)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        raise ApplicationError("Start the set-up again.", code="2fa_not_started")
    code = (code or "").replace(" ", "")
    if not re.fullmatch(r"\d{6}", code) or not device.verify_token(code):
        raise ApplicationError(
            "That code is not valid. Check the time on your phone and try the current code.",
            code="otp_invalid",
            fields={"code": ["That code is not valid."]},
        )
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = _recovery_codes_replace(user=user)
        audit_record(user=user, action="2fa.enabled", request=request)
        notify_security_event(
            user=user,
            subject="two-factor authentication turned on",
            body="Two-factor authentication is now required to log into your KLINEO account.",
            request=request,
        )
    return codes


def recovery_codes_regenerate(*, user: User, request=None) -> list[str]:
    """Replace every recovery code (the old ones stop working). Call after re-authentication."""
    if not two_factor_enabled(user=user):
        raise ApplicationError("Two-factor authentication is off.", code="2fa_disabled")
    with transaction.atomic():
        codes = _recovery_codes_replace(user=user)
        audit_record(user=user, action="2fa.recovery_codes_regenerated", request=request)
        notify_security_event(
            user=user,
            subject="new 2FA recovery codes",
            body="New recovery codes were generated; the previous ones no longer work.",
            request=request,
        )
    return codes


def two_factor_disable(*, user: User, request=None) -> None:
    """Turn 2FA off. Callers must have re-authenticated the user (password + code) first."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        audit_record(user=user, action="2fa.disabled", request=request)
        notify_security_event(
            user=user,
            subject="two-factor authentication turned off",
            body="Two-factor authentication was turned off for your KLINEO account.",
            request=request,
        )
