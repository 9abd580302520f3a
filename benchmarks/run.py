"""`make bench`: run every benchmark on this machine and write docs/benchmarks.md.

Each benchmark is a module `benchmarks.bench_<name>` run as its own process; its last stdout
line is JSON: {"title": str, "rows": [{"figure", "value", "goal", "met", "note"?}], "notes"?}.
Benchmarks that print another JSON document last (bench_client.py prints its raw figures,
indented) are turned into rows by an adapter here, so their files need no change.
All traffic stays on 127.0.0.1 (the benchmarks start their own sandbox and app processes).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
OUTPUT = BASE_DIR / "docs" / "benchmarks.md"
BENCHES = ["sandbox", "client", "orders", "pages", "live"]
TIMEOUT_SECONDS = 900


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def last_json(stdout: str) -> dict | None:
    """The last JSON object printed: a one-line document or an indented one ending the output."""
    lines = stdout.rstrip().splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if not lines[start].lstrip().startswith("{"):
            continue
        for candidate in (lines[start], "\n".join(lines[start:])):
            try:
                data = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None


def _client_rows(raw: dict) -> dict:
    """bench_client.py: KLINEO's client vs python-binance and ccxt, same sandbox, same run."""
    peers = ("python-binance", "ccxt")
    labels = {"account": "signed GET /api/v3/account", "order_test": "signed POST order/test"}
    rows = []
    for op, label in labels.items():
        ours = raw["klineo"][op]
        best_peer = max(raw[p][op]["per_second"] for p in peers)
        rows.append(
            {
                "figure": f"{label}: KLINEO client calls/s (p50)",
                "value": f"{ours['per_second']:.0f}/s ({ours['p50_ms']:.2f} ms)",
                "goal": f">= the faster peer ({best_peer:.0f}/s) - 5 %",
                "met": ours["per_second"] >= 0.95 * best_peer,
            }
        )
        for peer in peers:
            theirs = raw[peer][op]
            rows.append(
                {
                    "figure": f"{label}: {peer} calls/s (p50)",
                    "value": f"{theirs['per_second']:.0f}/s ({theirs['p50_ms']:.2f} ms)",
                    "goal": "peer",
                    "met": None,
                }
            )
    overhead = raw.get("klineo_overhead", {})
    if overhead:
        rows.append(
            {
                "figure": "KLINEO client per-call overhead without the network",
                "value": f"{overhead['per_call_us']:.0f} µs",
                "goal": None,
                "met": None,
            }
        )
    return {
        "title": "Binance client (signed requests against the sandbox)",
        "rows": rows,
        "notes": [
            "One thread, sequential calls after a warm-up, interleaved rounds, best round per "
            f"client; {raw.get('seconds_per_case', '?')} s per case.",
            "The sandbox runs on the same 2-core machine, so the sandbox's own time is in every "
            "figure; the differences between clients are the clients.",
        ],
    }


# Causes of missed goals, found by investigating them (a row may also carry its own "cause").
# Keyed by the start of the row's figure.
CAUSES: dict[str, str] = {
    "Dashboard p": "saturation, not a slow page: wrk keeps 50 requests in flight with no think "
    "time against ONE daphne process sharing 2 cores with wrk and the sandbox, so latency = "
    "in-flight / throughput (Little's law); the 1-user row is the page's own service time. "
    "More web processes (docker compose --scale web=N behind a proxy) or cores move it; the "
    "page code itself was not profiled further.",
    "Balances page p": "as for the dashboard (one daphne process saturated by 50 zero-think "
    "clients), plus a signed /api/v3/account + ticker call to the sandbox whenever a "
    "connection's ~10 s balance cache expires.",
    "signed GET /api/v3/account: KLINEO": "KLINEO turns the account into typed Decimal models "
    "(json parse_float=Decimal, Account.from_json) where ccxt's privateGetAccount and "
    "python-binance return raw dicts; order/test (tiny body) is fastest with KLINEO. The gap "
    "(~10 %) is also within the run-to-run noise of a shared 2-core machine; not profiled "
    "further.",
    "KLINEO added latency at p50": "measured per step: the HTTP stack alone (daphne + DRF + "
    "JWT + one query, the GET /api/kill-switch floor row) costs 3.5-7 ms before any order "
    "work; then the PENDING row + audit entry committed BEFORE sending (exactly-once, ~2 ms), the "
    "exchange's answer + fills committed after (~2.5 ms incl. two browser pushes), the signed "
    "client call and its shared Redis budget (~1.3 ms over bare) and the connection lookup "
    "(~0.75 ms); 11 queries per order through the API. At 10 and 50 users the figures are "
    "queueing in one daphne process (0 errors); more web processes scale it out.",
    "fill -> browser order.update, p50": "0.1 ms over the goal on a shared 2-core machine: the "
    "path is sandbox -> run_streams (websocket, DB commit) -> Redis channel layer -> daphne -> "
    "500 sockets; not investigated further here (live streams area).",
}

