"""USD-M futures for a connection: the futures test, enable / disable, and the gate every
futures action calls (`connection_require_futures`).

Futures are off until the user enables them, and enabling needs a passing futures test from the
last FUTURES_TEST_MAX_AGE. Replacing the keys or the environment turns futures off again.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record, notify_security_event
from exchanges import events
from exchanges.binance import BinanceError, ErrorCategory
from exchanges.binance.models import FuturesAccount
from exchanges.models import ExchangeConnection
from exchanges.services.connection_test import (
    FAIL,
    PASS,
    SKIPPED,
    WARNING,
    Check,
    _failed,
    build_report,
)
from exchanges.services.connections import connection_client, connection_public_data
from klineo.exceptions import ApplicationError

FUTURES_TEST_MAX_AGE = timedelta(hours=24)
FUTURES_TEST_SYMBOL = "BTCUSDT"
FUTURES_TEST_QTY = Decimal("0.001")


def connection_require_futures(connection: ExchangeConnection) -> None:
    """Raise ApplicationError "futures_disabled" unless futures are enabled on `connection`.

    Every futures action (orders, leverage, positions) calls this first.
    """
    if connection.deleted_at is not None or not connection.futures_enabled:
        raise ApplicationError(
            f"Futures are not enabled on '{connection.label}'. Run the futures test on the "
            "connection's page and enable futures there first.",
            code="futures_disabled",
            status_code=409,
            extra={"connection_id": connection.pk},
        )


def futures_test_is_recent(connection: ExchangeConnection, now=None) -> bool:
    """A passing futures test within FUTURES_TEST_MAX_AGE (the precondition of enabling)."""
    now = now or timezone.now()
    return bool(
        connection.futures_test_ok
        and connection.futures_tested_at is not None
        and now - connection.futures_tested_at <= FUTURES_TEST_MAX_AGE
    )


def _futures_failed(check_id: str, exc: BinanceError, environment: str) -> Check:
    check = _failed(check_id, exc, environment=environment, futures=True)
    if exc.code == -4109:
        check.title = "Futures account inactive (-4109)"
        check.message = "Binance reports the futures account as inactive."
        check.action = "Transfer any amount of USDT into the futures wallet to reactivate it."
    return check


def futures_test_run(*, connection: ExchangeConnection) -> dict:
    """Check USD-M futures with the connection's keys; return the report (never raises for
    exchange problems). Calls GET /fapi/v2/account, GET /fapi/v1/positionSide/dual and
    POST /fapi/v1/order/test (validated, never executed)."""
    env = connection.environment
    checks: list[Check] = []
    extra: dict = {"wallet_usdt": None, "dual_side_position": None, "multi_assets_margin": None}
    with connection_client(connection, read_retries=1) as client:
        try:
            data = client.usdm.request("GET", "/fapi/v2/account", signed=True, weight=5)
        except BinanceError as exc:
            checks.append(_futures_failed("futures_account", exc, env))
            why = "Skipped: the futures account could not be read."
            checks += [
                _skipped("position_mode", "Position mode", why),
                _skipped("multi_assets", "Margin asset mode", why),
                _skipped("futures_wallet", "Futures wallet", why),
                _skipped("futures_trading", "Futures trading permission", why),
            ]
            return build_report(kind="futures", environment=env, checks=checks, extra=extra)
        account = FuturesAccount.from_json(data)
        if account.can_trade is False:
            checks.append(
                Check(
                    id="futures_account",
                    title="Futures account may not trade",
                    status=FAIL,
                    message="Binance reports canTrade = false for the futures account.",
                    action="Check the futures account's status and notices on Binance.",
                )
            )
        else:
            checks.append(
                Check(
                    id="futures_account",
                    title="Futures account readable",
                    status=PASS,
                    message="The key reads the USD-M futures account (GET /fapi/v2/account) "
                    "and the account may trade.",
                )
            )

        try:
            dual = client.usdm.position_mode()
        except BinanceError as exc:
            checks.append(_futures_failed("position_mode", exc, env))
        else:
            extra["dual_side_position"] = dual
            checks.append(
                Check(
                    id="position_mode",
                    title="Hedge mode" if dual else "One-way mode",
                    status=PASS,
                    message=(
                        "Hedge mode is on: long and short positions are kept apart, and every "
                        "order names its position side (LONG or SHORT)."
                        if dual
                        else "One-way mode: one position per symbol; orders use position side BOTH."
                    ),
                )
            )

        multi = bool(account.raw.get("multiAssetsMargin", False))
        extra["multi_assets_margin"] = multi
        checks.append(
            Check(
                id="multi_assets",
                title="Multi-assets mode" if multi else "Single-asset mode",
                status=PASS,
                message=(
                    "Multi-assets mode is on: all assets of the futures wallet back every "
                    "USD-M position together."
                    if multi
                    else "Single-asset mode: each margin asset (e.g. USDT) backs its own positions."
                ),
            )
        )

        usdt = account.asset("USDT")
        wallet = usdt.wallet_balance if usdt is not None else Decimal("0")
        extra["wallet_usdt"] = str(wallet)
        if wallet > 0:
            checks.append(
                Check(
                    id="futures_wallet",
                    title="Futures wallet funded",
                    status=PASS,
                    message=f"The USD-M futures wallet holds {wallet.normalize():f} USDT.",
                )
            )
        else:
            checks.append(
                Check(
                    id="futures_wallet",
                    title="Futures wallet is empty",
                    status=WARNING,
                    message="The USD-M futures wallet holds no USDT, so no order can be margined.",
                    action="Transfer USDT from spot to USD-M futures on Binance (Wallet -> "
                    "Transfer) before trading futures.",
                )
            )

        try:
            client.usdm.test_order(
                FUTURES_TEST_SYMBOL,
                "BUY",
                "MARKET",
                quantity=FUTURES_TEST_QTY,
                position_side="LONG" if extra["dual_side_position"] else None,
            )
        except BinanceError as exc:
            if exc.category in (
                ErrorCategory.AUTH_PERMISSION,
                ErrorCategory.AUTH_INVALID_KEY,
                ErrorCategory.IP_NOT_WHITELISTED,
                ErrorCategory.RATE_LIMITED,
                ErrorCategory.IP_BANNED,
                ErrorCategory.NETWORK,
                ErrorCategory.EXCHANGE_UNAVAILABLE,
                ErrorCategory.RESTRICTED_REGION,
            ):
                checks.append(_futures_failed("futures_trading", exc, env))
            else:
                checks.append(_trading_ok())
        else:
            checks.append(_trading_ok())
    return build_report(kind="futures", environment=env, checks=checks, extra=extra)


def _trading_ok() -> Check:
    return Check(
        id="futures_trading",
        title="Futures trading allowed for the key",
        status=PASS,
        message="Binance checked a futures test order from this key (POST /fapi/v1/order/test; "
        "nothing is executed) and did not refuse the key.",
    )


def _skipped(check_id: str, title: str, why: str) -> Check:
    return Check(id=check_id, title=title, status=SKIPPED, message=why)


def connection_test_futures(
    *, user: User, connection: ExchangeConnection, request=None
) -> ExchangeConnection:
    """Run the futures test and store its report (futures_tested_at / _ok / _report)."""
    report = futures_test_run(connection=connection)
    now = timezone.now()
    with transaction.atomic():
        updated = ExchangeConnection.objects.filter(
            pk=connection.pk,
            deleted_at__isnull=True,
            api_key_encrypted=connection.api_key_encrypted,
            environment=connection.environment,
        ).update(futures_tested_at=now, futures_test_ok=report["ok"], futures_test_report=report)
        audit_record(
            user=user,
            action="futures.tested",
            request=request,
            connection_id=connection.pk,
            environment=connection.environment,
            key=connection.masked_key,
            status=report["status"],
            failed=[c["id"] for c in report["checks"] if c["status"] == FAIL],
        )
        if updated:
            connection.futures_tested_at = now
            connection.futures_test_ok = report["ok"]
            connection.futures_test_report = report
            events.publish(
                user_id=user.pk,
                event_type="connection.futures_tested",
                data=connection_public_data(connection),
            )
    return connection


def connection_enable_futures(
    *, user: User, connection: ExchangeConnection, request=None
) -> ExchangeConnection:
    """Turn futures on. Requires a passing futures test within FUTURES_TEST_MAX_AGE (raises
    ApplicationError "futures_test_required" otherwise). Callers require recent re-auth."""
    with transaction.atomic():
        locked = ExchangeConnection.objects.select_for_update().get(pk=connection.pk)
        if locked.deleted_at is not None:
            raise ApplicationError("Not found.", code="not_found", status_code=404)
        if locked.futures_enabled:
            return locked
        if not futures_test_is_recent(locked):
            if locked.futures_tested_at is None:
                why = "Run the futures test first: futures can be enabled after it passes."
            elif not locked.futures_test_ok:
                why = "The last futures test failed. Fix what it reports and test again."
            else:
                why = "The last passing futures test is more than 24 hours old. Test again."
            raise ApplicationError(why, code="futures_test_required", status_code=409)
        locked.futures_enabled = True
        locked.save(update_fields=["futures_enabled", "updated_at"])
        audit_record(
            user=user,
            action="futures.enabled",
            request=request,
            connection_id=locked.pk,
            environment=locked.environment,
            key=locked.masked_key,
        )
        events.publish(
            user_id=user.pk,
            event_type="connection.updated",
            data=connection_public_data(locked),
        )
        notify_security_event(
            user=user,
            subject="futures enabled",
            body=f"USD-M futures trading was enabled on the connection '{locked.label}' "
            f"({locked.get_environment_display()}).",
            request=request,
        )
    return locked


def connection_disable_futures(
    *, user: User, connection: ExchangeConnection, request=None
) -> ExchangeConnection:
    """Turn futures off (always allowed; open futures positions stay on the exchange)."""
    with transaction.atomic():
        locked = ExchangeConnection.objects.select_for_update().get(pk=connection.pk)
        if locked.deleted_at is not None:
            raise ApplicationError("Not found.", code="not_found", status_code=404)
        if not locked.futures_enabled:
            return locked
        locked.futures_enabled = False
        locked.save(update_fields=["futures_enabled", "updated_at"])
        audit_record(
            user=user,
            action="futures.disabled",
            request=request,
            connection_id=locked.pk,
            environment=locked.environment,
            key=locked.masked_key,
        )
        events.publish(
            user_id=user.pk,
            event_type="connection.updated",
            data=connection_public_data(locked),
        )
    return locked
