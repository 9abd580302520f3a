"""Binance-compatible exchange simulator (spot core, hooks for USD-M and COIN-M futures).

A standalone asyncio/aiohttp server. It never imports Django so it can run anywhere the
tests, `make run` or a curious user need an exchange that behaves like Binance.
Start it with ``python -m exchanges.sandbox`` or ``python manage.py run_sandbox``.
"""
