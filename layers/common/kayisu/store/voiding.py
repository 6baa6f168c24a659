"""Voiding a batch's unsold cards (the cards table's other stock-moving transaction, beside
kayisu.store.cards.import_chunk): each card `available → void` with its shard's counters, as far
as unpaid orders' reservations allow. See docs/ingestion.md.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator

from kayisu.clock import now
from kayisu.config import get_settings
from kayisu.store.cards import CARD_SK, TRANSACTION_ITEMS, BatchItem, CardItem, batch_pk
from kayisu.store.catalog import StockShardItem, product_pk, shard_sk
from kayisu.store.stock import Stock, move_stock
from kayisu.store.txn import Cancelled, Transaction


def batch_card_keys(batch_id: str) -> Iterator[str]:
    for key in CardItem.by_batch.query(batch_pk(batch_id)):
        yield str(key.pk)


class BatchNotFinished(Exception):
    """Voiding waits until ingestion is over, or later chunks would add available cards."""


def void_unsold(batch: BatchItem) -> tuple[int, int]:
    """Voids the batch's cards that are still available, as far as unpaid orders' reservations
    allow (a reserved card stays sellable for its order). Returns (voided, held)."""
    if batch.status not in ("completed", "failed"):
        raise BatchNotFinished(batch.batch_id)
    voided = held = 0
    keys = list(batch_card_keys(batch.batch_id))
    # Cards of one batch may sit in every shard: leave room for all shards and the batch.
    step = TRANSACTION_ITEMS - 1 - get_settings().stock_shards
    for start in range(0, len(keys), step):
        page = [(k, CARD_SK) for k in keys[start : start + step]]
        cards = [c for c in CardItem.batch_get(page) if c.status == "available"]
        v, h = _void_cards(batch, cards)
        voided, held = voided + v, held + h
    return voided, held


def _void_cards(batch: BatchItem, cards: list[CardItem]) -> tuple[int, int]:
    """Voids these available cards in one transaction, the shards' counters with them: (voided,
    held). A card sold meanwhile is left out; a shard with fewer cards available than these (the
    rest are reserved for unpaid orders) voids only as many as it has, and holds the others."""
    held = 0
    for _attempt in range(10):
        if not cards:
            return 0, held
        by_shard: dict[int, list[CardItem]] = defaultdict(list)
        for card in cards:
            by_shard[int(card.shard)].append(card)
        at = now()
        t = Transaction()
        for shard, group in sorted(by_shard.items()):
            move_stock(t, batch.sku, shard, Stock.AVAILABLE, Stock.VOID, len(group))
        t.update(
            "batch",
            BatchItem(batch.pk, batch.sk),
            actions=[BatchItem.voided.add(len(cards)), BatchItem.updated_at.set(at)],
        )
        for card in cards:
            t.update(
                f"card:{card.pk}",
                card,
                actions=[
                    CardItem.status.set("void"),
                    CardItem.void_at.set(at),
                    CardItem.pool_pk.remove(),
                    CardItem.pool_sk.remove(),
                ],
                condition=CardItem.status == "available",
            )
        try:
            t.commit()  # contention (nothing written) is retried there
        except Cancelled as exc:
            gone = {name.removeprefix("card:") for name in exc.failed if name.startswith("card:")}
            short = {int(name.removeprefix("shard:")) for name in exc.failed if name.startswith("shard:")}
            cards = [c for c in cards if c.pk not in gone]
            for shard in short:
                available = _available_in_shard(batch.sku, shard)
                group = [c for c in cards if int(c.shard) == shard]
                keep = {c.pk for c in group[: max(0, available)]}
                held += len(group) - len(keep)
                cards = [c for c in cards if int(c.shard) != shard or c.pk in keep]
            time.sleep(0.01)
            continue
        return len(cards), held
    raise RuntimeError("voiding did not settle after 10 attempts")


def _available_in_shard(sku: str, shard: int) -> int:
    for item in StockShardItem.query(product_pk(sku), StockShardItem.sk == shard_sk(shard), consistent_read=True):
        return int(item.available)
    return 0
