"""Order rules that need no AWS: where a reservation goes, masking, amounts, request shapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kayisu.money import format_amount
from kayisu.orders.delivery import mask_code
from kayisu.orders.reservation import choose_shards, most_shards
from kayisu.orders.schemas import OrderCreate, mask_email
from kayisu.orders.tokens import new_token, owns, token_hash
from kayisu.store.orders import OrderItem


@given(
    shards=st.dictionaries(st.integers(0, 31), st.integers(0, 50), max_size=32),
    quantity=st.integers(1, 100),
)
def test_a_reservation_takes_exactly_the_quantity_from_shards_that_have_it(
    shards: dict[int, int], quantity: int
) -> None:
    plan = choose_shards(shards, quantity)
    if sum(shards.values()) < quantity:
        assert plan is None
        return
    fullest, needed = sorted(shards.values(), reverse=True), 0
    while sum(fullest[:needed]) < quantity:
        needed += 1
    if needed > most_shards(quantity):  # its delivery would not fit one transaction
        assert plan is None
        return
    assert plan is not None
    assert len(plan) <= most_shards(quantity)
    assert sum(plan.values()) == quantity
    assert all(0 < n <= shards[s] for s, n in plan.items())
    if any(available >= quantity for available in shards.values()):
        assert len(plan) == 1  # one contended item when one shard can carry the order


def test_an_order_spread_thin_takes_no_more_shards_than_its_delivery_can_move() -> None:
    thin = dict.fromkeys(range(32), 2)  # 64 cards left, 2 in each of 32 shards
    assert choose_shards(thin, 64) is None  # 64 cards + 32 shards + 9 would exceed 100 items
    assert choose_shards(thin, 62) is None  # 62 + 31 + 9 = 102
    plan = choose_shards(thin, 60)
    assert plan is not None
    assert len(plan) == 30  # 60 + 30 + 9 = 99


def test_reservations_spread_over_the_shards_that_can_carry_them() -> None:
    seen = {next(iter(choose_shards({0: 5, 1: 5, 2: 0, 3: 5}, 2) or {})) for _ in range(200)}
    assert seen == {0, 1, 3}


def test_masks() -> None:
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_code("ABCD-EFGH-1234") == "****1234"
    assert mask_code("SHORT123") == "****"


def test_amounts_for_people() -> None:
    assert format_amount(1990, "CNY") == "19.90 CNY"
    assert format_amount(5, "CNY") == "0.05 CNY"
    assert format_amount(500, "JPY") == "500 JPY"


def test_tokens_are_long_random_and_matched_only_by_hash() -> None:
    token, hashed = new_token()
    assert len(token) >= 43
    assert hashed == token_hash(token)
    assert token not in hashed
    item = OrderItem(token_hashes={hashed, token_hash("other")})
    assert owns(item, token)
    assert not owns(item, token[:-1] + ("A" if token[-1] != "A" else "B"))


def order(**change: object) -> dict[str, object]:
    return {"sku": "GIFT-1", "quantity": 1, "email": "a@example.com", "payment_method": "sandbox", **change}


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 0},
        {"quantity": 101},
        {"quantity": "1"},
        {"quantity": 1.0},
        {"email": "no-at-sign"},
        {"email": "a@nodot"},
        {"email": "a b@example.com"},
        {"sku": "bad sku"},
        {"extra": 1},
    ],
)
def test_bad_orders_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OrderCreate.model_validate(order(**change))


def test_email_domains_are_case_folded() -> None:
    assert OrderCreate.model_validate(order(email="Bob@Example.COM")).email == "Bob@example.com"
