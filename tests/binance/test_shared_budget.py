"""429/418 state shared through Redis by two processes: the second sends nothing during a ban."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from exchanges.binance import BinanceClient, BinanceError, ErrorCategory, RedisBudget

from .conftest import Control

REPO = Path(__file__).resolve().parents[2]

SECOND_PROCESS = r"""
import json, os, sys, time
import redis
from exchanges.binance import BinanceClient, BinanceError, HmacCredentials, RedisBudget
from exchanges.binance import sandbox_urls

budget = RedisBudget(redis.Redis(host="127.0.0.1", port=6379, db=15), prefix=os.environ["PREFIX"])
creds = HmacCredentials(os.environ["API_KEY"], os.environ["SECRET"])
client = BinanceClient(sandbox_urls(os.environ["URL"]), creds, budget=budget)
sent = []
original = client.session.request
def spy(method, url, **kw):
    sent.append(url.split("?")[0])
    return original(method, url, **kw)
client.session.request = spy
results = []
deadline = time.time() + float(os.environ.get("KEEP_TRYING", "0"))
while True:
    try:
        client.spot.ticker_price("BTCUSDT")
        results.append("ok")
        break
    except BinanceError as exc:
        results.append(exc.category.value)
        if time.time() > deadline:
            break
        time.sleep(0.2)
print(json.dumps({"results": results, "sent": sent}))
"""


def _second_process(sandbox, creds, budget: RedisBudget, keep_trying: float = 0) -> dict:
    env = dict(os.environ)
    env.update(
        PREFIX=budget._prefix, API_KEY=creds.api_key, SECRET=creds.secrets()[1],
        URL=sandbox.url, KEEP_TRYING=str(keep_trying), PYTHONPATH=str(REPO),
    )  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS], env=env, capture_output=True, text=True,
        timeout=30, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_418_ban_is_shared_and_nothing_is_sent_until_it_expires(
    sandbox, urls, creds, redis_budget: RedisBudget, control: Control
):
    with BinanceClient(urls, creds, budget=redis_budget) as client:
        control.fault("/api/v3/ticker/price", "418", retry_after=2)
        try:
            client.spot.ticker_price("BTCUSDT")
        except BinanceError as exc:
            assert exc.category is ErrorCategory.IP_BANNED
        else:
            raise AssertionError("expected a ban")
    banned = redis_budget.blocked_until(f"{urls.spot_rest.split('//')[1]}:spot", 0)
    assert banned is not None and banned[0] == "banned"
    other = _second_process(sandbox, creds, redis_budget, keep_trying=6)
    # Refused locally while banned (nothing on the wire), then one request once it expired.
    assert other["results"][0] == "ip_banned"
    assert other["results"][-1] == "ok"
    assert set(other["results"][:-1]) == {"ip_banned"}
    assert other["sent"] == [f"{sandbox.url}/api/v3/ticker/price"]


def test_429_retry_after_is_shared(sandbox, urls, creds, redis_budget: RedisBudget, control):
    with BinanceClient(urls, creds, budget=redis_budget) as client:
        control.fault("/api/v3/ticker/price", "429", retry_after=30)
        try:
            client.spot.ticker_price("BTCUSDT")
        except BinanceError as exc:
            assert exc.category is ErrorCategory.RATE_LIMITED and exc.retry_after == 30
    other = _second_process(sandbox, creds, redis_budget)
    assert other == {"results": ["rate_limited"], "sent": []}


def test_redis_budget_counts_weight_across_clients(redis_budget: RedisBudget):
    now = time.time()
    assert redis_budget.acquire("h:spot", 10, 25, now).granted
    assert redis_budget.acquire("h:spot", 10, 25, now).granted
    refused = redis_budget.acquire("h:spot", 10, 25, now)
    assert (refused.granted, refused.blocked) == (False, "budget")
    redis_budget.record("h:spot", 5, now)  # never lowers what is known
    assert redis_budget.used("h:spot", now) == 20
    redis_budget.block("account:k", now + 100, "rate_limited")
    assert redis_budget.acquire("h:spot", 1, 25, now).granted
    assert not redis_budget.acquire("h:spot", 1, 25, now, account="account:k").granted
