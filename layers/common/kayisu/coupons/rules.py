"""When a coupon may be used (CONTRACT §8): the one home of its COUPON_INVALID reasons.

The reasons a coupon's own state gives are decided here, from the coupon as read; the order's
transaction then holds the use on condition that it is still there (`used_up` and
`per_buyer_limit` under concurrency are the transaction's to refuse). `sku_scope` and
`min_spend` depend on the price and are the pricing function's (kayisu.pricing.quote).
"""

from __future__ import annotations

from datetime import datetime

from kayisu.errors import Problem
from kayisu.pricing.quote import CouponKind, CouponTerms
from kayisu.store.coupons import CouponItem


class Reason:
    UNKNOWN = "unknown"
    DISABLED = "disabled"
    NOT_STARTED = "not_started"
    EXPIRED = "expired"
    MIN_SPEND = "min_spend"
    SKU_SCOPE = "sku_scope"
    USED_UP = "used_up"
    PER_BUYER_LIMIT = "per_buyer_limit"


def coupon_invalid(reason: str) -> Problem:
    """422 COUPON_INVALID with its `reason` (the quote and the order answer alike)."""
    return Problem(
        422,
        "COUPON_INVALID",
        "Coupon cannot be used",
        f"The coupon cannot be used for this order ({reason}).",
        extra={"reason": reason},
    )


def refusal(coupon: CouponItem, at: datetime, buyer_taken: int | None = None) -> str | None:
    """Why `coupon` cannot be used at `at` (None: it can, as far as its state goes); an unknown
    code is `Reason.UNKNOWN`, said by whoever looked it up."""
    if coupon.status != "active":
        return Reason.DISABLED
    if coupon.starts_at is not None and at < coupon.starts_at:
        return Reason.NOT_STARTED
    if coupon.ends_at is not None and at >= coupon.ends_at:
        return Reason.EXPIRED
    if coupon.max_uses is not None and int(coupon.taken) >= int(coupon.max_uses):
        return Reason.USED_UP
    limit = coupon.max_uses_per_email
    if limit is not None and buyer_taken is not None and buyer_taken >= int(limit):
        return Reason.PER_BUYER_LIMIT
    return None


def terms(coupon: CouponItem) -> CouponTerms:
    """What the pricing function reads of a coupon."""
    return CouponTerms(
        coupon_id=str(coupon.coupon_id),
        kind=CouponKind(coupon.coupon_kind),
        value=int(coupon.value),
        min_spend=int(coupon.min_spend or 0),
        skus=frozenset(coupon.skus) if coupon.skus else None,
    )
