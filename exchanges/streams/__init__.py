"""The run_streams runtime: holds every exchange websocket KLINEO needs.

* ``runtime``: the supervisor. Polls the database for the user-data streams that should run,
  takes a Redis lease for each (``leases``), starts/stops them, renews leases, and listens on a
  Redis pub/sub channel for "reconnect", "refresh" and "market" notifications.
* ``user_data``: one spot (WebSocket API) or USD-M (listenKey on /private) stream per
  connection; events are applied to the database by ``exchanges.services.live`` and pushed to
  the browser after commit by ``exchanges.events``; a REST reconciliation runs after every
  (re)connect.
* ``market``: one shared market-data connection per environment and market carrying every
  symbol an open page watches (``watch``), fanned out to Channels groups per symbol.

Started by ``manage.py run_streams``; inspected by ``manage.py streams_status``.
"""
