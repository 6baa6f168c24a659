"""The events webhooks report, read from the tables' change streams (docs/webhooks.md).

Each event is derived from one state change as the table recorded it: an order whose status
became paid, delivered or refunded; a low-stock alert that fired; a redemption recorded. Its
id is a digest of what changed (the order and its new status, the alert's n-th firing, the
redemption), and its time is the change's own, so a stream record delivered twice, or a
change whose path was retried after a failure, is the same event: nothing is reported twice.
Bodies carry no card code, access token, digest or secret.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from kayisu.clock import rfc3339
from kayisu.config import get_settings
from kayisu.webhooks.schemas import EventType

_deserializer = TypeDeserializer()
ORDER_EVENTS = {
    "paid": (EventType.ORDER_PAID, "paid_at"),
    "delivered": (EventType.ORDER_DELIVERED, "delivered_at"),
    "refunded": (EventType.ORDER_REFUNDED, "refunded_at"),
}
ORDER_FIELDS = ("order_id", "status", "sku", "quantity", "amount", "currency", "email", "payment_method")


@dataclass(frozen=True)
class Event:
    event_id: str
    type: EventType
    created: datetime
    data: dict[str, Any]

    def body(self) -> str:
        doc = {"id": self.event_id, "type": self.type.value, "created": rfc3339(self.created), "data": self.data}
        return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def event_id(type_: EventType, subject: str) -> str:
    return "evt_" + hashlib.sha256(f"{type_.value}|{subject}".encode()).hexdigest()[:32]


def _plain(image: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (image or {}).items():
        plain = _deserializer.deserialize(value)
        out[name] = int(plain) if isinstance(plain, Decimal) and plain == int(plain) else plain
    return out


def _time(value: Any) -> datetime:
    """PynamoDB's UTCDateTimeAttribute text, e.g. 2026-12-03T10:00:00.000000+0000."""
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def _table(record: dict[str, Any]) -> str:
    arn = str(record.get("eventSourceARN", ""))
    return arn.split(":table/", 1)[1].split("/", 1)[0] if ":table/" in arn else ""


def _order_event(new: dict[str, Any], old: dict[str, Any]) -> Event | None:
    status = new.get("status")
    if new.get("kind") != "order" or status == old.get("status") or status not in ORDER_EVENTS:
        return None
    kind, at_field = ORDER_EVENTS[str(status)]
    data = {f: new.get(f) for f in ORDER_FIELDS}
    for stamp in ("created_at", "paid_at", "delivered_at", "refunded_at"):
        data[stamp] = rfc3339(_time(new[stamp])) if new.get(stamp) else None
    created = _time(new[at_field]) if new.get(at_field) else _time(new["created_at"])
    return Event(event_id(kind, f"{new['order_id']}|{status}"), kind, created, data)


def _alert_event(new: dict[str, Any], old: dict[str, Any], thresholds: dict[str, int | None]) -> Event | None:
    fired = int(new.get("fired") or 0)
    if new.get("kind") != "alert" or fired <= int(old.get("fired") or 0) or not new.get("fired_at"):
        return None
    sku = str(new["pk"]).removeprefix("PRODUCT#")
    data = {"sku": sku, "available": new.get("available_then"), "alert_threshold": thresholds.get(sku)}
    return Event(event_id(EventType.STOCK_LOW, f"{sku}|{fired}"), EventType.STOCK_LOW, _time(new["fired_at"]), data)


def _redemption_event(name: str, new: dict[str, Any]) -> Event | None:
    if name != "INSERT" or new.get("kind") != "redemption":
        return None
    data = {k: new.get(k) for k in ("redemption_id", "partner_id", "sku", "reference", "order_id")}
    data["redeemed_at"] = rfc3339(_time(new["redeemed_at"]))
    kind = EventType.REDEMPTION_CREATED
    return Event(event_id(kind, str(new["redemption_id"])), kind, _time(new["redeemed_at"]), data)


def from_stream(records: list[dict[str, Any]], thresholds: dict[str, int | None]) -> list[Event]:
    """The events in a batch of stream records (of any of the tables), in their order, each once.
    `thresholds`: each SKU's alert threshold, for stock.low."""
    settings = get_settings()
    found: dict[str, Event] = {}
    for record in records:
        change = record.get("dynamodb") or {}
        new, old = _plain(change.get("NewImage")), _plain(change.get("OldImage"))
        name, table = str(record.get("eventName", "")), _table(record)
        event: Event | None = None
        if table == settings.orders_table:
            event = _order_event(new, old)
        elif table == settings.catalog_table:
            event = _alert_event(new, old, thresholds)
        elif table == settings.partners_table:
            event = _redemption_event(name, new)
        if event is not None:
            found.setdefault(event.event_id, event)
    return list(found.values())


def alert_skus(records: list[dict[str, Any]]) -> set[str]:
    """SKUs whose alert changed in the batch (their thresholds are read once for the batch)."""
    table = get_settings().catalog_table
    return {
        str(_plain(r["dynamodb"].get("NewImage")).get("pk", "")).removeprefix("PRODUCT#")
        for r in records
        if _table(r) == table and (r.get("dynamodb") or {}).get("NewImage", {}).get("kind", {}).get("S") == "alert"
    }
