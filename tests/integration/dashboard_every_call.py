"""Run by test_dashboard: a few orders made through the stack (two delivered to one buyer, one
refunded, one expired), then the orders table's own stream records of them applied by the
stream function's code (kayisu.dashboard.stream) to dashboard tables of this script's own, as
Lambda might deliver them: in order; each batch twice and the whole stream again; batches in
reverse order, each reversed; each batch applied by two invocations at once; and each batch
failing once just before or just after each of its AWS calls, then redelivered whole or split
in two. Prints one JSON line per scenario: the dashboard read from its table.

Usage: python -m tests.integration.dashboard_every_call STATE_JSON"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from tests.integration.orders_every_call import Chaos, Injected
from tests.support import become_a_function, emulator_client

BATCH = 3  # records per batch: several batches, several orders per batch
CALLS_PER_BATCH = 2  # BatchGetItem (marks), TransactWriteItems (marks and counters)
Batch = list[dict[str, Any]]
FIGURES = ("funnel", "currency_totals", "buyers", "profit", "channels", "payment_methods")


def main() -> None:
    out: TextIO = sys.stdout
    sys.stdout = sys.stderr  # Powertools logs and metrics print; only scenario lines go to stdout
    state = become_a_function(sys.argv[1])
    from botocore.client import BaseClient

    from kayisu.config import get_settings
    from kayisu.dashboard import query, stream
    from local.streams import lambda_record
    from tests.integration.conftest import Api, login
    from tests.integration.shop import new_codes, order, pay, run_schedule, stocked_product, wait_for

    ddb, streams = emulator_client(state, "dynamodb"), emulator_client(state, "dynamodbstreams")
    orders_table = state["resources"]["OrdersTable"]
    arn = ddb.describe_table(TableName=orders_table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    position = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]

    operator, public = Api(state["api_url"], login(state, "operator")), Api(state["api_url"])
    sku, tag = f"DASH-{secrets.token_hex(4)}", secrets.token_hex(4)
    stocked_product(operator, sku, new_codes(5, "DSH"))
    assert operator.put(f"/v1/admin/products/{sku}", {"cost": 250}).status_code == 200
    made: dict[str, dict[str, Any]] = {}
    for name, quantity, email in [
        ("a", 2, f"dash-{tag}@example.com"),
        ("b", 1, f"Dash-{tag}+again@Example.com"),  # the same buyer
        ("c", 1, f"other-{tag}@example.com"),
    ]:
        placed = order(public, sku, quantity=quantity, email=email).json()
        assert pay(state, placed).status_code == 200
        wait_for(public, placed)
        made[name] = placed
    assert operator.post(f"/v1/admin/orders/{made['c']['order_id']}/refund", {"reason": "dashboard"}).status_code == 200
    made["d"] = order(public, sku, email=f"late-{tag}@example.com").json()
    in_16_minutes = (datetime.now(UTC) + timedelta(minutes=16)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_schedule(state, "SweeperFunction", in_16_minutes)
    mine = {p["order_id"] for p in made.values()}

    records: list[dict[str, Any]] = []
    while position:
        page = streams.get_records(ShardIterator=position, Limit=1000)
        if not page["Records"]:
            break
        records += [lambda_record(r, arn) for r in page["Records"]]
        position = page.get("NextShardIterator")
    # What the function receives (template.yaml's FilterCriteria: orders and money movements).
    counted = [r for r in records if r["dynamodb"]["Keys"]["sk"]["S"] in ("ORDER", "TXN", "REFUND")]
    ours = [r for r in counted if _order_of(r) in mine]
    batches = [ours[i : i + BATCH] for i in range(0, len(ours), BATCH)]

    chaos = Chaos(BaseClient._make_api_call)  # type: ignore[attr-defined]

    def patched(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return chaos.call(self, operation, params)

    setattr(BaseClient, "_make_api_call", patched)  # noqa: B010 - the failures are injected here

    today = datetime.now(UTC).astimezone(ZoneInfo(get_settings().business_time_zone)).date()
    first, last = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()

    def scenario(name: str, deliver: Callable[[], int]) -> None:
        table = f"dashboard-{name.replace(' ', '-')}-{secrets.token_hex(3)}"
        ddb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
        os.environ["DASHBOARD_TABLE"] = table
        get_settings.cache_clear()
        failures = deliver()
        answer = query.dashboard(first, last).model_dump()
        top = [p for p in answer["top_products"] if p["sku"] == sku]
        figures = {k: answer[k] for k in FIGURES}
        orders = {k: v for k, v in answer["orders"].items() if v}
        line = {"scenario": name, "failures": failures, "top": top, "orders": orders, **figures}
        out.write(json.dumps({**line, "records": len(ours), "batches": len(batches), "ids": sorted(mine)}) + "\n")
        out.flush()

    def each(order_of_batches: list[Batch], times: int = 1) -> int:
        for batch in order_of_batches:
            for _ in range(times):
                stream.apply(batch)
        return 0

    scenario("in order", lambda: each(batches))
    scenario("twice", lambda: each(batches, 2) + each(batches))
    scenario("reordered", lambda: each([list(reversed(b)) for b in reversed(batches)]))

    def concurrently() -> int:
        for batch in batches:
            threads = [threading.Thread(target=stream.apply, args=(batch,)) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        return 0

    scenario("concurrent", concurrently)

    def failing(fail_at: int, when: str, split: bool) -> Callable[[], int]:
        def deliver() -> int:
            failures = 0
            for batch in batches:
                chaos.arm(fail_at, when)
                try:
                    stream.apply(batch)
                except Injected:
                    failures += 1
                    chaos.disarm()
                    halves = [batch[: len(batch) // 2], batch[len(batch) // 2 :]] if split else [batch]
                    for part in halves:  # Lambda retries it (split: as BisectBatchOnFunctionError would)
                        stream.apply(part)
                chaos.disarm()
            return failures

        return deliver

    for fail_at in range(1, CALLS_PER_BATCH + 2):  # the last: past every call, fails nowhere
        for when in ("before", "after"):
            for split in (False, True):
                scenario(f"fail {when} call {fail_at}{' split' if split else ''}", failing(fail_at, when, split))


def _order_of(record: dict[str, Any]) -> str:
    data = record["dynamodb"]
    image = data.get("NewImage") or data.get("OldImage") or {}
    return str((image.get("order_id") or {}).get("S", ""))


if __name__ == "__main__":
    main()
