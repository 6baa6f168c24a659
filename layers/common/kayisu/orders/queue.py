"""Fulfilment requests: an order id on the fulfilment queue. Sending one twice is harmless
(fulfilment starts from the order's state), which is what lets the webhook and the sweeper
both send without coordinating."""

from __future__ import annotations

import json

from kayisu.ports import FULFILMENT_QUEUE, Queue


def request_fulfilment(order_id: str, queue: Queue = FULFILMENT_QUEUE) -> None:
    queue.send({"order_id": order_id})


def order_of(message_body: str) -> str:
    order_id = json.loads(message_body)["order_id"]
    if not isinstance(order_id, str):
        raise ValueError("order_id must be a string")
    return order_id
