"""The delivery queue's messages: `{"webhook_id", "delivery_id"}`, one per attempt to make, delayed
by the retry step (SQS delays at most 900 s). Ids only: never a body, a URL or a secret."""

from __future__ import annotations

import json

from kayisu.aws import client
from kayisu.config import get_settings

MAX_DELAY_SECONDS = 900


def enqueue(pairs: list[tuple[str, str]], delay_seconds: int = 0) -> None:
    """Asks the delivery function to attempt these (webhook id, delivery id) deliveries."""
    sqs = client("sqs")
    url = get_settings().webhook_queue_url
    for start in range(0, len(pairs), 10):
        chunk = pairs[start : start + 10]
        entries = [
            {
                "Id": str(n),
                "MessageBody": json.dumps({"webhook_id": w, "delivery_id": d}),
                "DelaySeconds": min(max(delay_seconds, 0), MAX_DELAY_SECONDS),
            }
            for n, (w, d) in enumerate(chunk)
        ]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} webhook deliveries could not be queued")


def parse_message(body: str) -> tuple[str, str]:
    doc = json.loads(body)
    return str(doc["webhook_id"]), str(doc["delivery_id"])
