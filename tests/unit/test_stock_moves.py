"""Promise 3 in the one place stock counters change (kayisu.store.stock): whatever sequence of
moves the shop makes, `available + reserved + sold + void = imported` and no counter goes below
zero. A move whose guard fails is refused whole, as DynamoDB cancels its transaction. The same
moves through DynamoDB (the emulator) are tests/integration/test_stock_moves.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayisu.store.stock import MOVES, Stock, stock_change

COUNTERS = ("imported", "available", "reserved", "sold", "void", "redeemed")
moves = st.lists(st.tuples(st.sampled_from(sorted(MOVES)), st.integers(1, 6)), max_size=60)


def apply(counts: dict[str, int], src: Stock, dst: Stock, n: int) -> bool:
    """What DynamoDB does with the move's update: all its deltas if the guard holds, else none."""
    change = stock_change(src, dst, n)
    if change.guard is not None and counts[change.guard] < n:
        return False
    for counter, delta in change.deltas.items():
        counts[counter] += delta
    return True


@given(moves)
@settings(max_examples=500, database=None)
def test_every_sequence_of_stock_moves_keeps_the_total_and_never_goes_negative(
    sequence: list[tuple[tuple[Stock, Stock], int]],
) -> None:
    counts = dict.fromkeys(COUNTERS, 0)
    for (src, dst), n in sequence:
        before = dict(counts)
        moved = apply(counts, src, dst, n)
        assert counts["available"] + counts["reserved"] + counts["sold"] + counts["void"] == counts["imported"]
        assert all(value >= 0 for value in counts.values()), (src, dst, n, before, counts)
        if src is not Stock.NEW and dst is not Stock.REDEEMED:
            assert moved == (before[src.value] >= n)  # refused exactly when the source is short


def test_only_the_shops_moves_exist() -> None:
    assert stock_change(Stock.NEW, Stock.AVAILABLE, 3).deltas == {"imported": 3, "available": 3}
    assert stock_change(Stock.SOLD, Stock.REDEEMED, 1).deltas == {"redeemed": 1}  # a redeemed card stays sold
    for src, dst in [(Stock.VOID, Stock.AVAILABLE), (Stock.SOLD, Stock.AVAILABLE), (Stock.NEW, Stock.SOLD)]:
        with pytest.raises(ValueError, match="does not move"):
            stock_change(src, dst, 1)
    with pytest.raises(ValueError, match="positive"):
        stock_change(Stock.AVAILABLE, Stock.RESERVED, 0)
