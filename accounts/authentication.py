"""DRF authentication with scoped API tokens: ``Authorization: Token kln_...``.

DRF imports this module while rest_framework.views is still loading (it resolves
DEFAULT_AUTHENTICATION_CLASSES at class creation), so everything that leads back to
rest_framework.views (klineo.exceptions, accounts.services) is imported lazily.
"""

from __future__ import annotations

from functools import cache

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header


@cache
def _token_refused_class() -> type:
    from klineo.exceptions import ApplicationError

    class TokenRefused(ApplicationError, exceptions.AuthenticationFailed):
        """Rendered with its own code (an ApplicationError), and treated by DRF as a failed
        authentication (the request is marked unauthenticated, WWW-Authenticate is sent)."""

        def __init__(self, error: ApplicationError) -> None:
            ApplicationError.__init__(
                self, error.message, code=error.code, status_code=error.status_code
            )
            self.detail = error.message

    return TokenRefused


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        from accounts.services.tokens import api_token_authenticate
        from klineo.exceptions import ApplicationError

        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        try:
            if len(header) != 2:
                raise ApplicationError(
                    "Send the header as: Authorization: Token kln_...",
                    code="token_invalid",
                    status_code=401,
                )
            try:
                raw = header[1].decode()
            except UnicodeError:
                raw = ""
            token = api_token_authenticate(raw=raw, request=request._request)
        except ApplicationError as exc:
            raise _token_refused_class()(exc) from None
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
