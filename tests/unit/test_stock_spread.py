"""How one SKU's stock spreads over its shards: the per-SKU ceiling depends on the fullest."""

from __future__ import annotations

import secrets
from collections import Counter

from kayisu.orders.reservation import choose_shards
from kayisu.store.cards import chunk_shard


def test_a_batch_goes_round_the_shards_chunk_by_chunk() -> None:
    for _ in range(100):
        batch_id = f"b-{secrets.token_hex(10)}"
        shards = [chunk_shard(batch_id, chunk) for chunk in range(16)]
        assert sorted(shards) == list(range(16))  # 16 chunks, 16 different shards
        assert chunk_shard(batch_id, 3) == shards[3]  # a retried chunk picks the same shard


def test_reservations_follow_where_the_stock_is() -> None:
    picks = Counter(next(iter(choose_shards({0: 90, 1: 10}, 1) or {})) for _ in range(2000))
    assert 0.8 < picks[0] / 2000 < 0.97  # about nine in ten from the shard with nine tenths
