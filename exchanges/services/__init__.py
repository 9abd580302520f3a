"""Writes and exchange-facing work of the exchanges app (HackSoft-style services).

connections.py: create / update / delete connections, demo keys, key validation.
connection_test.py: the spot connection test. futures.py: futures test, enable, disable and the
`connection_require_futures` gate. balances.py: spot balances valued in USDT, market snapshot.
explanations.py: Binance failures in plain words. orders.py: orders (issue 6).
"""

from exchanges.services.connections import connections_erase_for_user

__all__ = ["connections_erase_for_user"]
