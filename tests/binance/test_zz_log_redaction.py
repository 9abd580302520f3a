"""Runs last in this directory: every test above had its DEBUG log checked for secrets by the
autouse fixture in conftest.py; this proves the check really looked at something."""

from .conftest import LOG_STATS, SECRETS


def test_logs_of_all_binance_tests_hold_no_secret():
    assert LOG_STATS["tests"] > 20, "run the whole tests/binance directory"
    assert LOG_STATS["records"] > 200
    assert len(SECRETS) > 20  # keys, secrets, private keys and every signature produced
