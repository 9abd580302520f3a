"""`python manage.py run_sandbox [--host] [--port] [--seed] [--listen-key-ttl] [--state]
[--control-allow CIDR[,CIDR...]]`.

A thin wrapper: the sandbox itself never imports Django; this command only forwards its
arguments to ``exchanges.sandbox.server.main``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from exchanges.sandbox.server import main


class Command(BaseCommand):
    help = "Run the Binance-compatible sandbox exchange (see exchanges/sandbox/README.md)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--listen-key-ttl", type=float, default=3600.0)
        parser.add_argument("--state", default=None)
        parser.add_argument("--tick-interval", type=float, default=None)
        parser.add_argument("--ws-ping-interval", type=float, default=None)
        parser.add_argument("--no-walk", action="store_true")
        parser.add_argument(
            "--control-allow",
            default=None,
            metavar="CIDR[,CIDR...]",
            help="networks allowed to use the control API /sandbox/v1 (default: loopback only)",
        )

    def handle(self, *args, **options):
        argv = [
            "--host",
            options["host"],
            "--port",
            str(options["port"]),
            "--seed",
            str(options["seed"]),
            "--listen-key-ttl",
            str(options["listen_key_ttl"]),
        ]
        if options["state"]:
            argv += ["--state", options["state"]]
        if options["tick_interval"] is not None:
            argv += ["--tick-interval", str(options["tick_interval"])]
        if options["ws_ping_interval"] is not None:
            argv += ["--ws-ping-interval", str(options["ws_ping_interval"])]
        if options["no_walk"]:
            argv.append("--no-walk")
        if options["control_allow"]:
            argv += ["--control-allow", options["control_allow"]]
        main(argv)
