"""Where an order's stock is reserved among a SKU's stock shards (a bundle's: its components')."""

from __future__ import annotations

import random

from kayisu.store.stock import StockPlan

TRANSACTION_ITEMS = 100  # DynamoDB's most items in one TransactWriteItems
# Beside the cards and shards, delivery writes the order, its event, 3 limits, and (a late
# payment's order) a coupon's counter and its buyer's, a flash sale's shard and its buyer's.
BOOKKEEPING_ITEMS = 9


def most_shards(quantity: int) -> int:
    """How many shards an order of `quantity` may take: its delivery sells its cards and moves
    its shards in one transaction (64 cards over 27 shards at most)."""
    return max(1, TRANSACTION_ITEMS - BOOKKEEPING_ITEMS - quantity)


def choose_shards(shards: dict[int, int], quantity: int) -> dict[int, int] | None:
    """Where to reserve `quantity`: one shard that has it all, at random weighted by what each
    has (the common case, one contended item), else several, fullest first. None if the SKU
    has too little, or only in more shards than its delivery's transaction could hold."""
    whole = [s for s, available in shards.items() if available >= quantity]
    if whole:
        # Weighted by stock, so shards empty together and the last orders do not crowd the
        # fullest shard.
        weights = [shards[s] for s in whole]
        return {random.choices(whole, weights=weights)[0]: quantity}  # noqa: S311 - load spreading
    plan: dict[int, int] = {}
    left = quantity
    for shard, available in sorted(shards.items(), key=lambda kv: -kv[1]):
        if left == 0:
            break
        take = min(available, left)
        if take > 0:
            plan[shard] = take
            left -= take
    return plan if left == 0 and len(plan) <= most_shards(quantity) else None


def plan_stock(shards: dict[str, dict[int, int]], units: dict[str, int]) -> StockPlan | None:
    """Where an order reserves `units` cards of each SKU (one SKU, or a bundle's components: all
    of them or none), from what each SKU's shards have available. None if one SKU has too
    little, or the plan holds more shards than the order's delivery transaction could."""
    plan: StockPlan = {}
    for sku, count in sorted(units.items()):
        chosen = choose_shards(shards.get(sku, {}), count)
        if chosen is None:
            return None
        plan.update({(sku, shard): n for shard, n in chosen.items()})
    return plan if len(plan) <= most_shards(sum(units.values())) else None
