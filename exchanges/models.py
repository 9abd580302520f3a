from django.conf import settings
from django.db import models
from django.utils import timezone


class Environment(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox (local, fake money)"
    TESTNET = "testnet", "Testnet"
    DEMO = "demo", "Demo mode"
    MAINNET = "mainnet", "Mainnet (real money)"


class KeyType(models.TextChoices):
    HMAC = "HMAC", "HMAC (API key + secret key)"
    ED25519 = "ED25519", "Ed25519 (API key + private key)"
    RSA = "RSA", "RSA (API key + private key)"


class ExchangeConnection(models.Model):
    """One Binance account of a user. Secrets are stored only as Fernet ciphertexts."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections"
    )
    label = models.CharField(max_length=60)
    exchange = models.CharField(max_length=20, default="binance", editable=False)
    environment = models.CharField(
        max_length=10, choices=Environment.choices, default=Environment.SANDBOX
    )
    key_type = models.CharField(max_length=10, choices=KeyType.choices, default=KeyType.HMAC)
    api_key_encrypted = models.TextField()
    # The HMAC secret key, or the PEM private key for Ed25519 / RSA.
    secret_encrypted = models.TextField()
    key_last4 = models.CharField(max_length=4)
    futures_enabled = models.BooleanField(default=False)

    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    # The connection test report: checks with status and explanation, permission snapshot.
    last_test_report = models.JSONField(default=dict, blank=True)
    futures_tested_at = models.DateTimeField(null=True, blank=True)
    futures_test_ok = models.BooleanField(null=True)
    futures_test_report = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft delete: the ciphertexts are wiped and the row stays so orders keep their history.
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Labels are unique among a user's live connections; a deleted label can be reused.
            models.UniqueConstraint(
                fields=["owner", "label"],
                condition=models.Q(deleted_at__isnull=True),
                name="connection_label_per_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_environment_display()})"

    @property
    def masked_key(self) -> str:
        return f"…{self.key_last4}"

    @property
    def is_mainnet(self) -> bool:
        return self.environment == Environment.MAINNET

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def test_status(self) -> str:
        """Badge of the last spot connection test: untested, ok, warning or failing."""
        if self.last_tested_at is None or self.last_test_ok is None:
            return "untested"
        if not self.last_test_ok:
            return "failing"
        return "warning" if self.last_test_report.get("status") == "warning" else "ok"


# ---------------------------------------------------------------------------------------------
# Orders (issue 6). Written only by exchanges/services/orders.py.

AMOUNT = {"max_digits": 36, "decimal_places": 18}


class OrderMarket(models.TextChoices):
    SPOT = "spot", "Spot"
    USDM = "usdm", "USD-M futures"


class OrderSide(models.TextChoices):
    BUY = "BUY", "Buy"
    SELL = "SELL", "Sell"


class OrderStatus(models.TextChoices):
    # PENDING: committed before sending; UNKNOWN: sent, outcome not known yet (being checked).
    PENDING = "PENDING", "Pending"
    UNKNOWN = "UNKNOWN", "Checking…"
    NEW = "NEW", "Open"
    PARTIALLY_FILLED = "PARTIALLY_FILLED", "Partially filled"
    FILLED = "FILLED", "Filled"
    CANCELED = "CANCELED", "Canceled"
    REJECTED = "REJECTED", "Rejected"
    EXPIRED = "EXPIRED", "Expired"


OPEN_ORDER_STATUSES = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
UNRESOLVED_ORDER_STATUSES = (OrderStatus.PENDING, OrderStatus.UNKNOWN)
FINAL_ORDER_STATUSES = (
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
    OrderStatus.REJECTED,
    OrderStatus.EXPIRED,
)
# USD-M types Binance accepts only on /fapi/v1/algoOrder (since 2025-12-09).
ALGO_ORDER_TYPES = frozenset(
    {"STOP", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)


class Order(models.Model):
    """One order as KLINEO sent it, kept in sync with the exchange by client order id.

    The row is committed with status PENDING before the exchange is called, so every order that
    may exist on the exchange has a row (see "An order's life" in ARCHITECTURE.md).
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders"
    )
    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="orders"
    )
    market = models.CharField(max_length=8, choices=OrderMarket.choices)
    symbol = models.CharField(max_length=30)
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    type = models.CharField(max_length=30)
    time_in_force = models.CharField(max_length=10, blank=True)
    quantity = models.DecimalField(**AMOUNT, null=True, blank=True)
    quote_quantity = models.DecimalField(**AMOUNT, null=True, blank=True)
    price = models.DecimalField(**AMOUNT, null=True, blank=True)
    stop_price = models.DecimalField(**AMOUNT, null=True, blank=True)
    reduce_only = models.BooleanField(default=False)
    position_side = models.CharField(max_length=5, blank=True)
    client_order_id = models.CharField(max_length=36)
    exchange_order_id = models.BigIntegerField(null=True, blank=True)
    algo_id = models.BigIntegerField(null=True, blank=True)
    order_list_id = models.BigIntegerField(null=True, blank=True)
    list_client_order_id = models.CharField(max_length=36, blank=True)

    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    # The exchange's own status word (e.g. an algo order's TRIGGERED), for display.
    exchange_status = models.CharField(max_length=30, blank=True)
    executed_quantity = models.DecimalField(**AMOUNT, default=0)
    cumulative_quote = models.DecimalField(**AMOUNT, default=0)
    average_price = models.DecimalField(**AMOUNT, null=True, blank=True)
    reject_reason = models.TextField(blank=True)
    reject_code = models.CharField(max_length=40, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # "Not found" is final only after this: a request delayed in transit can still execute
    # until its signed timestamp + recvWindow has passed on the exchange.
    resolve_not_before = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    check_attempts = models.PositiveIntegerField(default=0)
    # Exchange time (ms) of the last update applied, so late events never overwrite newer ones.
    exchange_updated_ms = models.BigIntegerField(null=True, blank=True)
    # Incremented under the row lock with every change pushed to browsers: order.update events
    # from different processes can be published out of commit order, and a client keeps the
    # snapshot with the highest version.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["client_order_id"], name="order_client_order_id_unique")
        ]
        indexes = [
            models.Index(fields=["owner", "connection", "-created_at"], name="order_owner_conn"),
            models.Index(fields=["status", "created_at"], name="order_status_created"),
            models.Index(fields=["order_list_id"], name="order_list"),
            # The pre-send check counts a symbol's open orders (MAX_NUM_ORDERS) on every order.
            models.Index(
                fields=["connection", "market", "symbol", "status"], name="order_symbol_status"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.type} {self.symbol} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ORDER_STATUSES

    @property
    def is_unresolved(self) -> bool:
        return self.status in UNRESOLVED_ORDER_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_ORDER_STATUSES

    @property
    def is_algo(self) -> bool:
        return self.market == OrderMarket.USDM and self.type in ALGO_ORDER_TYPES


class Fill(models.Model):
    """One trade of an order (from the place answer, a query, or the user-data stream)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fills")
    trade_id = models.BigIntegerField()
    price = models.DecimalField(**AMOUNT)
    quantity = models.DecimalField(**AMOUNT)
    commission = models.DecimalField(**AMOUNT, default=0)
    commission_asset = models.CharField(max_length=20, blank=True)
    is_maker = models.BooleanField(null=True)
    executed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["executed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "trade_id"], name="fill_trade_per_order")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} @ {self.price}"


# ---------------------------------------------------------------------------------------------
# Live streams (issue 7). Written only by the run_streams process (exchanges/streams/).


class StreamKind(models.TextChoices):
    SPOT = "spot", "Spot user data"
    USDM = "usdm", "USD-M futures user data"


class StreamStatus(models.TextChoices):
    CONNECTING = "connecting", "Connecting"
    UP = "up", "Up"
    RECONNECTING = "reconnecting", "Reconnecting"
    DOWN = "down", "Down"
    # The exchange refused the key (revoked, no permission): retrying will not help.
    REFUSED = "refused", "Refused by the exchange"
    STOPPED = "stopped", "Stopped"


class StreamState(models.Model):
    """The last known state of one user-data stream, for streams_status and the status API.

    Holds no secret: the futures listenKey is kept only as its last 4 characters.
    """

    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="stream_states"
    )
    kind = models.CharField(max_length=8, choices=StreamKind.choices)
    status = models.CharField(
        max_length=14, choices=StreamStatus.choices, default=StreamStatus.CONNECTING
    )
    reason = models.CharField(max_length=200, blank=True)
    # The run_streams process (host:pid) holding the lease, and the lease's fencing token:
    # a write with a lower token than the stored one comes from a process that lost the lease.
    holder = models.CharField(max_length=100, blank=True)
    fence = models.BigIntegerField(default=0)
    reconnect_count = models.PositiveIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    listen_key_last4 = models.CharField(max_length=4, blank=True)
    listen_key_renewed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["connection_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "kind"], name="stream_state_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}:{self.kind} {self.status}"