# Benchmarks whose last JSON is not yet the {"title", "rows"} shape.
ADAPTERS = {"client": _client_rows}


def run_bench(name: str, timeout: float) -> dict:
    if not (BASE_DIR / "benchmarks" / f"bench_{name}.py").exists():
        return {"title": name, "error": f"benchmarks/bench_{name}.py does not exist", "seconds": 0}
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.bench_{name}"],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "KLINEO_TESTING": "1"},
        )
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-1500:]
        return {
            "title": name,
            "error": f"timed out after {timeout:.0f} s: {tail!r}",
            "seconds": time.monotonic() - started,
        }
    elapsed = time.monotonic() - started
    result = last_json(proc.stdout) if proc.returncode == 0 else None
    if result is None:
        return {
            "title": name,
            "error": f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}",
            "seconds": elapsed,
        }
    if "rows" not in result and name in ADAPTERS:
        try:
            result = ADAPTERS[name](result)
        except (KeyError, TypeError, ValueError) as exc:
            return {"title": name, "error": f"unexpected output ({exc!r})", "seconds": elapsed}
    result["seconds"] = elapsed
    return result


def render(results: list[dict]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# KLINEO benchmarks",
        "",
        f"Written by `make bench` on {now}.",
        "",
        f"Machine: {machine()}.",
        "",
        "Every figure is measured in the same run as its peer, against the local sandbox "
        "exchange over 127.0.0.1.",
        "",
    ]
    missed = []
    for result in results:
        out += [f"## {result.get('title', '?')}", ""]
        if "error" in result:
            out += ["The benchmark failed:", "", "```", result["error"], "```", ""]
            missed.append(f"{result.get('title')}: the benchmark failed")
            continue
        out += ["| figure | value | goal | met | note |", "|---|---|---|---|---|"]
        for row in result.get("rows", []):
            met = row.get("met")
            mark = "yes" if met is True else ("**no**" if met is False else "—")
            note = str(row.get("note") or "").replace("|", "/")
            out.append(
                f"| {row['figure']} | {row['value']} | {row.get('goal') or '—'} | {mark} | {note} |"
            )
            if met is False:
                cause = row.get("cause") or next(
                    (text for prefix, text in CAUSES.items() if row["figure"].startswith(prefix)),
                    "not investigated yet",
                )
                missed.append(
                    f"**{row['figure']}**: {row['value']} (goal {row.get('goal')}). Cause: {cause}"
                )
        out.append("")
        notes = result.get("notes") or []
        for note in [notes] if isinstance(notes, str) else notes:
            out.append(f"- {note}")
        out += ["", f"_Run time: {result['seconds']:.0f} s._", ""]
    out += ["## Goals missed", ""]
    out += [f"- {item}" for item in missed] or ["None."]
    return "\n".join(out) + "\n"


def main() -> None:
    selected = sys.argv[1:] or BENCHES
    results = []
    for name in selected:
        print(f"benchmark {name} ...", flush=True)
        result = run_bench(name, timeout=TIMEOUT_SECONDS)
        results.append(result)
        print(json.dumps(result, indent=1)[:2000], flush=True)
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(render(results))
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
