"""Finance exports: a day of 10,000 and one of 100,000 paid orders (one in ten refunded),
exported in a child process: its peak memory, AWS requests and time (BENCH_ORDERS to change).

Flat memory means the 100,000-order day peaks where the 10,000-order day does, give or take
the set of transaction ids (tens of bytes per payment). The emulator (moto, whose index
queries scan the whole table) sets the wall time here, not the export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.stack import ROOT, local_stack


def worker(state_file: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.reports_worker", str(state_file), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    sizes = [int(n) for n in os.environ.get("BENCH_ORDERS", "10000,100000").split(",")]
    results = []
    with local_stack() as state:
        state_file = Path(state["state_file"])
        for i, orders in enumerate(sizes):
            day = (date(2026, 10, 1) + timedelta(days=3 * i)).isoformat()  # days apart: no overlap
            seeded = worker(state_file, "seed", str(orders), day)
            print(f"seeded {orders:,} orders on {day} in {seeded['seconds']:.0f} s", flush=True)
            exported = worker(state_file, "export", day)
            exported.update({"orders": orders, "day": day})
            results.append(exported)
    print(f"{'orders':>8} {'rows':>8} {'MB':>6} {'s':>6} {'CPU s':>6} {'reqs':>6} {'RSS start':>9} {'RSS peak':>9}")
    for r in results:
        print(
            f"{r['orders']:>8,} {r['rows']:>8,} {r['size'] / 1e6:>6.1f} {r['seconds']:>6.0f} {r['cpu_seconds']:>6.1f} "
            f"{sum(r['calls'].values()):>6} {r['rss_before_mb']:>9.0f} {r['peak_rss_mb']:>9.0f}"
        )
    for r in results:
        print(json.dumps({"orders": r["orders"], "calls": r["calls"]}))
