"""The emulator's capacity meter bills as DynamoDB does (local.capacity): the flash-sale
benchmark's per-SKU ceiling is computed from it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.capacity import METER, item_size, units
from local.emulator import Emulator
from tests.support import free_port


def test_item_sizes_follow_the_documented_formula() -> None:
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3  # name + UTF-8 bytes
    assert item_size({"n": {"N": "12345"}}) == 1 + 4  # ~1 byte per two digits, plus one
    assert item_size({"s": {"S": "卡密"}}) == 1 + 6
    assert item_size({"l": {"L": [{"BOOL": True}]}}) == 1 + 3 + 1 + 1
    assert (units(0, 1024), units(1024, 1024), units(1025, 1024), units(4097, 4096)) == (1, 1, 2, 2)


@pytest.fixture
def ddb() -> Iterator[Any]:
    port = free_port()
    emulator = Emulator("127.0.0.1", port)
    emulator.start()
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    try:
        yield client
    finally:
        emulator.stop()


def test_transactions_bill_twice_and_an_index_bills_its_entries(ddb: Any) -> None:
    table = f"meter{time.monotonic_ns()}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    METER.reset()
    big = "x" * 1500  # 2 KB-units
    ddb.put_item(TableName=table, Item={"pk": {"S": "A"}, "sk": {"S": "1"}, "g": {"S": "G1"}, "v": {"S": big}})
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "A"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET g = :g",
                    "ExpressionAttributeValues": {":g": {"S": "G2"}},
                }
            },
            {"Put": {"TableName": table, "Item": {"pk": {"S": "B"}, "sk": {"S": "1"}}}},
        ]
    )
    ddb.get_item(TableName=table, Key={"pk": {"S": "A"}, "sk": {"S": "1"}}, ConsistentRead=True)
    ddb.get_item(TableName=table, Key={"pk": {"S": "B"}, "sk": {"S": "1"}})
    snap = METER.snapshot()
    wcu = {(r["table"], r["pk"]): r["units"] for r in snap["wcu"]}
    rcu = {(r["table"], r["pk"]): r["units"] for r in snap["rcu"]}
    index = f"{table}:ByG"
    assert wcu[(table, "A")] == 2 + 2 * 2  # a plain put of 2 KB, then the same item in a transaction
    assert wcu[(table, "B")] == 2  # a small item in a transaction
    assert wcu[(index, "G1")] == 1 + 1  # put into the index, then moved out of it
    assert wcu[(index, "G2")] == 1
    assert rcu[(table, "A")] == 1.0  # consistent, under 4 KB
    assert rcu[(table, "B")] == 0.5  # eventually consistent
