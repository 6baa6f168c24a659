"""The webhooks table: endpoints, the events they are told of, and one delivery per event and
endpoint (CONTRACT §13, docs/webhooks.md).

- `WEBHOOKS` / `WEBHOOK#{id}`: an endpoint, its secret sealed under KMS (context {webhook_id}),
  the previous one during a rotation's grace, and since when every delivery has failed.
- `EVENT#{event_id}` / `EVENT`: an event's body, written once (its id is derived from the state
  change it reports, so a redelivered stream record finds it and adds nothing).
- `DELIVERIES#{webhook_id}` / `{delivery_id}`: its status and attempts. Delivery ids begin with
  the event's time, so a Query lists an endpoint's newest first; a pending one is also on the
  sparse `Pending` index by its next attempt, where the scheduled sweep finds any whose queue
  message was lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.attributes import (
    BinaryAttribute,
    DiscriminatorAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from kayisu.aws import client
from kayisu.config import get_settings

WEBHOOKS_PK = "WEBHOOKS"  # every endpoint in one partition: a shop has a handful
PENDING_PK = "PENDING"
EVENT_DAYS = 30
DELIVERY_DAYS = 90


class PendingIndex(GlobalSecondaryIndex["DeliveryItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "Pending"
        projection = KeysOnlyProjection()

    pending_pk = UnicodeAttribute(hash_key=True)
    pending_sk = UnicodeAttribute(range_key=True)


class WebhooksItem(Model):
    class Meta:
        table_name = get_settings().webhooks_table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    ttl = NumberAttribute(null=True)


class WebhookItem(WebhooksItem, discriminator="webhook"):
    webhook_id = UnicodeAttribute()
    url = UnicodeAttribute()
    events = ListAttribute(of=UnicodeAttribute)
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # enabled | disabled
    sealed_secret = BinaryAttribute(legacy_encoding=False)
    previous_sealed_secret = BinaryAttribute(legacy_encoding=False, null=True)
    previous_valid_until = UTCDateTimeAttribute(null=True)
    failing_since = UTCDateTimeAttribute(null=True)  # first failed attempt since the last success
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class EventRecordItem(WebhooksItem, discriminator="event"):
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    body = UnicodeAttribute()  # the JSON sent, byte for byte
    created_at = UTCDateTimeAttribute()


class DeliveryItem(WebhooksItem, discriminator="delivery"):
    delivery_id = UnicodeAttribute()
    webhook_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | delivered | failed
    attempts = NumberAttribute(default=0)
    last_status_code = NumberAttribute(null=True)
    last_latency_ms = NumberAttribute(null=True)
    last_excerpt = UnicodeAttribute(null=True)  # the answer's first 200 characters or what went wrong
    next_attempt_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    pending_pk = UnicodeAttribute(null=True)
    pending_sk = UnicodeAttribute(null=True)
    pending = PendingIndex()


def webhook_sk(webhook_id: str) -> str:
    return f"WEBHOOK#{webhook_id}"


def deliveries_pk(webhook_id: str) -> str:
    return f"DELIVERIES#{webhook_id}"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _conditional(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


# -- endpoints


def save_new_webhook(item: WebhookItem) -> None:
    item.save(condition=WebhookItem.pk.does_not_exist())


def load_webhook(webhook_id: str, consistent: bool = False) -> WebhookItem | None:
    try:
        return WebhookItem.get(WEBHOOKS_PK, webhook_sk(webhook_id), consistent_read=consistent)
    except WebhookItem.DoesNotExist:
        return None


def list_webhooks() -> list[WebhookItem]:
    return list(WebhookItem.query(WEBHOOKS_PK, WebhookItem.sk.startswith("WEBHOOK#")))


def save_webhook(item: WebhookItem) -> bool:
    """Writes an operator's change; False if the endpoint was deleted meanwhile."""
    try:
        item.save(condition=WebhookItem.pk.exists())
    except PutError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def delete_webhook(webhook_id: str) -> None:
    WebhookItem(WEBHOOKS_PK, webhook_sk(webhook_id)).delete()


def note_failure(webhook_id: str, at: datetime) -> bool:
    """True for the one failed attempt that starts a failing streak (operators hear of it once)."""
    try:
        WebhookItem(WEBHOOKS_PK, webhook_sk(webhook_id)).update(
            actions=[WebhookItem.failing_since.set(at)],
            condition=WebhookItem.pk.exists() & WebhookItem.failing_since.does_not_exist(),
        )
    except UpdateError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def note_success(webhook_id: str) -> None:
    try:
        WebhookItem(WEBHOOKS_PK, webhook_sk(webhook_id)).update(
            actions=[WebhookItem.failing_since.remove()],
            condition=WebhookItem.failing_since.exists(),
        )
    except UpdateError as exc:
        if not _conditional(exc):
            raise


def disable_if_failing_since(webhook_id: str, cutoff: datetime, at: datetime) -> bool:
    """True for the one caller that disables an endpoint whose every delivery failed since `cutoff`."""
    try:
        WebhookItem(WEBHOOKS_PK, webhook_sk(webhook_id)).update(
            actions=[WebhookItem.status.set("disabled"), WebhookItem.updated_at.set(at)],
            condition=(WebhookItem.status == "enabled") & (WebhookItem.failing_since <= cutoff),
        )
    except UpdateError as exc:
        if _conditional(exc):
            return False
        raise
    return True


# -- events and deliveries


