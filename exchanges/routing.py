"""Websocket routes and the Origin check in front of them."""

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from exchanges.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]


class BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin on a websocket handshake: it must name one of
    ALLOWED_HOSTS, so a page on a foreign site cannot open a socket with the user's cookie.
    Clients that send no Origin (scripts) pass here and must authenticate with a JWT in their
    first message (the consumer refuses a session-less socket that has an Origin)."""

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def AllowedHostsOrNoOriginValidator(application):
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
