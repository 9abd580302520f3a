"""Re-encrypt every stored exchange secret with the newest master key.

Key rotation: put a new key FIRST in KLINEO_ENCRYPTION_KEYS (keep the old ones after it),
restart, run this command, then remove the old key. Idempotent: ciphertexts that already use
the newest key are left alone, so it can be run again after an interruption.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.services import audit_record
from exchanges import crypto
from exchanges.models import ExchangeConnection

FIELDS = ("api_key_encrypted", "secret_encrypted")


def _stale(ciphertext: str) -> bool:
    return bool(ciphertext) and not crypto.encrypted_with_newest_key(ciphertext)


class Command(BaseCommand):
    help = "Re-encrypt every exchange secret with the newest key of KLINEO_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only count what would be re-encrypted; change nothing.",
        )

    def handle(self, *args, dry_run: bool = False, **options):
        rotated = current = failed = 0
        ids = list(
            ExchangeConnection.objects.exclude(api_key_encrypted="", secret_encrypted="")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for pk in ids:
            # One short transaction per row: a long rotation never holds many row locks.
            with transaction.atomic():
                row = ExchangeConnection.objects.select_for_update().filter(pk=pk).first()
                if row is None:
                    continue
                stale = [name for name in FIELDS if _stale(getattr(row, name))]
                if not stale:
                    current += 1
                    continue
                try:
                    values = {name: crypto.rotate(getattr(row, name)) for name in stale}
                except crypto.DecryptionError:
                    failed += 1
                    self.stderr.write(
                        f"connection {pk}: cannot be decrypted with any configured key (skipped)"
                    )
                    continue
                if not dry_run:
                    ExchangeConnection.objects.filter(pk=pk).update(**values)
                rotated += 1
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        summary = (
            f"{verb} {rotated} connection(s); {current} already used the newest key; "
            f"{failed} could not be decrypted."
        )
        if not dry_run:
            audit_record(
                user=None,
                action="connection.keys_rotated",
                rotated=rotated,
                already_current=current,
                failed=failed,
            )
        if failed:
            raise CommandError(summary + " Keep the old master key until they are fixed.")
        self.stdout.write(self.style.SUCCESS(summary))
