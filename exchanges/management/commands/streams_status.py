"""manage.py streams_status [--check] [--json]: every stream's state, lease holder, last event
time and reconnect count. With --check, exit 1 when a stream that should run is down, has no
lease holder, or no run_streams process is alive (docker-compose's health check)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from exchanges.streams.status import health_problems, live_processes, stream_rows


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


class Command(BaseCommand):
    help = "Show the state of the live streams; --check fails when one that should run is down."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true", help="exit 1 on any problem")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **options) -> None:
        rows = stream_rows()
        processes = live_processes()
        problems = health_problems(rows, processes)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {"processes": processes, "streams": rows, "problems": problems},
                    cls=DjangoJSONEncoder,
                    indent=2,
                )
            )
        else:
            self.stdout.write(f"run_streams processes alive: {len(processes)}")
            for holder in sorted(processes):
                self.stdout.write(f"  {holder}")
            header = (
                f"{'connection':>10}  {'kind':<5} {'status':<13} {'holder':<24} "
                f"{'last event (UTC)':<19} {'reconnects':>10}  reason"
            )
            self.stdout.write(header)
            for row in rows:
                self.stdout.write(
                    f"{row['connection_id']:>10}  {row['kind']:<5} {row['status']:<13} "
                    f"{(row['holder'] or '-')[:24]:<24} {_when(row['last_event_at']):<19} "
                    f"{row['reconnect_count']:>10}  {row['reason']}"
                )
            for problem in problems:
                self.stdout.write(self.style.ERROR(f"problem: {problem}"))
        if options["check"] and problems:
            raise SystemExit(1)
