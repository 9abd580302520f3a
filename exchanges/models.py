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
