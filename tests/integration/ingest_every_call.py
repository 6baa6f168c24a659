"""Run by test_ingestion: for every AWS call a batch's ingestion makes, a fresh batch whose run
fails just before, or just after, that call; then the batch is run again, as SQS redelivers.
Prints one JSON line per scenario with the batch's end state.

Usage: python -m tests.integration.ingest_every_call STATE_JSON"""

from __future__ import annotations

import io
import json
import os
import secrets
import sys
import time
from typing import Any

from tests.support import become_a_function


def content() -> str:
    """Fresh codes each time (a code is unique for ever): 250 of them, 2 bad rows, 1 repeat."""
    codes = [f"EVERY-{secrets.token_hex(8)}" for _ in range(250)]
    return "\n".join([*codes[:120], "x" * 300, *codes[120:], "\x07bad", codes[3]])


class Injected(Exception):
    pass


def main() -> None:
    state = become_a_function(sys.argv[1])
    # The test stack hands batches on after 1 s slices. Here every run of a batch must make the
    # same calls however loaded the machine: a slice ending early adds calls and shifts every
    # later failure point past the clean run's count (seen under load: "before call 23, 22 calls").
    os.environ["INGEST_SLICE_SECONDS"] = "600"
    from botocore.client import BaseClient

    from kayisu.crypto import code_digester
    from kayisu.ingest import service
    from kayisu.store import cards
    from tests.support import emulator_client, stage_batch

    code_digester()  # loaded once per container: not a per-batch call
    original = BaseClient._make_api_call  # type: ignore[attr-defined]
    plan: dict[str, Any] = {"n": 0, "fail_at": 0, "when": ""}

    def call(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        plan["n"] += 1
        if plan["n"] == plan["fail_at"] and plan["when"] == "before":
            raise Injected(f"before {operation}")
        result = original(self, operation, params)
        if plan["n"] == plan["fail_at"] and plan["when"] == "after":
            raise Injected(f"after {operation}")
        return result

    BaseClient._make_api_call = call  # type: ignore[attr-defined]
    ddb = emulator_client(state, "dynamodb")

    def scenario(fail_at: int, when: str) -> dict[str, Any]:
        sku = f"EVERY-{secrets.token_hex(4)}"
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", time.gmtime())
        ddb.put_item(
            TableName=state["resources"]["CatalogTable"],
            Item={
                "pk": {"S": f"PRODUCT#{sku}"},
                "sk": {"S": "PRODUCT"},
                "kind": {"S": "product"},
                "sku": {"S": sku},
                "name": {"S": "x"},
                "description": {"S": ""},
                "price": {"N": "1"},
                "currency": {"S": "CNY"},
                "max_per_order": {"N": "1"},
                "alert_threshold": {"N": "0"},
                "status": {"S": "active"},
                "created_at": {"S": now},
                "updated_at": {"S": now},
            },
        )
        batch_id = stage_batch(state, sku, io.BytesIO(content().encode()), "every.txt")
        plan.update(n=0, fail_at=fail_at, when=when)
        injected = None
        for _attempt in range(6):
            try:  # one invocation: the handler loads the batch, then runs it
                batch = cards.load_batch(batch_id)
                assert batch is not None
                outcome = service.run(batch, lambda: 600_000)
            except Injected as exc:
                injected = str(exc)
                continue
            if outcome is not service.Outcome.CONTINUE:
                break
        calls = plan["n"]
        plan.update(fail_at=0)
        batch = cards.load_batch(batch_id)
        assert batch is not None
        return {
            "fail_at": fail_at,
            "when": when,
            "injected": injected,
            "calls": calls,
            "sku": sku,
            "batch_id": batch_id,
            "status": batch.status,
            "rows": int(batch.rows),
            "imported": int(batch.imported),
            "rejected": int(batch.rejected),
            "duplicates": int(batch.duplicates),
            "rejects_key": batch.rejects_key,
            "s3_key": batch.s3_key,
        }

    clean = scenario(0, "")
    print(json.dumps(clean), flush=True)
    for when in ("before", "after"):
        for n in range(1, clean["calls"] + 1):
            print(json.dumps(scenario(n, when)), flush=True)


if __name__ == "__main__":
    main()
