"""The pricing function (CONTRACT §8): its steps, its order, its rounding, and its floor."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayisu.pricing.quote import (
    CouponKind,
    CouponNotApplicable,
    CouponTerms,
    Discount,
    DiscountKind,
    FlashSale,
    FullReduction,
    Listing,
    PriceTier,
    Promotions,
    Quote,
    ReductionTier,
    quote,
)

MONEY = st.integers(min_value=0, max_value=10_000_000)
PRICES = st.integers(min_value=1, max_value=1_000_000)
QUANTITIES = st.integers(min_value=1, max_value=64)

listings = st.builds(
    Listing,
    sku=st.just("GIFT"),
    price=PRICES,
    currency=st.just("CNY"),
    tiers=st.lists(
        st.builds(PriceTier, min_quantity=st.integers(1, 80), price=st.integers(0, 1_000_000)), max_size=4
    ).map(tuple),
)
sales = st.none() | st.builds(FlashSale, promotion_id=st.just("prm_sale"), price=st.integers(0, 1_000_000))
reductions = st.none() | st.builds(
    FullReduction,
    promotion_id=st.just("prm_mj"),
    tiers=st.lists(st.builds(ReductionTier, min_spend=MONEY, off=MONEY), min_size=1, max_size=4).map(tuple),
)
coupons = st.none() | st.builds(
    CouponTerms,
    coupon_id=st.just("cpn_x"),
    kind=st.sampled_from(CouponKind),
    value=st.integers(1, 100),
    min_spend=st.integers(0, 100_000),
    skus=st.none() | st.just(frozenset({"GIFT"})) | st.just(frozenset({"OTHER"})),
)


def _quote_or_refusal(
    listing: Listing, quantity: int, sale: FlashSale | None, reduction: FullReduction | None, coupon: CouponTerms | None
) -> Quote | str:
    try:
        q = quote(listing, quantity, Promotions(sale, reduction), coupon)
    except CouponNotApplicable as exc:
        return exc.reason
    return q


@settings(max_examples=500, deadline=None)
@given(listings, QUANTITIES, sales, reductions, coupons)
def test_the_amount_is_the_subtotal_less_its_discounts_and_never_below_one_minor_unit(
    listing: Listing,
    quantity: int,
    sale: FlashSale | None,
    reduction: FullReduction | None,
    coupon: CouponTerms | None,
) -> None:
    outcome = _quote_or_refusal(listing, quantity, sale, reduction, coupon)
    if isinstance(outcome, str):
        assert outcome in {"min_spend", "sku_scope"}
        return
    q = outcome
    assert q.subtotal == listing.price * quantity
    assert q.amount == q.subtotal - sum(d.amount for d in q.discounts)
    assert q.amount >= 1
    assert all(d.amount > 0 for d in q.discounts)
    assert sum(d.amount for d in q.discounts) <= q.subtotal
    kinds = [d.kind for d in q.discounts]
    order = [DiscountKind.TIER, DiscountKind.FLASH_SALE, DiscountKind.FULL_REDUCTION, DiscountKind.COUPON]
    assert kinds == sorted(kinds, key=order.index), "the steps are applied in the contract's order"
    assert len(set(kinds)) == len(kinds)
    assert not (DiscountKind.TIER in kinds and DiscountKind.FLASH_SALE in kinds), "one unit price"


@settings(max_examples=500, deadline=None)
@given(PRICES, QUANTITIES, st.integers(1, 100), reductions)
def test_a_percent_coupon_rounds_by_less_than_one_minor_unit_and_never_in_the_buyers_favour(
    price: int, quantity: int, percent: int, reduction: FullReduction | None
) -> None:
    listing = Listing("GIFT", price, "CNY")
    before = quote(listing, quantity, Promotions(full_reduction=reduction))
    coupon = CouponTerms("cpn", CouponKind.PERCENT, percent)
    after = quote(listing, quantity, Promotions(full_reduction=reduction), coupon)
    exact = Fraction(before.amount * percent, 100)  # what the percent takes off, unrounded
    off = before.amount - after.amount
    if after.amount > 1:  # not cut by the floor
        assert exact - 1 < off <= exact
    else:
        assert off <= exact


def test_a_coupon_of_100_percent_still_charges_one_minor_unit() -> None:
    q = quote(Listing("GIFT", 5000, "CNY"), 2, coupon=CouponTerms("cpn_all", CouponKind.PERCENT, 100))
    assert (q.amount, q.discounts) == (1, (Discount(DiscountKind.COUPON, "cpn_all", 9999),))


def test_the_contracts_example_steps_in_order() -> None:
    listing = Listing("GIFT", 5000, "CNY", (PriceTier(10, 4500), PriceTier(5, 4800)))
    promotions = Promotions(
        full_reduction=FullReduction("prm_mj", (ReductionTier(10_000, 1500), ReductionTier(40_000, 5000)))
    )
    q = quote(listing, 10, promotions, CouponTerms("cpn_10", CouponKind.PERCENT, 10))
    # 10 at the tier's 4,500 = 45,000 (5,000 off); 满 40,000 减 5,000 → 40,000; 10 % → 36,000.
    assert q.unit_price == 4500
    assert q.subtotal == 50_000
    assert q.discounts == (
        Discount(DiscountKind.TIER, "min_quantity_10", 5000),
        Discount(DiscountKind.FULL_REDUCTION, "prm_mj", 5000),
        Discount(DiscountKind.COUPON, "cpn_10", 4000),
    )
    assert q.amount == 36_000


def test_min_spend_is_compared_with_what_the_steps_before_left() -> None:
    listing = Listing("GIFT", 5000, "CNY", (PriceTier(2, 4000),))
    # The list subtotal (10,000) reaches 10,000, but the tier leaves 8,000: no reduction, no coupon.
    q = quote(listing, 2, Promotions(full_reduction=FullReduction("prm", (ReductionTier(10_000, 1000),))))
    assert q.discount(DiscountKind.FULL_REDUCTION) is None
    with pytest.raises(CouponNotApplicable) as refused:
        quote(listing, 2, coupon=CouponTerms("cpn", CouponKind.FIXED, 500, min_spend=10_000))
    assert refused.value.reason == "min_spend"


def test_a_coupon_scoped_to_other_skus_is_refused() -> None:
    with pytest.raises(CouponNotApplicable) as refused:
        quote(Listing("GIFT", 100, "CNY"), 1, coupon=CouponTerms("cpn", CouponKind.FIXED, 10, skus=frozenset({"X"})))
    assert refused.value.reason == "sku_scope"


def test_the_lowest_unit_price_wins_and_a_tie_keeps_the_tier() -> None:
    listing = Listing("GIFT", 1000, "CNY", (PriceTier(3, 800),))
    sale = quote(listing, 3, Promotions(flash_sale=FlashSale("prm_sale", 700)))
    assert (sale.unit_price, sale.discounts) == (700, (Discount(DiscountKind.FLASH_SALE, "prm_sale", 900),))
    tie = quote(listing, 3, Promotions(flash_sale=FlashSale("prm_sale", 800)))
    assert tie.discounts == (Discount(DiscountKind.TIER, "min_quantity_3", 600),)
    below_tier = quote(listing, 2, Promotions(flash_sale=FlashSale("prm_sale", 1200)))
    assert (below_tier.unit_price, below_tier.discounts, below_tier.amount) == (1000, (), 2000)


def test_a_fixed_coupon_larger_than_the_order_is_cut_to_leave_one_minor_unit() -> None:
    q = quote(Listing("GIFT", 300, "CNY"), 1, coupon=CouponTerms("cpn", CouponKind.FIXED, 10_000))
    assert (q.amount, q.discounts[0].amount) == (1, 299)


def test_a_free_product_stays_free_and_quantity_must_be_positive() -> None:
    assert quote(Listing("FREE", 0, "CNY"), 3).amount == 0
    with pytest.raises(ValueError, match="quantity"):
        quote(Listing("GIFT", 100, "CNY"), 0)
