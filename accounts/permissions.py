"""Scope enforcement for every API endpoint (fail closed).

Every DRF view declares what a credential must hold, per HTTP method::

    class BalanceView(APIView):
        required_scopes = {"GET": [Scope.VIEW_BALANCES], "POST": [Scope.MANAGE_CONNECTIONS]}

- ``[]``: any authenticated credential (session, JWT or API token);
- ``[INTERACTIVE]``: a person who logged in (session or JWT), never an API token;
- ``PUBLIC`` (instead of a dict): no authentication needed (login, register, refresh).

``ScopePermission`` is the project's DEFAULT_PERMISSION_CLASSES entry: a view that declares
nothing, or a method missing from its dict, is refused with 403 ``scopes_not_declared``.
HEAD and OPTIONS use GET's declaration.

Nothing here may import rest_framework.views at module level (see accounts/authentication.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from rest_framework.permissions import BasePermission

from accounts.models import ApiToken, Scope

logger = logging.getLogger(__name__)

PUBLIC = "PUBLIC"
# Held by sessions and JWTs (a person typed a password), never by API tokens.
INTERACTIVE = "INTERACTIVE"


def credential_kind(request) -> str:
    """ "token", "jwt", "session" or "anonymous" for a DRF request (or a plain Django one)."""
    from rest_framework_simplejwt.tokens import Token

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "anonymous"
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return "token"
    if isinstance(auth, Token):
        return "jwt"
    return "session"


def credential_scopes(request) -> frozenset[str]:
    """The scopes the credential of this request holds, never more than its user holds."""
    kind = credential_kind(request)
    if kind == "anonymous":
        return frozenset()
    user_scopes = frozenset(request.user.scopes)
    if kind == "token":
        return frozenset(request.auth.scopes) & user_scopes
    if kind == "jwt":
        claimed = request.auth.get("permissions") or []
        return (frozenset(claimed) & user_scopes) | {INTERACTIVE}
    return user_scopes | {INTERACTIVE}


def declared_scopes(view, method: str) -> list[str] | str | None:
    """What `view` requires for `method`: a list of scopes, PUBLIC, or None (undeclared)."""
    declaration = getattr(view, "required_scopes", None)
    if declaration == PUBLIC:
        return PUBLIC
    if not isinstance(declaration, dict):
        return None
    method = method.upper()
    if method in ("HEAD", "OPTIONS") and method not in declaration:
        method = "GET"
    scopes = declaration.get(method)
    return None if scopes is None else [str(scope) for scope in scopes]


def _labels(scopes: Iterable[str]) -> str:
    names = {scope.value: scope.value for scope in Scope}
    return ", ".join(names.get(scope, scope) for scope in scopes)


class ScopePermission(BasePermission):
    """Refuse a request unless the view declared scopes for its method and the credential holds
    them all. Undeclared means refused, so a forgotten declaration can never open an endpoint."""

    def has_permission(self, request, view) -> bool:
        # Imported here: DRF loads this module while rest_framework.views is still importing.
        from klineo.exceptions import ApplicationError

        required = declared_scopes(view, request.method)
        if required == PUBLIC:
            return True
        if required is None:
            logger.error(
                "API view %s declares no required_scopes for %s; refusing.",
                type(view).__name__,
                request.method,
            )
            raise ApplicationError(
                "This endpoint is not available: it does not declare its permissions.",
                code="scopes_not_declared",
                status_code=403,
            )
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 not_authenticated
        held = credential_scopes(request)
        missing = [scope for scope in required if scope not in held]
        if not missing:
            return True
        if INTERACTIVE in missing:
            raise ApplicationError(
                "API tokens cannot be used for this. Log in with your password instead.",
                code="token_not_allowed",
                status_code=403,
            )
        raise ApplicationError(
            f"This credential lacks the permission {_labels(missing)}.",
            code="scope_missing",
            extra={"missing_scopes": missing},
            status_code=403,
        )
