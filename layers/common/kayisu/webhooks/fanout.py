"""Stream records in, deliveries out: each event is recorded once and gets one delivery per
endpoint subscribed to it, queued for the delivery function (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from kayisu.clock import now
from kayisu.store import webhooks as store
from kayisu.store.catalog import load_product
from kayisu.webhooks import events
from kayisu.webhooks.events import Event
from kayisu.webhooks.queue import enqueue


def delivery_id(event: Event, webhook_id: str) -> str:
    """Time first (an endpoint's deliveries list newest first), then a digest of the pair."""
    millis = int(event.created.timestamp() * 1000)
    return f"dlv_{millis:012x}{hashlib.sha256(f'{event.event_id}|{webhook_id}'.encode()).hexdigest()[:12]}"


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
