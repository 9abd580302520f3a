"""The soak (benchmarks/soak.py) in short: one minute of orders under faults, then its checks.

It brings up its own deployment (PostgreSQL database klineo_soak_test, a private Redis
database, sandbox, daphne, Celery worker with beat, run_streams) exactly as `make soak` does,
with fewer users; every check of the soak is asserted here.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.soak import SoakConfig, run_soak, summary


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_short_soak_loses_nothing(tmp_path):
    config = SoakConfig(
        seconds=60, users=8, ws_users=4, ban_seconds=10, settle_seconds=60,
        name="soak_test", redis_db=14,
    )  # fmt: skip
    result = run_soak(config, log_dir=tmp_path)
    failed = [c for c in result["checks"] if not c["ok"]]
    assert not failed, summary(result) + "\n" + json.dumps(result["stats"], default=str)[:4000]
