"""Lambda's SQS event source mapping as the local stack runs it: partial batch failures, a
failed invocation returning the whole batch, and the redrive policy moving poison to the DLQ."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.emulator import Emulator
from local.events import EventSources, QueueMapping
from local.functions import Function

HANDLER = """
import json
SEEN = []

def handler(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        SEEN.append(body["n"])
        if body.get("crash"):
            raise RuntimeError("crashed")
        if body.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
"""


@pytest.fixture
def setup(emulator: Emulator, tmp_path: Path) -> tuple[EventSources, QueueMapping, Any, str, str]:
    (tmp_path / "app.py").write_text(HANDLER)
    sqs = boto3.client(
        "sqs", region_name="us-east-1", endpoint_url=emulator.url, aws_access_key_id="t", aws_secret_access_key="t"
    )
    name = f"q{time.monotonic_ns()}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    fn = Function("Worker", tmp_path, "app.handler", {}, 128, 10)
    mapping = QueueMapping("Jobs", fn, f"arn:aws:sqs:us-east-1:123456789012:{name}", url, 10, True)
    sources = EventSources([mapping], [], emulator.url, run_schedules=False)
    return sources, mapping, sqs, url, dlq


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    return sum(int(v) for v in attrs["Attributes"].values())


def test_reported_failures_stay_and_the_rest_are_deleted(setup: tuple[Any, ...]) -> None:
    sources, mapping, sqs, url, _ = setup
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n, "fail": n == 1}))
    assert sources.poll_once(mapping) == 3
    assert depth(sqs, url) == 1


def test_a_crash_returns_the_whole_batch_and_poison_ends_in_the_dlq(setup: tuple[Any, ...]) -> None:
    sources, mapping, sqs, url, dlq = setup
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 7, "crash": True}))
    assert sources.poll_once(mapping) == 1
    assert depth(sqs, url) == 1
    assert depth(sqs, dlq) == 0
    time.sleep(1.2)  # the visibility timeout, 1 s
    assert sources.poll_once(mapping) == 1
    time.sleep(1.2)
    assert sources.poll_once(mapping) == 0  # maxReceiveCount 2: moved, not delivered
    assert depth(sqs, url) == 0
    assert depth(sqs, dlq) == 1
    seen = mapping.function.module().SEEN
    assert seen == [7, 7]