def save_event(event_id: str, type_: str, body: str, at: datetime) -> EventRecordItem:
    """The event's record, written once. A repeat (the same state change, so the same id and the
    same bytes: events are derived from the change alone) leaves the first one as it was."""
    item = EventRecordItem(
        f"EVENT#{event_id}",
        "EVENT",
        event_id=event_id,
        type=type_,
        body=body,
        created_at=at,
        ttl=_epoch(at + timedelta(days=EVENT_DAYS)),
    )
    try:
        item.save(condition=EventRecordItem.pk.does_not_exist())
    except PutError as exc:
        if not _conditional(exc):
            raise
    return item


def load_event(event_id: str) -> EventRecordItem | None:
    try:
        return EventRecordItem.get(f"EVENT#{event_id}", "EVENT", consistent_read=True)
    except EventRecordItem.DoesNotExist:
        return None


def _pending_keys(at: datetime, webhook_id: str, delivery_id: str) -> tuple[str, str]:
    return PENDING_PK, f"{_iso(at)}#{webhook_id}#{delivery_id}"


def save_new_delivery(webhook_id: str, delivery_id: str, event: EventRecordItem, at: datetime) -> bool:
    """Writes the delivery, pending; False if it exists already (a redelivered event)."""
    pending_pk, pending_sk = _pending_keys(at, webhook_id, delivery_id)
    item = DeliveryItem(
        deliveries_pk(webhook_id),
        delivery_id,
        delivery_id=delivery_id,
        webhook_id=webhook_id,
        event_id=event.event_id,
        type=event.type,
        status="pending",
        attempts=0,
        next_attempt_at=at,
        created_at=event.created_at,
        updated_at=at,
        pending_pk=pending_pk,
        pending_sk=pending_sk,
        ttl=_epoch(at + timedelta(days=DELIVERY_DAYS)),
    )
    try:
        item.save(condition=DeliveryItem.pk.does_not_exist())
    except PutError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def load_delivery(webhook_id: str, delivery_id: str) -> DeliveryItem | None:
    try:
        return DeliveryItem.get(deliveries_pk(webhook_id), delivery_id, consistent_read=True)
    except DeliveryItem.DoesNotExist:
        return None


def list_deliveries(webhook_id: str, before: str | None, limit: int) -> tuple[list[DeliveryItem], str | None]:
    """Newest first; `before` is the last delivery id of the previous page."""
    condition = DeliveryItem.sk < before if before else DeliveryItem.sk.startswith("dlv_")
    found = list(DeliveryItem.query(deliveries_pk(webhook_id), condition, scan_index_forward=False, limit=limit + 1))
    more = len(found) > limit
    page = found[:limit]
    return page, (page[-1].delivery_id if more and page else None)


def claim_attempt(delivery: DeliveryItem, at: datetime) -> bool:
    """Counts an attempt about to be made; False if another container made this one already."""
    try:
        delivery.update(
            actions=[DeliveryItem.attempts.set(int(delivery.attempts) + 1), DeliveryItem.updated_at.set(at)],
            condition=(DeliveryItem.status == "pending") & (DeliveryItem.attempts == int(delivery.attempts)),
        )
    except UpdateError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def record_attempt(
    delivery: DeliveryItem,
    at: datetime,
    status: str,
    code: int | None,
    latency_ms: int | None,
    excerpt: str | None,
    next_at: datetime | None,
) -> None:
    """The attempt's outcome: `delivered`, `failed` (the last), or `pending` until `next_at`."""
    actions: list[Action] = [
        DeliveryItem.status.set(status),
        DeliveryItem.updated_at.set(at),
        DeliveryItem.last_status_code.set(code) if code is not None else DeliveryItem.last_status_code.remove(),
        DeliveryItem.last_latency_ms.set(latency_ms)
        if latency_ms is not None
        else DeliveryItem.last_latency_ms.remove(),
        DeliveryItem.last_excerpt.set(excerpt) if excerpt else DeliveryItem.last_excerpt.remove(),
    ]
    if next_at is not None:
        pending_pk, pending_sk = _pending_keys(next_at, delivery.webhook_id, delivery.delivery_id)
        actions += [
            DeliveryItem.next_attempt_at.set(next_at),
            DeliveryItem.pending_pk.set(pending_pk),
            DeliveryItem.pending_sk.set(pending_sk),
        ]
    else:
        actions += [
            DeliveryItem.next_attempt_at.remove(),
            DeliveryItem.pending_pk.remove(),
            DeliveryItem.pending_sk.remove(),
        ]
    delivery.update(actions=actions, condition=DeliveryItem.attempts == int(delivery.attempts))


def restart(delivery: DeliveryItem, at: datetime) -> None:
    """An operator's retry: pending again with a fresh schedule, attempted now."""
    pending_pk, pending_sk = _pending_keys(at, delivery.webhook_id, delivery.delivery_id)
    delivery.update(
        actions=[
            DeliveryItem.status.set("pending"),
            DeliveryItem.attempts.set(0),
            DeliveryItem.next_attempt_at.set(at),
            DeliveryItem.updated_at.set(at),
            DeliveryItem.pending_pk.set(pending_pk),
            DeliveryItem.pending_sk.set(pending_sk),
        ]
    )


def overdue(before: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """(webhook id, delivery id) of pending deliveries whose next attempt was due before `before`,
    the most overdue first. A plain Query: the keys-only index holds no item type for PynamoDB."""
    page = client("dynamodb").query(
        TableName=get_settings().webhooks_table,
        IndexName="Pending",
        KeyConditionExpression="pending_pk = :p AND pending_sk < :b",
        ExpressionAttributeValues={":p": {"S": PENDING_PK}, ":b": {"S": _iso(before)}},
        Limit=limit,
    )
    out = []
    for item in page.get("Items", []):
        _, webhook_id, delivery_id = item["pending_sk"]["S"].split("#")
        out.append((webhook_id, delivery_id))
    return out
