"""Small helpers shared by every sandbox module: JSON, Decimal formatting, ids."""

from __future__ import annotations

import base64
import os
import random
import secrets
import string
from decimal import ROUND_DOWN, Decimal, InvalidOperation

try:  # orjson is several times faster; the sandbox still works without it.
    import orjson

    def dumps(obj) -> str:
        return orjson.dumps(obj, default=_default).decode()

    def dumpb(obj) -> bytes:
        return orjson.dumps(obj, default=_default)

    def loads(data):
        return orjson.loads(data)

except ImportError:  # pragma: no cover - exercised only without orjson
    import json

    def dumps(obj) -> str:
        return json.dumps(obj, separators=(",", ":"), default=_default)

    def dumpb(obj) -> bytes:
        return dumps(obj).encode()

    def loads(data):
        return json.loads(data)


def _default(obj):
    if isinstance(obj, Decimal):
        return fmt8(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


ZERO = Decimal(0)
Q8 = Decimal("0.00000001")
_ALNUM = string.ascii_letters + string.digits
_CLIENT_ID_ALPHABET = _ALNUM


def fmt8(value: Decimal) -> str:
    """Binance's amount formatting: fixed point with exactly 8 decimals ("0.10000000")."""
    return f"{value.quantize(Q8, rounding=ROUND_DOWN):f}"


def fmt_n(value: Decimal, places: int) -> str:
    """Fixed point with `places` decimals (used where Binance prints fewer, e.g. depth)."""
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN):f}"


def dec(value: str) -> Decimal | None:
    """Parse a decimal string the way Binance does; None if malformed or not finite."""
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not d.is_finite():
        return None
    return d


def decimals_of(value: Decimal) -> int:
    exp = value.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def random_alnum(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


# Client order ids need to be unique, not unpredictable: a PRNG seeded from the OS once per
# process avoids a getrandom() system call per order.
_ID_RNG = random.Random(os.urandom(32))


def new_client_order_id(prefix: str = "") -> str:
    """22 characters of [A-Za-z0-9-_] like Binance's '6gCrw2kRUAF9CvJDGP16IP'."""
    raw = _ID_RNG.getrandbits(128).to_bytes(16, "big")
    return prefix + base64.urlsafe_b64encode(raw).decode()[: 22 - len(prefix)]
