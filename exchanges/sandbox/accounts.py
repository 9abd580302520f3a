"""API keys, the accounts behind them, balances and permissions.

One POST /sandbox/v1/keys creates an account with one key (``account_of`` attaches a second
key to an existing account). Spot balances are ``[free, locked]`` pairs; USD-M and COIN-M
wallet balances are plain Decimals per asset that the futures modules own and change.
``Account.ext`` is free-form space for the futures modules (positions, leverage, ...); keep it
JSON-serialisable (Decimals are fine: they are written as strings) if it should survive
``--state``.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal

from .signing import KEY_TYPES, Verifier, generate_key_pair
from .util import ZERO, fmt8, random_alnum

KEY_RE = re.compile(r"^[A-Za-z0-9]{64}$")

DEFAULT_SPOT = {"USDT": "10000", "BTC": "1", "ETH": "10", "BNB": "100"}
DEFAULT_FUTURES = {"USDT": "10000"}
DEFAULT_COINM = {"BTC": "1", "ETH": "10"}
DEFAULT_PERMISSIONS = {
    "reading": True,
    "spot": True,
    "futures": True,
    "withdrawals": False,
    "ip_restricted": False,
}
PERMISSION_NAMES = (*DEFAULT_PERMISSIONS, "allowed_ips")


@dataclass
class Account:
    id: str
    uid: int
    balances: dict[str, list[Decimal]] = field(default_factory=dict)
    futures_balances: dict[str, Decimal] = field(default_factory=dict)
    coinm_balances: dict[str, Decimal] = field(default_factory=dict)
    ext: dict = field(default_factory=dict)
    update_time: int = 0
    can_trade: bool = True

    # ---- spot balances ------------------------------------------------------------------
    def free(self, asset: str) -> Decimal:
        bal = self.balances.get(asset)
        return bal[0] if bal else ZERO

    def _bal(self, asset: str) -> list[Decimal]:
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = [ZERO, ZERO]
        return bal

    def lock(self, asset: str, amount: Decimal) -> None:
        bal = self._bal(asset)
        bal[0] -= amount
        bal[1] += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        bal = self._bal(asset)
        bal[1] -= amount
        bal[0] += amount

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        self._bal(asset)[1] -= amount

    def credit(self, asset: str, amount: Decimal) -> None:
        self._bal(asset)[0] += amount

    def debit(self, asset: str, amount: Decimal) -> None:
        self._bal(asset)[0] -= amount

    def set_balances(self, balances: dict[str, str]) -> None:
        for asset, amount in balances.items():
            bal = self._bal(asset.upper())
            bal[0] = Decimal(str(amount))

    def balance_rows(self, assets=None) -> list[dict]:
        names = assets if assets is not None else sorted(self.balances)
        return [
            {"asset": a, "free": fmt8(self.free(a)), "locked": fmt8(self._bal(a)[1])} for a in names
        ]

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "uid": self.uid,
            "balances": {a: [str(f), str(lk)] for a, (f, lk) in self.balances.items()},
            "futures_balances": {a: str(v) for a, v in self.futures_balances.items()},
            "coinm_balances": {a: str(v) for a, v in self.coinm_balances.items()},
            "ext": self.ext,
            "update_time": self.update_time,
            "can_trade": self.can_trade,
        }

    @classmethod
    def from_json(cls, d: dict) -> Account:
        acct = cls(d["id"], int(d["uid"]))
        acct.balances = {a: [Decimal(f), Decimal(lk)] for a, (f, lk) in d["balances"].items()}
        acct.futures_balances = {a: Decimal(v) for a, v in d["futures_balances"].items()}
        acct.coinm_balances = {a: Decimal(v) for a, v in d.get("coinm_balances", {}).items()}
        acct.ext = d.get("ext", {})
        acct.update_time = d.get("update_time", 0)
        acct.can_trade = d.get("can_trade", True)
        return acct


class ApiKey:
    __slots__ = (
        "account",
        "api_key",
        "created_ms",
        "key_type",
        "permissions",
        "public_key",
        "secret",
        "verifier",
    )

    def __init__(
        self,
        api_key: str,
        key_type: str,
        account: Account,
        permissions: dict,
        secret: str | None = None,
        public_key: str | None = None,
        created_ms: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.key_type = key_type
        self.account = account
        self.permissions = permissions
        self.secret = secret
        self.public_key = public_key
        self.created_ms = created_ms or int(time.time() * 1000)
        self.verifier = Verifier(key_type, secret, public_key)

    def allows(self, permission: str | None, ip: str) -> bool:
        perms = self.permissions
        if permission and not perms.get(permission):
            return False
        allowed = perms.get("allowed_ips")
        return not (perms.get("ip_restricted") and allowed and ip not in allowed)

    def to_json(self) -> dict:
        return {
            "api_key": self.api_key,
            "key_type": self.key_type,
            "account": self.account.id,
            "permissions": self.permissions,
            "secret": self.secret,
            "public_key": self.public_key,
            "created_ms": self.created_ms,
        }


class KeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.accounts: dict[str, Account] = {}
        self._uids = itertools.count(354_937_868)

    def create(
        self,
        key_type: str = "HMAC",
        public_key: str | None = None,
        permissions: dict | None = None,
        balances: dict | None = None,
        futures_balances: dict | None = None,
        coinm_balances: dict | None = None,
        account_of: str | None = None,
        api_key: str | None = None,
        secret_key: str | None = None,
    ) -> dict:
        """Create a key (and an account unless ``account_of`` names an existing key)."""
        key_type = (key_type or "HMAC").upper()
        if key_type not in KEY_TYPES:
            raise ValueError(f"key_type must be one of {', '.join(KEY_TYPES)}")
        perms = dict(DEFAULT_PERMISSIONS)
        for name, value in (permissions or {}).items():
            if name not in PERMISSION_NAMES:
                raise ValueError(f"unknown permission {name!r}")
            perms[name] = value
        if api_key is not None and (not KEY_RE.match(api_key) or api_key in self.keys):
            raise ValueError("api_key must be 64 letters/digits and unused")
        out: dict = {}
        private_pem = None
        if key_type == "HMAC":
            secret = secret_key or random_alnum(64)
            out["secretKey"] = secret
        else:
            secret = None
            if not public_key:
                private_pem, public_key = generate_key_pair(key_type)
                out["privateKey"] = private_pem
        if account_of:
            parent = self.keys.get(account_of)
            if parent is None:
                raise ValueError("account_of: unknown apiKey")
            account = parent.account
        else:
            uid = next(self._uids)
            while str(uid) in self.accounts:
                uid = next(self._uids)
            account = Account(str(uid), uid)
            account.set_balances(balances if balances is not None else DEFAULT_SPOT)
            fb = futures_balances if futures_balances is not None else DEFAULT_FUTURES
            account.futures_balances = {a.upper(): Decimal(str(v)) for a, v in fb.items()}
            cb = coinm_balances if coinm_balances is not None else DEFAULT_COINM
            account.coinm_balances = {a.upper(): Decimal(str(v)) for a, v in cb.items()}
            account.update_time = int(time.time() * 1000)
        key_id = api_key or random_alnum(64)
        key = ApiKey(key_id, key_type, account, perms, secret=secret, public_key=public_key)
        self.keys[key_id] = key
        self.accounts[account.id] = account
        out = {"apiKey": key_id, **out, "keyType": key_type, "accountId": account.id}
        if private_pem:
            out["publicKey"] = public_key
        return out

    def get(self, api_key: str) -> ApiKey | None:
        return self.keys.get(api_key)

    def revoke(self, api_key: str) -> bool:
        return self.keys.pop(api_key, None) is not None

    def to_json(self) -> dict:
        return {
            "accounts": [a.to_json() for a in self.accounts.values()],
            "keys": [k.to_json() for k in self.keys.values()],
        }

    def load(self, data: dict) -> None:
        for d in data.get("accounts", []):
            acct = Account.from_json(d)
            self.accounts[acct.id] = acct
        for d in data.get("keys", []):
            acct = self.accounts[d["account"]]
            self.keys[d["api_key"]] = ApiKey(
                d["api_key"],
                d["key_type"],
                acct,
                d["permissions"],
                secret=d.get("secret"),
                public_key=d.get("public_key"),
                created_ms=d.get("created_ms"),
            )
        if self.accounts:
            top = max(a.uid for a in self.accounts.values())
            self._uids = itertools.count(top + 1)
