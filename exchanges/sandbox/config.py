"""Start-time and runtime configuration of the sandbox.

Everything a test may want to change at runtime (limits, intervals, the random walk) lives in
one ``SandboxConfig``; ``POST /sandbox/v1/config`` merges JSON into it and
``POST /sandbox/v1/reset`` restores the values the process was started with.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields


def default_limits() -> dict[str, dict[str, int]]:
    # Spot: REQUEST_WEIGHT 6000/min per IP, ORDERS 100/10 s and 200000/day per account (the
    # values live exchangeInfo shows; the docs' examples say 50 and 160000, see README).
    # USD-M: 2400/min weight, 300/10 s and 1200/min orders. COIN-M: 6000/min and 6000/min.
    return {
        "spot": {"request_weight_1m": 6000, "orders_10s": 100, "orders_1d": 200000},
        "fapi": {"request_weight_1m": 2400, "orders_10s": 300, "orders_1m": 1200},
        "dapi": {"request_weight_1m": 6000, "orders_1m": 6000},
    }


# Peers the control API (/sandbox/v1) answers by default: loopback only.
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 9100
    seed: int = 0
    # CIDR networks whose peers may use the control API (start-time only: --control-allow).
    control_allow: tuple[str, ...] = LOOPBACK_NETWORKS
    state_file: str | None = None
    save_interval: float = 30.0
    # Futures listenKey validity (seconds); read by the futures module.
    listen_key_ttl: float = 3600.0
    # Market simulation.
    tick_interval: float = 1.0
    kline_push_interval: float = 2.0
    walk: bool = True
    # WebSocket keep-alive: server ping interval and how long a pong may take.
    ws_ping_interval: float = 20.0
    ws_pong_timeout: float = 60.0
    fstream_ping_interval: float = 180.0
    fstream_pong_timeout: float = 600.0
    # Rate limits and bans.
    limits: dict[str, dict[str, int]] = field(default_factory=default_limits)
    ban_after_429s: int = 3
    ban_seconds: float = 120.0
    # Default hold for timeout-* faults.
    fault_hold_seconds: float = 30.0
    # Trading fees.
    maker_commission: str = "0.001"
    taker_commission: str = "0.001"

    def to_dict(self) -> dict:
        return asdict(self)

    def snapshot(self) -> SandboxConfig:
        return copy.deepcopy(self)

    def restore(self, other: SandboxConfig) -> None:
        for f in fields(self):
            setattr(self, f.name, copy.deepcopy(getattr(other, f.name)))

    RUNTIME_KEYS = (
        "listen_key_ttl",
        "tick_interval",
        "kline_push_interval",
        "walk",
        "ws_ping_interval",
        "ws_pong_timeout",
        "fstream_ping_interval",
        "fstream_pong_timeout",
        "limits",
        "ban_after_429s",
        "ban_seconds",
        "fault_hold_seconds",
        "save_interval",
        "maker_commission",
        "taker_commission",
    )

    def update(self, data: dict) -> list[str]:
        """Merge runtime settings; returns the names of unknown keys (ignored)."""
        unknown = []
        for key, value in data.items():
            if key not in self.RUNTIME_KEYS:
                unknown.append(key)
                continue
            if key == "limits":
                for bucket, values in value.items():
                    self.limits.setdefault(bucket, {}).update(
                        {k: int(v) for k, v in values.items()}
                    )
            elif key == "walk":
                self.walk = bool(value)
            elif key in ("maker_commission", "taker_commission"):
                setattr(self, key, str(value))
            elif key == "ban_after_429s":
                self.ban_after_429s = int(value)
            else:
                setattr(self, key, float(value))
        return unknown
