"""Promise 3 through DynamoDB: random sequences of every stock move the shop makes, committed
by kayisu.store.stock.move_stock against the local stack (tests/integration/stock_moves.py),
leave each shard as the moves say, with `available + reserved + sold + void = imported` and no
counter below zero after every move; a move whose source is short is refused whole. And the
one move whose guard the shop expects to fail: voiding a batch whose cards unpaid orders hold."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Api, upload_batch
from tests.integration.shop import balanced, new_codes, order, pay, stock, stocked_product, wait_for
from tests.support import run_as_function


def test_every_sequence_of_stock_moves_keeps_the_total_and_never_goes_negative(
    stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    [tally] = run_as_function("tests.integration.stock_moves", stack, tmp_path_factory.mktemp("stock-moves"))
    assert tally["sequences"] >= 40
    assert tally["committed"] > 0  # moves that happened ...
    assert tally["refused"] > 0  # ... and moves a short source refused


def test_voiding_a_batch_holds_the_cards_unpaid_orders_reserved_and_they_still_deliver(
    stack: dict[str, Any], public: Api, operator: Api, new_sku: str
) -> None:
    """The shard-short branch of voiding: cards still `available` on their own but counted as
    reserved by an unpaid order are held, not voided, and that order still gets them."""
    stocked_product(operator, new_sku, [])
    batch = upload_batch(operator, new_sku, "v.txt", "\n".join(new_codes(6)))
    assert batch["imported"] == 6, batch
    pending = order(public, new_sku, quantity=2).json()
    sold = order(public, new_sku).json()
    pay(stack, sold)
    wait_for(public, sold)

    voided = operator.post(f"/v1/admin/batches/{batch['batch_id']}/void").json()
    assert (voided["voided"], voided["held"]) == (3, 2)
    level = stock(operator, new_sku)
    assert (level["available"], level["reserved"], level["sold"], level["void"]) == (0, 2, 1, 3)
    assert balanced(level)

    pay(stack, pending)
    delivered = wait_for(public, pending)
    assert len(delivered["cards"]) == 2
    level = stock(operator, new_sku)
    assert (level["available"], level["reserved"], level["sold"], level["void"]) == (0, 0, 3, 3)
    assert balanced(level)
