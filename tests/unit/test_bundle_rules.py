"""Bundles' rules (CONTRACT §8): how many whole bundles the components make, where a bundle's
order reserves (every component or none, within one delivery transaction), and how the order
keeps its reservation."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from kayisu.catalog.service import bundle_available
from kayisu.orders.reservation import BOOKKEEPING_ITEMS, TRANSACTION_ITEMS, plan_stock
from kayisu.store.orders import new_order, reservation_json

AT = datetime(2026, 12, 4, tzinfo=UTC)
shards = st.dictionaries(st.integers(0, 31), st.integers(0, 40), max_size=32)


def test_a_bundle_counts_the_whole_bundles_its_scarcest_component_allows() -> None:
    assert bundle_available({"A": 1, "B": 2}, {"A": 5, "B": 7}) == 3
    assert bundle_available({"A": 1, "B": 2}, {"A": 5}) == 0  # a component with no stock
    assert bundle_available({"A": 3}, {"A": -1}) == 0


@given(
    st.dictionaries(st.sampled_from("ABCD"), st.integers(1, 5), min_size=1),
    st.dictionaries(st.sampled_from("ABCD"), st.integers(0, 100)),
)
def test_available_bundles_can_all_be_reserved_and_one_more_cannot(
    units: dict[str, int], stock: dict[str, int]
) -> None:
    n = bundle_available(units, stock)
    assert all(stock.get(sku, 0) >= n * k for sku, k in units.items())
    assert any(stock.get(sku, 0) < (n + 1) * k for sku, k in units.items())


@given(
    st.dictionaries(st.sampled_from("ABC"), shards, min_size=1),
    st.dictionaries(st.sampled_from("ABC"), st.integers(1, 20), min_size=1),
)
def test_a_plan_takes_every_component_exactly_or_nothing(
    by_sku: dict[str, dict[int, int]], units: dict[str, int]
) -> None:
    plan = plan_stock(by_sku, units)
    if plan is None:
        return
    taken: dict[str, int] = {}
    for (sku, shard), n in plan.items():
        assert 0 < n <= by_sku[sku][shard]  # never more than a shard has
        taken[sku] = taken.get(sku, 0) + n
    assert taken == units
    assert len(plan) + sum(units.values()) + BOOKKEEPING_ITEMS <= TRANSACTION_ITEMS  # delivery fits


def test_a_short_component_plans_nothing() -> None:
    assert plan_stock({"A": {0: 5}, "B": {0: 1, 1: 0}}, {"A": 2, "B": 2}) is None
    assert plan_stock({"A": {0: 5}}, {"A": 2, "B": 1}) is None  # a component with no shards
    assert plan_stock({"A": {0: 5}, "B": {3: 1, 4: 1}}, {"A": 2, "B": 2}) == {("A", 0): 2, ("B", 3): 1, ("B", 4): 1}


def test_an_order_keeps_its_own_shards_by_number_and_a_bundles_by_component() -> None:
    plain = new_order(
        "ord_1", "a@example.com", AT, AT, sku="GIFT", quantity=2, reservation=reservation_json("GIFT", {("GIFT", 3): 2})
    )
    assert plain.reservation == '{"3": 2}'  # as orders placed before bundles keep it
    assert plain.reserved() == {("GIFT", 3): 2}
    assert plain.stock_units() == {"GIFT": 2}
    made = reservation_json("SET", {("A", 1): 2, ("B", 0): 4})
    bundle = new_order(
        "ord_2", "a@example.com", AT, AT, sku="SET", quantity=2, reservation=made, bundle={"A": 1, "B": 2}
    )
    assert bundle.reserved() == {("A", 1): 2, ("B", 0): 4}
    assert bundle.stock_units() == {"A": 2, "B": 4}
