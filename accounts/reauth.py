"""Re-authentication ("sudo mode") for risky actions.

Other apps call, before the risky write::

    from accounts.reauth import require_recent_auth
    require_recent_auth(request, action="connection.add")

It returns when the credential re-authenticated (password, plus the 2FA code when 2FA is on)
within REAUTH_MAX_AGE, and raises ReauthRequired (an ApplicationError, code
"reauth_required", HTTP 403) otherwise. API views need nothing more (the DRF handler renders
it); HTML views get a redirect to /accounts/reauth/?next=... from ReauthRedirectMiddleware.

Per credential:
- browser session (HTML pages and session-authenticated API calls): the time is kept in the
  session, so it ends with the session.
- JWT: POST /api/auth/reauth returns a new access token carrying a signed `reauth_at` claim;
  /api/auth/refresh never copies it, so the proof dies with that access token.
- API token: counts as re-authenticated. It was created after a re-authentication, carries only
  the scopes chosen then (which ScopePermission has already checked for the endpoint), may be
  tied to IP ranges and an expiry, and is revocable. Pass `scope=` to demand a specific one.
  Token management, 2FA and account deletion are INTERACTIVE-only: tokens never reach them.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.urls import reverse

from accounts.models import User
from accounts.permissions import credential_kind
from accounts.services import audit_record, login_record_failure
from accounts.services.two_factor import second_factor_check, two_factor_enabled
from klineo.exceptions import ApplicationError

REAUTH_MAX_AGE = int(getattr(settings, "KLINEO_REAUTH_SECONDS", 600))
SESSION_KEY = "klineo_reauth_at"
MAINNET_SESSION_KEY = "klineo_mainnet_orders_confirmed"
JWT_CLAIM = "reauth_at"


class ReauthRequired(ApplicationError):
    status_code = 403

    def __init__(self, *, action: str, next_url: str = "") -> None:
        login_url = reverse("accounts:reauth")
        if next_url:
            login_url += "?" + urlencode({"next": next_url})
        super().__init__(
            "Confirm it is you: enter your password again (and your 2FA code if it is on).",
            code="reauth_required",
            extra={
                "action": action,
                "reauth_url": login_url,
                "reauth_api": "/api/auth/reauth",
                "reauth_valid_seconds": REAUTH_MAX_AGE,
            },
        )


def _now() -> float:
    return time.time()


def reauth_age(request) -> float | None:
    """Seconds since this credential re-authenticated, or None if it never did."""
    kind = credential_kind(request)
    if kind == "jwt":
        stamp = request.auth.get(JWT_CLAIM)
    elif kind == "session":
        stamp = request.session.get(SESSION_KEY)
    else:
        return None
    if stamp is None:
        return None
    return max(_now() - float(stamp), 0.0)


def reauth_is_fresh(request) -> bool:
    age = reauth_age(request)
    return age is not None and age <= REAUTH_MAX_AGE


def require_recent_auth(request, *, action: str, scope: str | None = None) -> None:
    """Raise ReauthRequired unless the request's credential re-authenticated recently.

    `action` names the risky action ("connection.add", "futures.enable", "killswitch.change",
    "order.first_mainnet", "token.create", ...): it is echoed in the error for the client.
    `scope`: for API tokens, the scope the token must hold to count as re-authenticated.
    """
    kind = credential_kind(request)
    if kind == "anonymous":
        raise ApplicationError("Log in first.", code="not_authenticated", status_code=401)
    if kind == "token":
        if scope is not None and scope not in request.auth.scopes:
            raise ApplicationError(
                f"This API token lacks the permission {scope}.",
                code="scope_missing",
                extra={"missing_scopes": [scope]},
                status_code=403,
            )
        return
    if not reauth_is_fresh(request):
        next_url = request.get_full_path() if kind == "session" else ""
        raise ReauthRequired(action=action, next_url=next_url)


def _mainnet_cache_key(request) -> str:
    session_id = request.auth.get("sid") or request.auth.get("jti")
    return f"accounts:mainnet-confirmed:{session_id}"


def require_first_mainnet_order_auth(request) -> None:
    """Call before placing a mainnet order: the first one of a login session needs a fresh
    re-authentication; later ones in the same session do not.

    "Session" means the browser session, or for JWTs the login that issued the refresh token
    (its `sid` claim survives refreshes). API tokens pass (PLACE_ORDERS already checked).
    """
    kind = credential_kind(request)
    if kind == "token":
        require_recent_auth(request, action="order.first_mainnet", scope="PLACE_ORDERS")
        return
    if kind == "session" and request.session.get(MAINNET_SESSION_KEY):
        return
    if kind == "jwt" and cache.get(_mainnet_cache_key(request)):
        return
    require_recent_auth(request, action="order.first_mainnet")
    if kind == "session":
        request.session[MAINNET_SESSION_KEY] = True
    elif kind == "jwt":
        lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()
        cache.set(_mainnet_cache_key(request), True, timeout=int(lifetime))


def reauth_verify(request, *, user: User, password: str, otp: str = "") -> None:
    """Check the password (and 2FA code when enabled) of the logged-in user.

    Failures are audited and counted by django-axes like failed logins, so guessing here locks
    the account out just like guessing at the login page. Raises ApplicationError.
    """
    from axes.handlers.proxy import AxesProxyHandler

    django_request = getattr(request, "_request", request)
    if not AxesProxyHandler.is_allowed(django_request, {"username": user.email}):
        raise ApplicationError(
            "Too many failed attempts. Try again in 15 minutes.", code="locked_out", status_code=429
        )
    if authenticate(django_request, username=user.email, password=password or "") != user:
        audit_record(
            user=user, action="auth.reauth_failed", request=django_request, reason="password"
        )
        raise ApplicationError(
            "Wrong password.",
            code="invalid_credentials",
            fields={"password": ["Wrong password."]},
            status_code=403,
        )
    if two_factor_enabled(user=user):
        otp = (otp or "").strip()
        if not otp:
            raise ApplicationError(
                "Enter the code from your authenticator app.",
                code="otp_required",
                fields={"otp": ["Enter the code from your authenticator app."]},
                status_code=403,
            )
        check = second_factor_check(user=user, code=otp)
        if not check.ok:
            login_record_failure(
                email=user.email, request=django_request, via="reauth", reason=f"otp_{check.kind}"
            )
            raise otp_error(check)
    audit_record(user=user, action="auth.reauthenticated", request=django_request)


def otp_error(check, *, status_code: int = 403) -> ApplicationError:
    if check.kind == "throttled":
        return ApplicationError(
            f"Too many wrong codes. Wait {check.retry_after} seconds and try again.",
            code="otp_throttled",
            extra={"retry_after": check.retry_after},
            status_code=429,
        )
    return ApplicationError(
        "That code is not valid.",
        code="otp_invalid",
        fields={"otp": ["That code is not valid."]},
        status_code=status_code,
    )


def reauth_mark_session(request) -> None:
    request.session[SESSION_KEY] = _now()


def reauth_access_token(request) -> str:
    """A new access token for the JWT of `request`, carrying the `reauth_at` proof."""
    from rest_framework_simplejwt.tokens import AccessToken

    access = AccessToken.for_user(request.user)
    for claim in ("email", "permissions", "sid"):
        if claim in request.auth.payload:
            access[claim] = request.auth.payload[claim]
    access[JWT_CLAIM] = int(_now())
    return str(access)
