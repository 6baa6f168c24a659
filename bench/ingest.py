"""Ingestion: codes/s, KMS calls per batch, DynamoDB write requests per 1,000 codes, our CPU
time per code and our peak memory, for 100,000 codes (BENCH_CODES=100000,1000000 for more sizes).

A local stack (no demo data) provides the emulator and resources; ingestion itself runs in a
child process (bench.ingest_worker) so that its CPU time and peak memory are ours, not moto's.
The emulator serialises requests and is the bottleneck for codes/s here."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
DYNAMODB_WRITES = ("TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem", "DeleteItem")


@contextmanager
def local_stack() -> Iterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as state_dir:
        env = {
            **os.environ,
            "KAYISU_PORT": str(free_port()),
            "KAYISU_AWS_PORT": str(free_port()),
            "KAYISU_STATE_DIR": state_dir,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "local", "run", "--no-demo", "--no-schedules"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            state_file = Path(state_dir) / "local.json"
            while not state_file.exists():
                if proc.poll() is not None:
                    raise RuntimeError("local stack did not start")
                time.sleep(0.2)
            state: dict[str, Any] = json.loads(state_file.read_text())
            state["state_file"] = str(state_file)
            yield state
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)


def stage_batch(state: dict[str, Any], sku: str, codes: int) -> str:
    """A batch record and its file, under a key the stack's own worker does not pick up."""
    kw: dict[str, Any] = {
        "region_name": state["region"],
        "endpoint_url": state["aws_endpoint_url"],
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
    }
    ddb, s3 = boto3.client("dynamodb", **kw), boto3.client("s3", **kw)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", time.gmtime())
    ddb.put_item(
        TableName=state["resources"]["CatalogTable"],
        Item={
            "pk": {"S": f"PRODUCT#{sku}"},
            "sk": {"S": "PRODUCT"},
            "kind": {"S": "product"},
            "sku": {"S": sku},
            "name": {"S": "bench"},
            "description": {"S": ""},
            "price": {"N": "100"},
            "currency": {"S": "CNY"},
            "max_per_order": {"N": "10"},
            "alert_threshold": {"N": "0"},
            "status": {"S": "active"},
            "created_at": {"S": now},
            "updated_at": {"S": now},
        },
    )
    batch_id = f"b-{secrets.token_hex(10)}"
    key = f"staging/{sku}/{batch_id}/bench.txt"
    with tempfile.TemporaryFile() as body:
        for _ in range(codes):
            body.write(f"BENCH-{secrets.token_hex(10)}\n".encode())
        body.seek(0)
        s3.upload_fileobj(body, state["resources"]["CardsBucket"], key)
    ddb.put_item(
        TableName=state["resources"]["CardsTable"],
        Item={
            "pk": {"S": f"BATCH#{batch_id}"},
            "sk": {"S": "BATCH"},
            "kind": {"S": "batch"},
            "batch_id": {"S": batch_id},
            "sku": {"S": sku},
            "filename": {"S": "bench.txt"},
            "s3_key": {"S": key},
            "status": {"S": "pending"},
            "position": {"N": "0"},
            "created_at": {"S": now},
            "updated_at": {"S": now},
        },
    )
    return batch_id


def run(state: dict[str, Any], codes: int) -> dict[str, Any]:
    batch_id = stage_batch(state, f"BENCH-{codes}", codes)
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
