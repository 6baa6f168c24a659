"""`make bench [BENCH=name]`: benchmarks that print numbers (never part of the tests)."""

from __future__ import annotations

import argparse
import sys

from bench import cold_start, dashboard, flash_sale, ingest, redeem, reports

BENCHMARKS = {
    "cold-start": cold_start.main,
    "ingest": ingest.main,
    "flash-sale": flash_sale.main,
    "reports": reports.main,
    "redeem": redeem.main,
    "dashboard": dashboard.main,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("name", nargs="?", choices=sorted(BENCHMARKS), help="one benchmark (default: all)")
    args = parser.parse_args()
    for name, run in BENCHMARKS.items():
        if args.name in (None, name):
            print(f"\n== {name}")
            run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
