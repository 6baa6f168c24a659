"""The one pricing function (CONTRACT §8): what an order costs, step by step, and why.

Pure: it reads the product's prices, the promotions running for it and a coupon's terms, all
given, and decides nothing about stock, windows or use counts (the coupon and promotion rules
and the order's transaction do). Checkout, `POST /v1/quotes` and the console all call it, so
an order's `amount` is its quote at creation.

Steps, in this order, each recorded as a discount:
1. the unit price: the list `price`, the best `price_tiers` entry the quantity reaches, or the
   running flash sale's price, whichever is lowest (a tie goes to the tier, which holds no
   flash-sale quota);
2. the running full reduction's best tier whose `min_spend` what step 1 left reaches;
3. the coupon: `fixed` minor units off, or `percent` of what steps 1-2 left, rounded down (in
   the shop's favour by less than one minor unit, never in the buyer's).
The amount never goes below 1 minor unit: the discount that would take it there is cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DiscountKind(StrEnum):
    TIER = "tier"
    FLASH_SALE = "flash_sale"
    FULL_REDUCTION = "full_reduction"
    COUPON = "coupon"


class CouponKind(StrEnum):
    FIXED = "fixed"
    PERCENT = "percent"


@dataclass(frozen=True)
class PriceTier:
    """Wholesale: `price` per unit from `min_quantity` units on."""

    min_quantity: int
    price: int


@dataclass(frozen=True)
class Listing:
    """What the product says about its price."""

    sku: str
    price: int
    currency: str
    tiers: tuple[PriceTier, ...] = ()


@dataclass(frozen=True)
class FlashSale:
    promotion_id: str
    price: int


@dataclass(frozen=True)
class ReductionTier:
    min_spend: int
    off: int


@dataclass(frozen=True)
class FullReduction:
    promotion_id: str
    tiers: tuple[ReductionTier, ...]


@dataclass(frozen=True)
class Promotions:
    """The promotions running for the SKU now (at most one of each kind applies)."""

    flash_sale: FlashSale | None = None
    full_reduction: FullReduction | None = None


@dataclass(frozen=True)
class CouponTerms:
    """What a coupon takes off once its state (window, uses, status) allows it."""

    coupon_id: str
    kind: CouponKind
    value: int  # minor units (fixed) or 1-100 (percent)
    min_spend: int = 0
    skus: frozenset[str] | None = None  # None: every SKU


@dataclass(frozen=True)
class Discount:
    kind: DiscountKind
    id: str
    amount: int


@dataclass(frozen=True)
class Quote:
    sku: str
    quantity: int
    unit_price: int
    subtotal: int
    discounts: tuple[Discount, ...]
    amount: int
    currency: str

    def discount(self, kind: DiscountKind) -> Discount | None:
        return next((d for d in self.discounts if d.kind == kind), None)


class CouponNotApplicable(Exception):
    """The coupon's terms do not fit this order: `reason` is a COUPON_INVALID reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MIN_SPEND = "min_spend"
SKU_SCOPE = "sku_scope"


def tier_id(tier: PriceTier) -> str:
    """A tier's `id` in `discounts`: the quantity it starts at."""
    return f"min_quantity_{tier.min_quantity}"


def _unit_price(listing: Listing, quantity: int, sale: FlashSale | None) -> tuple[int, Discount | None]:
    best_tier = min(
        (t for t in listing.tiers if t.min_quantity <= quantity and t.price < listing.price),
        key=lambda t: (t.price, -t.min_quantity),
        default=None,
    )
    unit, reason = listing.price, None
    if best_tier is not None:
        unit, reason = best_tier.price, Discount(DiscountKind.TIER, tier_id(best_tier), 0)
    if sale is not None and sale.price < unit:
        unit, reason = sale.price, Discount(DiscountKind.FLASH_SALE, sale.promotion_id, 0)
    return unit, reason


def _best_reduction(reduction: FullReduction, spend: int) -> int:
    return max((t.off for t in reduction.tiers if t.min_spend <= spend), default=0)


def _coupon_off(coupon: CouponTerms, sku: str, spend: int) -> int:
    if coupon.skus is not None and sku not in coupon.skus:
        raise CouponNotApplicable(SKU_SCOPE)
    if spend < coupon.min_spend:
        raise CouponNotApplicable(MIN_SPEND)
    if coupon.kind == CouponKind.PERCENT:
        return spend * coupon.value // 100  # rounded down: the buyer never gets more than the percent
    return coupon.value


def quote(
    listing: Listing, quantity: int, promotions: Promotions | None = None, coupon: CouponTerms | None = None
) -> Quote:
    """What `quantity` of `listing` costs now. Raises CouponNotApplicable when the coupon's SKU
    scope or minimum spend rules it out (the caller answers COUPON_INVALID)."""
    if quantity < 1:
        raise ValueError("quantity must be at least 1")
    promotions = promotions or Promotions()
    subtotal = listing.price * quantity
    floor = min(1, subtotal)  # a free product stays free; anything else charges at least 1
    left = subtotal
    discounts: list[Discount] = []

    def take(kind: DiscountKind, id_: str, wanted: int) -> None:
        nonlocal left
        amount = max(0, min(wanted, left - floor))  # the discount that would go below the floor is cut
        if amount:
            discounts.append(Discount(kind, id_, amount))
            left -= amount

    unit, reason = _unit_price(listing, quantity, promotions.flash_sale)
    if reason is not None:
        take(reason.kind, reason.id, (listing.price - unit) * quantity)
    if promotions.full_reduction is not None:
        take(
            DiscountKind.FULL_REDUCTION,
            promotions.full_reduction.promotion_id,
            _best_reduction(promotions.full_reduction, left),
        )
    if coupon is not None:
        take(DiscountKind.COUPON, coupon.coupon_id, _coupon_off(coupon, listing.sku, left))
    return Quote(listing.sku, quantity, unit, subtotal, tuple(discounts), left, listing.currency)
