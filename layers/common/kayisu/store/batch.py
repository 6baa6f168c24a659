"""BatchGetItem over any tables: every key's item that exists, 100 keys per request, the keys
DynamoDB leaves unprocessed asked again with back-off."""

from __future__ import annotations

from typing import Any

from kayisu.aws import client
from kayisu.store.txn import MAX_ATTEMPTS, back_off

BATCH_GET = 100  # DynamoDB's most keys in one BatchGetItem
RawItem = dict[str, Any]  # an item as DynamoDB's API has it ({"pk": {"S": ...}, ...})


def key(pk: str, sk: str) -> RawItem:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def batch_get(keys: dict[str, list[RawItem]], consistent: bool) -> dict[str, list[RawItem]]:
    """The items found, by table (every table of `keys` is in the answer)."""
    db = client("dynamodb")
    found: dict[str, list[RawItem]] = {table: [] for table in keys}
    flat = [(table, k) for table, table_keys in keys.items() for k in table_keys]
    for start in range(0, len(flat), BATCH_GET):
        request: dict[str, Any] = {}
        for table, k in flat[start : start + BATCH_GET]:
            request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(k)
        for attempt in range(1, MAX_ATTEMPTS + 2):
            answer = db.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                found[table].extend(items)
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            if attempt > MAX_ATTEMPTS:
                raise RuntimeError("DynamoDB left keys unprocessed too many times")
            back_off(attempt)
    return found
