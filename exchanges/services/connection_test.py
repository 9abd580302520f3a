"""The spot connection test: every verdict at once, in plain words. Never calls futures.

Checks, in order (a failed step skips the ones that depend on it):

1. connectivity: GET /api/v3/time; also measures the clock offset (reported in ms, a warning
   above CLOCK_WARN_MS with how to fix NTP; KLINEO signs with Binance's time anyway).
2. authentication: signed GET /api/v3/account (timestamp from Binance's clock). A rejected HMAC
   key is retried once with key and secret exchanged, to say "swapped" instead of "wrong".
3. permissions: the account's canTrade, then on mainnet GET /sapi/v1/account/apiRestrictions
   (spot trading permission, withdrawals enabled = danger, no IP restriction = warning with the
   trading-permission expiry); on testnet / demo / sandbox, which have no /sapi, a signed
   POST /api/v3/order/test instead.

Warnings never fail the test; the overall result is the spot result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from exchanges import events
from exchanges.binance import BinanceClient, BinanceError, ErrorCategory
from exchanges.clients import client_for
from exchanges.models import Environment, ExchangeConnection, KeyType
from exchanges.services.connections import (
    KeyInput,
    clean_environment,
    connection_keys,
    connection_public_data,
    keys_validate,
    raise_invalid,
)
from exchanges.services.explanations import NTP_HELP, explain

CLOCK_WARN_MS = 1000
PASS, WARNING, FAIL, SKIPPED = "pass", "warning", "fail", "skipped"
TEST_SYMBOL = "BTCUSDT"
# A harmless order Binance validates but never executes (order/test).
TEST_ORDER_QUOTE_QTY = Decimal("20")
_PERMISSION_CATEGORIES = {
    ErrorCategory.AUTH_PERMISSION,
    ErrorCategory.AUTH_INVALID_KEY,
    ErrorCategory.IP_NOT_WHITELISTED,
    ErrorCategory.AUTH_SIGNATURE,
}


@dataclass
class Check:
    id: str
    title: str
    status: str
    message: str
    action: str = ""
    severity: str = ""
    category: str | None = None
    code: int | None = None


def _failed(check_id: str, exc: BinanceError, *, environment: str, futures: bool = False) -> Check:
    explanation = explain(exc, environment=environment, futures=futures)
    return Check(
        id=check_id,
        title=explanation.title,
        status=FAIL,
        message=explanation.message,
        action=explanation.action,
        category=explanation.category,
        code=explanation.code,
    )


def _skipped(check_id: str, title: str, why: str) -> Check:
    return Check(id=check_id, title=title, status=SKIPPED, message=why)


def _iso_ms(ms: int | None) -> str | None:
    if not ms:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat()


def build_report(
    *, kind: str, environment: str, checks: list[Check], extra: dict | None = None
) -> dict:
    """The stored / returned report: overall status, summary, checks, extra facts."""
    statuses = [c.status for c in checks]
    if FAIL in statuses:
        status = "fail"
        first = next(c for c in checks if c.status == FAIL)
        summary = f"{first.title}. {first.action}".strip()
    elif WARNING in statuses:
        status = "warning"
        count = statuses.count(WARNING)
        summary = (
            f"The keys work, with {count} warning{'s' if count > 1 else ''} to look at."
            if kind == "spot"
            else f"Futures work, with {count} warning{'s' if count > 1 else ''} to look at."
        )
    else:
        status = "ok"
        summary = (
            "All checks passed: the keys work for spot trading."
            if kind == "spot"
            else "All checks passed: futures can be enabled."
        )
    report = {
        "kind": kind,
        "environment": environment,
        "status": status,
        "ok": status != "fail",
        "summary": summary,
        "tested_at": timezone.now().isoformat(),
        "checks": [asdict(c) for c in checks],
    }
    report.update(extra or {})
    return report


def _check_clock(offset_ms: float) -> Check:
    skew = round(offset_ms)
    if abs(skew) > CLOCK_WARN_MS:
        direction = "behind" if skew > 0 else "ahead of"
        return Check(
            id="clock",
            title="Server clock is off",
            status=WARNING,
            message=f"This server's clock is {abs(skew)} ms {direction} Binance's. KLINEO signs "
            "requests with Binance's time so they still work, but other tools on this server "
            "will get -1021 'outside of the recvWindow' errors, and a clock that drifts can "
            "break KLINEO between re-measurements.",
            action=NTP_HELP,
        )
    return Check(
        id="clock",
        title="Clock in sync",
        status=PASS,
        message=f"This server's clock differs from Binance's by {skew} ms (under "
        f"{CLOCK_WARN_MS} ms is fine).",
    )


def _account_snapshot(account) -> dict:
    return {
        "canTrade": account.can_trade,
        "canWithdraw": account.can_withdraw,
        "canDeposit": account.can_deposit,
        "accountType": account.account_type,
        "permissions": list(account.permissions),
        "apiRestrictions": None,
    }


def _restrictions_snapshot(r) -> dict:
    return {
        "ipRestrict": r.ip_restrict,
        "enableReading": r.enable_reading,
        "enableSpotAndMarginTrading": r.enable_spot_and_margin_trading,
        "enableWithdrawals": r.enable_withdrawals,
        "enableFutures": r.enable_futures,
        "enableMargin": r.enable_margin,
        "enableInternalTransfer": r.enable_internal_transfer,
        "permitsUniversalTransfer": r.permits_universal_transfer,
        "createTime": r.create_time,
        "tradingAuthorityExpirationTime": r.trading_authority_expiration_time,
    }


def _check_authentication(
    client: BinanceClient, keys: KeyInput, environment: str
) -> tuple[Check, object | None]:
    try:
        account = client.spot.account(omit_zero_balances=True)
    except BinanceError as exc:
        if (
            keys.key_type == KeyType.HMAC
            and exc.category is ErrorCategory.AUTH_INVALID_KEY
            and exc.code == -2015
            and _swapped_pair_works(keys, environment)
        ):
            return Check(
                id="authentication",
                title="API key and secret key are swapped",
                status=FAIL,
                message="Binance rejected the key as entered, but accepts it with the two "
                "fields exchanged: the secret key was pasted into the API key field and the "
                "other way round.",
                action="Replace the keys of this connection with the two values exchanged.",
                category="swapped_keys",
                code=exc.code,
            ), None
        return _failed("authentication", exc, environment=environment), None
    return Check(
        id="authentication",
        title="API key and signature accepted",
        status=PASS,
        message="Binance accepted the API key and the signature made with your "
        f"{'secret key' if keys.key_type == KeyType.HMAC else 'private key'} "
        "(GET /api/v3/account, timestamped with Binance's clock).",
    ), account


def _swapped_pair_works(keys: KeyInput, environment: str) -> bool:
    try:
        swapped = keys.swapped().credentials()
    except ValueError:
        return False
    with client_for(environment=environment, credentials=swapped, read_retries=0) as client:
        try:
            client.spot.account(omit_zero_balances=True)
        except BinanceError:
            return False
    return True


def _check_account_can_trade(account) -> Check:
    if account.can_trade:
        return Check(
            id="account_trading",
            title="Account may trade",
            status=PASS,
            message=f"The {account.account_type or 'spot'} account is allowed to trade "
            f"(canTrade); permissions: {', '.join(account.permissions) or 'none listed'}.",
        )
    return Check(
        id="account_trading",
        title="Account may not trade",
        status=FAIL,
        message="Binance reports canTrade = false for this account: the account itself is "
        "not allowed to trade (a restriction on the account, not on the key).",
        action="Check the account's status and any notices on Binance (verification, "
        "restrictions); KLINEO can show balances but orders will be refused.",
    )


def _checks_from_restrictions(r, environment: str) -> list[Check]:
    checks: list[Check] = []
    if r.enable_spot_and_margin_trading:
        checks.append(
            Check(
                id="key_trading",
                title="Spot trading enabled for the key",
                status=PASS,
                message="The key has the 'Enable Spot & Margin Trading' permission.",
            )
        )
    else:
        checks.append(
            Check(
                id="key_trading",
                title="Spot trading not enabled for the key",
                status=FAIL,
                message="The key can read the account but may not place orders.",
                action="In Binance API Management, edit the key and tick 'Enable Spot & Margin "
                "Trading' (it requires an IP access restriction).",
                category=ErrorCategory.AUTH_PERMISSION.value,
            )
        )
    if r.enable_withdrawals:
        checks.append(
            Check(
                id="withdrawals",
                title="Withdrawals are enabled for this key",
                status=WARNING,
                severity="danger",
                message="Anyone who obtains this key can move your funds out of Binance. "
                "KLINEO never withdraws and does not need this permission.",
                action="In Binance API Management, edit the key and untick 'Enable Withdrawals'.",
            )
        )
    else:
        checks.append(
            Check(
                id="withdrawals",
                title="Withdrawals disabled",
                status=PASS,
                message="The key cannot withdraw funds, as it should be.",
            )
        )
    if r.ip_restrict:
        checks.append(
            Check(
                id="ip_restriction",
                title="Restricted to trusted IP addresses",
                status=PASS,
                message="The key only works from the IP addresses listed in API Management.",
            )
        )
    else:
        expiry = r.trading_authority_expiration_time
        when = (
            f" Its trading permission expires on "
            f"{dt.datetime.fromtimestamp(expiry / 1000, tz=dt.UTC):%Y-%m-%d %H:%M} UTC, "
            "after which orders are refused."
            if expiry
            else ""
        )
        checks.append(
            Check(
                id="ip_restriction",
                title="No IP restriction",
                status=WARNING,
                message="The key accepts requests from any IP address, so a leaked key can be "
                "used from anywhere; Binance also limits how long unrestricted keys may trade."
                + when,
                action="In Binance API Management, restrict the key to this server's public "
                "IP address.",
            )
        )
    return checks


def _check_test_order(client: BinanceClient, environment: str) -> Check:
    try:
        client.spot.test_order(TEST_SYMBOL, "BUY", "MARKET", quote_order_qty=TEST_ORDER_QUOTE_QTY)
    except BinanceError as exc:
        if exc.category in _PERMISSION_CATEGORIES or exc.category in (
            ErrorCategory.RATE_LIMITED,
            ErrorCategory.IP_BANNED,
            ErrorCategory.NETWORK,
            ErrorCategory.EXCHANGE_UNAVAILABLE,
            ErrorCategory.RESTRICTED_REGION,
            ErrorCategory.TIMESTAMP,
        ):
            check = _failed("key_trading", exc, environment=environment)
            if exc.category is ErrorCategory.AUTH_INVALID_KEY:
                # The key read the account a moment ago: -2015 here means "may not trade".
                explanation = explain(
                    BinanceError(ErrorCategory.AUTH_PERMISSION, code=exc.code),
                    environment=environment,
                )
                check.title, check.message, check.action = (
                    explanation.title,
                    explanation.message,
                    explanation.action,
                )
                check.category = ErrorCategory.AUTH_PERMISSION.value
            return check
        # Binance looked at the order itself (filters, symbol): the key passed the permission
        # check, which comes first.
        return Check(
            id="key_trading",
            title="Spot trading allowed for the key",
            status=PASS,
            message="Binance checked a test order from this key (POST /api/v3/order/test; "
            "nothing is executed) and did not refuse the key.",
        )
    return Check(
        id="key_trading",
        title="Spot trading allowed for the key",
        status=PASS,
        message="Binance accepted a test order from this key (POST /api/v3/order/test; "
        "nothing is executed).",
    )


def spot_test_run(*, environment: str, keys: KeyInput) -> dict:
    """Run the spot connection test against `environment` with `keys`; return the report.

    Never raises for exchange problems: each one becomes a failed check with its explanation.
    """
    checks: list[Check] = []
    extra: dict = {"clock_skew_ms": None, "round_trip_ms": None, "permissions": None}
    with client_for(environment=environment, credentials=keys.credentials(), read_retries=1) as c:
        host = urlsplit(c.spot.base_url).netloc
        try:
            offset_ms = c.spot.sync_time()
        except BinanceError as exc:
            checks.append(_failed("connectivity", exc, environment=environment))
            why = "Skipped: Binance could not be reached."
            checks += [
                _skipped("clock", "Clock", why),
                _skipped("authentication", "API key and signature", why),
                _skipped("key_trading", "Trading permission", why),
            ]
            return build_report(kind="spot", environment=environment, checks=checks, extra=extra)
        round_trip = c.time_offsets.get(c.spot.base_url).round_trip_ms
        extra["clock_skew_ms"] = round(offset_ms)
        extra["round_trip_ms"] = round(round_trip) if round_trip is not None else None
        checks.append(
            Check(
                id="connectivity",
                title="Exchange reachable",
                status=PASS,
                message=f"{host} answered GET /api/v3/time"
                + (f" in {round(round_trip)} ms." if round_trip is not None else "."),
            )
        )
        checks.append(_check_clock(offset_ms))

        auth, account = _check_authentication(c, keys, environment)
        checks.append(auth)
        if account is None:
            why = "Skipped: the key was not accepted."
            checks.append(_skipped("key_trading", "Trading permission", why))
            return build_report(kind="spot", environment=environment, checks=checks, extra=extra)
        snapshot = _account_snapshot(account)
        extra["permissions"] = snapshot
        checks.append(_check_account_can_trade(account))

        if environment == Environment.MAINNET:
            try:
                restrictions = c.spot.api_restrictions()
            except BinanceError as exc:
                failed = _failed("key_permissions", exc, environment=environment)
                checks.append(
                    Check(
                        id="key_permissions",
                        title="Key permissions could not be read",
                        status=WARNING,
                        message="GET /sapi/v1/account/apiRestrictions failed: "
                        f"{failed.message} KLINEO checked trading with a test order instead; "
                        "withdrawal and IP settings are unknown.",
                        action=failed.action,
                        category=failed.category,
                        code=failed.code,
                    )
                )
                checks.append(_check_test_order(c, environment))
            else:
                snapshot["apiRestrictions"] = _restrictions_snapshot(restrictions)
                checks += _checks_from_restrictions(restrictions, environment)
        else:
            checks.append(_check_test_order(c, environment))
            checks.append(
                _skipped(
                    "withdrawals",
                    "Withdrawal and IP settings",
                    "Testnet, demo mode and the sandbox have no /sapi endpoints and no "
                    "withdrawals, so the key's withdrawal and IP settings cannot be read here.",
                )
            )
    return build_report(kind="spot", environment=environment, checks=checks, extra=extra)


def _audit_report(report: dict) -> dict:
    return {
        "status": report["status"],
        "failed": [c["id"] for c in report["checks"] if c["status"] == FAIL],
        "warnings": [c["id"] for c in report["checks"] if c["status"] == WARNING],
    }


def connection_test_spot(
    *, user: User, connection: ExchangeConnection, request=None
) -> ExchangeConnection:
    """Run the spot test with the connection's stored keys and store the report on it.

    The exchange calls run outside any transaction; the result is written only if the keys
    did not change meanwhile.
    """
    keys = connection_keys(connection)
    report = spot_test_run(environment=connection.environment, keys=keys)
    now = timezone.now()
    with transaction.atomic():
        updated = ExchangeConnection.objects.filter(
            pk=connection.pk,
            deleted_at__isnull=True,
            api_key_encrypted=connection.api_key_encrypted,
            environment=connection.environment,
        ).update(last_tested_at=now, last_test_ok=report["ok"], last_test_report=report)
        audit_record(
            user=user,
            action="connection.tested",
            request=request,
            connection_id=connection.pk,
            environment=connection.environment,
            key=connection.masked_key,
            stored=bool(updated),
            **_audit_report(report),
        )
        if updated:
            connection.last_tested_at = now
            connection.last_test_ok = report["ok"]
            connection.last_test_report = report
            events.publish(
                user_id=user.pk,
                event_type="connection.tested",
                data=connection_public_data(connection),
            )
    return connection


def keys_test_spot(
    *, user: User, environment: str, key_type: str, api_key: str, secret: str, request=None
) -> dict:
    """ "Test these keys" before saving: validate, run the spot test, return the report."""
    env, problem = clean_environment(environment)
    if problem:
        raise_invalid({"environment": [problem]})
    assert env is not None
    keys = keys_validate(key_type=key_type, api_key=api_key, secret=secret)
    report = spot_test_run(environment=env, keys=keys)
    audit_record(
        user=user,
        action="connection.keys_tested",
        request=request,
        environment=env,
        key_type=keys.key_type,
        key=f"…{keys.last4}",
        **_audit_report(report),
    )
    return report
