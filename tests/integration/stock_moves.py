"""Run by test_stock_moves: random sequences of stock moves, each committed through
kayisu.store.stock.move_stock in its own Transaction against the local stack's DynamoDB, then
the shard read back. Checks after every move that the shard holds what a model of the moves
says (a move whose source is short is cancelled whole), that `available + reserved + sold + void
= imported` and that no counter is below zero. Prints one JSON line: how many sequences, moves
committed and moves refused.

Usage: python -m tests.integration.stock_moves STATE_JSON"""

from __future__ import annotations

import json
import secrets
import sys
from typing import Any, TextIO

from tests.support import become_a_function

COUNTERS = ("imported", "available", "reserved", "sold", "void", "redeemed")
SHARD = 3


def main() -> None:
    out: TextIO = sys.stdout
    state = become_a_function(sys.argv[1])
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kayisu.store.catalog import product_pk, shard_sk
    from kayisu.store.stock import MOVES, Stock, move_stock, stock_change
    from kayisu.store.txn import Cancelled, Transaction
    from tests.support import emulator_client

    ddb = emulator_client(state, "dynamodb")
    table = state["resources"]["CatalogTable"]
    tally = {"sequences": 0, "committed": 0, "refused": 0}

    def stored(sku: str) -> dict[str, int]:
        item: dict[str, Any] = ddb.get_item(
            TableName=table, Key={"pk": {"S": product_pk(sku)}, "sk": {"S": shard_sk(SHARD)}}, ConsistentRead=True
        ).get("Item", {})
        return {c: int(item[c]["N"]) if c in item else 0 for c in COUNTERS}

    @given(st.lists(st.tuples(st.sampled_from(sorted(MOVES)), st.integers(1, 4)), min_size=1, max_size=12))
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def sequence_keeps_stock(sequence: list[tuple[tuple[Stock, Stock], int]]) -> None:
        sku = f"MOVES-{secrets.token_hex(5)}"
        model = dict.fromkeys(COUNTERS, 0)
        tally["sequences"] += 1
        for (src, dst), n in sequence:
            t = Transaction()
            move_stock(t, sku, SHARD, src, dst, n)
            change = stock_change(src, dst, n)
            failed: set[str] = set()
            try:
                t.commit()
            except Cancelled as exc:
                failed = exc.failed
            if failed:
                assert failed == {f"shard:{SHARD}"}, failed
                assert change.guard is not None, (src, dst, n)
                assert model[change.guard] < n, (src, dst, n, model)
                tally["refused"] += 1
            else:
                assert change.guard is None or model[change.guard] >= n, (src, dst, n, model)
                for counter, delta in change.deltas.items():
                    model[counter] += delta
                tally["committed"] += 1
            shard = stored(sku)
            assert shard == model, (src, dst, n, shard, model)
            assert shard["available"] + shard["reserved"] + shard["sold"] + shard["void"] == shard["imported"], shard
            assert min(shard.values()) >= 0, shard

    sequence_keeps_stock()
    out.write(json.dumps(tally) + "\n")


if __name__ == "__main__":
    main()
