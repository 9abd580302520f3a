"""Signing against Binance's official vectors, and key-type round trips."""

import base64
import pickle

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from exchanges.binance import (
    Ed25519Credentials,
    HmacCredentials,
    RsaCredentials,
    credentials_from,
)
from exchanges.binance.credentials import rest_query, ws_api_payload, ws_api_sign

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
FULLWIDTH_123456 = "\uff11\uff12\uff13\uff14\uff15\uff16"
ORDER = [
    ("symbol", "LTCBTC"),
    ("side", "BUY"),
    ("type", "LIMIT"),
    ("timeInForce", "GTC"),
    ("quantity", "1"),
    ("price", "0.1"),
    ("recvWindow", "5000"),
    ("timestamp", "1499827319559"),
]


def test_rest_hmac_vector_s1():
    creds = HmacCredentials(API_KEY, SECRET)
    query = rest_query(ORDER, creds)
    assert query == (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
        "&timestamp=1499827319559"
        "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )


def test_rest_hmac_vector_s2_percent_encodes_before_signing():
    creds = HmacCredentials(API_KEY, SECRET)
    params = [("symbol", FULLWIDTH_123456), *ORDER[1:]]
    query = rest_query(params, creds)
    assert query.startswith("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&")
    assert query.endswith(
        "&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
    )


def test_futures_hmac_vector_f1():
    creds = HmacCredentials(
        "key", "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    )
    params = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("quantity", "1"),
        ("price", "9000"),
        ("timeInForce", "GTC"),
        ("recvWindow", "5000"),
        ("timestamp", "1591702613943"),
    ]
    assert rest_query(params, creds).endswith(
        "signature=3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01000000",
                "price": "52000.00",
                "recvWindow": 100,
                "timestamp": 1645423376532,
            },
            "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24",
        ),
        (
            {
                "symbol": FULLWIDTH_123456,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "1.00000000",
                "price": "0.10000000",
                "recvWindow": 5000,
                "timestamp": 1645423376532,
            },
            "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd",
        ),
        (
            {"timestamp": 1649729878532},
            "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed",
        ),
    ],
)
def test_ws_api_hmac_vectors_sorted_unencoded(params, expected):
    signed = ws_api_sign(params, HmacCredentials(API_KEY, SECRET))
    assert signed["apiKey"] == API_KEY
    assert signed["signature"] == expected


def test_ws_api_payload_sorts_and_leaves_utf8_raw():
    assert ws_api_payload({"b": "\uff11", "a": 1, "signature": "x"}) == "a=1&b=\uff11"


def _pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_ed25519_rest_signature_round_trips_and_is_url_quoted():
    key = ed25519.Ed25519PrivateKey.generate()
    creds = Ed25519Credentials(API_KEY, _pem(key))
    query = rest_query(ORDER, creds)
    payload, _, signature = query.rpartition("&signature=")
    assert "+" not in signature and "/" not in signature and "=" not in signature
    from urllib.parse import unquote

    raw = base64.b64decode(unquote(signature))
    key.public_key().verify(raw, payload.encode())


def test_ed25519_rfc8032_primitive():
    # RFC 8032 section 7.1, TEST 1 (empty message).
    secret = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(secret)
    creds = Ed25519Credentials(API_KEY, _pem(key))
    assert base64.b64decode(creds.sign(b"")).hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_rsa_signature_round_trips():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    creds = RsaCredentials(API_KEY, _pem(key))
    payload = b"symbol=BTCUSDT&timestamp=1"
    key.public_key().verify(
        base64.b64decode(creds.sign(payload)), payload, padding.PKCS1v15(), hashes.SHA256()
    )
    signed = ws_api_sign({"timestamp": 1}, creds)
    key.public_key().verify(
        base64.b64decode(signed["signature"]),
        f"apiKey={API_KEY}&timestamp=1".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_wrong_key_type_is_refused():
    rsa_pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        Ed25519Credentials(API_KEY, rsa_pem)
    with pytest.raises(ValueError, match="not a valid PEM"):
        RsaCredentials(API_KEY, "garbage")


def test_credentials_never_show_secrets():
    ed_pem = _pem(ed25519.Ed25519PrivateKey.generate())
    for creds in (
        HmacCredentials(API_KEY, SECRET),
        credentials_from(key_type="ed25519", api_key=API_KEY, private_key_pem=ed_pem),
    ):
        text = repr(creds) + str(creds) + f"{creds}"
        assert API_KEY not in text
        assert SECRET not in text
        assert "PRIVATE" not in text
        assert text.endswith("api_key=…Eh8A>")
        with pytest.raises(TypeError):
            pickle.dumps(creds)


def test_credentials_strip_pasted_whitespace():
    creds = HmacCredentials(f"  {API_KEY}\n", f" {SECRET} ")
    assert creds.api_key == API_KEY
    assert rest_query(ORDER, creds).endswith(
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )
