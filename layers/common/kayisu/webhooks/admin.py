"""What operators do with webhooks: make one (its secret shown once), list, change, disable,
enable, delete, rotate the secret with a grace period, read the delivery log and retry."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.errors import Problem, not_found
from kayisu.pagination import decode_cursor, encode_cursor
from kayisu.sealed import seal
from kayisu.store import webhooks as store
from kayisu.webhooks import signing, targets
from kayisu.webhooks.delivery import secret_context
from kayisu.webhooks.queue import enqueue
from kayisu.webhooks.schemas import (
    Delivery,
    DeliveryList,
    EventType,
    SecretRotation,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookUpdate,
)

PAGE = 50
_DELIVERY_ID = re.compile(r"dlv_[0-9a-f]{24}")


def unknown_webhook(webhook_id: str) -> Problem:
    return not_found("UNKNOWN_WEBHOOK", f"There is no webhook {webhook_id!r}.")


def _checked_url(url: str) -> str:
    targets.check(url, get_settings().allow_loopback_webhooks)  # 422 BAD_WEBHOOK_URL
    return url


def _events(chosen: list[EventType]) -> list[Any]:
    return sorted({e.value for e in chosen})


def _view(w: store.WebhookItem) -> Webhook:
    grace = w.previous_valid_until if w.previous_sealed_secret and w.previous_valid_until else None
    return Webhook(
        webhook_id=w.webhook_id,
        url=w.url,
        events=list(w.events),  # validated when written
        description=w.description,
        status=w.status,
        failing_since=w.failing_since,
        previous_secret_valid_until=grace if grace and grace > now() else None,
        created_at=w.created_at,
        updated_at=w.updated_at,
    )


def _load(webhook_id: str) -> store.WebhookItem:
    found = store.load_webhook(webhook_id, consistent=True)
    if found is None:
        raise unknown_webhook(webhook_id)
    return found


def create(data: WebhookCreate) -> WebhookCreated:
    webhook_id = "whk_" + secrets.token_hex(10)
    secret = signing.new_secret()
    at = now()
    item = store.WebhookItem(
        store.WEBHOOKS_PK,
        store.webhook_sk(webhook_id),
        webhook_id=webhook_id,
        url=_checked_url(data.url),
        events=_events(data.events),
        description=data.description or None,
        status="enabled",
        sealed_secret=seal(secret_context(webhook_id), secret),
        created_at=at,
        updated_at=at,
    )
    store.save_new_webhook(item)
    return WebhookCreated(**_view(item).model_dump(), secret=secret)


def list_all() -> WebhookList:
    return WebhookList(items=[_view(w) for w in store.list_webhooks()])


def get(webhook_id: str) -> Webhook:
    return _view(_load(webhook_id))


def update(webhook_id: str, data: WebhookUpdate) -> Webhook:
    item = _load(webhook_id)
    if data.url is not None:
        item.url = _checked_url(data.url)
    if data.events is not None:
        item.events = _events(data.events)
    if "description" in data.model_fields_set:
        item.description = data.description or None
    if data.status is not None and data.status != item.status:
        item.status = data.status
        item.failing_since = None  # re-enabled: a new streak starts from its next failure
    item.updated_at = now()
    if not store.save_webhook(item):
        raise unknown_webhook(webhook_id)
    return _view(item)


def delete(webhook_id: str) -> None:
    _load(webhook_id)
    store.delete_webhook(webhook_id)


def rotate(webhook_id: str, data: SecretRotation) -> WebhookCreated:
    item = _load(webhook_id)
    secret = signing.new_secret()
    at = now()
    item.previous_sealed_secret = item.sealed_secret if data.grace_seconds else None
    item.previous_valid_until = at + timedelta(seconds=data.grace_seconds) if data.grace_seconds else None
    item.sealed_secret = seal(secret_context(webhook_id), secret)
    item.updated_at = at
    if not store.save_webhook(item):
        raise unknown_webhook(webhook_id)
    return WebhookCreated(**_view(item).model_dump(), secret=secret)


def _delivery(d: store.DeliveryItem) -> Delivery:
    return Delivery(
        delivery_id=d.delivery_id,
        event_id=d.event_id,
        type=d.type,
        status=d.status,
        attempts=int(d.attempts),
        last_status_code=int(d.last_status_code) if d.last_status_code is not None else None,
        last_latency_ms=int(d.last_latency_ms) if d.last_latency_ms is not None else None,
        last_response_excerpt=d.last_excerpt,
        next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def deliveries(webhook_id: str, cursor: str | None) -> DeliveryList:
    _load(webhook_id)
    before = decode_cursor(cursor, _DELIVERY_ID) if cursor else None
    page, last = store.list_deliveries(webhook_id, before, PAGE)
    return DeliveryList(items=[_delivery(d) for d in page], next_cursor=encode_cursor(last) if last else None)


def retry(webhook_id: str, delivery_id: str) -> Delivery:
    """Attempted again now, with a fresh schedule; a delivered one is sent again (same id)."""
    _load(webhook_id)
    found = store.load_delivery(webhook_id, delivery_id) if _DELIVERY_ID.fullmatch(delivery_id) else None
    if found is None:
        raise not_found("UNKNOWN_DELIVERY", f"Webhook {webhook_id!r} has no delivery {delivery_id!r}.")
    store.restart(found, now())
    enqueue([(webhook_id, delivery_id)])
    return _delivery(found)
