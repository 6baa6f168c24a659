"""Stock shard counters, and the one way they change (promise 3 is read here).

Each stock shard (`STOCK#{sku}#{nn}` / `STOCK` in the catalog table, a partition of its own) counts its cards by state:
`available + reserved + sold + void = imported` at every moment. Every change of a counter is a
`move_stock` inside the transaction that moves the cards or the order it counts: n cards from
one state to another, on condition that the source holds at least n. Cards arrive from `NEW`
(`imported` grows with their state); a redemption counts a sold card in `redeemed` too, since a
redeemed card is still sold (a refund voids only unredeemed cards, checked on the card).

The moves are a short list (`MOVES`); `stock_change` says what each does to the counters, as
plain numbers that tests/unit/test_stock_moves.py checks against the invariant.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.update import Action

from kayisu.store.catalog import StockShardItem, shard_item
from kayisu.store.txn import Transaction


class Stock(StrEnum):
    """A stock counter, and a card state it counts."""

    NEW = "new"  # a source only: cards arriving (counted in `imported` and in their new state)
    AVAILABLE = "available"
    RESERVED = "reserved"
    SOLD = "sold"
    VOID = "void"
    REDEEMED = "redeemed"  # a destination only, from SOLD: the card stays sold


MOVES: frozenset[tuple[Stock, Stock]] = frozenset(
    {
        (Stock.NEW, Stock.AVAILABLE),  # a batch's chunk imported
        (Stock.AVAILABLE, Stock.RESERVED),  # checkout
        (Stock.RESERVED, Stock.AVAILABLE),  # an order withdrawn, expired, or refunded before delivery
        (Stock.RESERVED, Stock.SOLD),  # delivery
        (Stock.AVAILABLE, Stock.SOLD),  # delivery of an order paid after it expired
        (Stock.SOLD, Stock.VOID),  # a delivered order refunded
        (Stock.AVAILABLE, Stock.VOID),  # a batch's unsold cards voided
        (Stock.SOLD, Stock.REDEEMED),  # a partner redeemed a code
    }
)


@dataclass(frozen=True)
class StockChange:
    """What a move does to the counters (`deltas`), and the counter that must hold at least n
    for it to happen (`guard`; None: it always can)."""

    deltas: dict[str, int]
    guard: str | None


def stock_change(src: Stock, dst: Stock, n: int) -> StockChange:
    if (src, dst) not in MOVES:
        raise ValueError(f"stock does not move from {src} to {dst}")
    if n <= 0:
        raise ValueError(f"a stock move takes a positive count, not {n}")
    if src is Stock.NEW:
        return StockChange({"imported": n, dst.value: n}, None)
    if dst is Stock.REDEEMED:
        return StockChange({"redeemed": n}, None)
    return StockChange({src.value: -n, dst.value: n}, src.value)


def _counter(name: str) -> NumberAttribute:
    attribute: NumberAttribute = getattr(StockShardItem, name)
    return attribute


StockPlan = dict[tuple[str, int], int]  # (sku, shard) → cards: an order's reservation, a bundle's over its components


def plan_of(by_sku: dict[str, dict[int, int]]) -> StockPlan:
    return {(sku, shard): n for sku, shards in by_sku.items() for shard, n in shards.items()}


def move_plan(t: Transaction, plan: StockPlan, src: Stock, dst: Stock, prefix: str = "shard") -> None:
    """move_stock for each (sku, shard) of `plan`, the parts named `{prefix}:{sku}#{shard}`."""
    for (sku, shard), count in sorted(plan.items()):
        move_stock(t, sku, shard, src, dst, count, name=f"{prefix}:{sku}#{shard}")


def move_stock(t: Transaction, sku: str, shard: int, src: Stock, dst: Stock, n: int, name: str | None = None) -> None:
    """Adds to `t` the update of the SKU's shard that moves n cards from `src` to `dst` (the
    part is named `name`, by default `shard:{shard}`: a failed guard cancels `t` under it)."""
    change = stock_change(src, dst, n)
    actions: list[Action] = []
    if src is Stock.NEW:  # the shard's first cards create it
        actions += [StockShardItem.kind.set(StockShardItem), StockShardItem.sku.set(sku)]
    actions += [_counter(counter).add(delta) for counter, delta in change.deltas.items()]
    t.update(
        name or f"shard:{shard}",
        shard_item(sku, shard),
        actions=actions,
        condition=_counter(change.guard) >= n if change.guard else None,
    )
