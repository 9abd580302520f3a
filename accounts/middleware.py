"""Security middleware: session bookkeeping, security headers (CSP), re-auth redirects."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.shortcuts import redirect
from django.urls import reverse

from accounts.reauth import ReauthRequired
from accounts.services.sessions import TOUCH_INTERVAL, session_touch

# No inline scripts or styles anywhere: scripts and styles come from /static/ only (the charting
# library included); inline SVG/PNG data images are allowed for QR codes and icons.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self' {websockets}; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The Swagger UI of /api/docs/ is drf-spectacular's page: an inline bootstrap script and assets
# from jsdelivr. It shows no user data, so it alone gets a policy that allows both.
DOCS_PATH = "/api/docs/"
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://cdn.jsdelivr.net; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response.

    Django's SecurityMiddleware already sends X-Content-Type-Options, Referrer-Policy and
    Cross-Origin-Opener-Policy; XFrameOptionsMiddleware sends X-Frame-Options: DENY.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(DOCS_PATH):
            policy = DOCS_CONTENT_SECURITY_POLICY
        else:
            host = request.get_host()
            policy = CONTENT_SECURITY_POLICY.format(websockets=f"ws://{host} wss://{host}")
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response


class SessionActivityMiddleware:
    """Keeps UserSession rows (IP, user agent, last seen) for the sessions page.

    A Redis marker limits the database write to once a minute per session.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is not None and user.is_authenticated and session is not None:
            key = session.session_key
            marker = f"accounts:session-seen:{key}"
            if key and cache.add(marker, 1, timeout=int(TOUCH_INTERVAL.total_seconds())):
                session_touch(user=user, request=request)
        return self.get_response(request)


class ReauthRedirectMiddleware:
    """Turns ReauthRequired raised by an HTML view into a redirect to the re-auth page.

    (API views never get here: the DRF exception handler renders the error as JSON.)
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ReauthRequired) or request.path.startswith("/api/"):
            return None
        messages.info(request, "Confirm it is you to continue.")
        # After a refused POST, come back to the page (GET) and submit again.
        next_url = request.get_full_path()
        return redirect(reverse("accounts:reauth") + "?" + urlencode({"next": next_url}))
