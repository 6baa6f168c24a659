"""Reading orders: one by id (with or without its history), many by id, what the sweeper must
do (OpenByDeadline), and the operators' lists by creation time (ByCreated) and by email
(ByEmail). The index queries go through the low-level client: the indexes hold keys only."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from kayisu.aws import client
from kayisu.config import get_settings
from kayisu.store.orders.items import OrderEventItem, OrderItem, OrdersItem
from kayisu.store.orders.keys import (
    INDEX_SHARDS,
    ORDER_SK,
    created_partition,
    email_partition,
    iso,
    open_partition,
    order_pk,
)

BATCH_GET_KEYS = 100  # BatchGetItem's most keys per request


def load_order(order_id: str) -> OrderItem | None:
    try:
        return OrderItem.get(order_pk(order_id), ORDER_SK, consistent_read=True)
    except OrderItem.DoesNotExist:
        return None


def history(order_id: str) -> tuple[OrderItem | None, list[OrderEventItem]]:
    """The order and its events, oldest first, with one Query."""
    order: OrderItem | None = None
    events: list[OrderEventItem] = []
    for item in OrdersItem.query(order_pk(order_id), consistent_read=True):
        if isinstance(item, OrderItem):
            order = item
        elif isinstance(item, OrderEventItem):
            events.append(item)
    return order, events


def load_orders(order_ids: Iterable[str], attributes: list[str] | None = None) -> dict[str, OrderItem]:
    """By id, 100 per BatchGetItem; `attributes` (with `kind`) to read only those."""
    keys = [(order_pk(i), ORDER_SK) for i in dict.fromkeys(order_ids)]
    out: dict[str, OrderItem] = {}
    for start in range(0, len(keys), BATCH_GET_KEYS):
        for item in OrderItem.batch_get(keys[start : start + BATCH_GET_KEYS], attributes_to_get=attributes):
            out[str(item.order_id)] = item
    return out


def due(state: str, before: datetime) -> Iterator[str]:
    """Order ids in `state` (PENDING by expiry, PAID by payment time) up to `before`."""
    db = client("dynamodb")
    for shard in range(INDEX_SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": get_settings().orders_table,
            "IndexName": "OpenByDeadline",
            "KeyConditionExpression": "gsi2pk = :p AND gsi2sk <= :t",
            "ExpressionAttributeValues": {":p": {"S": open_partition(state, shard)}, ":t": {"S": iso(before)}},
        }
        while True:
            page = db.query(**kwargs)
            for item in page.get("Items", []):
                yield item["pk"]["S"].removeprefix("ORDER#")
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def created_page(month: datetime, before: str | None, after: str | None, limit: int) -> list[tuple[str, str]]:
    """(sort key, order id) of one month's orders, newest first, from every index shard,
    between `after` and `before` (exclusive sort keys)."""
    db = client("dynamodb")
    found: list[tuple[str, str]] = []
    for shard in range(INDEX_SHARDS):
        condition = "gsi1pk = :p"
        values: dict[str, Any] = {":p": {"S": created_partition(month, shard)}}
        if before and after:
            condition += " AND gsi1sk BETWEEN :a AND :b"
            values.update({":a": {"S": after}, ":b": {"S": before}})
        elif before:
            condition += " AND gsi1sk < :b"
            values[":b"] = {"S": before}
        elif after:
            condition += " AND gsi1sk > :a"
            values[":a"] = {"S": after}
        page = db.query(
            TableName=get_settings().orders_table,
            IndexName="ByCreated",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        for item in page.get("Items", []):
            key = item["gsi1sk"]["S"]
            if before and key >= before:
                continue
            found.append((key, item["pk"]["S"].removeprefix("ORDER#")))
    found.sort(reverse=True)
    return found[:limit]


def email_page(email: str, before: str, after: str, limit: int) -> list[tuple[str, str]]:
    """(sort key, order id) of one email's orders, newest first, with sort keys strictly
    between `after` and `before`."""
    page = client("dynamodb").query(
        TableName=get_settings().orders_table,
        IndexName="ByEmail",
        KeyConditionExpression="gsi3pk = :p AND gsi3sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": email_partition(email)}, ":a": {"S": after}, ":b": {"S": before}},
        ScanIndexForward=False,
        Limit=limit + 1,
    )
    found = [(item["gsi3sk"]["S"], item["pk"]["S"].removeprefix("ORDER#")) for item in page.get("Items", [])]
    return [(key, order_id) for key, order_id in found if after < key < before][:limit]
