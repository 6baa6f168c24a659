"""Which promotions apply to an order (CONTRACT §8): running now, for its SKU, the best one of
each kind. The one home of that choice; the pricing function applies what it is given."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kayisu.pricing import quote as pricing
from kayisu.store.promotions import PromotionItem

FULL_REDUCTION = "full_reduction"
FLASH_SALE = "flash_sale"


def running(definitions: Iterable[PromotionItem], at: datetime, sku: str | None = None) -> list[PromotionItem]:
    """The promotions running at `at` (for `sku`, if given), newest first."""
    found = [p for p in definitions if p.running(at) and (sku is None or p.applies_to(sku))]
    return sorted(found, key=lambda p: str(p.promotion_id), reverse=True)


def full_reduction(item: PromotionItem) -> pricing.FullReduction:
    tiers = tuple(pricing.ReductionTier(int(t["min_spend"]), int(t["off"])) for t in item.terms.get("tiers", ()))
    return pricing.FullReduction(str(item.promotion_id), tiers)


def flash_sale(item: PromotionItem) -> pricing.FlashSale:
    return pricing.FlashSale(str(item.promotion_id), int(item.terms["price"]))


def candidates(definitions: Iterable[PromotionItem], sku: str, at: datetime) -> list[pricing.Promotions]:
    """Each way the running promotions may combine for `sku` (at most one of each kind): the
    pricing service quotes each and keeps the best for the buyer."""
    now_running = running(definitions, at, sku)
    sales: list[pricing.FlashSale | None] = [flash_sale(p) for p in now_running if p.promotion_kind == FLASH_SALE]
    reductions: list[pricing.FullReduction | None] = [
        full_reduction(p) for p in now_running if p.promotion_kind == FULL_REDUCTION
    ]
    sales, reductions = sales or [None], reductions or [None]
    return [pricing.Promotions(flash_sale=s, full_reduction=r) for s in sales for r in reductions]


def sale_of(definitions: Iterable[PromotionItem], promotion_id: str) -> PromotionItem | None:
    return next((p for p in definitions if p.promotion_id == promotion_id), None)
