"""Moves stock shards from the old layout to their own partitions (issue 17; docs/operations.md).

Before: `PRODUCT#{sku}` / `STOCK#{nn}` (every shard in the product's partition). Now:
`STOCK#{sku}#{nn}` / `STOCK`. Code of the new layout neither reads nor writes the old items, so a
deployed stack runs this once, right after deploying (until then the old shards' stock is not
for sale; `GET /v1/admin/stock` still counts it, as its Scan sees both).

Each old shard moves in one transaction: the old item deleted on condition that its counters
are still what was read, its counters added to the new item. Run again, it finds nothing left to
move; a shard that changed meanwhile (an old function still running) is left for the next run.

    .venv/bin/python -m scripts.migrate_stock_keys --table kayisu-prod-catalog [--dry-run]

Credentials and region come from the usual AWS chain (`AWS_PROFILE`, environment, SSO).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import boto3

COUNTERS = ("imported", "available", "reserved", "sold", "void", "redeemed")


def old_shards(ddb: Any, table: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "FilterExpression": "begins_with(pk, :product) AND begins_with(sk, :stock)",
        "ExpressionAttributeValues": {":product": {"S": "PRODUCT#"}, ":stock": {"S": "STOCK#"}},
    }
    while True:
        page = ddb.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def new_key(item: dict[str, Any]) -> dict[str, Any]:
    sku = item["pk"]["S"].removeprefix("PRODUCT#")
    shard = int(item["sk"]["S"].removeprefix("STOCK#"))
    return {"pk": {"S": f"STOCK#{sku}#{shard:02d}"}, "sk": {"S": "STOCK"}}


def move(ddb: Any, table: str, item: dict[str, Any]) -> bool:
    """One old shard into its new item; False if it changed since it was read."""
    counts = {c: item.get(c, {"N": "0"}) for c in COUNTERS}
    unchanged = " AND ".join(f"#{c} = :{c}" if c in item else f"attribute_not_exists(#{c})" for c in COUNTERS)
    names = {f"#{c}": c for c in COUNTERS}
    try:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": table,
                        "Key": {"pk": item["pk"], "sk": item["sk"]},
                        "ConditionExpression": unchanged,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": {f":{c}": item[c] for c in COUNTERS if c in item},
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": new_key(item),
                        "UpdateExpression": "SET #kind = :kind, #sku = :sku ADD "
                        + ", ".join(f"#{c} :{c}" for c in COUNTERS),
                        "ExpressionAttributeNames": {**names, "#kind": "kind", "#sku": "sku"},
                        "ExpressionAttributeValues": {
                            **{f":{c}": v for c, v in counts.items()},
                            ":kind": {"S": "stock"},
                            ":sku": item["sku"],
                        },
                    }
                },
            ]
        )
    except ddb.exceptions.TransactionCanceledException:
        return False
    return True


def migrate(ddb: Any, table: str, dry_run: bool = False) -> tuple[int, int]:
    """(moved, left for another run)."""
    moved = left = 0
    for item in old_shards(ddb, table):
        if dry_run:
            print(f"would move {item['pk']['S']} / {item['sk']['S']} to {new_key(item)['pk']['S']}")
            moved += 1
        elif move(ddb, table, item):
            moved += 1
        else:
            left += 1
    return moved, left


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="the catalog table, e.g. kayisu-prod-catalog")
    parser.add_argument("--region")
    parser.add_argument("--endpoint-url", help="another endpoint (the local stack's emulator)")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    ddb = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    moved, left = migrate(ddb, args.table, args.dry_run)
    print(f"{'to move' if args.dry_run else 'moved'}: {moved}; changed meanwhile, run again: {left}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
