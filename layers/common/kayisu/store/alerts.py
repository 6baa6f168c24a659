"""Alert state and sales snapshots.

- `PRODUCT#{sku}` / `ALERT` in the catalog table: whether the SKU's low-stock alert is armed.
  Firing is a conditional write from armed to fired, so however many events report the same
  crossing, one alert goes out; re-arming is the write back, once stock rose above the threshold.
- `SOLD#{sku}` / `{time}` in the orders table (TTL two days): the SKU's sold count, written by the
  scheduled check every 5 minutes, so that "sold in the last 24 hours" is one Query, not a walk
  over a day of orders.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError

from kayisu.store.catalog import CatalogItem, product_pk
from kayisu.store.orders import OrdersItem

ALERT_SK = "ALERT"
SNAPSHOT_DAYS = 2


class AlertItem(CatalogItem, discriminator="alert"):
    armed = BooleanAttribute(default=True)
    fired_at = UTCDateTimeAttribute(null=True)
    available_then = NumberAttribute(null=True)


class SoldSnapshotItem(OrdersItem, discriminator="sold"):
    sold = NumberAttribute()
    at = UTCDateTimeAttribute()
    ttl = NumberAttribute()


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def fire(sku: str, available: int, at: datetime) -> bool:
    """True for the one caller that moves the SKU's alert from armed to fired."""
    item = AlertItem(product_pk(sku), ALERT_SK, armed=False, fired_at=at, available_then=available)
    try:
        item.save(condition=AlertItem.pk.does_not_exist() | (AlertItem.armed == True))  # noqa: E712 - a DynamoDB condition
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def rearm(sku: str) -> bool:
    """True if the alert was fired and is armed again now."""
    try:
        AlertItem(product_pk(sku), ALERT_SK).update(
            actions=[AlertItem.armed.set(True)],
            condition=AlertItem.armed == False,  # noqa: E712
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def snapshot_sold(sku: str, sold: int, at: datetime) -> None:
    expires = int((at + timedelta(days=SNAPSHOT_DAYS)).timestamp())
    SoldSnapshotItem(f"SOLD#{sku}", _iso(at), sold=sold, at=at, ttl=expires).save()


def sold_since(sku: str, since: datetime) -> tuple[int, datetime] | None:
    """The snapshot nearest before `since` (else the oldest after it): (sold then, when)."""
    pk = f"SOLD#{sku}"
    for item in SoldSnapshotItem.query(pk, SoldSnapshotItem.sk <= _iso(since), scan_index_forward=False, limit=1):
        return int(item.sold), item.at
    for item in SoldSnapshotItem.query(pk, scan_index_forward=True, limit=1):
        return int(item.sold), item.at
    return None
