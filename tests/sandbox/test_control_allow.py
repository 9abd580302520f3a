"""--control-allow: which peers may use the control API /sandbox/v1 (default loopback only)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from exchanges.sandbox.control import parse_networks, peer_allowed
from tests.fixtures.sandbox import REPO_ROOT, start_sandbox, stop_sandbox


def test_peer_outside_the_allowed_networks_is_refused():
    # 127.0.0.1 is not in 10.0.0.0/8: the control API refuses it, the exchange still answers.
    box = start_sandbox(extra_args=["--control-allow", "10.0.0.0/8"])
    try:
        r = requests.post(box.url + "/sandbox/v1/keys", json={}, timeout=5)
        assert r.status_code == 403
        assert "10.0.0.0/8" in r.json()["error"]
        assert requests.get(box.url + "/sandbox/v1/config", timeout=5).status_code == 403
        assert requests.get(box.url + "/api/v3/ping", timeout=5).status_code == 200
    finally:
        stop_sandbox(box)


def test_allowed_networks_reach_the_control_api():
    box = start_sandbox(extra_args=["--control-allow", "10.0.0.0/8, 127.0.0.0/8"])
    try:
        keys = box.create_keys()
        assert box.signed("GET", "/api/v3/account", keys).status_code == 200
        assert box.configure()["control_allow"] == ["10.0.0.0/8", "127.0.0.0/8"]
    finally:
        stop_sandbox(box)


def test_default_is_loopback_only(sandbox):
    assert sandbox.configure()["control_allow"] == ["127.0.0.0/8", "::1/128"]
    r = sandbox.http.post(
        sandbox.url + "/sandbox/v1/config", json={"control_allow": ["0.0.0.0/0"]}, timeout=5
    )
    assert r.status_code == 400  # start-time only, not runtime-configurable


def test_invalid_cidr_stops_the_process():
    proc = subprocess.run(
        [sys.executable, "-m", "exchanges.sandbox", "--control-allow", "10.0.0.0/33"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--control-allow" in proc.stderr


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("", False),
        (None, False),
        ("not-an-ip", False),
    ],
)
def test_default_networks(remote, allowed):
    assert peer_allowed(remote, parse_networks("127.0.0.0/8,::1/128")) is allowed


def test_compose_networks():
    nets = parse_networks("172.16.0.0/12,192.168.0.0/16,10.0.0.0/8")
    assert peer_allowed("172.18.0.3", nets)
    assert peer_allowed("::ffff:192.168.1.20", nets)
    assert peer_allowed("10.1.2.3", nets)
    assert not peer_allowed("127.0.0.1", nets)
    assert not peer_allowed("8.8.8.8", nets)
    assert not peer_allowed("172.32.0.1", nets)


def test_run_sandbox_command_forwards_the_option(monkeypatch):
    from django.core.management import call_command

    from exchanges.management.commands import run_sandbox

    seen = []
    monkeypatch.setattr(run_sandbox, "main", seen.append)
    call_command("run_sandbox", control_allow="172.16.0.0/12,10.0.0.0/8")
    argv = seen[0]
    assert argv[argv.index("--control-allow") + 1] == "172.16.0.0/12,10.0.0.0/8"
    call_command("run_sandbox")
    assert "--control-allow" not in seen[1]
