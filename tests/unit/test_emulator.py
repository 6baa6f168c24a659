"""The emulator wrapper must make conditional writes race-free, as DynamoDB is.

Moto reads, checks the condition and writes without a lock of its own; the window is tiny, so
these tests widen it (a pause after moto reads the current item) and show both sides: without
the wrapper several writers win, with it exactly one does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from local.emulator import Emulator
from tests.support import free_port

WRITERS = 50


@pytest.fixture
def slow_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Table.get_item

    def get_then_pause(self: Table, *args: Any, **kwargs: Any) -> Any:
        item = original(self, *args, **kwargs)
        time.sleep(0.02)
        return item

    monkeypatch.setattr(Table, "get_item", get_then_pause)


def _winners(url: str) -> int:
    cfg = Config(max_pool_connections=WRITERS, retries={"max_attempts": 1})
    ddb = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
        config=cfg,
    )
    table = f"race{time.monotonic_ns()}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    start = threading.Barrier(WRITERS)

    def write(n: int) -> bool:
        start.wait()
        try:
            ddb.put_item(
                TableName=table,
                Item={"pk": {"S": "card-1"}, "order": {"S": str(n)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True
        except ddb.exceptions.ConditionalCheckFailedException:
            return False

    with ThreadPoolExecutor(WRITERS) as pool:
        return sum(pool.map(write, range(WRITERS)))


@pytest.fixture
def serialised_url(emulator: Emulator) -> str:
    return emulator.url


@pytest.fixture
def plain_moto_url() -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, DomainDispatcherApplication(create_backend_app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


@pytest.mark.usefixtures("slow_reads")
def test_fifty_conditional_writes_on_one_item_have_exactly_one_winner(serialised_url: str) -> None:
    assert _winners(serialised_url) == 1


@pytest.mark.usefixtures("slow_reads")
def test_plain_moto_lets_several_conditional_writes_win(plain_moto_url: str) -> None:
    # The control: proves the race is real, so the test above can fail.
    assert _winners(plain_moto_url) > 1


def test_long_poll_does_not_stop_the_emulator(serialised_url: str) -> None:
    sqs = boto3.client(
        "sqs", region_name="us-east-1", endpoint_url=serialised_url, aws_access_key_id="t", aws_secret_access_key="t"
    )
    url = sqs.create_queue(QueueName="poll")["QueueUrl"]
    got: list[Any] = []
    poller = threading.Thread(
        target=lambda: got.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", []))
    )
    poller.start()
    time.sleep(0.3)
    other = boto3.client(
        "sqs", region_name="us-east-1", endpoint_url=serialised_url, aws_access_key_id="t", aws_secret_access_key="t"
    )
    other.send_message(QueueUrl=url, MessageBody="late")
    poller.join(10)
    # Had the poll held the lock, the send would have waited for it and the poll found nothing.
    assert [m["Body"] for m in got] == ["late"]


def test_a_cancelled_transaction_changes_nothing(serialised_url: str) -> None:
    # The emulator replaces moto's whole-table backup with a backup of the touched items.
    ddb = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=serialised_url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    table = "rollback"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    add_one = {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": "counter"}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    ddb.put_item(TableName=table, Item={"pk": {"S": "counter"}, "n": {"N": "5"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "taken"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as cancelled:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}}}},
                add_one,
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "taken"}, "x": {"S": "overwritten"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    codes = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert codes == ["None", "None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "new"}})
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "counter"}})["Item"]["n"] == {"N": "5"}
    assert "x" not in ddb.get_item(TableName=table, Key={"pk": {"S": "taken"}})["Item"]

    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}}}},
            add_one,
        ]
    )
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "counter"}})["Item"]["n"] == {"N": "6"}
