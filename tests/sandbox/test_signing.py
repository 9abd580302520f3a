"""Signature checking: the official vectors and real Ed25519/RSA round trips."""

from __future__ import annotations

import base64
import time
from urllib.parse import quote, urlencode

import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchanges.sandbox.signing import (
    Verifier,
    generate_key_pair,
    hmac_hex,
    rest_payload,
    sign_with_private_key,
    ws_payload,
)

# The docs' non-ASCII example symbol, written as escapes (it looks like "123456").
FULLWIDTH_123456 = "\uff11\uff12\uff13\uff14\uff15\uff16"
SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SPOT_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
S1 = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
S2 = (
    "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT"
    "&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)


def test_vector_s1_rest_hmac():
    sig = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert hmac_hex(SPOT_SECRET, S1) == sig
    verifier = Verifier("HMAC", secret=SPOT_SECRET)
    payload, encoded = rest_payload(S1 + "&signature=" + sig, "")
    assert payload == S1 and encoded == sig
    assert verifier.verify(payload.encode(), sig)
    assert verifier.verify(payload.encode(), sig.upper())  # HMAC hex is case-insensitive


def test_vector_s2_percent_encoded_payload():
    sig = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
    assert urlencode({"symbol": FULLWIDTH_123456}) == S2.split("&")[0]
    verifier = Verifier("HMAC", secret=SPOT_SECRET)
    payload, _ = rest_payload(S2, "signature=" + sig)  # signature may travel in the body
    assert verifier.verify(payload.encode(), sig)
    # Signing the decoded text instead of the bytes sent fails, as on Binance since 2026-01-15.
    assert not verifier.verify(
        S2.replace(S2.split("&")[0], "symbol=" + FULLWIDTH_123456).encode(), sig
    )


def test_vector_w1_w2_w3_websocket_payloads():
    w1 = {
        "apiKey": SPOT_KEY,
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01000000",
        "price": "52000.00",
        "recvWindow": 100,
        "timestamp": 1645423376532,
    }
    assert hmac_hex(SPOT_SECRET, ws_payload(w1)) == (
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    )
    w2 = {
        **w1,
        "symbol": FULLWIDTH_123456,
        "side": "BUY",
        "quantity": "1.00000000",
        "price": "0.10000000",
        "recvWindow": 5000,
    }
    assert hmac_hex(SPOT_SECRET, ws_payload(w2)) == (
        "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"
    )
    w3 = {"apiKey": SPOT_KEY, "timestamp": 1649729878532, "signature": "ignored"}
    assert ws_payload(w3) == f"apiKey={SPOT_KEY}&timestamp=1649729878532"
    assert hmac_hex(SPOT_SECRET, ws_payload(w3)) == (
        "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed"
    )


def test_vector_f1_futures_and_f3_body_concatenation():
    f1 = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    assert hmac_hex(secret, f1) == (
        "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    )
    # F3: query + body concatenated with no separator.
    payload, _ = rest_payload(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC",
        "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943&signature=x",
    )
    assert hmac_hex(secret, payload) == (
        "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"
    )


def test_rfc8032_ed25519_primitive():
    # RFC 8032 section 7.1, TEST 1 (empty message).
    private = ed25519.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    sig = private.sign(b"")
    assert sig.hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    from cryptography.hazmat.primitives import serialization

    pub = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert Verifier("ED25519", public_pem=pub).verify(b"", base64.b64encode(sig).decode())


def test_doc_vectors_through_a_real_request(sandbox):
    """The documented key/secret pair as a sandbox key: S1-style signing over HTTP."""
    key = sandbox.create_keys(api_key=SPOT_KEY, secret_key=SPOT_SECRET)
    assert key["apiKey"] == SPOT_KEY
    payload = f"symbol=BTCUSDT&recvWindow=5000&timestamp={int(time.time() * 1000)}"
    r = requests.get(
        f"{sandbox.url}/api/v3/openOrders?{payload}&signature={hmac_hex(SPOT_SECRET, payload)}",
        headers={"X-MBX-APIKEY": SPOT_KEY},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    assert r.json() == []


def _round_trip(sandbox, key_type: str) -> None:
    private_pem, public_pem = generate_key_pair(key_type)
    keys = sandbox.create_keys(key_type=key_type, public_key=public_pem)
    assert "privateKey" not in keys and "secretKey" not in keys
    ts = int(time.time() * 1000)
    # A non-ASCII value proves the payload is the percent-encoded bytes as sent.
    body = urlencode(
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.001",
            "price": "30000",
            "newClientOrderId": f"rt-{key_type.lower()}-{ts}",
            "timestamp": ts,
        }
    )
    sig = sign_with_private_key(private_pem, body.encode())
    r = requests.post(
        f"{sandbox.url}/api/v3/order",
        data=f"{body}&signature={quote(sig, safe='')}",
        headers={
            "X-MBX-APIKEY": keys["apiKey"],
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=5,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "NEW"
    # Query string + body split, signature in the query string.
    query = f"symbol=BTCUSDT&timestamp={ts}"
    sig = sign_with_private_key(private_pem, query.encode())
    r = requests.get(
        f"{sandbox.url}/api/v3/openOrders?{query}&signature={quote(sig, safe='')}",
        headers={"X-MBX-APIKEY": keys["apiKey"]},
        timeout=5,
    )
    assert r.status_code == 200 and len(r.json()) == 1
    # A signature from another key of the same type is rejected.
    other_private, _ = generate_key_pair(key_type)
    bad = sign_with_private_key(other_private, query.encode())
    r = requests.get(
        f"{sandbox.url}/api/v3/openOrders?{query}&signature={quote(bad, safe='')}",
        headers={"X-MBX-APIKEY": keys["apiKey"]},
        timeout=5,
    )
    assert (r.status_code, r.json()) == (
        400,
        {"code": -1022, "msg": "Signature for this request is not valid."},
    )


def test_ed25519_round_trip(sandbox):
    _round_trip(sandbox, "ED25519")


def test_rsa_round_trip(sandbox):
    _round_trip(sandbox, "RSA")


def test_generated_key_pair_returned_for_demos(sandbox):
    keys = sandbox.create_keys(key_type="ED25519")
    assert keys["privateKey"].startswith("-----BEGIN PRIVATE KEY-----")
    r = sandbox.signed("GET", "/api/v3/account", keys)
    assert r.status_code == 200, r.text
