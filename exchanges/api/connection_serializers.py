"""Input shapes and output documentation of the connections API. No business logic here: keys
are validated (with plain-words messages) by exchanges.services.connections."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exchanges.models import Environment, ExchangeConnection, KeyType
from exchanges.services.futures import FUTURES_TEST_MAX_AGE, futures_test_is_recent

_KEY_HELP = "API key from Binance API Management (64 letters and digits)."
_SECRET_HELP = (
    "HMAC: the secret key. Ed25519 / RSA: the PKCS#8 private key PEM. Write-only; never returned."
)


class CheckSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="connectivity, clock, authentication, key_trading, ...")
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["pass", "warning", "fail", "skipped"])
    message = serializers.CharField(help_text="What was found, in plain words.")
    action = serializers.CharField(help_text="What to do next (empty when nothing).")
    severity = serializers.CharField(help_text='"danger" for withdrawals enabled, else empty.')
    category = serializers.CharField(allow_null=True)
    code = serializers.IntegerField(allow_null=True, help_text="Binance's error code, if any.")


class ApiRestrictionsSerializer(serializers.Serializer):
    ipRestrict = serializers.BooleanField()
    enableReading = serializers.BooleanField()
    enableSpotAndMarginTrading = serializers.BooleanField()
    enableWithdrawals = serializers.BooleanField()
    enableFutures = serializers.BooleanField()
    enableMargin = serializers.BooleanField()
    enableInternalTransfer = serializers.BooleanField()
    permitsUniversalTransfer = serializers.BooleanField()
    createTime = serializers.IntegerField(allow_null=True)
    tradingAuthorityExpirationTime = serializers.IntegerField(allow_null=True)


class PermissionSnapshotSerializer(serializers.Serializer):
    canTrade = serializers.BooleanField()
    canWithdraw = serializers.BooleanField()
    canDeposit = serializers.BooleanField()
    accountType = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    apiRestrictions = ApiRestrictionsSerializer(
        allow_null=True, help_text="Mainnet only (from /sapi/v1/account/apiRestrictions)."
    )


class TestReportSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["spot", "futures"])
    environment = serializers.CharField()
    status = serializers.ChoiceField(choices=["ok", "warning", "fail"])
    ok = serializers.BooleanField(help_text="False only when a check failed; warnings pass.")
    summary = serializers.CharField()
    tested_at = serializers.DateTimeField()
    checks = CheckSerializer(many=True)
    clock_skew_ms = serializers.IntegerField(required=False, allow_null=True)
    round_trip_ms = serializers.IntegerField(required=False, allow_null=True)
    permissions = PermissionSnapshotSerializer(required=False, allow_null=True)
    wallet_usdt = serializers.CharField(required=False, allow_null=True)
    dual_side_position = serializers.BooleanField(required=False, allow_null=True)
    multi_assets_margin = serializers.BooleanField(required=False, allow_null=True)


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection as the API shows it: the key only as its last four characters."""

    key = serializers.CharField(source="masked_key", read_only=True, help_text="e.g. …abcd")
    environment_label = serializers.CharField(source="get_environment_display", read_only=True)
    test_status = serializers.ChoiceField(
        choices=["ok", "warning", "failing", "untested"], read_only=True
    )
    last_test_report = serializers.SerializerMethodField()
    futures_test_report = serializers.SerializerMethodField()
    futures_enable_allowed = serializers.SerializerMethodField()
    futures_test_valid_until = serializers.SerializerMethodField()

    class Meta:
        model = ExchangeConnection
        fields = [
            "id",
            "label",
            "exchange",
            "environment",
            "environment_label",
            "key_type",
            "key",
            "futures_enabled",
            "futures_enable_allowed",
            "test_status",
            "last_tested_at",
            "last_test_ok",
            "last_test_report",
            "futures_tested_at",
            "futures_test_ok",
            "futures_test_valid_until",
            "futures_test_report",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(TestReportSerializer(allow_null=True))
    def get_last_test_report(self, obj):
        return obj.last_test_report or None

    @extend_schema_field(TestReportSerializer(allow_null=True))
    def get_futures_test_report(self, obj):
        return obj.futures_test_report or None

    def get_futures_enable_allowed(self, obj) -> bool:
        return futures_test_is_recent(obj)

    def get_futures_test_valid_until(self, obj) -> datetime | None:
        """Until when 'enable futures' is allowed by the last passing futures test."""
        if not futures_test_is_recent(obj):
            return None
        return obj.futures_tested_at + FUTURES_TEST_MAX_AGE


class ConnectionCreateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=200, allow_blank=True)
    environment = serializers.ChoiceField(
        choices=Environment.choices,
        default=Environment.SANDBOX,
        help_text="Defaults to the sandbox; mainnet only when chosen.",
    )
    key_type = serializers.ChoiceField(choices=KeyType.choices, default=KeyType.HMAC)
    api_key = serializers.CharField(
        max_length=1000, allow_blank=True, trim_whitespace=False, help_text=_KEY_HELP
    )
    secret = serializers.CharField(
        max_length=20000,
        allow_blank=True,
        trim_whitespace=False,
        write_only=True,
        help_text=_SECRET_HELP,
    )
    run_test = serializers.BooleanField(
        default=False, help_text="Run the spot connection test right after saving."
    )


class ConnectionUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    environment = serializers.ChoiceField(choices=Environment.choices, required=False)
    key_type = serializers.ChoiceField(choices=KeyType.choices, required=False)
    api_key = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, trim_whitespace=False
    )
    secret = serializers.CharField(
        max_length=20000, required=False, allow_blank=True, trim_whitespace=False, write_only=True
    )


class KeysTestSerializer(serializers.Serializer):
    environment = serializers.ChoiceField(choices=Environment.choices, default=Environment.SANDBOX)
    key_type = serializers.ChoiceField(choices=KeyType.choices, default=KeyType.HMAC)
    api_key = serializers.CharField(
        max_length=1000, allow_blank=True, trim_whitespace=False, help_text=_KEY_HELP
    )
    secret = serializers.CharField(
        max_length=20000, allow_blank=True, trim_whitespace=False, help_text=_SECRET_HELP
    )


class DemoKeysSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    key_type = serializers.ChoiceField(choices=KeyType.choices, default=KeyType.HMAC)


class BalanceQuerySerializer(serializers.Serializer):
    refresh = serializers.BooleanField(
        default=False, help_text="Bypass the ~10 s cache and ask the exchange now."
    )
    hide_dust = serializers.BooleanField(
        default=False, help_text="Leave out balances worth less than 1 USDT."
    )


class SpotBalanceSerializer(serializers.Serializer):
    asset = serializers.CharField()
    free = serializers.CharField(help_text="Decimal as a string.")
    locked = serializers.CharField()
    total = serializers.CharField()
    price_usdt = serializers.CharField(allow_null=True)
    value_usdt = serializers.CharField(allow_null=True, help_text="null when no price is known.")
    is_dust = serializers.BooleanField()


class BalanceSnapshotSerializer(serializers.Serializer):
    connection_id = serializers.IntegerField()
    fetched_at = serializers.DateTimeField()
    cached = serializers.BooleanField()
    total_usdt = serializers.CharField()
    dust_threshold_usdt = serializers.CharField()
    hidden_dust_count = serializers.IntegerField()
    unpriced_assets = serializers.ListField(child=serializers.CharField())
    balances = SpotBalanceSerializer(many=True)


class MarketQuerySerializer(serializers.Serializer):
    symbols = serializers.CharField(help_text="Comma-separated, e.g. BTCUSDT,ETHUSDT (max 20).")
    connection = serializers.IntegerField(
        required=False, help_text="Whose environment to ask; default: your newest connection."
    )


class MarketTickerSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    last = serializers.CharField()
    change = serializers.CharField(help_text="24 h price change.")
    change_percent = serializers.CharField()
    bid = serializers.CharField()
    ask = serializers.CharField()


class MarketSnapshotSerializer(serializers.Serializer):
    environment = serializers.CharField()
    connection_id = serializers.IntegerField()
    tickers = MarketTickerSerializer(many=True)
