"""Lambda's DynamoDB stream event source mapping as the local stack runs it: the template's
mapping, records in order and filtered, batches, a failed batch retried whole or from its first
reported failure, and no record of a cancelled transaction."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.emulator import Emulator
from local.functions import Function
from local.streams import StreamMapping, StreamPoller, matches, stream_mappings
from local.template import Template

ROOT = Path(__file__).resolve().parents[2]

HANDLER = """
SEEN = []
FAIL = {"crash": 0, "report": None}

def handler(event, context):
    batch = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
    SEEN.append(batch)
    if FAIL["crash"]:
        FAIL["crash"] -= 1
        raise RuntimeError("crashed")
    for r in event["Records"]:
        if r["dynamodb"]["Keys"]["pk"]["S"] == FAIL["report"]:
            FAIL["report"] = None
            return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]}]}
    return {}
"""


def record(pk: str, sk: str = "ORDER") -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}}}


def test_filters_match_as_lambda_event_filtering_does() -> None:
    orders_only = {"dynamodb": {"Keys": {"sk": {"S": ["ORDER", "TXN"]}}}}
    assert matches(orders_only, record("ORDER#1"))
    assert matches(orders_only, record("TXN#x", "TXN"))
    assert not matches(orders_only, record("ORDER#1", "EVENT#2026"))
    assert not matches(orders_only, {"dynamodb": {"Keys": {"pk": {"S": "x"}}}})  # no sk at all
    assert matches({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "ORDER#"}]}}}}, record("ORDER#1"))
    assert not matches({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "TXN#"}]}}}}, record("ORDER#1"))
    assert matches({"eventName": [{"anything-but": ["REMOVE"]}]}, record("a"))
    assert matches({"dynamodb": {"NewImage": [{"exists": False}]}}, record("a"))
    assert not matches({"dynamodb": {"NewImage": [{"exists": True}]}}, record("a"))


def test_the_templates_stream_mapping_is_read_with_its_settings() -> None:
    t = Template.load(ROOT / "template.yaml", {})
    t.refs["OrdersTable"] = "kayisu-dev-orders"
    t.attrs["OrdersTable"] = {"Arn": "arn:table", "StreamArn": "arn:table/stream/1"}
    fn = t.of_type("AWS::Serverless::Function")["DashboardStreamFunction"]["Properties"]
    function = Function("DashboardStreamFunction", ROOT, "app.handler", {}, 128, 60, events=fn["Events"])
    (mapping,) = stream_mappings(t, {"DashboardStreamFunction": function})
    assert (mapping.stream_arn, mapping.batch_size, mapping.window_seconds) == ("arn:table/stream/1", 500, 5.0)
    assert (mapping.starting_position, mapping.max_retries) == ("TRIM_HORIZON", -1)
    assert mapping.wanted(record("ORDER#1"))
    assert mapping.wanted(record("REFUND#p#r", "REFUND"))
    assert not mapping.wanted(record("ORDER#1", "EVENT#x"))
    assert not mapping.wanted(record("LIMIT#x", "LIMIT"))


@pytest.fixture
def table(emulator: Emulator) -> tuple[Any, str]:
    db = boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url=emulator.url, aws_access_key_id="t", aws_secret_access_key="t"
    )
    name = f"t{time.monotonic_ns()}"
    described = db.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    return db, str(described["LatestStreamArn"])


def poller(emulator: Emulator, tmp_path: Path, arn: str, **settings: Any) -> StreamPoller:
    (tmp_path / "app.py").write_text(HANDLER)
    fn = Function("Counter", tmp_path, "app.handler", {}, 128, 10)
    return StreamPoller(StreamMapping("Changes", fn, arn, **settings), emulator.url)


def put(db: Any, name: str, *pks: str) -> None:
    for pk in pks:
        db.put_item(TableName=name, Item={"pk": {"S": pk}})


def test_records_arrive_in_order_in_batches_and_a_failed_batch_is_retried_whole(
    emulator: Emulator, table: tuple[Any, str], tmp_path: Path
) -> None:
    db, arn = table
    p = poller(emulator, tmp_path, arn, batch_size=3)
    module = p.mapping.function.module()
    name = arn.split("/")[1]
    put(db, name, "a", "b", "c", "d")
    module.FAIL["crash"] = 1
    assert p.poll_once() == 0  # crashed: nothing is done
    assert p.poll_once() == 3  # the same batch again
    assert p.poll_once(force=True) == 1
    assert module.SEEN == [["a", "b", "c"], ["a", "b", "c"], ["d"]]
    assert p.poll_once(force=True) == 0  # nothing left


def test_a_reported_failure_resumes_from_that_record(
    emulator: Emulator, table: tuple[Any, str], tmp_path: Path
) -> None:
    db, arn = table
    p = poller(emulator, tmp_path, arn, batch_size=10, report_failures=True)
    module = p.mapping.function.module()
    put(db, arn.split("/")[1], "a", "b", "c")
    module.FAIL["report"] = "b"
    assert p.poll_once(force=True) == 0
    assert p.poll_once(force=True) == 2
    assert module.SEEN == [["a", "b", "c"], ["b", "c"]]


def test_filtered_out_records_never_reach_the_function_and_a_window_waits_for_more(
    emulator: Emulator, table: tuple[Any, str], tmp_path: Path
) -> None:
    db, arn = table
    p = poller(
        emulator,
        tmp_path,
        arn,
        batch_size=10,
        window_seconds=30,
        filters=[{"dynamodb": {"Keys": {"pk": {"S": ["keep"]}}}}],
    )
    put(db, arn.split("/")[1], "drop", "keep")
    assert p.poll_once() == 0  # within its batching window, and not full
    assert p.poll_once(force=True) == 1
    assert p.mapping.function.module().SEEN == [["keep"]]


def test_a_cancelled_transaction_leaves_no_stream_record(
    emulator: Emulator, table: tuple[Any, str], tmp_path: Path
) -> None:
    db, arn = table
    name = arn.split("/")[1]
    put(db, name, "a")
    with pytest.raises(db.exceptions.TransactionCanceledException):
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": "b"}}}},
                {
                    "Put": {
                        "TableName": name,
                        "Item": {"pk": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    put(db, name, "c")
    p = poller(emulator, tmp_path, arn, batch_size=10)
    assert p.poll_once(force=True) == 2
    assert p.mapping.function.module().SEEN == [["a", "c"]]
