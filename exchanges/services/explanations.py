"""Binance failures in plain words: what happened and what to do next.

The client classifies every failure (`BinanceError.category`); this module turns a category plus
the context KLINEO knows (environment, spot or futures, which step) into a title, an explanation
and an action for a person. Nothing here ever includes a secret: only categories, codes, times.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.conf import settings
from rest_framework import status

from exchanges.binance import BinanceError, ErrorCategory
from klineo.exceptions import ApplicationError

ENVIRONMENT_SITES = {
    "mainnet": "binance.com (API Management)",
    "testnet": "testnet.binance.vision",
    "demo": "demo.binance.com (Demo Mode)",
    "sandbox": "this server's sandbox exchange",
}

WRONG_ENVIRONMENT_HINT = (
    "This key may belong to another environment: keys from testnet.binance.vision only work on "
    "Testnet, keys from demo.binance.com only on Demo, keys from binance.com only on Mainnet, "
    "and sandbox demo keys only on this server's sandbox."
)

NTP_HELP = (
    "Turn on time synchronisation on this server: `timedatectl set-ntp true` (systemd), or "
    "install chrony / ntpd; in Docker the container uses the host's clock, so fix the host. "
    "KLINEO signs with Binance's time, so small offsets are harmless."
)


@dataclass(frozen=True)
class Explanation:
    category: str
    title: str
    message: str
    action: str
    code: int | None = None
    http_status: int | None = None
    retry_after: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "in a minute or two"
    seconds = max(float(seconds), 0.0)
    until = dt.datetime.now(tz=dt.UTC) + dt.timedelta(seconds=seconds)
    if seconds < 120:
        span = f"{round(seconds)} s"
    elif seconds < 7200:
        span = f"{round(seconds / 60)} min"
    else:
        span = f"{seconds / 3600:.1f} h"
    return f"in {span} (after {until:%H:%M:%S} UTC)"


def sandbox_address() -> str:
    return f"http://{settings.SANDBOX_HOST}:{settings.SANDBOX_PORT}"


def explain(exc: BinanceError, *, environment: str, futures: bool = False) -> Explanation:
    """What a failed Binance request means for the user, in plain words, with the next step."""
    cat = exc.category
    where = ENVIRONMENT_SITES.get(environment, environment)
    base = {"category": cat.value, "code": exc.code, "http_status": exc.http_status}

    if cat is ErrorCategory.NETWORK:
        if environment == "sandbox":
            return Explanation(
                title="The sandbox exchange is not reachable",
                message=f"Nothing answers at {sandbox_address()}, where the sandbox should run.",
                action="Start it with `python manage.py run_sandbox` (`make run` starts it for "
                "you), or set SANDBOX_HOST / SANDBOX_PORT to where it runs.",
                **base,
            )
        return Explanation(
            title="Binance could not be reached",
            message="This server got no answer from Binance (network error, DNS or firewall).",
            action="Check the server's internet connection and DNS; if outgoing traffic must use "
            "a proxy, set BINANCE_HTTPS_PROXY. Then run the test again.",
            **base,
        )
    if cat is ErrorCategory.EXCHANGE_UNAVAILABLE or cat is ErrorCategory.UNKNOWN_OUTCOME:
        return Explanation(
            title="The exchange is unavailable",
            message="Binance answered with a server error or is overloaded (maintenance, "
            "an outage). Nothing is wrong with your keys as far as this tells.",
            action="Wait a few minutes and test again; binance.com/en/support/announcement lists "
            "maintenance windows.",
            **base,
        )
    if cat is ErrorCategory.RESTRICTED_REGION:
        return Explanation(
            title="Region blocked (HTTP 451)",
            message="Binance refuses service to this server's location (its IP address is in a "
            "restricted country or cloud region). Your keys were not checked.",
            action="Run KLINEO on a server in a region Binance serves, or route it through an "
            "allowed proxy with BINANCE_HTTPS_PROXY. Testnet and the sandbox work for trying "
            "KLINEO.",
            **base,
        )
    if cat is ErrorCategory.RATE_LIMITED:
        return Explanation(
            title="Rate limited (HTTP 429)",
            message="Binance counts request weight per server IP address, and every user of "
            "this KLINEO server shares that budget; it is used up for now. KLINEO pauses all "
            "requests until Binance allows them again, so the IP does not get banned.",
            action=f"Try again {_when(exc.retry_after)}.",
            retry_after=exc.retry_after,
            **base,
        )
    if cat is ErrorCategory.IP_BANNED:
        return Explanation(
            title="This server's IP is banned (HTTP 418)",
            message="Binance banned this server's IP address for a while after too many "
            "requests over the limit (bans grow from 2 minutes to 3 days for repeat offenders). "
            "KLINEO sends nothing until the ban ends.",
            action=f"Try again {_when(exc.retry_after)}. If other bots share this IP, slow "
            "them down.",
            retry_after=exc.retry_after,
            **base,
        )
    if cat is ErrorCategory.TIMESTAMP:
        return Explanation(
            title="Clock out of sync (-1021)",
            message="Binance rejected the request's timestamp: this server's clock differs too "
            "much from Binance's, even after KLINEO re-measured the offset.",
            action=NTP_HELP,
            **base,
        )
    if cat is ErrorCategory.AUTH_SIGNATURE:
        return Explanation(
            title="Wrong secret key (-1022)",
            message="Binance knows the API key but the signature does not match: the secret key "
            "(or private key) does not belong to this API key.",
            action="Copy the secret key again from where you saved it when creating the key "
            "(Binance shows it only once) and replace the keys of this connection; check that "
            "API key and secret were not swapped. If the secret is lost, create a new key.",
            **base,
        )
    if cat is ErrorCategory.IP_NOT_WHITELISTED:
        return Explanation(
            title="IP address not whitelisted",
            message="The key only accepts requests from listed IP addresses, and this server's "
            "address is not on the list.",
            action="In Binance API Management, edit the key's IP access restriction and add this "
            "server's public IP address.",
            **base,
        )
    if cat is ErrorCategory.AUTH_PERMISSION:
        if futures:
            return Explanation(
                title="No futures permission (-2015)",
                message="This key has no futures permission, or was created before your futures "
                "account was opened (such keys can never get it).",
                action="In Binance API Management, edit the key and tick 'Enable Futures'. If "
                "the option is missing or greyed out, create a new API key now that the "
                "futures account exists.",
                **base,
            )
        return Explanation(
            title="Spot trading not allowed for this key",
            message="The key can read the account but may not trade (the 'Enable Spot & Margin "
            "Trading' permission is off, or the account may not trade).",
            action="In Binance API Management, edit the key and tick 'Enable Spot & Margin "
            "Trading' (Binance requires an IP restriction for it on mainnet).",
            **base,
        )
    if cat is ErrorCategory.AUTH_INVALID_KEY:
        if exc.code == -2014:
            return Explanation(
                title="API key format invalid (-2014)",
                message="Binance says the API key is not even well-formed: it was probably cut "
                "off or has extra characters.",
                action="Copy the API key again in one piece (64 letters and digits).",
                **base,
            )
        if futures:
            return Explanation(
                title="Futures refused the key (-2015)",
                message="Binance refused the key for futures: this key has no futures "
                "permission, or was created before your futures account, or this server's IP "
                "is not whitelisted for it. " + WRONG_ENVIRONMENT_HINT,
                action="Enable Futures for the key in Binance API Management; if the option is "
                "missing, create a new key. Check the key's IP restriction.",
                **base,
            )
        return Explanation(
            title="API key rejected (-2015)",
            message=f"Binance ({where}) does not accept this API key: it is wrong or deleted, "
            "or this server's IP address is not whitelisted for it. " + WRONG_ENVIRONMENT_HINT,
            action="Check that you chose the environment where the key was created, that the "
            "key still exists in API Management, and that its IP restriction (if any) includes "
            "this server. Paste the key again without spaces.",
            **base,
        )
    if cat is ErrorCategory.INVALID_SYMBOL:
        return Explanation(
            title="Unknown symbol",
            message="Binance does not list this symbol in this environment.",
            action="Check the symbol's spelling (e.g. BTCUSDT).",
            **base,
        )
    return Explanation(
        title="Unexpected answer from Binance",
        message=f"Binance returned an error KLINEO does not recognise"
        f"{f' (code {exc.code})' if exc.code is not None else ''}.",
        action="Try again later. If it persists, check Binance's status and announcements.",
        **base,
    )


_HTTP_STATUS = {
    ErrorCategory.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    ErrorCategory.IP_BANNED: status.HTTP_429_TOO_MANY_REQUESTS,
    ErrorCategory.NETWORK: status.HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCategory.EXCHANGE_UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCategory.RESTRICTED_REGION: status.HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCategory.INVALID_SYMBOL: status.HTTP_400_BAD_REQUEST,
}


def exchange_error(
    exc: BinanceError, *, environment: str, futures: bool = False, field: str | None = None
) -> ApplicationError:
    """The ApplicationError to raise when a Binance call of a page or API request fails.

    Code ``exchange_<category>``; HTTP 429 for rate limits and bans, 503 when the exchange is
    unreachable, 502 otherwise. ``extra`` carries the category, Binance's code, retry_after and
    the suggested action (never a secret).
    """
    explanation = explain(exc, environment=environment, futures=futures)
    extra = {
        "category": explanation.category,
        "binance_code": explanation.code,
        "action": explanation.action,
    }
    if explanation.retry_after is not None:
        extra["retry_after"] = explanation.retry_after
    return ApplicationError(
        f"{explanation.title}: {explanation.message}",
        code=f"exchange_{explanation.category}",
        fields={field: [explanation.message]} if field else None,
        extra=extra,
        status_code=_HTTP_STATUS.get(exc.category, status.HTTP_502_BAD_GATEWAY),
    )
