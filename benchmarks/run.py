"""`make bench`: run every benchmark on this machine and write docs/benchmarks.md.

Each benchmark is a module `benchmarks.bench_<name>` run as its own process; its last stdout
line is JSON: {"title": str, "rows": [{"figure", "value", "goal", "met", "note"?}], "notes"?}.
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
BENCHES = ["sandbox", "client", "orders", "live"]


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


def run_bench(name: str, timeout: float) -> dict:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.bench_{name}"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KLINEO_TESTING": "1"},
    )
    elapsed = time.monotonic() - started
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if proc.returncode != 0 or not lines:
        return {
            "title": name,
            "error": f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}",
            "seconds": elapsed,
        }
    result = json.loads(lines[-1])
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
        out += ["| figure | value | goal | met |", "|---|---|---|---|"]
        for row in result.get("rows", []):
            met = row.get("met")
            mark = "yes" if met is True else ("**no**" if met is False else "—")
            out.append(f"| {row['figure']} | {row['value']} | {row.get('goal') or '—'} | {mark} |")
            if met is False:
                missed.append(
                    f"{row['figure']}: {row['value']} (goal {row.get('goal')})"
                    + (f" — {row['note']}" if row.get("note") else "")
                )
        out.append("")
        for note in result.get("notes", []):
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
        result = run_bench(name, timeout=900)
        results.append(result)
        print(json.dumps(result, indent=1)[:2000], flush=True)
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(render(results))
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
