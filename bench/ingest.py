"""Ingestion: codes/s, KMS calls per batch, DynamoDB write requests per 1,000 codes, our CPU
time per code and our peak memory, for 100,000 codes (BENCH_CODES=100000,1000000 for more sizes).

A local stack (no demo data) provides the emulator and resources; ingestion itself runs in a
child process (bench.ingest_worker) so that its CPU time and peak memory are ours, not moto's.
The emulator serialises requests and is the bottleneck for codes/s here."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stack import local_stack
from tests.support import emulator_client, stage_batch

ROOT = Path(__file__).resolve().parent.parent
DYNAMODB_WRITES = ("TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem")


def stage(state: dict[str, Any], sku: str, codes: int) -> str:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", time.gmtime())
    product = {
        "pk": f"PRODUCT#{sku}",
        "sk": "PRODUCT",
        "kind": "product",
        "sku": sku,
        "name": "bench",
        "description": "",
        "currency": "CNY",
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }
    numbers = {"price": "100", "max_per_order": "10", "alert_threshold": "0"}
    emulator_client(state, "dynamodb").put_item(
        TableName=state["resources"]["CatalogTable"],
        Item={**{k: {"S": v} for k, v in product.items()}, **{k: {"N": v} for k, v in numbers.items()}},
    )
    with tempfile.TemporaryFile() as body:
        for _ in range(codes):
            body.write(f"BENCH-{secrets.token_hex(10)}\n".encode())
        body.seek(0)
        return stage_batch(state, sku, body, "bench.txt")


def run(state: dict[str, Any], codes: int) -> dict[str, Any]:
    batch_id = stage(state, f"BENCH-{codes}", codes)
    out = subprocess.run(
        [sys.executable, "-m", "bench.ingest_worker", state["state_file"], batch_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    calls = result["calls"]
    writes = sum(n for op, n in calls.items() if op.split(":")[0] == "dynamodb" and op.split(":")[1] in DYNAMODB_WRITES)
    result.update(
        {
            "codes": codes,
            "codes_per_second": result["imported"] / result["seconds"],
            "kms_calls": sum(n for op, n in calls.items() if op.startswith("kms:")),
            "dynamodb_writes_per_1000": writes * 1000 / max(1, result["imported"]),
            "cpu_us_per_code": result["cpu_seconds"] * 1e6 / max(1, result["rows"]),
        }
    )
    return result


def main() -> None:
    sizes = [int(n) for n in os.environ.get("BENCH_CODES", "100000").split(",")]
    with local_stack() as state:
        results = [run(state, n) for n in sizes]
    print(
        f"{'codes':>9} {'outcome':>10} {'codes/s':>8} {'KMS':>4} {'DDB writes/1k':>13} {'CPU µs/code':>11} "
        f"{'peak MB':>8}"
    )
    for r in results:
        print(
            f"{r['codes']:>9} {r['outcome']:>10} {r['codes_per_second']:>8.0f} {r['kms_calls']:>4} "
            f"{r['dynamodb_writes_per_1000']:>13.1f} {r['cpu_us_per_code']:>11.0f} {r['peak_rss_mb']:>8.0f}"
        )
    for r in results:
        print(json.dumps({"codes": r["codes"], "calls": r["calls"]}))
