"""Attempting a delivery, and what follows from its answer (CONTRACT §13, docs/webhooks.md):
2xx within 10 s is success; anything else is retried after the next step of the schedule
(queue delays of at most 15 min, a message re-sent for longer waits, and a scheduled sweep
for any message lost), then marked `failed`. The first failure after a success alerts
operators once; an endpoint whose every delivery failed for 3 days is disabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kayisu.alerts.ops import alert_operators
from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.errors import Problem
from kayisu.observability import logger
from kayisu.sealed import open_sealed
from kayisu.store import webhooks as store
from kayisu.webhooks import sender, signing, targets
from kayisu.webhooks.queue import enqueue

DISABLE_AFTER = timedelta(days=3)
SWEEP_GRACE = timedelta(minutes=5)  # a message is late by more than this: it was lost


def secret_context(webhook_id: str) -> dict[str, str]:
    return {"webhook_id": webhook_id}


def signing_secrets(webhook: store.WebhookItem, at: datetime) -> list[str]:
    """The current secret, and the previous one while its grace lasts (both sign)."""
    out = [open_sealed(secret_context(webhook.webhook_id), bytes(webhook.sealed_secret))]
    if webhook.previous_sealed_secret and webhook.previous_valid_until and webhook.previous_valid_until > at:
        out.append(open_sealed(secret_context(webhook.webhook_id), bytes(webhook.previous_sealed_secret)))
    return out


@dataclass(frozen=True)
class Outcome:
    status: str  # delivered | retrying | failed | skipped | waiting
    code: int | None = None


def attempt(webhook_id: str, delivery_id: str) -> Outcome:
    at = now()
    delivery = store.load_delivery(webhook_id, delivery_id)
    if delivery is None or delivery.status != "pending":
        return Outcome("skipped")
    if delivery.next_attempt_at and delivery.next_attempt_at > at + timedelta(seconds=1):
        # A wait longer than a queue delay: the message comes back until it is time.
        enqueue([(webhook_id, delivery_id)], int((delivery.next_attempt_at - at).total_seconds()))
        return Outcome("waiting")
    webhook = store.load_webhook(webhook_id, consistent=True)
    event = store.load_event(delivery.event_id)
    if webhook is None or webhook.status != "enabled" or event is None:
        reason = "endpoint deleted" if webhook is None else "endpoint disabled" if event else "event expired"
        if store.claim_attempt(delivery, at):
            store.record_attempt(delivery, at, "failed", None, None, reason, None)
        return Outcome("failed")
    if not store.claim_attempt(delivery, at):
        return Outcome("skipped")  # another container is on it
    answer = _send(webhook, event, at)
    return _record(webhook, delivery, answer, at)


def _send(webhook: store.WebhookItem, event: store.EventRecordItem, at: datetime) -> sender.Answer:
    allow_loopback = get_settings().allow_loopback_webhooks
    try:
        target, addresses = targets.check(str(webhook.url), allow_loopback)  # again: DNS may have changed
    except Problem as refused:
        return sender.Answer(None, 0, refused.detail[: sender.EXCERPT_BYTES])
    body = str(event.body).encode("utf-8")
    signed_at = int(at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Kayisu-Webhooks/1",
        signing.EVENT_ID_HEADER: str(event.event_id),
        signing.SIGNATURE_HEADER: signing.signature(signing_secrets(webhook, at), body, signed_at),
    }
    return sender.post(target, addresses, body, headers)


def _record(webhook: store.WebhookItem, delivery: store.DeliveryItem, answer: sender.Answer, at: datetime) -> Outcome:
    if answer.ok:
        store.record_attempt(delivery, at, "delivered", answer.status, answer.latency_ms, answer.excerpt, None)
        if webhook.failing_since is not None:  # read consistently just now; else nothing to clear
            store.note_success(webhook.webhook_id)
        return Outcome("delivered", answer.status)
    schedule = get_settings().webhook_retries
    made = int(delivery.attempts)
    error = answer.excerpt or (f"HTTP {answer.status}" if answer.status else "no answer")
    if made <= len(schedule):
        wait = schedule[made - 1]
        next_at = at + timedelta(seconds=wait)
        store.record_attempt(delivery, at, "pending", answer.status, answer.latency_ms, error, next_at)
        enqueue([(webhook.webhook_id, delivery.delivery_id)], wait)
        outcome = Outcome("retrying", answer.status)
    else:
        store.record_attempt(delivery, at, "failed", answer.status, answer.latency_ms, error, None)
        outcome = Outcome("failed", answer.status)
    _failing(webhook, at)
    return outcome


def _failing(webhook: store.WebhookItem, at: datetime) -> None:
    if store.note_failure(webhook.webhook_id, at):
        alert_operators(
            f"webhook {webhook.webhook_id} is failing",
            f"Deliveries to webhook {webhook.webhook_id} ({webhook.description or 'no description'}) started "
            "failing. They are retried for about a day; an endpoint failing every delivery for 3 days is "
            "disabled. See GET /v1/admin/webhooks/{id}/deliveries.".replace("{id}", webhook.webhook_id),
        )
    elif store.disable_if_failing_since(webhook.webhook_id, at - DISABLE_AFTER, at):
        alert_operators(
            f"webhook {webhook.webhook_id} disabled",
            f"Every delivery to webhook {webhook.webhook_id} failed for 3 days: it is disabled. Fix the "
            "receiver, then enable it with PUT /v1/admin/webhooks/{id} (nothing is redelivered by itself; "
            "retry deliveries one by one).".replace("{id}", webhook.webhook_id),
        )


def sweep(at: datetime | None = None) -> dict[str, int]:
    """Re-queues pending deliveries whose message is overdue (lost, or sent to the dead letters)."""
    at = at or now()
    late = list(store.overdue(at - SWEEP_GRACE))
    enqueue(late)
    if late:
        logger.warning("re-queued overdue webhook deliveries", extra={"requeued": len(late)})
    return {"requeued": len(late)}
