"""Fulfilment requests: an order id on the fulfilment queue. Sending one twice is harmless
(fulfilment starts from the order's state), which is what lets the webhook and the sweeper
both send without coordinating."""

from __future__ import annotations

import json

from kayisu.aws import client
from kayisu.config import get_settings


def request_fulfilment(order_id: str) -> None:
    client("sqs").send_message(
        QueueUrl=get_settings().fulfilment_queue_url, MessageBody=json.dumps({"order_id": order_id})
    )


def order_of(message_body: str) -> str:
    order_id = json.loads(message_body)["order_id"]
    if not isinstance(order_id, str):
        raise ValueError("order_id must be a string")
    return order_id
