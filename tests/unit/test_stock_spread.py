"""How one SKU's stock spreads over its shards: the per-SKU ceiling depends on the fullest."""

from __future__ import annotations

import secrets
from collections import Counter

from kayisu.config import get_settings
from kayisu.orders.reservation import choose_shards
from kayisu.store.cards import CARDS_PER_CHUNK, SHARDS_PER_CHUNK, TRANSACTION_ITEMS, chunk_shards


def test_a_batch_goes_round_the_shards_chunk_by_chunk() -> None:
    count = get_settings().stock_shards
    rounds = count // SHARDS_PER_CHUNK
    for _ in range(100):
        batch_id = f"b-{secrets.token_hex(10)}"
        shards = [s for chunk in range(rounds) for s in chunk_shards(batch_id, chunk)]
        assert sorted(shards) == list(range(count))  # the first chunks reach every shard once
        assert chunk_shards(batch_id, 3) == chunk_shards(batch_id, 3)  # a retried chunk picks the same


def test_a_thousand_card_batch_leaves_no_shard_much_fuller_than_the_others() -> None:
    # The flash sale's ceiling is 1,000 WCU/s ÷ (4 WCU × the fullest shard's share of the cards).
    count = get_settings().stock_shards
    for _ in range(100):
        batch_id = f"b-{secrets.token_hex(10)}"
        cards: Counter[int] = Counter()
        for chunk in range(-(-1000 // CARDS_PER_CHUNK)):
            size = min(CARDS_PER_CHUNK, 1000 - chunk * CARDS_PER_CHUNK)
            shards = chunk_shards(batch_id, chunk)
            cards.update(shards[i % len(shards)] for i in range(size))
        assert sum(cards.values()) == 1000
        assert len(cards) == count
        assert max(cards.values()) <= 36  # 4 × 36 / 1,000 WCU per order: a ceiling above 6,900 orders/s


def test_a_chunk_fits_one_transaction() -> None:
    assert CARDS_PER_CHUNK + SHARDS_PER_CHUNK + 1 <= TRANSACTION_ITEMS  # cards, their shards, the batch


def test_reservations_follow_where_the_stock_is() -> None:
    picks = Counter(next(iter(choose_shards({0: 90, 1: 10}, 1) or {})) for _ in range(2000))
    assert 0.8 < picks[0] / 2000 < 0.97  # about nine in ten from the shard with nine tenths
