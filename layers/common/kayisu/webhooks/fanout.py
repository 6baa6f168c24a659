"""Stream records in, deliveries out: each event is recorded once and gets one delivery per
endpoint subscribed to it, queued for the delivery function (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from kayisu.aws import client
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.store import webhooks as store
from kayisu.store.catalog import load_product
from kayisu.webhooks import events
from kayisu.webhooks.events import Event


def delivery_id(event: Event, webhook_id: str) -> str:
    """Time first (an endpoint's deliveries list newest first), then a digest of the pair."""
    millis = int(event.created.timestamp() * 1000)
    return f"dlv_{millis:012x}{hashlib.sha256(f'{event.event_id}|{webhook_id}'.encode()).hexdigest()[:12]}"


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
                "DelaySeconds": min(max(delay_seconds, 0), 900),
            }
            for n, (w, d) in enumerate(chunk)
        ]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} webhook deliveries could not be queued")


def _thresholds(skus: set[str]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for sku in skus:
        product = load_product(sku)
        out[sku] = int(product.product.alert_threshold) if product is not None else None
    return out


def handle_records(records: list[dict[str, Any]], at: datetime | None = None) -> dict[str, int]:
    """One stream batch. Safe to repeat: the event and each delivery are written once, and a
    delivery that exists already is queued again all the same (its first message may be the
    one that was lost; the delivery function claims each attempt conditionally and skips a
    delivery no longer pending, so a second message sends nothing twice)."""
    found = events.from_stream(records, _thresholds(events.alert_skus(records)))
    if not found:
        return {"events": 0, "queued": 0}
    at = at or now()
    endpoints = [w for w in store.list_webhooks() if w.status == "enabled"]
    queue: list[tuple[str, str]] = []
    for event in found:
        subscribed = [w for w in endpoints if event.type.value in w.events]
        if not subscribed:
            continue
        record = store.save_event(event.event_id, event.type.value, event.body(), event.created)
        for webhook in subscribed:
            did = delivery_id(event, webhook.webhook_id)
            store.save_new_delivery(webhook.webhook_id, did, record, at)
            queue.append((webhook.webhook_id, did))
    enqueue(queue)
    return {"events": len(found), "queued": len(queue)}


def parse_message(body: str) -> tuple[str, str]:
    doc = json.loads(body)
    return str(doc["webhook_id"]), str(doc["delivery_id"])
