"""Finance exports: a day of 10,000 and one of 100,000 paid orders (one in ten refunded),
exported in a child process: its peak memory, AWS requests and time (BENCH_ORDERS to change).

Flat memory means the 100,000-order day peaks where the 10,000-order day does: the export holds
one index Query page (500 keys) per shard of the day being merged, 100 movements and their
orders, and totals per provider and currency; rows go to temporary files. The export talks HTTP
to the local stack's emulator (moto) in a third process (bench.reports_emulator), whose index
queries read one index partition each instead of the whole table (BENCH_PLAIN_MOTO=1: moto as
it is, over 25 minutes at 100,000). The emulator sets the wall time, not the export: the
emulator's CPU time is shown beside the exporting process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from bench.stack import ROOT


class BenchEmulator:
    """bench.reports_emulator running in its own process, asked over its stdin and stdout."""

    def __init__(self, proc: subprocess.Popen[str], state_file: Path, log_path: Path) -> None:
        self.proc, self.state_file, self.log_path = proc, state_file, log_path

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        if command:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator stopped:\n" + self.log_path.read_text()[-3000:])
        answer: dict[str, Any] = json.loads(line)
        return answer


@contextmanager
def bench_emulator(plain: bool) -> Iterator[BenchEmulator]:
    with tempfile.TemporaryDirectory() as state_dir:
        state_file, log_path = Path(state_dir) / "local.json", Path(state_dir) / "emulator.log"
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")}
        with log_path.open("w") as log:
            args = [sys.executable, "-m", "bench.reports_emulator", str(state_file)] + (["--plain"] if plain else [])
            proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
            )
            try:
                emulator = BenchEmulator(proc, state_file, log_path)
                emulator.ask()  # {"ready": ...} once provisioned
                yield emulator
            finally:
                stdin: IO[str] | None = proc.stdin
                if stdin is not None:
                    stdin.close()  # the emulator stops at the end of its input
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()  # an emulator holding a million items takes long to free them
                    proc.wait()


def worker(state_file: Path, day: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.reports_worker", str(state_file), day],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    sizes = [int(n) for n in os.environ.get("BENCH_ORDERS", "10000,100000").split(",")]
    plain = os.environ.get("BENCH_PLAIN_MOTO", "") == "1"
    results = []
    with bench_emulator(plain) as emulator:
        state = json.loads(emulator.state_file.read_text())
        print(f"emulator: {state['gsi_query']}", flush=True)
        for i, orders in enumerate(sizes):
            day = (date(2026, 10, 1) + timedelta(days=3 * i)).isoformat()  # days apart: no overlap
            seeded = emulator.ask(seed=orders, day=day)
            items, seconds = seeded["items"], seeded["seconds"]
            print(f"seeded {orders:,} orders ({items:,} items) on {day} in {seconds:.0f} s", flush=True)
            before = emulator.ask(stats=True)
            exported = worker(emulator.state_file, day)
            after = emulator.ask(stats=True)
            exported.update(
                orders=orders,
                day=day,
                emulator_cpu_seconds=after["cpu_seconds"] - before["cpu_seconds"],
            )
            results.append(exported)
            print(f"exported {orders:,} orders in {exported['seconds']:.0f} s", flush=True)
    print(
        f"{'orders':>8} {'rows':>8} {'MB':>6} {'s':>6} {'CPU s':>6} {'emu CPU s':>9} {'reqs':>6}"
        f" {'RSS start':>9} {'RSS peak':>9} {'RSS end':>8}"
    )
    for r in results:
        print(
            f"{r['orders']:>8,} {r['rows']:>8,} {r['size'] / 1e6:>6.1f} {r['seconds']:>6.0f} {r['cpu_seconds']:>6.1f}"
            f" {r['emulator_cpu_seconds']:>9.1f} {sum(r['calls'].values()):>6} {r['rss_before_mb']:>9.1f}"
            f" {r['peak_rss_mb']:>9.1f} {r['rss_current_after_mb']:>8.1f}"
        )
    print("s: the export's wall time, mostly the emulator's (emu CPU s); CPU s: the exporting process's own")
    for r in results:
        summary = {k: r[k] for k in ("orders", "mismatches", "query_page_keys_max", "sha256", "calls")}
        print(json.dumps(summary))
