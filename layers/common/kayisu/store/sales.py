"""A flash sale's quota in the promotions table (CONTRACT §8 秒杀; docs/pricing.md, Flash sales).

The sale's `quantity` is spread over counter shards, each its own partition (`SALE#<id>#<n>`,
`left` units), so that a burst's writes spread over many partitions, as stock shards do: the
counter never becomes the hot item. A buyer's units of a sale with `max_per_email` are counted
beside it (`SALE#<id>` / `BUYER#<digest>`). Units move only inside the order's transactions
(kayisu.store.orders), like a coupon's uses:
- placing the order takes them (`left ≥ n` on each shard it takes from; the buyer's units
  within `max_per_email`);
- the order expiring or being withdrawn gives them back;
- a late payment (the order had expired and given them back) takes them again when the order
  is delivered, unconditionally: the money is in. A refund leaves them where they are.
`order.sale_use` (`held`, `returned`, `kept`) says where its units are.
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import NumberAttribute

from kayisu.store.coupons import buyer_sk
from kayisu.store.promotions_table import PromotionsItem
from kayisu.store.txn import Transaction

SALE_SK = "SALE"


class SaleShardItem(PromotionsItem, discriminator="sale_shard"):
    left = NumberAttribute(default=0)
    quota = NumberAttribute(default=0)  # what this shard started with


class SaleBuyerItem(PromotionsItem, discriminator="sale_buyer"):
    units = NumberAttribute(default=0)


def shard_pk(promotion_id: str, shard: int) -> str:
    return f"SALE#{promotion_id}#{shard}"


def buyer_pk(promotion_id: str) -> str:
    return f"SALE#{promotion_id}"


def buyer_key(identity: str) -> str:
    """A buyer's units of a sale (the buyer as the pending-order limits compare them)."""
    return buyer_sk(identity)


def spread(quantity: int, shards: int) -> dict[int, int]:
    """`quantity` over `shards` counters, as evenly as whole units allow (none empty if it can)."""
    count = max(1, min(shards, quantity))
    base, extra = divmod(quantity, count)
    return {n: base + (1 if n < extra else 0) for n in range(count)}


def create_shards(promotion_id: str, quantity: int, shards: int) -> int:
    """Writes the sale's counters (before its promotion item, so it never runs without them)."""
    parts = spread(quantity, shards)
    with SaleShardItem.batch_write() as batch:
        for n, units in parts.items():
            batch.save(SaleShardItem(shard_pk(promotion_id, n), SALE_SK, left=units, quota=units))
    return len(parts)


def shard_keys(promotion_id: str, shards: int) -> list[tuple[str, str]]:
    return [(shard_pk(promotion_id, n), SALE_SK) for n in range(shards)]


def left(promotion_id: str, shards: int) -> dict[int, int]:
    """Each shard's units left, with one strongly consistent BatchGetItem (a guide for where to
    take them: the order's transaction checks)."""
    items = SaleShardItem.batch_get(shard_keys(promotion_id, shards), consistent_read=True)
    return left_of(promotion_id, shards, items)


def left_of(promotion_id: str, shards: int, items: Iterable[object]) -> dict[int, int]:
    """Each shard's units left, from whatever items were read (those of `shard_keys` count)."""
    out = dict.fromkeys(range(shards), 0)
    prefix = shard_pk(promotion_id, 0)[:-1]
    for item in items:
        if isinstance(item, SaleShardItem) and str(item.pk).startswith(prefix):
            out[int(str(item.pk).removeprefix(prefix))] = int(item.left)
    return out


def take(
    t: Transaction, promotion_id: str, plan: dict[int, int], buyer: str | None, units: int, most: int | None
) -> None:
    """Placing an order takes its units: the parts `sale:<n>` fail when a shard has too few
    left, `sale_buyer` when the buyer would pass `most` units."""
    for n, count in sorted(plan.items()):
        t.update(
            f"sale:{n}",
            SaleShardItem(shard_pk(promotion_id, n), SALE_SK),
            actions=[SaleShardItem.left.add(-count)],
            condition=SaleShardItem.left >= count,
        )
    if buyer is not None and most is not None:
        t.update(
            "sale_buyer",
            SaleBuyerItem(buyer_pk(promotion_id), buyer),
            actions=[SaleBuyerItem.kind.set(SaleBuyerItem), SaleBuyerItem.units.add(units)],
            condition=SaleBuyerItem.units.does_not_exist() | (SaleBuyerItem.units <= most - units),
        )


def give_back(
    t: Transaction, promotion_id: str, plan: dict[int, int], buyer: str | None, units: int, sign: int = 1
) -> None:
    """The order's units go back to the sale (`sign` −1: taken again, for a late payment)."""
    for n, count in sorted(plan.items()):
        t.update(
            f"sale_back:{n}",
            SaleShardItem(shard_pk(promotion_id, n), SALE_SK),
            actions=[SaleShardItem.left.add(sign * count)],
        )
    if buyer is not None:
        t.update(
            "sale_buyer_back",
            SaleBuyerItem(buyer_pk(promotion_id), buyer),
            actions=[SaleBuyerItem.kind.set(SaleBuyerItem), SaleBuyerItem.units.add(-sign * units)],
        )
