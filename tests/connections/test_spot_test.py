"""The spot connection test against the sandbox over real sockets: success for every key type
and each failure category produced for real, with its plain-words explanation."""

from __future__ import annotations

import pytest

from exchanges.models import ExchangeConnection
from tests.connections.conftest import secret_of
from tests.fixtures.processes import free_port

pytestmark = pytest.mark.django_db


def connect(api, keys: dict, *, key_type: str = "HMAC", environment: str = "sandbox", **extra):
    response = api.post(
        "/api/connections/",
        {
            "label": extra.pop("label", f"{key_type} {keys['apiKey'][-4:]}"),
            "environment": environment,
            "key_type": key_type,
            "api_key": keys["apiKey"],
            "secret": secret_of(keys),
            "run_test": True,
            **extra,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def checks(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"]}


@pytest.mark.parametrize("key_type", ["HMAC", "ED25519", "RSA"])
def test_connect_and_test_succeed_for_every_key_type(api, keys, key_type):
    pair = keys(key_type=key_type)
    body = connect(api, pair, key_type=key_type)

    assert body["key"] == "…" + pair["apiKey"][-4:]
    assert body["test_status"] == "ok", body["last_test_report"]
    report = body["last_test_report"]
    assert report["ok"] is True and report["status"] == "ok"
    assert {c["id"]: c["status"] for c in report["checks"]} == {
        "connectivity": "pass",
        "clock": "pass",
        "authentication": "pass",
        "account_trading": "pass",
        "key_trading": "pass",
        "withdrawals": "skipped",
    }
    assert abs(report["clock_skew_ms"]) < 1000
    assert report["permissions"]["canTrade"] is True
    assert report["permissions"]["accountType"] == "SPOT"
    assert report["permissions"]["apiRestrictions"] is None
    stored = ExchangeConnection.objects.get(pk=body["id"])
    assert stored.last_test_ok is True and stored.last_test_report == report


def test_unknown_api_key_is_explained_as_wrong_key_or_environment(api, keys):
    pair = dict(keys())
    pair["apiKey"] = "A" * 60 + pair["apiKey"][-4:]
    report = connect(api, pair)["last_test_report"]

    auth = checks(report)["authentication"]
    assert report["ok"] is False
    assert auth["status"] == "fail" and auth["code"] == -2015
    assert "may belong to another environment" in auth["message"]
    assert checks(report)["key_trading"]["status"] == "skipped"


def test_wrong_secret_is_explained(api, keys):
    pair, other = keys(), keys()
    report = connect(api, {**pair, "secretKey": other["secretKey"]})["last_test_report"]

    auth = checks(report)["authentication"]
    assert auth["status"] == "fail" and auth["code"] == -1022
    assert auth["title"] == "Wrong secret key (-1022)"
    assert "does not belong to this API key" in auth["message"]


def test_swapped_hmac_key_and_secret_are_detected(api, keys):
    pair = keys()
    swapped = {"apiKey": pair["secretKey"], "secretKey": pair["apiKey"]}
    report = connect(api, swapped)["last_test_report"]

    auth = checks(report)["authentication"]
    assert auth["status"] == "fail" and auth["category"] == "swapped_keys"
    assert "swapped" in auth["title"]


def test_trading_permission_off_fails_spot_with_its_explanation(api, keys):
    report = connect(api, keys(permissions={"spot": False}))["last_test_report"]

    trading = checks(report)["key_trading"]
    assert checks(report)["authentication"]["status"] == "pass"
    assert trading["status"] == "fail" and trading["category"] == "auth_permission"
    assert "Enable Spot & Margin Trading" in trading["action"]
    assert report["ok"] is False


def test_clock_skew_is_measured_and_warned_about(api, keys, exchange_clean):
    exchange_clean.set_clock_skew(4000)
    report = connect(api, keys())["last_test_report"]

    clock = checks(report)["clock"]
    assert 3500 < report["clock_skew_ms"] < 4500
    assert clock["status"] == "warning"
    assert "ms behind Binance's" in clock["message"]
    assert "timedatectl set-ntp true" in clock["action"]
    # Signed with Binance's time, so the keys still work: warnings never fail the test.
    assert checks(report)["authentication"]["status"] == "pass"
    assert report["ok"] is True and report["status"] == "warning"


@pytest.mark.parametrize(
    ("kind", "title", "category"),
    [("429", "Rate limited (HTTP 429)", "rate_limited"), ("418", "banned", "ip_banned")],
)
def test_rate_limit_and_ban_say_when_to_retry(api, keys, exchange_clean, kind, title, category):
    pair = keys()
    exchange_clean.fault("/api/v3/time", kind, retry_after=90)
    report = connect(api, pair)["last_test_report"]

    connectivity = checks(report)["connectivity"]
    assert connectivity["status"] == "fail" and connectivity["category"] == category
    assert title in connectivity["title"]
    assert "Try again in 90 s (after" in connectivity["action"]
    assert {checks(report)[c]["status"] for c in ("clock", "authentication")} == {"skipped"}


def test_region_block_451_is_explained(api, keys, exchange_clean):
    pair = keys()
    exchange_clean.fault(
        "/api/v3/time",
        "5xx-before",
        status=451,
        code=0,
        msg="Service unavailable from a restricted location according to 'b. Eligibility'.",
    )
    connectivity = checks(connect(api, pair)["last_test_report"])["connectivity"]
    assert connectivity["category"] == "restricted_region"
    assert "451" in connectivity["title"]


def test_sandbox_down_is_explained(api, keys, settings):
    pair = keys()
    settings.SANDBOX_PORT = free_port()  # nothing listens there
    report = connect(api, pair)["last_test_report"]

    connectivity = checks(report)["connectivity"]
    assert connectivity["category"] == "network"
    assert connectivity["title"] == "The sandbox exchange is not reachable"
    assert "run_sandbox" in connectivity["action"]


def test_exchange_down_5xx_is_explained(api, keys, exchange_clean):
    pair = keys()
    exchange_clean.fault("/api/v3/time", "5xx-before", count=3)
    connectivity = checks(connect(api, pair)["last_test_report"])["connectivity"]
    assert connectivity["category"] == "exchange_unavailable"
    assert connectivity["title"] == "The exchange is unavailable"


def test_ip_not_whitelisted_is_among_the_explained_causes(api, keys):
    pair = keys(permissions={"ip_restricted": True, "allowed_ips": ["203.0.113.7"]})
    auth = checks(connect(api, pair)["last_test_report"])["authentication"]
    assert auth["status"] == "fail" and auth["code"] == -2015
    assert "IP address is not whitelisted" in auth["message"]
    assert "IP restriction" in auth["action"]
