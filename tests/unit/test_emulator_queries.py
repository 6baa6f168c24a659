"""The local stack's Query reads one partition (local/queries.py); it must answer exactly as
plain moto does, which reads the whole table: the same items, pages, order, filters and
projections, for the table and its indexes, after any mix of writes."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from local import queries
from tests.support import free_port

QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#2"}}},
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "P#1"}, ":s": {"S": "S#1"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":p": {"S": "P#3"}, ":a": {"S": "S#05"}, ":b": {"S": "S#20"}},
        "Limit": 4,
    },
    {
        "KeyConditionExpression": "pk = :p AND sk > :a",
        "FilterExpression": "n > :n",
        "ExpressionAttributeValues": {":p": {"S": "P#0"}, ":a": {"S": "S#03"}, ":n": {"N": "10"}},
        "Limit": 5,
        "ScanIndexForward": False,
        "ProjectionExpression": "pk, sk, n",
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "NONE"}}},
    {
        "IndexName": "ByG",
        "KeyConditionExpression": "g = :g",
        "ExpressionAttributeValues": {":g": {"S": "G#1"}},
        "Limit": 6,
        "ScanIndexForward": False,
    },
]


@pytest.fixture
def ddb() -> Iterator[Any]:
    """Plain moto's server in this process: with local.queries installed (local.emulator
    installs it on import), or not, as `plain()` says."""
    port = free_port()
    server = make_server("127.0.0.1", port, DomainDispatcherApplication(create_backend_app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    queries.install()
    yield boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    server.shutdown()
    server.server_close()


@contextmanager
def plain() -> Iterator[None]:
    queries.uninstall()
    try:
        yield
    finally:
        queries.install()


def _every_page(ddb: Any, table: str, query: dict[str, Any]) -> list[list[dict[str, Any]]]:
    pages, start = [], None
    while True:
        page = ddb.query(TableName=table, **query, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


def _both(ddb: Any, table: str, query: dict[str, Any]) -> tuple[Any, Any]:
    ours = _every_page(ddb, table, query)
    with plain():
        theirs = _every_page(ddb, table, query)
    return ours, theirs


def _create(ddb: Any) -> str:
    table = f"query{time.monotonic_ns()}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "h")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            },
            {  # no range key: moto orders by the table's keys then
                "IndexName": "ByH",
                "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def test_a_query_of_one_partition_answers_as_plain_moto_does(ddb: Any) -> None:
    table = _create(ddb)
    for p in range(5):
        for s in range(25):
            item = {"pk": {"S": f"P#{p}"}, "sk": {"S": f"S#{s:02d}"}, "n": {"N": str((s * 7 + p) % 23)}}
            if s % 3 == 0:
                item["g"] = {"S": f"G#{s % 2}"}
            ddb.put_item(TableName=table, Item=item)
    answers = [_both(ddb, table, q) for q in QUERIES]
    assert [ours for ours, _ in answers] == [theirs for _, theirs in answers]
    ours = [ours for ours, _ in answers]
    assert [sum(len(p) for p in pages) for pages in ours][:3] == [25, 10, 16]
    assert len(ours[2]) == 5, "pages of 4"
    assert sum(len(p) for p in ours[5]) == 20, "G#1: s = 3, 9, 15, 21 in each of 5 partitions"


def _index_queries() -> Iterator[dict[str, Any]]:
    for g in ("G#0", "G#1", "G#2", "G#none"):
        yield {"IndexName": "ByG", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": g}}}
        yield {
            "IndexName": "ByG",
            "KeyConditionExpression": "g = :g AND sk >= :s",
            "FilterExpression": "attribute_exists(n)",
            "ExpressionAttributeValues": {":g": {"S": g}, ":s": {"S": "S#05"}},
            "Limit": 3,
            "ScanIndexForward": False,
        }
    for h in ("H#0", "H#1"):
        yield {
            "IndexName": "ByH",
            "KeyConditionExpression": "h = :h",
            "ExpressionAttributeValues": {":h": {"S": h}},
            "Limit": 4,
        }


def _write(ddb: Any, table: str, rng: random.Random) -> None:
    """One random write of the kinds the money path makes, some of them refused."""
    key = {"pk": {"S": f"P#{rng.randrange(4)}"}, "sk": {"S": f"S#{rng.randrange(12):02d}"}}
    kind = rng.choice(["put", "put", "move", "drop-g", "delete", "transact", "cancelled", "batch", "refused"])
    g = {":g": {"S": f"G#{rng.randrange(3)}"}}
    if kind == "put":
        item = {**key, "g": {"S": f"G#{rng.randrange(3)}"}, "n": {"N": str(rng.randrange(9))}}
        if rng.random() < 0.5:
            item["h"] = {"S": f"H#{rng.randrange(2)}"}
        ddb.put_item(TableName=table, Item=item)
    elif kind == "move":  # an update that sets an index key, on an item that may not exist yet
        ddb.update_item(TableName=table, Key=key, UpdateExpression="SET g = :g", ExpressionAttributeValues=g)
    elif kind == "drop-g":
        ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE g, h")
    elif kind == "delete":
        ddb.delete_item(TableName=table, Key=key)
    elif kind in ("transact", "cancelled"):
        other = {"pk": {"S": f"P#{rng.randrange(4)}"}, "sk": {"S": f"S#{rng.randrange(12, 16):02d}"}}
        parts: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "SET g = :g",
                    "ExpressionAttributeValues": g,
                }
            },
            {"Put": {"TableName": table, "Item": {**other, "g": {"S": "G#2"}, "h": {"S": "H#1"}}}},
        ]
        if kind == "cancelled":  # the item never exists: the whole transaction is undone
            parts.append(
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "never"}, "sk": {"S": "never"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            )
        if kind == "cancelled":
            with pytest.raises(ClientError, match="TransactionCanceled"):
                ddb.transact_write_items(TransactItems=parts)
        else:
            ddb.transact_write_items(TransactItems=parts)
    elif kind == "batch":
        requests = [
            {"PutRequest": {"Item": {**key, "g": {"S": "G#1"}}}},
            {
                "DeleteRequest": {
                    "Key": {"pk": {"S": f"P#{rng.randrange(4)}"}, "sk": {"S": f"S#{rng.randrange(12, 16):02d}"}}
                }
            },
        ]
        ddb.batch_write_item(RequestItems={table: requests})
    else:  # a conditional write that fails changes nothing
        with pytest.raises(ClientError, match="ConditionalCheckFailed"):
            ddb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET g = :g",
                ConditionExpression="attribute_not_exists(pk) AND attribute_exists(pk)",
                ExpressionAttributeValues=g,
            )


def test_index_queries_follow_every_kind_of_write_as_plain_moto_does(ddb: Any) -> None:
    table = _create(ddb)
    rng = random.Random(17)  # noqa: S311 - the same sequence every run
    compared = 0
    for round_ in range(30):
        for _ in range(rng.randrange(1, 12)):
            _write(ddb, table, rng)
        for query in _index_queries():
            ours, theirs = _both(ddb, table, query)
            assert ours == theirs, (round_, query)
            compared += sum(len(page) for page in ours)
    assert compared > 500, "the queries found items to compare"
    # The index answers from its partitions, not by reading the table.
    for query in _index_queries():
        _every_page(ddb, table, query)
    (tracked,) = [t for t in queries._TRACKED.values() if t.table.name == table]
    assert set(tracked.indexes) == {"ByG", "ByH"}


def test_a_table_made_again_under_the_same_name_is_indexed_afresh(ddb: Any) -> None:
    table = _create(ddb)
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "g": {"S": "G#1"}})
    query = {"IndexName": "ByG", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "G#1"}}}
    assert len(_every_page(ddb, table, query)[0]) == 1
    ddb.delete_table(TableName=table)
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    assert _every_page(ddb, table, query) == [[]]
