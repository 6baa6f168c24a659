"""Reading money movements (payments and refunds) for finance, a page at a time.

Movements sit on the `MONEY#{UTC day}#{shard}` partitions of the orders table's ByCreated
index, sorted by time. A period is read by merging its days' shards in time order, so a report
streams in order without ever holding the period in memory.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.store.orders import (
    INDEX_SHARDS,
    MoneyItem,
    OrdersItem,
    PaymentItem,
    created_partition,
    load_orders,
    money_partition,
    payment_key,
    sort_key_at,
)

PAGE = 100  # BatchGetItem's most keys per request
INDEX_PAGE = 500  # keys per index query: a merge holds one page per shard, so memory stays flat

Key = tuple[str, str]  # (pk, sk)
__all__ = ["chunks", "load_movements", "load_orders", "load_payments", "movement_keys", "orders_created"]
T = TypeVar("T")


def _days(start: datetime, end: datetime) -> list[datetime]:
    out, at = [], start.replace(hour=0, minute=0, second=0, microsecond=0)
    while at < end:
        out.append(at)
        at += timedelta(days=1)
    return out


def _months(start: datetime, end: datetime) -> list[datetime]:
    out, at = [], start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while at < end:
        out.append(at)
        at = (at + timedelta(days=32)).replace(day=1)
    return out


def _index_keys(partition: str, start: datetime, end: datetime) -> Iterator[tuple[str, Key]]:
    """(index sort key, table key) of one index partition between start and end, oldest first."""
    db = client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": get_settings().orders_table,
        "IndexName": "ByCreated",
        # Sort keys are "{time}#{id}": "{end}#…" sorts after "{end}", so BETWEEN excludes the end.
        "KeyConditionExpression": "gsi1pk = :p AND gsi1sk BETWEEN :a AND :b",
        "Limit": INDEX_PAGE,
        "ExpressionAttributeValues": {
            ":p": {"S": partition},
            ":a": {"S": sort_key_at(start)},
            ":b": {"S": sort_key_at(end)},
        },
    }
    while True:
        page = db.query(**kwargs)
        for item in page.get("Items", []):
            yield item["gsi1sk"]["S"], (item["pk"]["S"], item["sk"]["S"])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def movement_keys(start: datetime, end: datetime) -> Iterator[Key]:
    """Every payment and refund recorded in [start, end), oldest first (UTC instants)."""
    # Day by day (days do not overlap in time), so at most one page per shard is held, not one
    # per shard and day: a month would otherwise hold ~500 pages at once.
    for day in _days(start, end):
        partitions = [money_partition(day, shard) for shard in range(INDEX_SHARDS)]
        for _, key in heapq.merge(*(_index_keys(p, start, end) for p in partitions)):
            yield key


def chunks(items: Iterable[T], size: int = PAGE) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def load_movements(keys: list[Key]) -> list[MoneyItem]:
    """The movements of `keys`, in the order of `keys`."""
    found: dict[Key, MoneyItem] = {}
    for item in OrdersItem.batch_get(keys):
        if isinstance(item, MoneyItem):
            found[(str(item.pk), str(item.sk))] = item
    return [found[k] for k in keys if k in found]


def load_payments(references: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PaymentItem]:
    """The recorded payments of (provider, transaction id) pairs, 100 per BatchGetItem."""
    keys = [payment_key(provider, txn) for provider, txn in dict.fromkeys(references)]
    attributes = ["kind", "provider", "transaction_id", "outcome", "at"]
    found: dict[tuple[str, str], PaymentItem] = {}
    for chunk in chunks(keys):
        for item in PaymentItem.batch_get(chunk, attributes_to_get=attributes):
            found[(str(item.provider), str(item.transaction_id))] = item
    return found


def orders_created(start: datetime, end: datetime) -> Iterator[str]:
    """Ids of the orders created in [start, end), in no particular order."""
    for month in _months(start, end):
        for shard in range(INDEX_SHARDS):
            for _, (pk, _sk) in _index_keys(created_partition(month, shard), start, end):
                yield pk.removeprefix("ORDER#")
