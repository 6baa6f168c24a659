"""Helpers shared by the test suites."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

import boto3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def emulator_client(state: dict[str, Any], service: Any) -> Any:
    """A boto3 client of a local stack's emulator (state: its local.json)."""
    return boto3.client(
        service,
        region_name=state["region"],
        endpoint_url=state["aws_endpoint_url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def stage_batch(state: dict[str, Any], sku: str, body: BinaryIO, filename: str = "staged.txt") -> str:
    """A batch record and its file under staging/, where the stack's own ingest worker (which
    watches incoming/) leaves it alone: for running ingestion in another process."""
    batch_id = f"b-{secrets.token_hex(10)}"
    key = f"staging/{sku}/{batch_id}/{filename}"
    emulator_client(state, "s3").upload_fileobj(body, state["resources"]["CardsBucket"], key)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", time.gmtime())
    emulator_client(state, "dynamodb").put_item(
        TableName=state["resources"]["CardsTable"],
        Item={
            "pk": {"S": f"BATCH#{batch_id}"},
            "sk": {"S": "BATCH"},
            "kind": {"S": "batch"},
            "batch_id": {"S": batch_id},
            "sku": {"S": sku},
            "filename": {"S": filename},
            "s3_key": {"S": key},
            "status": {"S": "pending"},
            "position": {"N": "0"},
            "created_at": {"S": now},
            "updated_at": {"S": now},
        },
    )
    return batch_id


def become_a_function(state_file: str) -> dict[str, Any]:
    """For a script that runs domain code in its own process against a local stack: the
    environment every function sees there (template Globals) and the stack's emulator."""
    with open(state_file, encoding="utf-8") as fh:
        state: dict[str, Any] = json.load(fh)
    os.environ.update({k: str(v) for k, v in state["function_environment"].items()})
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": state["aws_endpoint_url"],
            "AWS_DEFAULT_REGION": state["region"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    return state


def run_as_function(module: str, state: dict[str, Any], workdir: Path, *args: str, timeout: float = 120) -> list[Any]:
    """Runs `python -m module STATE_FILE args...` (a script using become_a_function) and
    returns the JSON lines it printed."""
    state_file = workdir / "state.json"
    state_file.write_text(json.dumps(state))
    out = subprocess.run(
        [sys.executable, "-m", module, str(state_file), *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines()]
