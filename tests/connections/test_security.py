"""Secrets never leave the vault: not in the database, the logs or any response; master-key
rotation; the mainnet permission checks; the audit trail."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection as db

from accounts.models import AuditEvent
from exchanges import crypto
from exchanges.models import ExchangeConnection
from exchanges.services.connection_test import connection_test_spot
from exchanges.services.connections import (
    connection_create,
    connection_keys,
    connections_erase_for_user,
)
from klineo.exceptions import ApplicationError
from tests.connections.conftest import leaks, secret_of

pytestmark = pytest.mark.django_db


def database_text() -> str:
    """Every text, varchar and JSON value of every table of the test database."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'json', 'jsonb')"
        )
        columns = cursor.fetchall()
        chunks = []
        for table, column in columns:
            cursor.execute(f'SELECT "{column}"::text FROM "{table}"')  # names from the catalog
            chunks.extend(value for (value,) in cursor.fetchall() if value)
    return "\n".join(chunks)


def test_no_secret_in_the_database_logs_or_responses(api, client, keys, exchange):
    responses: list[str] = []

    def record(response):
        responses.append(response.content.decode())
        return response

    created = []
    for key_type in ("HMAC", "ED25519", "RSA"):
        pair = keys(key_type=key_type)
        body = {"label": key_type, "environment": "sandbox", "key_type": key_type,
                "api_key": pair["apiKey"], "secret": secret_of(pair), "run_test": True}  # fmt: skip
        assert leaks(str(body))  # the scanner knows this pair's secrets
        created.append(record(api.post("/api/connections/", body, format="json")).json()["id"])
        record(api.post("/api/connections/test", body, format="json"))
    bad = keys()
    record(api.post("/api/connections/", {"label": "bad", "api_key": bad["apiKey"],
                                          "secret": bad["apiKey"]}, format="json"))  # fmt: skip
    pk = created[0]
    for url in ("/api/connections/", f"/api/connections/{pk}/", f"/api/connections/{pk}/balance"):
        record(api.get(url))
    record(api.post(f"/api/connections/{pk}/test"))
    record(api.post(f"/api/connections/{pk}/futures/test"))
    record(api.post(f"/api/connections/{pk}/futures/enable"))
    record(api.post("/api/connections/demo-keys", {}, format="json"))
    replacement = keys()
    record(api.patch(f"/api/connections/{created[1]}/", {
        "key_type": "HMAC", "api_key": replacement["apiKey"], "secret": replacement["secretKey"],
    }, format="json"))  # fmt: skip
    record(api.delete(f"/api/connections/{created[2]}/"))
    client.force_login(api.user)
    for url in ("/", "/connections/", f"/connections/{pk}/", f"/connections/{created[1]}/"):
        record(client.get(url))

    assert len(responses) == 20  # the 204 of the DELETE is the only empty body
    assert sum(1 for text in responses if not text) == 1
    assert ExchangeConnection.objects.filter(owner=api.user).count() == 4
    for text in responses:
        assert not leaks(text), leaks(text)
    dump = database_text()
    assert "…" + replacement["apiKey"][-4:] in dump  # the scan does see the connection rows
    assert not leaks(dump), leaks(dump)
    # (the autouse fixture checks every log record of this test for the same secrets)


def test_rotation_reencrypts_and_old_ciphertexts_decrypt_until_rotated(
    settings, user, keys, capsys
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    pair = keys()
    connection = connection_create(
        user=user, label="rot", environment="sandbox", key_type="HMAC",
        api_key=pair["apiKey"], secret=pair["secretKey"],
    )  # fmt: skip
    before = (connection.api_key_encrypted, connection.secret_encrypted)

    settings.ENCRYPTION_KEYS = [new, old]
    assert not crypto.encrypted_with_newest_key(connection.secret_encrypted)
    assert connection_keys(connection).secret == pair["secretKey"]  # old key still decrypts
    call_command("rotate_encryption_keys", "--dry-run")
    assert "Would re-encrypt 1 connection(s)" in capsys.readouterr().out
    connection.refresh_from_db()
    assert (connection.api_key_encrypted, connection.secret_encrypted) == before

    call_command("rotate_encryption_keys")
    assert "Re-encrypted 1 connection(s); 0 already used the newest key" in capsys.readouterr().out
    connection.refresh_from_db()
    assert connection.api_key_encrypted != before[0] and connection.secret_encrypted != before[1]
    assert crypto.encrypted_with_newest_key(connection.secret_encrypted)

    call_command("rotate_encryption_keys")  # idempotent
    assert "Re-encrypted 0 connection(s); 1 already used the newest key" in (
        capsys.readouterr().out
    )
    settings.ENCRYPTION_KEYS = [new]  # the old key is gone and nothing needs it
    assert connection_test_spot(user=user, connection=connection).last_test_ok is True
    assert AuditEvent.objects.filter(action="connection.keys_rotated").count() == 2

    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ApplicationError) as exc:
        connection_keys(connection)
    assert exc.value.code == "keys_unreadable"
    with pytest.raises(CommandError, match="1 could not be decrypted"):
        call_command("rotate_encryption_keys")


