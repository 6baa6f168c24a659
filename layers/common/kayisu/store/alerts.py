"""Alert state and sales snapshots.

- `ALERT#{name}` / `ALERT` in the orders table (`AlertStateItem`): what an operator alert (a
  dead-letter queue's depth, say) last said, so that a sweeper repeating every minute alerts
  once per change.

- `PRODUCT#{sku}` / `ALERT` in the catalog table (`AlertItem`): whether the SKU's low-stock
  alert is armed, and how many times it fired. Firing is a conditional write from armed to
  fired, so however many events report the same crossing, one alert goes out. Re-arming is the
  write back by whoever sees stock above the threshold after the n-th firing (checkout or the
  scheduled check), on condition that it is still the n-th: a re-arm that arrives after stock
  fell and fired again must not arm it a second time for the same fall.
- `SOLD#{sku}` / `{time}` in the orders table (TTL two days): the SKU's sold count, written by the
  scheduled check every 5 minutes, so that "sold in the last 24 hours" is one Query, not a walk
  over a day of orders.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError

from kayisu.store.catalog import AlertItem, product_pk
from kayisu.store.orders.items import OrdersItem

ALERT_SK = "ALERT"
SNAPSHOT_DAYS = 2


class AlertStateItem(OrdersItem, discriminator="alert"):
    """What an alert last said, so that a sweeper repeating every minute alerts once per change."""

    last_count = NumberAttribute(default=0)
    at = UTCDateTimeAttribute()


class SoldSnapshotItem(OrdersItem, discriminator="sold"):
    sold = NumberAttribute()
    at = UTCDateTimeAttribute()
    ttl = NumberAttribute()


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def fire(sku: str, available: int, at: datetime) -> bool:
    """True for the one caller that moves the SKU's alert from armed to fired."""
    try:
        AlertItem(product_pk(sku), ALERT_SK).update(
            actions=[
                AlertItem.kind.set(AlertItem),  # the item may not exist yet
                AlertItem.armed.set(False),
                AlertItem.fired_at.set(at),
                AlertItem.available_then.set(available),
                AlertItem.fired.add(1),
            ],
            condition=AlertItem.pk.does_not_exist() | (AlertItem.armed == True),  # noqa: E712 - a DynamoDB condition
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def rearm(sku: str, disarmed_after: int) -> bool:
    """True if the alert, disarmed after its `disarmed_after`-th firing, is armed again now."""
    fired = (AlertItem.fired == disarmed_after) if disarmed_after else AlertItem.fired.does_not_exist()
    try:
        AlertItem(product_pk(sku), ALERT_SK).update(
            actions=[AlertItem.armed.set(True)],
            condition=(AlertItem.armed == False) & fired,  # noqa: E712
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


def alert_changed(name: str, count: int, at: datetime) -> bool:
    """Remembers `count` for alert `name`; True if it differs from what was last remembered."""
    try:
        AlertStateItem(f"ALERT#{name}", ALERT_SK, last_count=count, at=at).save(
            condition=AlertStateItem.pk.does_not_exist() | (AlertStateItem.last_count != count)
        )
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
