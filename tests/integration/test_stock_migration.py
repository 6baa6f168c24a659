"""Stock shards of the old layout (in the product's partition) move to their own partitions:
what a shopper and an operator see is the stock there was, and a second run moves nothing."""

from __future__ import annotations

from typing import Any

from scripts.migrate_stock_keys import migrate
from tests.integration.conftest import Api, aws
from tests.support import stock_shards


def old_shard(sku: str, shard: int, **counts: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"PRODUCT#{sku}"},
        "sk": {"S": f"STOCK#{shard:02d}"},
        "kind": {"S": "stock"},
        "sku": {"S": sku},
        **{name: {"N": str(n)} for name, n in counts.items()},
    }


def test_old_shards_move_to_their_own_partitions(
    stack: dict[str, Any], operator: Api, public: Api, new_sku: str
) -> None:
    made = operator.post("/v1/admin/products", {"sku": new_sku, "name": "old layout", "price": 100})
    assert made.status_code == 201, made.text
    ddb, table = aws(stack, "dynamodb"), stack["resources"]["CatalogTable"]
    ddb.put_item(TableName=table, Item=old_shard(new_sku, 3, imported=10, available=6, reserved=1, sold=2, void=1))
    ddb.put_item(TableName=table, Item=old_shard(new_sku, 7, imported=5, available=5))
    assert public.get(f"/v1/products/{new_sku}").json()["available"] == 0  # the new code does not read them

    assert migrate(ddb, table) == (2, 0)

    assert public.get(f"/v1/products/{new_sku}").json()["available"] == 11
    line = next(i for i in operator.get("/v1/admin/stock").json()["items"] if i["sku"] == new_sku)
    assert (line["imported"], line["available"], line["reserved"], line["sold"], line["void"]) == (15, 11, 1, 2, 1)
    shards = stock_shards(ddb, table, new_sku)
    assert sorted(shards) == [3, 7]
    assert (
        ddb.get_item(TableName=table, Key={"pk": {"S": f"PRODUCT#{new_sku}"}, "sk": {"S": "STOCK#03"}}).get("Item")
        is None
    )
    assert migrate(ddb, table) == (0, 0)  # nothing left: a second run changes nothing
    assert public.get(f"/v1/products/{new_sku}").json()["available"] == 11