@pytest.fixture
def mainnet_on_sandbox(settings, exchange_clean):
    """The mainnet URL table pointed at the sandbox, to exercise the /sapi path for real."""
    settings.BINANCE_URL_OVERRIDES = {
        "BINANCE_MAINNET_SPOT_REST_URL": exchange_clean.url,
        "BINANCE_MAINNET_USDM_REST_URL": exchange_clean.url,
    }
    return exchange_clean


def _mainnet_report(api, pair) -> dict:
    body = {"environment": "mainnet", "key_type": "HMAC", "api_key": pair["apiKey"],
            "secret": pair["secretKey"]}  # fmt: skip
    response = api.post("/api/connections/test", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_mainnet_key_with_withdrawals_enabled_is_a_danger_warning(api, keys, mainnet_on_sandbox):
    report = _mainnet_report(api, keys(permissions={"withdrawals": True, "ip_restricted": True}))
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["withdrawals"]["status"] == "warning"
    assert checks["withdrawals"]["severity"] == "danger"
    assert "untick 'Enable Withdrawals'" in checks["withdrawals"]["action"]
    assert checks["ip_restriction"]["status"] == "pass"
    assert checks["key_trading"]["status"] == "pass"
    assert report["ok"] is True and report["status"] == "warning"
    restrictions = report["permissions"]["apiRestrictions"]
    assert restrictions["enableWithdrawals"] is True and restrictions["ipRestrict"] is True


def test_mainnet_key_without_ip_restriction_warns_with_the_expiry(api, keys, mainnet_on_sandbox):
    report = _mainnet_report(api, keys())
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["ip_restriction"]["status"] == "warning"
    assert "trading permission expires on" in checks["ip_restriction"]["message"]
    assert checks["withdrawals"]["status"] == "pass"
    assert report["permissions"]["apiRestrictions"]["tradingAuthorityExpirationTime"] > 0


def test_mainnet_key_without_spot_trading_fails(api, keys, mainnet_on_sandbox):
    report = _mainnet_report(api, keys(permissions={"spot": False}))
    trading = {c["id"]: c for c in report["checks"]}["key_trading"]
    assert trading["status"] == "fail" and report["ok"] is False


def test_every_change_is_audited_with_ip_and_no_secret(api, keys):
    pair = keys()
    body = {"label": "a", "api_key": pair["apiKey"], "secret": pair["secretKey"]}
    pk = api.post("/api/connections/", body, format="json").json()["id"]
    api.post(f"/api/connections/{pk}/test")
    api.post("/api/connections/test", body, format="json")
    api.post(f"/api/connections/{pk}/futures/test")
    api.post(f"/api/connections/{pk}/futures/enable")
    api.post(f"/api/connections/{pk}/futures/disable")
    api.delete(f"/api/connections/{pk}/")
    events = AuditEvent.objects.filter(user=api.user).exclude(action__startswith="auth.")
    assert [e.action for e in events.order_by("created_at", "id")] == [
        "connection.created",
        "connection.tested",
        "connection.keys_tested",
        "futures.tested",
        "futures.enabled",
        "futures.disabled",
        "connection.deleted",
    ]
    assert all(e.ip_address == "127.0.0.1" for e in events)
    assert all(e.details.get("key", "…" + pair["apiKey"][-4:]).endswith(pair["apiKey"][-4:])
               for e in events)  # fmt: skip


def test_erase_for_user_wipes_every_secret_and_keeps_the_rows(user, keys):
    for n in range(2):
        pair = keys()
        connection_create(
            user=user, label=f"c{n}", environment="sandbox", key_type="HMAC",
            api_key=pair["apiKey"], secret=pair["secretKey"],
        )  # fmt: skip
    assert connections_erase_for_user(user=user) == 2
    rows = ExchangeConnection.objects.filter(owner=user)
    assert rows.count() == 2
    assert all(r.deleted_at and not r.api_key_encrypted and not r.secret_encrypted for r in rows)
    assert connections_erase_for_user(user=user) == 0


def test_account_deletion_erases_the_keys(user, keys):
    from accounts.services.deletion import account_delete

    pair = keys()
    connection = connection_create(
        user=user, label="d", environment="sandbox", key_type="HMAC",
        api_key=pair["apiKey"], secret=pair["secretKey"],
    )  # fmt: skip
    account_delete(user=user)
    connection.refresh_from_db()
    assert connection.secret_encrypted == "" and connection.deleted_at is not None
